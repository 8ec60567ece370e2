"""``curricle mine``'s settings: a YAML file (``--config``) whose fields the flags override."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.config import load_model_file


class MineConfig(BaseModel):
    """What ``curricle mine RUN`` looks for in a run's per-document state."""

    model_config = ConfigDict(extra="forbid")

    top: int = Field(20, ge=1)
    """Hardest documents written per domain (``hardest.jsonl``), by latest loss."""
    by: list[str] = Field(default_factory=list)
    """Metadata columns to group regions by, besides ``source`` (with two values or more) and
    every column with at most ``max_values`` values (which are always used): e.g. a source's
    ``meta_fields``. A column with more values is left out, and the domain's notes say so."""
    max_values: int = Field(20, ge=2)
    """A metadata column with at most this many distinct values (over a domain's documents) is
    categorical: one region per value."""
    numeric_bins: int = Field(4, ge=0)
    """A numeric column with more values is cut into this many quantile bins (4: quartiles),
    one region per bin; 0: numeric columns are left out unless named in ``by``."""
    min_count: int = Field(5, ge=1)
    """Regions with fewer seen documents are not reported (their intervals say little)."""
    hard_fraction: float = Field(0.1, gt=0, le=1)
    """The hardest this fraction of a domain's seen documents (by latest loss) are split into
    "hard and learning" and "hard and stuck"."""
    trend_threshold: float = Field(0.02, ge=0)
    """Loss trend (nats per visit) separating learning (trend < -threshold) from stuck
    (|trend| <= threshold); a hard document with trend > threshold is "rising"."""
    examples: int = Field(5, ge=0)
    """Example documents listed per trend class."""
    max_chars: int = Field(1000, ge=20)
    """A document's text is cut to this many characters in ``hardest.jsonl`` (``truncated``
    says so); examples of the trend split get a fifth of it."""
    minhash: bool = True
    """Cluster documents by shared MinHash LSH bands (the curate step's signatures; needs the
    ``curate`` extra's datasketch, else the clusters are skipped with a note)."""
    minhash_bands: int = Field(16, ge=1)
    """LSH bands: two documents sharing any band's hash values fall in one cluster (connected
    components). 16 x 4 rows: Jaccard about (1/16)^(1/4) = 0.5, looser than near-dedup's 0.72."""
    minhash_rows: int = Field(4, ge=1)
    """Permutations per band."""
    shingle_size: int = Field(5, ge=1)
    """Words per shingle, as near-dedup."""
    clusters: int | None = Field(None, ge=2)
    """Also k-means the documents into this many clusters on a checkpoint's mean-pooled last
    hidden states (scipy's kmeans2, k-means++ initialisation, seeded by ``seed``)."""
    model: Path | None = None
    """The checkpoint embedding the documents for ``clusters`` (an HF checkpoint directory);
    None: the run's latest checkpoint, the one whose state is mined."""
    embed_tokens: int = Field(256, ge=1)
    """Tokens of each document embedded (its first ones)."""
    batch_size: int = Field(16, ge=1)
    """Documents per forward pass when embedding."""
    device: str = "cpu"
    """Where the embedding model runs (``cpu``, ``cuda``, ``cuda:1``)."""
    seed: int = 0
    """Seed of k-means."""

    @model_validator(mode="after")
    def _model_needs_clusters(self) -> "MineConfig":
        if self.model is not None and self.clusters is None:
            raise ValueError("model is set but clusters is not: the checkpoint only embeds documents for k-means "
                             "(set clusters: K)")
        return self


def load_mine_config(path: Path | str | None) -> MineConfig:
    """The settings in ``path`` (None: the defaults)."""
    return MineConfig() if path is None else load_model_file(path, MineConfig, "mine config")


__all__ = ["MineConfig", "load_mine_config"]
