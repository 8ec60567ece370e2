"""``--by random``: the control. Each document draws a uniform number from the domain's
seeded generator; the lowest draws are removed first (reason ``random``, score the draw)."""

from __future__ import annotations

from curricle.prune.base import PruneMetric, Removal, domain_rng, ranked_candidates
from curricle.store import DomainSplit


class RandomMetric(PruneMetric):
    name = "random"

    def candidates(self, domain: str, split: DomainSplit, n_keep: int) -> list[Removal]:
        draws = domain_rng(self.config.seed, domain).random(split.n_docs)
        return ranked_candidates(draws, n_keep, "keep-hardest", "random", domain, self.config.by)

    def unscored(self, domain: str, split: DomainSplit) -> int:
        return 0
