"""Task sets: how the mix of skills and each task's levels moved (only when both sides are task sets).

Measures (categorical Jensen-Shannon distances, counted in items, calibrated on split-halves
of OLD like every other statistic):

- ``skill_js`` over the whole set (the items' skills, over the union of both sides' skills: a
  skill on one side only has share 0 on the other; the detail lists both sides' shares and the
  skills that appeared or went) and per task (0 for a task with one skill on both sides: its
  halves' null is then all 0, so a skill a task gains is DRIFT);
- ``level_js`` per task: the distribution of its items' ``level`` (where both sides have one; else
  their ``difficulty``) as categories, when the two sides together hold at most
  :data:`MAX_LEVELS` distinct values (a continuous difficulty is left to the metadata
  section's Wasserstein distance).

Lengths (``prompt_chars``, ``prompt_words``, ``completion_words``) and difficulty as a number
are metadata columns of a task side, so the metadata section compares them; the exact overlap
of prompts is a fact in the lineage (:func:`curricle.drift.tasks.prompt_overlap`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from curricle.drift.corpus import Corpus, DomainDocs
from curricle.drift.sections.base import Section
from curricle.drift.stats import js_distance
from curricle.drift.tasks import skill_counts

#: Most distinct levels a task's ``level_js`` is computed over.
MAX_LEVELS = 20


class TasksSection(Section):
    name = "tasks"

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        if old.kind != "tasks" or new.kind != "tasks":
            return []
        n_old = sum(d.n_docs for d in old.domains.values())
        n_new = sum(d.n_docs for d in new.domains.values())
        out = []
        m = self._categorical("skill_js", skill_counts(old), skill_counts(new), None, n_old, n_new, detail)
        if m is not None:
            out.append(m)
        for domain, od, nd in self.shared(old, new):
            # Measured even where a task has one skill or level (0 then): the halves of such a
            # task still give the null (all 0) a new skill or level is judged against.
            so, sn = Counter(map(str, od.label("skill"))), Counter(map(str, nd.label("skill")))
            m = self._categorical("skill_js", so, sn, domain, od.n_docs, nd.n_docs, detail)
            if m is not None:
                out.append(m)
            col = "level" if "level" in od.data.columns and "level" in nd.data.columns else "difficulty"
            lo, ln = _levels(od, col), _levels(nd, col)
            if len(set(lo) | set(ln)) <= MAX_LEVELS:
                m = self._categorical("level_js", lo, ln, domain, od.n_docs, nd.n_docs, detail)
                if m is not None:
                    out.append(m)
        return out

    def _categorical(self, statistic: str, old: Counter, new: Counter, domain: str | None, n_old: int, n_new: int,
                     detail: bool):
        names = sorted(set(old) | set(new), key=str)
        p = np.array([old.get(k, 0) for k in names], dtype=np.float64)
        q = np.array([new.get(k, 0) for k in names], dtype=np.float64)
        if p.sum() == 0 or q.sum() == 0:
            return None
        info = {}
        if detail:
            info = {"old": {str(k): round(v, 6) for k, v in zip(names, p / p.sum())},
                    "new": {str(k): round(v, 6) for k, v in zip(names, q / q.sum())},
                    "only_in_new": [str(k) for k in names if not old.get(k)],
                    "only_in_old": [str(k) for k in names if not new.get(k)]}
        return self.make(statistic, js_distance(p, q), domain, n_old, n_new, **info)


def _levels(docs: DomainDocs, col: str) -> Counter:
    """Items per value of ``col`` (``level`` where both sides have one, else ``difficulty``)."""
    return Counter(float(v) for v in docs.column(col))


__all__ = ["MAX_LEVELS", "TasksSection"]
