"""``curricle prune`` settings (the CLI's options, or a YAML file of these fields), and the
registry of pruning metrics.

Adding a metric: ``prune/<name>.py`` with a :class:`~curricle.prune.base.PruneMetric`
subclass, and one line in ``METRICS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.controllers.config import GroupsConfig
from curricle.curate.config import NearDedupConfig
from curricle.registry import Registry

METRICS = Registry("prune metric", {
    "column": "curricle.prune.column:ColumnMetric",
    "loss": "curricle.prune.loss:LossMetric",
    "prototype": "curricle.prune.prototype:PrototypeMetric",
    "near-duplicate": "curricle.prune.near_duplicate:NearDuplicateMetric",
    "semantic-duplicate": "curricle.prune.semantic_duplicate:SemanticDuplicateMetric",
    "random": "curricle.prune.random_sample:RandomMetric",
})

#: Metrics that score every document, so that which end is kept is a choice.
RANKED = frozenset({"column", "loss", "prototype"})

Order = Literal["keep-hardest", "keep-easiest"]


class PruneConfig(BaseModel):
    """What ``curricle prune`` removes from a store's training splits."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1)
    """The metric: ``column:<name>`` (a ``meta.parquet`` column: ``reference_loss``, a
    source's ``meta_fields`` entry...), ``loss`` (each document's latest loss in a
    ``hard-examples`` run: ``run``), ``prototype`` (distance to the nearest of ``clusters``
    k-means centroids of a checkpoint's mean-pooled last hidden states: ``model``),
    ``near-duplicate`` (one representative per MinHash cluster), ``semantic-duplicate``
    (SemDeDup: the documents most similar to another of their k-means cluster in a
    checkpoint's embedding go first: ``model``) or ``random`` (the control). For the ranked
    metrics a larger value is harder."""
    keep: float = Field(gt=0, le=1)
    """Share of each pruned domain's training documents kept: exactly
    ``floor(keep * n + 0.5)`` of ``n`` (half up), and at least one."""
    order: Order | None = None
    """For ``column``, ``loss`` and ``prototype``: ``keep-hardest`` (the default; with
    abundant data, Sorscher et al. 2022) removes the easiest documents, ``keep-easiest``
    (scarce data) the hardest. The other metrics do not rank: setting it is an error."""
    domains: list[str] | None = None
    """The domains pruned (None: all); the others are copied unchanged, as is every held-out
    split."""
    seed: int = 0
    """Seed of every random choice (random removals, k-means initialization), with the domain."""
    run: Path | None = None
    """``loss``: the proxy run directory (``controller.kind: hard-examples`` on the pruned
    domains, trained on this store); its newest complete checkpoint's per-document losses."""
    model: Path | None = None
    """``prototype`` and ``semantic-duplicate``: an HF checkpoint directory (or a curricle
    run: its newest complete checkpoint) that reads this store's tokens."""
    clusters: int = Field(8, ge=1)
    """``prototype`` and ``semantic-duplicate``: k, the number of k-means centroids per domain
    (at most its documents)."""
    batch_docs: int = Field(16, ge=1)
    """``prototype`` and ``semantic-duplicate``: windows per forward pass."""
    max_tokens: int | None = Field(512, ge=2)
    """``prototype`` and ``semantic-duplicate``: tokens of a document read at once (longer
    ones in windows, averaged over all of them). None: the model's limit."""
    near_duplicate: NearDedupConfig = Field(default_factory=NearDedupConfig)
    """``near-duplicate``: the MinHash / LSH settings, as curate's ``near_dedup`` (5-word
    shingles, 14 bands of 8 rows by default)."""
    groups: GroupsConfig | None = None
    """Groups of each pruned domain's documents (the values of a ``meta.parquet`` column), as
    the hard-examples controller's ``groups``: ``{column, gamma | min_share}``. With a floor,
    each group keeps at least that share of the domain's kept tokens (``n_tokens``): ``gamma``
    times its share before pruning, or its ``min_share`` (0 for groups not named); removals
    go in the metric's order, a group's waiting while its next one would take it below its
    floor, and exactly ``keep`` of the documents are kept all the same
    (:mod:`curricle.prune.groups` says what happens when the floors cannot all hold).
    Without a floor the groups' shares are only recorded. ``lineage.json`` has, per domain,
    each group's share before and after and its floor, the documents the floors kept, and
    the groups left below their floor."""

    @property
    def metric(self) -> str:
        """The metric's name: ``by`` up to a colon."""
        return self.by.split(":", 1)[0]

    @property
    def column(self) -> str | None:
        """The column ``column:<name>`` names."""
        return self.by.split(":", 1)[1] if self.metric == "column" else None

    @property
    def effective_order(self) -> str:
        """What ``lineage.json`` records as the order."""
        if self.metric in RANKED:
            return self.order or "keep-hardest"
        return {"random": "random", "semantic-duplicate": "most-similar-first"}.get(self.metric,
                                                                                    "near-duplicate-then-random")

    @model_validator(mode="after")
    def _check(self) -> "PruneConfig":
        if self.metric not in METRICS:
            raise ValueError(f"by: unknown metric '{self.by}' (expected column:<name>, "
                             f"{', '.join(m for m in METRICS if m != 'column')})")
        if self.metric == "column" and not self.column:
            raise ValueError("by: 'column:' needs a column name, e.g. column:reference_loss")
        if self.metric != "column" and ":" in self.by:
            raise ValueError(f"by: '{self.metric}' takes no ':<name>'")
        if self.order is not None and self.metric not in RANKED:
            raise ValueError(f"order: --by {self.metric} does not rank documents; keep-hardest / keep-easiest "
                             f"apply to column, loss and prototype")
        for field, metrics in (("run", ("loss",)), ("model", ("prototype", "semantic-duplicate"))):
            if getattr(self, field) is None and self.metric in metrics:
                raise ValueError(f"{field}: --by {self.metric} needs --{field}")
            if getattr(self, field) is not None and self.metric not in metrics:
                raise ValueError(f"{field}: only --by {' and '.join(metrics)} reads it")
        if self.domains is not None and len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains: expected each domain at most once, got {self.domains}")
        if self.domains == []:  # (--domains "" would write an unpruned copy)
            raise ValueError("domains: name at least one domain to prune (leave it out to prune every domain)")
        return self
