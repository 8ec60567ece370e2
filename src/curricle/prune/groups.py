"""Group floors on a pruned domain's kept tokens (``groups:`` of
:class:`~curricle.prune.config.PruneConfig`: the hard-examples controller's
:class:`~curricle.controllers.config.GroupsConfig`).

A group is a value of the metadata column ``groups.column``, as text (as the controller reads
it). A group's share is its documents' tokens (the ``n_tokens`` column, EOS not counted) over
the domain's; its floor is ``gamma`` times its share before pruning, or its ``min_share`` (0
for groups not named). The removals are the metric's order (:meth:`PruneMetric.candidates
<curricle.prune.base.PruneMetric.candidates>`) under the floors:

- at each step, of each group's next candidate, the earliest in the metric's order whose
  removal leaves its group's share of the kept tokens at or above its floor is removed. A
  group's candidates go in the metric's order: while its next one would take it below its
  floor its later ones wait too (a shorter one is not taken instead), so within each group
  the removed documents are the first of the metric's order;
- when every group's next candidate would take it below its floor, the floors cannot all
  hold. This is the rule rather than the exception with ``gamma: 1``: the floors then sum to
  1, and whole documents meet every one only if every share stays exactly what it was. Then
  the removal that leaves its group the largest fraction of its floor is made (ties: the
  metric's order), and the walk goes on. The groups that end below their floor are listed
  in ``below_floor`` and printed; the stated number of documents is kept all the same.

``floor_kept`` counts, per group, the documents the metric alone would have removed (its first
``n - n_keep`` candidates) that the floors kept; as many later candidates went in their place,
each with its own reason.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np

from curricle.controllers.config import GroupsConfig
from curricle.errors import CurricleError
from curricle.prune.base import Removal
from curricle.store import DomainSplit

# Shares within this (relative to the kept tokens) of a floor are at it: a group whose floor
# is its exact share before pruning starts at its floor, not a rounding error below it.
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class DomainGroups:
    """One domain's groups: their names (sorted), each document's group (an index into
    ``names``), each document's tokens, and each group's floor (None: no floors)."""

    names: list[str]
    ids: np.ndarray
    tokens: np.ndarray
    floors: np.ndarray | None

    def shares(self, kept: np.ndarray | None = None) -> np.ndarray:
        """Each group's share of the tokens of the documents ``kept`` (None: all)."""
        mask = np.ones(len(self.ids), dtype=bool) if kept is None else np.isin(np.arange(len(self.ids)), kept)
        t = np.bincount(self.ids[mask], self.tokens[mask], minlength=len(self.names))
        return t / t.sum() if t.sum() > 0 else t


def domain_groups(split: DomainSplit, groups: GroupsConfig, domain: str) -> DomainGroups:
    """The groups of ``domain``'s training documents, or a one-line error naming the field."""
    names = split.meta().column_names
    for field, column in (("groups.column", groups.column), ("groups", "n_tokens")):
        if column not in names:
            raise CurricleError(f"{field}: domain '{domain}' has no metadata column '{column}' "
                                f"(has: {', '.join(names)})")
    values = split.column(groups.column)
    uniq, ids = np.unique(np.asarray([str(v) for v in values], dtype=object), return_inverse=True)
    group_names = [str(g) for g in uniq]
    tokens = np.asarray(split.column("n_tokens"), dtype=np.int64)
    ids = ids.astype(np.int64)
    floors = None
    if groups.gamma is not None:
        natural = np.bincount(ids, tokens, minlength=len(group_names)).astype(np.float64)
        floors = groups.gamma * natural / natural.sum() if natural.sum() > 0 else np.zeros(len(group_names))
    elif groups.min_share is not None:
        floors = np.array([groups.min_share.get(g, 0.0) for g in group_names], dtype=np.float64)
    return DomainGroups(group_names, ids, tokens, floors)


