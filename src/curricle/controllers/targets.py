"""``targets``: steer toward targets the user states, in proportion to gap times progress.

``targets: {code: {eval_loss: 2.1}, "arithmetic@2c1": {acc: 0.8}}``: every (name, metric) pair
is one target *i* with value ``v_i``:

- a **domain target**: a domain's held-out ``eval_loss`` or ``eval_ece``, lower is better,
  measured at each evaluation (``train.eval_every``), trained by the domain itself;
- a **probe target**: an in-loop probe task's discrete metric (``acc`` / ``exact_match``) or
  its continuous one (``prob`` / ``logprob``), higher is better, measured at each probe step
  (``train.probe.every``), trained by the domains ``D_i`` of ``train_by`` (the run config fills
  it in: the domains of the ``synthetic`` sources of the task's skill and level).

The rule. At each measurement ``m_i`` the remaining distance is ``d_i = m_i - v_i`` (lower is
better) or ``v_i - m_i`` (higher is better); the target is *met* while ``d_i <= 0`` at its
latest measurement. ``d0_i`` is ``d_i`` at the target's first unmet measurement (the initial
distance; a target met from the start has none, and gap 0, until it is first unmet). Then::

    g_i = max(0, d_i) / d0_i                       the gap, a fraction of the initial distance
    r_i = max(0, slope of (1 - g_i) over its last `window` measurements)
                                                   progress per measurement: least squares
                                                   against 0, 1, ..., n - 1 (0 with one)
    p_i = g_i * r_i                                priority: nothing pushed that is not moving
    P_d = sum over the targets i that d trains of p_i / |D_i|

and, with ``w`` the weights in use, the proposal ``w'``:

- **pushed** domains (``P_d > 0``) share what the others leave, in proportion to ``P_d``:
  ``w'_d = S * P_d / sum(P)``, ``S = 1 - (held, released and relapsed weight)``;
- **released** domains, every target of which is met: ``w'_d = min_weight``;
- **relapsed** domains, every target of which was met once and one of which is not now:
  ``w'_d = m_d``, the weight in use when they were first all met (what got them there), in
  place of any push: a released target that slips back is restored, not left at the floor to
  be forgotten (a slipping target does not move toward its value, so the rule above would
  not push it, or only by the little its window still shows);
- **held**: domains with no target, and lagging ones whose targets do not move (``P_d = 0``
  with one unmet): ``w'_d = w_d``. (A flat lagging domain is not pushed, and not starved
  either: moving its weight to zero would stop the progress it might make.)

No domain pushed or relapsed, no change (a proposal that does not sum to 1, with nothing
pushed, is scaled to; one that sums to 0, nothing to scale, is no change either). Then the usual floor (``min_weight``) and cap (``max_change``,
applied last), and an audit entry whose signal is ``P_d`` per targeted domain and whose reason
names the lagging targets (gap, rate) and the met ones. The shared EMA is not used (the slope
over ``window`` measurements is the smoothing, and an EMA would blur the formula): ``ema`` and
``update_every`` are refused; updates happen at the steps a target is measured (evaluations,
and probe steps for probe targets), from ``warmup_steps`` (0) on.

At each measurement it adds ``target/<name>/gap`` (the largest ``g_i`` of its metrics) and
``target/<name>/met`` (1 when all are met) to the step's metrics (and
``target/<name>/<metric>/gap`` when a name has several metrics). The first time every target
is met it writes a ``targets-met`` event (values, tokens spent on evaluation) and, with
``stop_when_met``, ends the run after the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from curricle.controllers.base import Controller, DomainStats, probe_value
from curricle.controllers.config import PROBE_METRICS, TargetsConfig
from curricle.errors import CurricleError


@dataclass(frozen=True)
class Target:
    name: str
    metric: str
    value: float
    probe: bool
    """Measured by the in-loop probes (higher is better), else at evaluations (lower is better)."""
    domains: tuple[int, ...]
    """The domains that train it, as indices of the sampler's domains."""

    @property
    def label(self) -> str:
        return f"{self.name}.{self.metric}"


