"""``lilo``: each step a pool of ``pool_factor x B`` prompts is rolled out and the ``B`` groups
with the largest ``p (1 - p)`` of their own pass rate are trained on (LILO, Foster et al. 2025).
The policy draws the step's first ``B`` prompts (uniform epochs); the trainer generates the rest
of the pool, fresh uniform prompts other than those ``B`` and each other while the prompts last
(:meth:`PromptPolicy.draw_pool`: through the gates before generation too), and keeps the top
``B`` (:func:`top_learnable`; with several processes, of every process's pool together:
:func:`deal_top_learnable`)."""

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


def deal_top_learnable(pools: Sequence[Sequence[Sequence[float | None]]], k: int) -> list[list[tuple[int, int]]]:
    """LILO over several processes, each of which trains ``k`` groups: ``pools[q]`` is process
    ``q``'s pool (its groups' rewards in generation order). The kept groups are the top ``k x
    len(pools)`` of every pool together (:func:`top_learnable` over the pools joined in process
    order: ties go to the lower process, then the first generated), dealt so that each process
    trains ``k``: ``out[q]`` the ``(process, group)`` pairs process ``q`` trains, its own kept
    groups first (up to ``k``, in generation order), then the other processes' kept groups
    beyond their ``k``, in process and generation order. Pure: every process deals the same."""
    where = [(q, j) for q, pool in enumerate(pools) for j in range(len(pool))]
    kept = [where[i] for i in top_learnable([g for pool in pools for g in pool], k * len(pools))]
    own = [[(q, j) for q, j in kept if q == p] for p in range(len(pools))]
    spare = [pair for mine in own for pair in mine[k:]]
    out = []
    for mine in own:
        take = k - min(k, len(mine))
        out.append(mine[:k] + spare[:take])
        spare = spare[take:]
    return out
