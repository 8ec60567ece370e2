"""``frontier``: the emergence map feeds the mix, moving each skill's share up its ladder as
its levels emerge in the in-loop probes.

A frontier domain holds one synthetic skill at several levels of its difficulty ladder (a
``synthetic`` source with ``levels``; each document's level is read from its id,
``copy@8-0-3``), ordered easiest first as the ladder orders them. Per domain the controller
holds *level weights* ``w`` (summing to 1, shares of the domain's tokens), and the sampler draws
the domain's documents one at a time (the document-prioritizer machinery of
:mod:`~curricle.controllers.hard_examples`) with::

    p_i = w_l / T_l     for document i of level l;  T_l: the training tokens of level l's
                        documents (EOS included, as the sampler serves them)

so level l's expected share of the domain's drawn tokens is ``w_l``; within a level every
document is as likely as any other. Before any level emerged, ``w`` is all on the easiest
level (``start: easiest``) or even (``start: uniform``); these priorities apply from the first
batch.

At each in-loop probe step (``train.probe``), level l *emerges* the first time its probe task
(``copy@8``) clears the emergence map's rule (:func:`curricle.emergence.curves.clears_noise`,
and :func:`curricle.emergence.map.counts_as_emerged`: a chance level to beat, items not in
the training data)::

    score - chance >= min_gain   and   score - chance >= z * stderr     (the map's 0.1 and 3)

on the discrete metric (accuracy or exact match) of that step's probe, a standard error that
is not finite counting as 0, as in the map. The map reads the same rule off the best point of
a finished, smoothed curve; in the loop there is only the curve so far, so each probe step is
judged on its own score, and the level moves at the first step it clears the rule, not before.
An emerged level stays emerged (as in the map, whose emergence is read at the curve's best).
From that step on, at every probe step, each emerged level below the top of the domain's
ladder moves::

    m_l = move * max(w_l - keep, 0)    (0 when below min_move: the level has settled)

of its weight to the next level up (every move computed from the weights before the step, so
they still sum to 1): the share flows up the ladder as levels emerge, and an emerged level
keeps ``keep`` of the domain's tokens, so what the model learned stays reviewed (a level that
emerged with less, before it was trained on, keeps what it has). Each move is one line of
``RUN/mixture_log.jsonl`` naming the level that emerged (domain, skill, level, task, the step
it emerged at), this step's score, standard error and chance, the level it moved to, how much,
and the level weights before and after; the step a level emerges has its line even when it has
nothing to move (the top of the ladder, or at or below ``keep``, or settled). New draw probabilities follow
as a ``priorities`` line (the level weights per domain).

Metrics at each probe step: ``frontier/<skill>/weight/<level>`` and ``frontier/<skill>/level``,
the frontier's position in the domain's levels (0: the easiest): the hardest level with weight
above ``keep``, or the hardest that emerged if that is harder.

The controller proposes no domain weights: the mixture across domains stays with the schedule.
It needs no per-document losses (its priorities come from the probes) and curricle's own
sampler, so it does not run inside an HF ``Trainer``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from curricle.controllers.base import DOCUMENTS, Controller, ControllerContext, DomainStats, ProbeSignal
from curricle.controllers.config import FrontierConfig
from curricle.emergence.curves import clears_noise
from curricle.errors import CurricleError
from curricle.synthetic import level_name
from curricle.synthetic.config import SKILL_PARAMS, ladder


def doc_level(doc_id: str) -> tuple[str, str] | None:
    """``(skill, level)`` a synthetic document's id names (``copy@8-0-3``: copy, 8); None for
    an id that names no level of a skill's ladder."""
    skill, at, rest = doc_id.partition("@")
    level = rest.split("-", 1)[0]
    if not at or skill not in SKILL_PARAMS or level not in ladder(skill):
        return None
    return skill, level


def emerged(signal: ProbeSignal, z: float, min_gain: float) -> bool:
    """Whether ``signal`` clears the emergence map's rule (see the module doc)."""
    if signal.chance is None or signal.in_sample:
        return False
    se = signal.stderr if math.isfinite(signal.stderr) else 0.0
    return bool(clears_noise(signal.score - signal.chance, se, min_gain, z))