def progress_rate(closed: list[float]) -> float:
    """The least-squares slope of ``closed`` against 0, 1, ..., n - 1 (0 for fewer than two)."""
    if len(closed) < 2:
        return 0.0
    x = np.arange(len(closed), dtype=np.float64)
    y = np.asarray(closed, dtype=np.float64)
    return float(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2))


class Targets(Controller):
    name = "targets"
    #: At evaluations, and at probe steps for probe targets (it overrides ``update``).
    updates_on = "eval"
    in_hf_trainer = False
    hf_refusal = ("targets reads the held-out losses and in-loop probe scores of curricle's own loop, which an HF "
                  "Trainer does not give its controller; train with `curricle train`")

    def __init__(self, config: TargetsConfig, context):
        super().__init__(config, context)
        index = {d: i for i, d in enumerate(self.domains)}
        self.targets: list[Target] = []
        for name, metrics in config.targets.items():
            for metric, value in metrics.items():
                probe = metric in PROBE_METRICS
                if probe and name not in config.train_by:
                    raise CurricleError(f"controller.train_by.{name}: no domains train this probe target "
                                        f"(name them; a run config fills them in from its sources)")
                names = config.train_by[name] if probe else [name]
                unknown = [d for d in names if d not in index]
                if unknown:
                    where = f"controller.train_by.{name}" if probe else f"controller.targets.{name}"
                    raise CurricleError(f"{where}: unknown domain '{unknown[0]}' (the store has: "
                                        f"{', '.join(self.domains)})")
                self.targets.append(Target(name, metric, float(value), probe, tuple(index[d] for d in names)))
        self.initial: list[float | None] = [None] * len(self.targets)
        self.recent: list[list[float]] = [[] for _ in self.targets]
        self.announced = False
        #: m_d: per domain, its weight when all its targets were first met (None: not yet).
        self.met_weight: list[float | None] = [None] * len(self.domains)

    @property
    def reads_heldout(self) -> bool:
        """Only when a target is a domain's held-out metric (probe targets read probe scores)."""
        return any(not t.probe for t in self.targets)

    # -- the formula ------------------------------------------------------------------------

    def gap(self, i: int) -> float:
        """g_i at the target's latest measurement (0 without an unmet one yet)."""
        d0 = self.initial[i]
        return 0.0 if d0 is None or not self.recent[i] else max(0.0, self.recent[i][-1]) / d0

    def rate(self, i: int) -> float:
        """r_i: the progress of the closed fraction per measurement, over the last ``window``."""
        d0 = self.initial[i]
        if d0 is None:
            return 0.0
        return max(0.0, progress_rate([1.0 - max(0.0, d) / d0 for d in self.recent[i]]))

    def met(self, i: int) -> bool:
        return bool(self.recent[i]) and self.recent[i][-1] <= 0

    def plan(self, current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
        """(proposal, P per domain, which domains are targeted, reason) from the weights in use;
        None when no domain is pushed."""
        k = len(self.domains)
        priority, targeted, unmet = np.zeros(k), np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)
        for i, t in enumerate(self.targets):
            p = self.gap(i) * self.rate(i)
            for d in t.domains:
                targeted[d] = True
                priority[d] += p / len(t.domains)
                unmet[d] |= not self.met(i)
        once = np.array([m is not None for m in self.met_weight])
        relapsed = targeted & unmet & once
        pushed = (priority > 0) & ~relapsed
        if not pushed.any() and not relapsed.any():
            return None
        released = targeted & ~unmet
        held = ~(pushed | released | relapsed)
        new = np.where(held, current, 0.0)
        new[released] = self.config.min_weight
        new[relapsed] = [self.met_weight[d] for d in np.flatnonzero(relapsed)]
        if pushed.any():
            rest = max(0.0, 1.0 - new.sum())
            new[pushed] = rest * priority[pushed] / priority[pushed].sum()
        elif new.sum() > 0:
            new = new / new.sum()
        else:  # relapsed at a weight of 0 with nothing else held: nothing to scale
            return None
        return new, priority, targeted, self._reason(relapsed)

    def _record_met(self, current: np.ndarray) -> None:
        """m_d for each domain whose targets are all met for the first time."""
        for d in range(len(self.domains)):
            mine = [i for i, t in enumerate(self.targets) if d in t.domains]
            if mine and self.met_weight[d] is None and all(self.met(i) for i in mine):
                self.met_weight[d] = float(current[d])

    def _reason(self, relapsed: np.ndarray | None = None) -> str:
        lagging = [f"{t.label} gap {self.gap(i):.3f} rate {self.rate(i):.3f}"
                   for i, t in enumerate(self.targets) if not self.met(i)]
        met = [t.label for i, t in enumerate(self.targets) if self.met(i)]
        back = [f"{self.domains[d]} to {self.met_weight[d]:.3g}"
                for d in (np.flatnonzero(relapsed) if relapsed is not None else [])]
        return (f"targets: lagging {', '.join(lagging) or 'none'}; met {', '.join(met) or 'none'}"
                + (f" (released to {self.config.min_weight:g})" if met else "")
                + (f"; relapsed, restored: {', '.join(back)}" if back else ""))

    # -- the step ---------------------------------------------------------------------------

    def _measure(self, stats: DomainStats) -> list[int]:
        """Record the targets this step measures; their indices."""
        measured = []
        for i, t in enumerate(self.targets):
            if t.probe:
                if stats.probes is None:
                    continue
                score, _ = probe_value(stats.probes, t.name, t.metric, f"controller.targets.{t.name}",
                                       f"controller.targets.{t.name}.{t.metric}")
                remaining = t.value - score
            else:
                values = stats.eval_loss if t.metric == "eval_loss" else stats.eval_ece
                if values is None:
                    continue
                remaining = float(values[t.domains[0]]) - t.value
            if not np.isfinite(remaining):
                continue
            if self.initial[i] is None and remaining > 0:
                self.initial[i] = float(remaining)
            self.recent[i] = [*self.recent[i], float(remaining)][-self.config.window:]
            measured.append(i)
        return measured

    def _note(self, step: int, measured: list[int], stats: DomainStats) -> None:
        by_name: dict[str, list[int]] = {}
        for i, t in enumerate(self.targets):
            by_name.setdefault(t.name, []).append(i)
        for name, ids in by_name.items():
            if not any(i in measured for i in ids):
                continue
            self.notes.metrics[f"target/{name}/gap"] = max(self.gap(i) for i in ids)
            self.notes.metrics[f"target/{name}/met"] = int(all(self.met(i) for i in ids))
            if len(ids) > 1:
                for i in ids:
                    self.notes.metrics[f"target/{name}/{self.targets[i].metric}/gap"] = self.gap(i)
        if self.announced or not all(self.met(i) for i in range(len(self.targets))):
            return
        self.announced = True
        values = {t.label: (t.value - self.recent[i][-1]) if t.probe else (t.value + self.recent[i][-1])
                  for i, t in enumerate(self.targets)}
        self.notes.events.append(("targets-met", {"values": values, "eval_tokens": int(stats.eval_tokens)}))
        if self.config.stop_when_met:
            self.notes.stop = ("targets-met", {})

    def update(self, step: int, stats: DomainStats) -> tuple[np.ndarray, Any] | None:
        """Measure, note, and at a measurement past ``warmup_steps`` move by the rule above."""
        measured = self._measure(stats)
        if not measured:
            return None
        self._note(step, measured, stats)
        current = np.asarray(stats.weights, dtype=np.float64)
        self._record_met(current)
        if step < self.config.warmup_steps:
            return None
        plan = self.plan(current)
        if plan is None:
            return None
        proposal, priority, targeted, reason = plan
        signal = {d: float(p) if on else None for d, p, on in zip(self.domains, priority, targeted)}
        return self.move(step, current, proposal, reason, signal)

    def extra_state(self) -> dict[str, Any]:
        return {"initial": list(self.initial), "recent": [list(r) for r in self.recent], "announced": self.announced,
                "met_weight": list(self.met_weight)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.initial = list(state["initial"])
        self.recent = [list(r) for r in state["recent"]]
        self.announced = bool(state["announced"])
        self.met_weight = list(state["met_weight"])
