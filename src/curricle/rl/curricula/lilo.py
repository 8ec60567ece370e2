"""``lilo``: each step a pool of ``pool_factor x B`` uniformly drawn prompts is rolled out and
the ``B`` groups with the largest ``p (1 - p)`` of their own pass rate are trained on (LILO,
Foster et al. 2025). The policy draws the step's first ``B`` prompts (uniform epochs); the
trainer generates the rest of the pool (:meth:`PromptPolicy.draw_more`: through the gates
before generation too) and keeps the top ``B`` (:func:`top_learnable`; with several processes,
each process the top of its own pool)."""

from __future__ import annotations

from typing import Sequence

from curricle.rl.curricula.base import PromptPolicy


class LiloPolicy(PromptPolicy):
    pass


def top_learnable(groups: Sequence[Sequence[float | None]], k: int) -> list[int]:
    """Indices of the ``k`` groups with the largest ``p (1 - p)`` of their mean graded reward
    ``p`` taken within [0, 1] (a group with none graded: 0), ties in generation order; in
    generation order."""
    def score(rewards):
        got = [r for r in rewards if r is not None]
        if not got:
            return 0.0
        p = min(1.0, max(0.0, sum(got) / len(got)))  # (a probability: see LearnabilityPolicy.weights)
        return p * (1 - p)
    ranked = sorted(range(len(groups)), key=lambda i: (-score(groups[i]), i))
    return sorted(ranked[:k])
