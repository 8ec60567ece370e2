"""What an augmentation round makes more of, from the run's own telemetry.

:class:`TargetFinder` answers, for one domain and round, a list of ``(Target, n)`` (up to
``budget`` documents in all) or, when there is nothing to target yet, the reason:

- ``hardest-docs``: the documents with the highest latest loss (``last/<domain>`` of the
  hard-examples controller's per-document state; unseen documents are not ranked), hardest
  first (ties: lower index), one new document each.
- ``hardest-regions``: the documents' ``region_by`` metadata values are regions; among regions
  with at least ``min_region_docs`` documents seen, the one with the highest mean latest loss
  (ties: the lower name) is targeted: its seen documents, hardest first, ``budget`` new
  documents spread over them as evenly as possible (the first get one more).
- ``failing-levels``: the ladder levels of the domain's synthetic source whose latest in-loop
  probe score (``probe/<skill>@<level>/acc`` or ``exact_match``) is below ``fail_below``; the
  budget is spread over them evenly, easier levels first.

Document targets carry the document's text (decoded from the store's tokens) and, in a
synthetic domain, its skill and level (read from its ``doc_id``, ``<skill>@<level>-...``), so
every augmenter can serve them.

**Groups.** When the run's controller has ``groups`` (``group_column``), every target names
the group its augmented documents count in, as the controller names groups (``str`` of the
column's value): a document target its document's value; a level target the value of the
level's training documents (``<skill>@<level>-...``) that has the most tokens among them (ties:
the lower name), or, when the domain has no such column or no document of that level, the
level itself (``<skill>@<level>``), a group of its own.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from curricle.augment.base import Target
from curricle.augment.config import AugmentConfig
from curricle.errors import CurricleError

#: The discrete metrics of probe tasks (multiple choice / generation).
PROBE_METRICS = ("acc", "exact_match")


def spread(total: int, k: int) -> list[int]:
    """``total`` split over ``k`` parts as evenly as possible, the first parts one more."""
    return [total // k + (1 if i < total % k else 0) for i in range(k)]


class TargetFinder:
    """Targets of the rounds of ``config`` over ``store``'s training splits.

    - ``sources``: the run's source configs (to find each domain's synthetic skill);
    - ``doc_state``: a callable returning the hard-examples controller's arrays (``last/<d>``
      ...), or None when the run has none;
    - ``tokenizer``: the store's ``tokenizers.Tokenizer`` (to decode targeted documents);
    - ``group_column``: the controller's ``groups.column`` (None: the run has no groups).
    """

    def __init__(self, config: AugmentConfig, store: Any, sources: list[Any],
                 doc_state: Callable[[], dict[str, np.ndarray]] | None, tokenizer: Any,
                 group_column: str | None = None):
        self.config = config
        self.store = store
        self.doc_state = doc_state
        self.tokenizer = tokenizer
        self.group_column = group_column
        self.synthetic: dict[str, list[Any]] = {}
        for s in sources:
            if getattr(s, "kind", None) == "synthetic":
                self.synthetic.setdefault(s.domain, []).append(s)

    def default_domains(self) -> list[str]:
        """The domains the target can read: the controller's prioritized domains, or the
        synthetic domains with ladder levels."""
        if self.config.target == "failing-levels":
            return [d for d in self.store.domains if any(s.levels for s in self.synthetic.get(d, []))]
        arrays = self.doc_state() if self.doc_state is not None else {}
        return [d for d in self.store.domains if f"last/{d}" in arrays]

    def check(self, domains: list[str]) -> None:
        """One-line errors for domains this target or augmenter cannot serve."""
        for d in domains:
            if d not in self.store.domains:
                raise CurricleError(f"augment.domains: unknown domain '{d}' (the store has: {', '.join(self.store.domains)})")
            if self.config.target == "failing-levels":
                if not any(s.levels for s in self.synthetic.get(d, [])):
                    raise CurricleError(f"augment.target: failing-levels needs a synthetic source with levels in "
                                        f"domain '{d}'")
            else:
                arrays = self.doc_state() if self.doc_state is not None else {}
                if f"last/{d}" not in arrays:
                    raise CurricleError(f"augment.target: {self.config.target} reads the hard-examples controller's "
                                        f"document losses, which domain '{d}' has none of (controller.kind: "
                                        f"hard-examples, with '{d}' among its domains)")
            if self.config.augmenter.kind == "generator" and d not in self.synthetic:
                raise CurricleError(f"augment.augmenter: 'generator' makes skill items, but domain '{d}' has no "
                                    f"synthetic source")
        if self.config.target == "hardest-regions":
            for d in domains:
                names = self.store.split(d).meta().column_names
                if self.config.region_by not in names:
                    raise CurricleError(f"augment.region_by: domain '{d}' has no metadata column "
                                        f"'{self.config.region_by}' (has: {', '.join(names)})")

    # -- the targets ---------------------------------------------------------------------------

    def find(self, domain: str, scores: dict[str, float]) -> tuple[list[tuple[Target, int]], dict[str, Any]]:
        """This round's targets of ``domain`` with how many documents each, and what the log
        says about them (``reason`` when there are none; ``region`` for hardest-regions)."""
        if self.config.target == "failing-levels":
            return self._failing_levels(domain, scores)
        last = (self.doc_state() or {}).get(f"last/{domain}")
        if last is None:
            return [], {"reason": "no document losses"}
        known = np.flatnonzero(np.isfinite(last))
        if not len(known):
            return [], {"reason": "no document seen yet"}
        if self.config.target == "hardest-docs":
            order = known[np.argsort(-last[known], kind="stable")][: self.config.budget]
            return [(self._doc_target(domain, int(i)), 1) for i in order], {}
        return self._hardest_region(domain, last, known)

    def _hardest_region(self, domain: str, last: np.ndarray, known: np.ndarray):
        col = self.config.region_by
        values = np.array([str(v) for v in self.store.split(domain).column(col)], dtype=object)
        best: tuple[float, str] | None = None
        for region in sorted(set(values[known].tolist())):
            members = known[values[known] == region]
            if len(members) < self.config.min_region_docs:
                continue
            mean = float(last[members].mean())
            if best is None or mean > best[0]:
                best = (mean, region)
        if best is None:
            return [], {"reason": f"no region with {self.config.min_region_docs} documents seen"}
        members = known[values[known] == best[1]]
        order = members[np.argsort(-last[members], kind="stable")][: self.config.budget]
        counts = spread(self.config.budget, len(order))
        return ([(self._doc_target(domain, int(i)), c) for i, c in zip(order, counts) if c],
                {"region": f"{col}={best[1]}", "region_loss": best[0]})

    def _failing_levels(self, domain: str, scores: dict[str, float]):
        source = next((s for s in self.synthetic.get(domain, []) if s.levels), None)
        if source is None:
            return [], {"reason": "no synthetic source with levels"}
        named = {lv: scores.get(f"{source.skill}@{lv}") for lv in source.levels}
        if all(v is None for v in named.values()):
            return [], {"reason": "no probe scores yet"}
        failing = [lv for lv, v in named.items() if v is not None and v < self.config.fail_below]
        if not failing:
            return [], {"reason": f"no level scores below {self.config.fail_below}"}
        targets = [Target(domain, f"{source.skill}@{lv}", skill=source.skill, level=lv, params=dict(source.params),
                          source_seed=source.seed, items_per_doc=source.items_per_doc,
                          group=self._level_group(domain, source.skill, lv)) for lv in failing]
        counts = spread(self.config.budget, len(targets))
        return [(t, c) for t, c in zip(targets, counts) if c], {"scores": {t.augmented_from: named[t.level] for t in targets}}

    def _doc_target(self, domain: str, i: int) -> Target:
        split = self.store.split(domain)
        doc_id = str(self._doc_ids(domain)[i])
        text = self.tokenizer.decode(split.document(i).tolist())
        groups = self._groups(domain)
        group = None if groups is None else str(groups[i])
        source, level = self._skill_of(domain, doc_id)
        if source is None:
            return Target(domain, doc_id, text=text, group=group)
        return Target(domain, doc_id, text=text, skill=source.skill, level=level, params=dict(source.params),
                      source_seed=source.seed, items_per_doc=source.items_per_doc, group=group)

    def _groups(self, domain: str) -> np.ndarray | None:
        """The domain's group column (None: the run has no groups, or the domain no such column)."""
        if self.group_column is None or self.group_column not in self.store.split(domain).meta().column_names:
            return None
        cache = self.__dict__.setdefault("_group_values", {})
        if domain not in cache:
            cache[domain] = self.store.split(domain).column(self.group_column)
        return cache[domain]

    def _level_group(self, domain: str, skill: str, level: str) -> str | None:
        """The group of ladder level ``level``'s documents (see the module doc)."""
        if self.group_column is None:
            return None
        groups = self._groups(domain)
        prefix = f"{skill}@{level}-"
        mine = np.flatnonzero([str(x).startswith(prefix) for x in self._doc_ids(domain)])
        if groups is None or not len(mine):
            return f"{skill}@{level}"
        tokens: dict[str, int] = {}
        lengths = self.store.split(domain).doc_lengths
        for i in mine.tolist():
            g = str(groups[i])
            tokens[g] = tokens.get(g, 0) + int(lengths[i])
        return min(tokens, key=lambda g: (-tokens[g], g))

    def _doc_ids(self, domain: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_ids", {})
        if domain not in cache:
            cache[domain] = self.store.split(domain).column("doc_id")
        return cache[domain]

    def _skill_of(self, domain: str, doc_id: str) -> tuple[Any, str | None]:
        """The synthetic source that wrote ``doc_id`` and its level (``copy@8-0-3``: 8)."""
        for s in self.synthetic.get(domain, []):
            if s.levels and doc_id.startswith(f"{s.skill}@"):
                level = doc_id[len(s.skill) + 1 :].split("-")[0]
                if level in s.levels:
                    return s, level
            elif not s.levels and doc_id.startswith(f"{s.skill}-"):
                return s, None
        return None, None
