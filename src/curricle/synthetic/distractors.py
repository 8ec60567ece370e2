"""Choosing an item's distractors: a few wrong answers of different kinds.

Each generator proposes candidates in groups, one group per kind of mistake (a carry error,
a wrong order, a wrong word), and :func:`pick_distractors` takes them in turn from each
group, so an item's distractors are varied rather than all of the commonest kind. The
randomness comes from :func:`item_rng`, seeded by the item's key, so an item is a function
of (generator, seed, key) alone, however it was drawn.
"""

from __future__ import annotations

import random
from typing import Iterable, Sequence


def item_rng(skill: str, seed: int, key: str) -> random.Random:
    """The random stream of one item, derived from its skill, the generator seed and its key."""
    return random.Random(f"{skill}:{seed}:{key}:item")


def pick_distractors(
    rng: random.Random,
    target: str,
    groups: Sequence[Iterable[str]],
    k: int = 3,
    fallback: Iterable[str] = (),
) -> tuple[str, ...]:
    """``k`` distinct wrong answers: round-robin over the shuffled ``groups``, then ``fallback``
    in order.

    Candidates equal to ``target`` or repeated are skipped. Raises ``ValueError`` when there
    are not ``k`` usable candidates (a generator bug: each must always propose enough).
    """
    seen = {target}
    pools: list[list[str]] = []
    for group in groups:
        pool = []
        for c in group:
            if c not in seen:
                seen.add(c)
                pool.append(c)
        # At most k come from one group: a sample of k is a shuffle, cut short.
        pools.append(rng.sample(pool, min(k, len(pool))))
    out: list[str] = []
    while len(out) < k and any(pools):
        for pool in pools:
            if pool and len(out) < k:
                out.append(pool.pop())
    for c in fallback:
        if len(out) == k:
            break
        if c not in seen:
            seen.add(c)
            out.append(c)
    if len(out) < k:
        raise ValueError(f"only {len(out)} distractors for target {target!r}, need {k}")
    return tuple(out)
