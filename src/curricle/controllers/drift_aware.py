"""``drift-aware``: any weight proposer, plus a bounded reaction to a drifting domain.

Each step the inner controller (``inner``: schedule, odm, ado, targets, ...) runs as it would
alone, on the step's statistics with its own latest weights as the weights in use; its updates
are the run's, with its own audit lines. The drift signal (``stats.drift``, filled by the
controller hook from :class:`~curricle.controllers.drift_signal.DriftTracker` with the config's
``drift`` section) is read after it: once a domain's detector has raised ``after_alarms``
alarms in a row, or (with ``shift_alarm``) at the first step after a resume on new data whose
documents' metadata moved at least ``shift_alarm`` standard deviations (``stats.drift.shift``),
and the step is past ``warmup_steps``, the wrapper asks for a window
(:class:`~curricle.controllers.base.WindowRequest`) from the next step:

- without ``reinstate``: for ``hold_steps`` steps, the weights in use with each drifting
  domain's weight raised by ``raise_by`` (absolute; the other domains scaled down to keep the
  sum 1), then floored at ``min_weight`` and moved toward by at most ``max_change`` in any one
  weight (so the raise is at most ``raise_by``, and at most ``max_change``);
- with ``reinstate``: for ``reinstate.steps`` steps, the mixture of an earlier phase
  (``reinstate.phase``, when the run is past it; otherwise the raised mixture above) and/or
  every paced domain's pacing from its start (``reinstate.pacing_start``; alone, the mixture
  in use is kept).

The window is the plateau policy's (:class:`~curricle.controllers.mixture_window.MixtureWindow`):
the inner controller's updates meanwhile are kept aside, and its latest weights (or the
schedule) return at the end. The start and the end are lines of ``RUN/mixture_log.jsonl``
(the start's reason names each drifting domain with its alarm count, z and CUSUM; its signal
is every domain's z). No new window opens while one is open; alarms meanwhile are counted
by the detector (and logged as ``drift-alarm`` events) but not acted on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from curricle.controllers.base import WEIGHTS, Controller, DomainStats, WindowRequest, apply_floor, limit_change
from curricle.controllers.config import CONTROLLERS, DriftAwareConfig
from curricle.errors import CurricleError


def raised_weights(current: np.ndarray, drifting: list[int], raise_by: float, min_weight: float,
                   max_change: float) -> np.ndarray:
    """``current`` with each of ``drifting`` raised by ``raise_by`` and the others scaled down
    to keep the sum 1, floored at ``min_weight``, then moved toward from ``current`` by at most
    ``max_change`` in any one weight."""
    current = np.asarray(current, dtype=np.float64)
    up = np.zeros(len(current), dtype=bool)
    up[drifting] = True
    target = np.where(up, current + raise_by, current)
    rest = current[~up].sum()
    room = 1.0 - target[up].sum()
    if room <= 0 or rest <= 0:  # every other domain would vanish: share it all among the drifting
        target = np.where(up, 1.0 / up.sum(), 0.0)
    else:
        target = np.where(up, target, current * room / rest)
    return limit_change(current, apply_floor(target, min_weight), max_change)


class DriftAware(Controller):
    name = "drift-aware"
    in_hf_trainer = False
    hf_refusal = ("drift-aware reads the drift signal curricle's own controller hook computes; an HF Trainer does "
                  "not give it; train with `curricle train`")

    def __init__(self, config: DriftAwareConfig, context):
        super().__init__(config, context)
        self.inner: Controller = CONTROLLERS.build(config.inner, context)
        if self.inner.role != WEIGHTS:
            raise CurricleError(f"controller.inner.kind: drift-aware wraps a weight proposer; {self.inner.name} is a "
                                f"{self.inner.role} controller")
        self.inner_weights: list[float] | None = None
        """The inner controller's latest weights (None: it has set none; the schedule's are used)."""
        self.until: int | None = None
        """The last step of the window it asked for (None: none open)."""

    def wants_eval(self, step: int) -> bool:
        return self.inner.wants_eval(step)

    @property
    def reads_heldout(self) -> bool:
        """Its inner controller's answer, or its own drift signal's when that watches
        held-out losses (``drift.series: eval``)."""
        return self.inner.reads_heldout or self.config.drift.series == "eval"

    @property
    def decider(self) -> str:
        return self.inner.decider if self.inner.reads_heldout else self.name

    def set_lr_warmup(self, steps: int) -> None:
        self.inner.set_lr_warmup(steps)

    def update(self, step: int, stats: DomainStats):
        inner_stats = stats if self.inner_weights is None else dataclasses.replace(
            stats, weights=np.asarray(self.inner_weights, dtype=np.float64))
        result = self.inner.update(step, inner_stats)
        inner_notes = self.inner.take_notes()
        self.notes.metrics.update(inner_notes.metrics)
        self.notes.events += inner_notes.events
        self.notes.audit += inner_notes.audit
        self.notes.stop = inner_notes.stop
        if result is not None:
            self.inner_weights = [float(x) for x in result[0]]
        if self.until is not None and step >= self.until:
            self.until = None
        drift = stats.drift
        if drift is None or self.until is not None or step < self.config.warmup_steps:
            return result
        drifting = [i for i in range(len(self.domains))
                    if drift.alarm[i] and drift.consecutive[i] >= self.config.after_alarms
                    or self._shifted(drift, i)]
        if drifting:
            self._react(step, result[0] if result is not None else stats.weights, drifting, drift)
        return result

    def _shifted(self, drift, i: int) -> bool:
        t = self.config.shift_alarm
        return t is not None and drift.shift is not None and bool(np.isfinite(drift.shift[i])) and drift.shift[i] >= t

    def _react(self, step: int, current: np.ndarray, drifting: list[int], drift) -> None:
        c = self.config
        r = c.reinstate
        steps = r.steps if r is not None else c.hold_steps

        def why(i: int) -> str:
            if self._shifted(drift, i):
                return (f"'{self.domains[i]}' (new data: a metadata mean moved {drift.shift[i]:.2f} sd >= "
                        f"{c.shift_alarm:g})")
            return (f"'{self.domains[i]}' ({int(drift.consecutive[i])} alarms in a row, z {drift.z[i]:.2f}, "
                    f"cusum {drift.cusum[i]:.2f} > {c.drift.h:g})")

        who = ", ".join(why(i) for i in drifting)
        what = ("reinstate " + " and ".join(x for x in (r.phase and f"phase '{r.phase}'",
                                                         r.pacing_start and "the pacing's start") if x)
                if r is not None else f"raise by up to {c.raise_by:g}")
        self.notes.window = WindowRequest(
            steps=steps, weights=None if r is not None and r.phase is None else
            raised_weights(current, drifting, c.raise_by, c.min_weight, c.max_change),
            reason=f"drift: {who}; {what} for {steps} steps",
            signal={d: (float(z) if np.isfinite(z) else None) for d, z in zip(self.domains, drift.z)},
            phase=r.phase if r is not None else None, pacing_start=bool(r is not None and r.pacing_start))
        self.until = step + steps

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inner": self.inner.state_dict(), "inner_weights": self.inner_weights,
                "until": self.until}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
        self.inner_weights = state["inner_weights"]
        self.until = state["until"]

    def array_state(self) -> dict[str, np.ndarray]:
        return self.inner.array_state()

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.inner.load_array_state(arrays)
