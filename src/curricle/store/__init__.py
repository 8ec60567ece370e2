"""The token store: per domain and split, a memory-mapped token array, a document index and
per-document metadata. Written by ``curricle prepare``, read by the mixture sampler."""

from curricle.store.token_store import DomainSplit, TokenStore
from curricle.store.writer import DomainSplitWriter

__all__ = ["DomainSplit", "DomainSplitWriter", "TokenStore"]