def floored_removals(candidates: list[Removal], n_remove: int, groups: DomainGroups) -> list[Removal]:
    """``n_remove`` of ``candidates`` (the metric's order) under ``groups.floors``, in document
    order (the module doc says which)."""
    if len(candidates) < n_remove:  # the metrics refuse this first; a metric's bug otherwise
        raise RuntimeError(f"{len(candidates)} candidates for {n_remove} removals")
    floors = groups.floors
    k = len(groups.names)
    queues: list[list[int]] = [[] for _ in range(k)]  # per group, its candidates' positions
    for p, r in enumerate(candidates):
        queues[groups.ids[r.index]].append(p)
    head = [0] * k
    kept = np.bincount(groups.ids, groups.tokens, minlength=k).astype(np.float64).tolist()
    total = float(sum(kept))

    def length(g: int) -> float:
        return float(groups.tokens[candidates[queues[g][head[g]]].index])

    def allowed(g: int) -> bool:
        lg = length(g)
        return kept[g] - lg >= floors[g] * (total - lg) - _TOLERANCE * total

    ready: list[tuple[int, int]] = []  # (position of the group's next candidate, group)
    waiting: list[tuple[float, int]] = []  # (-the kept total at or under which it may go, group)
    blocked: dict[int, float] = {}

    def place(g: int) -> None:
        if head[g] == len(queues[g]):
            return
        if allowed(g):
            heapq.heappush(ready, (queues[g][head[g]], g))
        else:
            # Removals from other groups lower the kept total; at this total the group's
            # next candidate may go: (kept_g - l) >= floor * (total - l).
            lg = length(g)
            blocked[g] = (kept[g] - lg) / floors[g] + lg
            heapq.heappush(waiting, (-blocked[g], g))

    for g in range(k):
        place(g)
    out: list[Removal] = []
    while len(out) < n_remove:
        if ready:
            _, g = heapq.heappop(ready)
        else:  # every floor binds: the removal that leaves its group the largest fraction of its floor

            def fraction(g: int) -> tuple[float, int]:
                lg = length(g)
                share = (kept[g] - lg) / (total - lg) if total > lg else 0.0
                return share / floors[g], -queues[g][head[g]]

            g = max(blocked, key=fraction)
            del blocked[g]
        r = candidates[queues[g][head[g]]]
        head[g] += 1
        out.append(r)
        lg = float(groups.tokens[r.index])
        kept[g] -= lg
        total -= lg
        place(g)
        while waiting:  # the groups the lower total lets go (the highest thresholds first)
            thr, h = waiting[0]
            if blocked.get(h) != -thr:  # stale: removed by the fallback, or placed again
                heapq.heappop(waiting)
            elif allowed(h):
                heapq.heappop(waiting)
                del blocked[h]
                heapq.heappush(ready, (queues[h][head[h]], h))
            else:
                break
    return sorted(out, key=lambda r: r.index)


def group_lineage(groups: DomainGroups, plain: list[Removal], removed: list[Removal]) -> dict[str, Any]:
    """What ``lineage.json`` records of a domain's groups: ``groups`` ({group: {before, after,
    floor}}: token shares, floor None without floors), ``floor_kept`` ({group: documents the
    metric alone would have removed that the floors kept}, groups with none left out) and
    ``below_floor`` (the groups whose kept share is under their floor)."""
    n = len(groups.ids)
    gone = np.array(sorted(r.index for r in removed), dtype=np.int64)
    kept = np.setdiff1d(np.arange(n), gone)
    before, after = groups.shares(), groups.shares(kept)
    floors = groups.floors
    out = {g: {"before": float(before[i]), "after": float(after[i]),
               "floor": None if floors is None else float(floors[i])} for i, g in enumerate(groups.names)}
    saved = sorted({r.index for r in plain} - {r.index for r in removed})
    counts = np.bincount(groups.ids[saved], minlength=len(groups.names)) if saved else np.zeros(len(groups.names))
    below = [] if floors is None else [g for i, g in enumerate(groups.names)
                                       if after[i] < floors[i] - _TOLERANCE]
    return {"groups": out, "floor_kept": {g: int(c) for g, c in zip(groups.names, counts) if c},
            "below_floor": below}
