"""``tokenizer:`` and ``prepare:``: how ``curricle prepare`` gets its tokenizer and turns
documents into the token store."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TokenizerConfig(BaseModel):
    """How ``prepare`` gets its tokenizer."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["bpe", "pretrained"] = "bpe"
    """``bpe``: train a byte-level BPE on a sample of the sources; ``pretrained``: load ``path``."""
    vocab_size: int = Field(4096, ge=260, le=1_000_000)
    """Vocabulary size of a trained BPE (256 bytes + special tokens + merges)."""
    min_frequency: int = Field(2, ge=1)
    """A pair must occur this often in the sample to become a merge."""
    sample_docs_per_source: int = Field(2000, ge=1)
    """How many documents of each source the BPE is trained on."""
    path: Path | None = None
    """A local HF tokenizer directory (``kind: pretrained``); never downloaded."""

    @model_validator(mode="after")
    def _path_matches_kind(self) -> "TokenizerConfig":
        if self.kind == "pretrained" and self.path is None:
            raise ValueError("kind 'pretrained' needs 'path' (a local tokenizer directory)")
        if self.kind == "bpe" and self.path is not None:
            raise ValueError("'path' is only for kind 'pretrained'; kind 'bpe' trains its own")
        return self


class PrepareConfig(BaseModel):
    """How documents become the token store."""

    model_config = ConfigDict(extra="forbid")

    heldout_fraction: float = Field(0.05, ge=0, lt=1)
    """Share of each domain's documents held out for evaluation (chosen by a hash of the id)."""
    min_heldout_docs: int = Field(1, ge=0)
    """Hold out at least this many documents per domain (if it has more than that): where the
    hash holds out fewer, the lowest-hash documents make up the rest. Those depend on the
    domain's other documents, so in such a domain adding documents can move one of them to
    train (or a train document into held-out); a domain whose hash alone holds out this many
    keeps every document's split as documents are added."""
    encode_batch_docs: int = Field(256, ge=1)
    """Documents per tokenizer call."""
    workers: int | None = Field(None, ge=0)
    """Processes that encode (0: this process only). None: one per CPU core once a domain group
    has more than 16 MB of text (a worker costs about a second to start)."""
    reference_model: Path | None = None
    """A local HF checkpoint directory (a curricle checkpoint ``RUN/checkpoints/step_N`` is
    one), or a curricle run directory (its newest complete checkpoint): each document's mean
    token loss under it (every token predicted from the ones before it, the first from EOS as
    in training) becomes the ``reference_loss`` column of ``meta.parquet``, computed on the CPU.
    It must read the store's tokenizer (its vocabulary at least the tokenizer's, and its own
    tokenizer, if saved beside it, the same). A changed checkpoint rewrites every domain;
    None: no such column."""
    reference_batch_docs: int = Field(16, ge=1)
    """Windows (a document, or a piece of a long one) per forward pass of the reference model."""
    reference_max_tokens: int | None = Field(None, ge=2)
    """Longest window the reference model reads at once; a longer document is scored in
    consecutive windows of this many tokens (each starting without context). None: the
    model's own limit (its position embeddings), or 2048 if it states none."""

    @property
    def holds_out(self) -> bool:
        """Whether any document is held out (a held-out split to evaluate on)."""
        return self.heldout_fraction > 0 or self.min_heldout_docs > 0


#: ``prepare:`` fields that say how the work is run, not what the store holds: changing them
#: rewrites nothing.
EXECUTION_FIELDS = frozenset({"workers", "reference_batch_docs"})
