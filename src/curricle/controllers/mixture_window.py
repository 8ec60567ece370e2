"""A bounded window of other material: a mixture and/or the pacing's start for N steps, then
back to what was in use. The plateau policy ``reinstate`` (:mod:`.plateau_hook`) and the
``drift-aware`` controller's reactions (:mod:`.drift_aware`, through its hook) both use it.

:meth:`MixtureWindow.open` sets the window's mixture on the sampler (``sampler.set_weights``)
and/or restarts every paced domain's pacing (``sampler.restart_pacing``), keeping the weights
in use to return to: an adaptive controller's latest (the sampler's override) or None, the
schedule. While it is open, :meth:`MixtureWindow.hold` keeps a controller's new weights aside
(they become the weights to return to) and the window's mixture in use. :meth:`MixtureWindow.
close` returns to the kept weights (or the schedule) and the pacing's own clock. The state is
a small JSON-able dict, part of its owner's checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MixtureWindow:
    """At most one open window (``state``; see the module doc)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        """The window under way: ``since`` / ``until`` (steps), ``phase`` (the reinstated
        phase's name, or None), ``pacing_start``, ``weights`` (the window's mixture, or None),
        ``saved`` (the weights to return to, None for the schedule) and ``held`` (controller
        updates kept aside)."""

    @property
    def open_now(self) -> bool:
        return self.state is not None

    def open(self, sampler: Any, step: int, steps: int, weights: np.ndarray | None, pacing_start: bool,
             phase: str | None = None) -> None:
        """From the next batch to step ``step + steps``: ``weights`` (None: the mixture in use)
        and, with ``pacing_start``, the pacing from its start."""
        self.state = {"since": step, "until": step + steps, "phase": phase, "pacing_start": pacing_start,
                      "weights": _listed(weights), "saved": _listed(sampler.weights_override), "held": 0}
        if weights is not None:
            sampler.set_weights(weights)
        if pacing_start:
            sampler.restart_pacing(sampler.step)

    def hold(self, sampler: Any, mixture_updated: bool) -> None:
        """A controller set new weights this step (``mixture_updated``): keep them for the
        return, and the window's mixture in use."""
        w = self.state
        if w["weights"] is not None and mixture_updated:
            w["saved"] = _listed(sampler.weights_override)
            w["held"] += 1
            sampler.set_weights(np.asarray(w["weights"]))

    def due(self, step: int) -> bool:
        return self.state is not None and step >= self.state["until"]

    def close(self, sampler: Any) -> dict[str, Any]:
        """Back to the kept weights and the pacing's clock; what the window was and what
        returned (``returned_to``, ``controller_updates_held``), for its owner's log."""
        w = self.state
        if w["weights"] is not None:
            sampler.set_weights(None if w["saved"] is None else np.asarray(w["saved"]))
        if w["pacing_start"]:
            sampler.restart_pacing(None)
        back = {} if w["weights"] is None else {
            "returned_to": "schedule" if w["saved"] is None else "controller weights",
            "controller_updates_held": w["held"]}
        self.state = None
        return {"since": w["since"], "phase": w["phase"], "pacing_start": w["pacing_start"], **back}


def phase_mixture(sampler: Any, phase: str) -> tuple[np.ndarray | None, str | None]:
    """``(weights of phase, None)`` when the run (its next batch) is past ``phase`` of the
    sampler's schedule, else ``(None, why not)``."""
    schedule = sampler.schedule
    names = [name for _, name in schedule.phases()]
    now = schedule.phase_at(sampler.step)
    if names.index(now) > names.index(phase):
        return schedule.phase_weights(phase), None
    return None, f"the run is in phase '{now}', not past '{phase}'"


def _listed(w: np.ndarray | None) -> list[float] | None:
    return None if w is None else [float(x) for x in w]