@dataclass
class Ladder:
    """One frontier domain: its skill's levels (easiest first), each document's level, and the
    level weights and emergences the controller keeps."""

    domain: str
    skill: str
    levels: list[str]
    level_of: np.ndarray
    """Per training document, the index of its level in ``levels``."""
    tokens: np.ndarray
    """Training tokens per level (EOS included)."""
    weights: np.ndarray
    emergence: list[dict[str, Any] | None]
    """Per level: the step it emerged at and that step's score, standard error and chance
    (None: not yet)."""

    @property
    def tasks(self) -> list[str]:
        return [level_name(self.skill, lv) for lv in self.levels]

    def probabilities(self) -> np.ndarray:
        """Per document, its draw probability (the module doc's ``p_i``)."""
        p = (self.weights / self.tokens)[self.level_of]
        return p / p.sum()

    def frontier(self, keep: float) -> int:
        """The frontier's position in ``levels`` (see the module doc)."""
        above = np.flatnonzero(self.weights > keep)
        done = [i for i, e in enumerate(self.emergence) if e is not None]
        return max(int(above[-1]) if len(above) else 0, done[-1] if done else 0)


def build_ladder(context: ControllerContext, domain: str, start: str) -> Ladder:
    """Domain ``domain``'s :class:`Ladder` from its documents' ids and lengths; a one-line
    error naming ``controller.domains`` when they are not one skill's levels."""
    if domain not in context.domains:
        raise CurricleError(f"controller.domains: unknown domain '{domain}' (the store has: "
                            f"{', '.join(context.domains)})")
    ids = context.doc_column(domain, "doc_id")
    named: dict[str, tuple[str, str] | None] = {}
    pairs = []
    for doc_id in map(str, ids):
        head, at, tail = doc_id.partition("@")
        key = f"{head}{at}{tail.split('-', 1)[0]}"  # copy@8: the ids of a level share it
        if key not in named:
            named[key] = doc_level(key)
        if named[key] is None:
            raise CurricleError(f"controller.domains: document '{doc_id}' of domain '{domain}' names no ladder level "
                                f"(a frontier domain holds a synthetic source's levels, ids like copy@8-0-3)")
        pairs.append(named[key])
    skills = sorted({s for s, _ in pairs})
    if len(skills) != 1:
        raise CurricleError(f"controller.domains: domain '{domain}' holds "
                            f"{'skills ' + ', '.join(skills) if skills else 'no documents'}; a frontier domain holds "
                            f"one skill's levels")
    skill = skills[0]
    present = {lv for _, lv in pairs}
    levels = [lv for lv in ladder(skill) if lv in present]
    index = {lv: i for i, lv in enumerate(levels)}
    of = np.array([index[lv] for _, lv in pairs], dtype=np.int64)
    tokens = np.bincount(of, np.asarray(context.doc_lengths(domain), dtype=np.float64), minlength=len(levels))
    weights = np.zeros(len(levels))
    if start == "easiest":
        weights[0] = 1.0
    else:
        weights[:] = 1.0 / len(levels)
    return Ladder(domain, skill, levels, of, tokens, weights, [None] * len(levels))


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class Frontier(Controller):
    name = "frontier"
    role = DOCUMENTS
    needs = frozenset({"doc_column", "doc_lengths"})
    in_hf_trainer = False
    hf_refusal = ("frontier draws a skill's documents by ladder level, which needs curricle's own sampler; "
                  "use `curricle train`")
    priority_reason = "document probabilities from the level weights"
    updates_on = "probes"

    def __init__(self, config: FrontierConfig, context: ControllerContext):
        super().__init__(config, context)
        names = config.domains
        if names is None:  # every domain of synthetic levels (its first document says)
            names = [d for d in self.domains if len(first := context.doc_column(d, "doc_id"))
                     and doc_level(str(first[0])) is not None]
            if not names:
                raise CurricleError("controller.domains: no domain holds a synthetic skill's levels (a synthetic "
                                    "source with `levels`)")
        self.ladders = [build_ladder(context, d, config.start) for d in names]
        self._moved_at: int | None = None

    @property
    def needs_doc_losses(self) -> bool:
        return False  # its priorities come from the probes

    @property
    def doc_domains(self) -> list[str]:
        return [lad.domain for lad in self.ladders]

    def update(self, step: int, stats: DomainStats) -> None:
        """At a probe step: record the levels that emerged and move weight up each ladder (the
        module doc); its moves are audit lines and new document priorities, never domain
        weights, so it returns None."""
        if stats.probes is None:
            return None
        c = self.config
        for lad in self.ladders:
            signals = []
            for task in lad.tasks:
                if task not in stats.probes:
                    raise CurricleError(f"controller.kind: frontier reads the in-loop probe of {task}, which the run "
                                        f"did not score (probe every level in train.probe.suite.levels)")
                signals.append(stats.probes[task])
            fresh = set()
            for i, s in enumerate(signals):
                if lad.emergence[i] is None and emerged(s, c.z, c.min_gain):
                    lad.emergence[i] = {"step": step, "score": _num(s.score), "stderr": _num(s.stderr),
                                      "chance": _num(s.chance)}
                    fresh.add(i)
            old = lad.weights.copy()
            top = len(lad.levels) - 1
            out = np.array([c.move * max(old[i] - c.keep, 0.0) if lad.emergence[i] is not None and i < top else 0.0
                            for i in range(len(old))])
            out[out < c.min_move] = 0.0  # settled: too little left above keep to move
            new = old - out
            new[1:] += out[:-1]
            lad.weights = new
            if out.any():
                self._moved_at = step
            for i in sorted(fresh | set(np.flatnonzero(out > 0).tolist())):
                self.notes.audit.append(self._line(step, lad, i, signals[i], float(out[i]), old, new))
        self.notes.metrics.update(self.level_metrics())
        return None

    def _line(self, step: int, lad: Ladder, i: int, s: ProbeSignal, moved: float, old: np.ndarray,
              new: np.ndarray) -> dict[str, Any]:
        c = self.config
        task, e = lad.tasks[i], lad.emergence[i]
        up = lad.tasks[i + 1] if i + 1 < len(lad.levels) else None
        when = (f"{task} emerged: {s.metric} {s.score:.4g} >= chance {s.chance:.4g} + max(min_gain {c.min_gain:g}, "
                f"{c.z:g} x stderr {s.stderr:.4g})") if e["step"] == step else f"{task} emerged at step {e['step']}"
        if moved > 0:
            what = f"{moved:.4g} of its weight above keep {c.keep:g} moved to {up}"
        elif up is None:
            what = "the top of the ladder: nothing to move"
        else:
            what = f"at or below keep {c.keep:g}: nothing to move"
        return {"step": step, "effective_from_step": step + 1, "domain": lad.domain, "skill": lad.skill,
                "level": lad.levels[i], "task": task, "emerged_step": e["step"], "to": up, "moved": moved,
                "signal": {"metric": s.metric, "score": _num(s.score), "stderr": _num(s.stderr),
                           "chance": _num(s.chance), "n": s.n},
                "old": dict(zip(lad.tasks, old.tolist())), "new": dict(zip(lad.tasks, new.tolist())),
                "reason": f"{when}; {what}"}

    def doc_priorities(self, step: int) -> dict[str, np.ndarray] | None:
        """The draw probabilities from the level weights: before the first batch (step 0) and
        after each update that moved weight."""
        if step != 0 and self._moved_at != step:
            return None
        return {lad.domain: lad.probabilities() for lad in self.ladders}

    def summary(self, priorities: dict[str, np.ndarray]) -> dict[str, Any]:
        """The level weights behind the new priorities, per domain (the audit log's line)."""
        by_domain = {lad.domain: lad for lad in self.ladders}
        return {d: {"skill": by_domain[d].skill, "level": by_domain[d].frontier(self.config.keep),
                    **{f"weight/{lv}": float(w) for lv, w in zip(by_domain[d].levels, by_domain[d].weights)}}
                for d in priorities}

    def level_metrics(self) -> dict[str, float]:
        """``frontier/<skill>/level`` and ``frontier/<skill>/weight/<level>`` (probe steps)."""
        out: dict[str, float] = {}
        for lad in self.ladders:
            out[f"frontier/{lad.skill}/level"] = lad.frontier(self.config.keep)
            out.update({f"frontier/{lad.skill}/weight/{lv}": float(w) for lv, w in zip(lad.levels, lad.weights)})
        return out

    def extra_state(self) -> dict[str, Any]:
        return {"ladders": {lad.domain: {"skill": lad.skill, "levels": lad.levels, "weights": lad.weights.tolist(),
                                         "emerged": lad.emergence} for lad in self.ladders}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        saved = state["ladders"]
        for lad in self.ladders:
            s = saved.get(lad.domain)
            if s is None or s["levels"] != lad.levels:
                raise CurricleError(f"controller state: domain '{lad.domain}' was saved with other levels "
                                    f"({s['levels'] if s else 'none'}, here {lad.levels}); another store?")
            lad.weights = np.asarray(s["weights"], dtype=np.float64)
            lad.emergence = [dict(e) if e is not None else None for e in s["emerged"]]
