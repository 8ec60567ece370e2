"""The token store: per domain and split, a memory-mapped token array, a document index and
per-document metadata, and the manifest naming them. Written by ``curricle prepare``, read by
the mixture sampler."""

from curricle.store.manifest import DomainEntry, Manifest, SplitCounts, TokenizerEntry, read_manifest, write_manifest
from curricle.store.token_store import DomainSplit, TokenStore
from curricle.store.writer import DomainSplitWriter

__all__ = ["DomainEntry", "DomainSplit", "DomainSplitWriter", "Manifest", "SplitCounts", "TokenStore",
           "TokenizerEntry", "read_manifest", "write_manifest"]
