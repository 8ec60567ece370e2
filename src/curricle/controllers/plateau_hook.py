"""Plateaus in pretraining: ``plateau:`` of the run config, as a hook after the controller.

:class:`PlateauHook` keeps one :class:`~curricle.controllers.plateau.PlateauDetector` per
watched series: ``eval/loss/<domain>`` (lower is better, its standard error
``eval/loss_se/<domain>``) fed at every evaluation, ``probe/<task>/<metric>`` (higher is
better, the probe's standard error) at every in-loop probe. When a series is judged on a
plateau it writes a ``plateau`` event to ``RUN/events.jsonl`` (the series, its latest value,
the window, the best before it, the improvement and the threshold, the policy and what was
done), and takes the policy:

- ``reinstate``: for ``reinstate.steps`` steps the run trains on easier material: an earlier
  phase's mixture (``sampler.set_weights``; only once the run is past that phase), and/or every
  paced domain's pacing restarted from its start (``sampler.restart_pacing``). An adaptive
  controller's updates in that window are kept aside (the reinstated mixture holds), and its
  latest weights return at the end; with the schedule, the schedule returns. The return is a
  ``reinstate-end`` event. No series is judged during the window, and each needs ``patience``
  evaluations after it for its next verdict.
- ``stop``: the run ends after the step where every watched series is on a plateau at once
  (``TrainState.stop(step, "plateau")``: checkpointed, and it stays ended on resume).

Decisions come from global numbers (all-reduced held-out sums, probes every rank scores
alike), so every rank takes the same; the state (detectors, the window) is checkpointed under
``plateau``, so a run killed and resumed decides exactly as one that never stopped.
"""

from __future__ import annotations

from typing import Any

from curricle.controllers.base import probe_value
from curricle.controllers.config import PlateauConfig
from curricle.controllers.mixture_window import MixtureWindow, phase_mixture
from curricle.controllers.plateau import Plateau, PlateauDetector
from curricle.errors import CurricleError
from curricle.train.hooks import Hook, TrainState


class PlateauHook(Hook):
    """Watches the run for plateaus and takes ``config.policy`` (see the module doc)."""

    name = "plateau"

    def __init__(self, config: PlateauConfig, domains: list[str]):
        self.config = config
        knobs = {"patience": config.patience, "z": config.z, "min_delta": config.min_delta}
        watched = list(domains) if config.domains is None else list(config.domains)
        unknown = [d for d in watched if d not in domains]
        if unknown:
            raise CurricleError(f"plateau.domains: unknown domain '{unknown[0]}' (the store has: {', '.join(domains)})")
        self.domains = watched
        self.detectors: dict[str, PlateauDetector] = {
            **{f"eval/loss/{d}": PlateauDetector(**knobs) for d in watched},
            **{f"probe/{t}/{config.probe_metric}": PlateauDetector(**knobs, higher_is_better=True)
               for t in config.probes}}
        self.window = MixtureWindow()
        """The reinstatement under way (:class:`~curricle.controllers.mixture_window.MixtureWindow`)."""

    # -- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"detectors": {k: d.state_dict() for k, d in self.detectors.items()}, "window": self.window.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, d in self.detectors.items():
            d.load_state_dict(state["detectors"][k])
        self.window.state = state["window"]

    # -- the step ---------------------------------------------------------------------------

    def on_step_end(self, state: TrainState, batch, metrics: dict[str, Any]) -> None:
        step = state.step
        if self.window.open_now:
            self.window.hold(state.sampler, bool(metrics.get("mixture_updated")))
            if self.window.due(step):
                state.event(step, "reinstate-end", **self.window.close(state.sampler))
                for d in self.detectors.values():
                    d.reset()
            return
        verdicts = self._observe(state, metrics)
        if not verdicts:
            return
        if self.config.policy == "stop":
            self._stop(state, step, verdicts)
        else:
            self._reinstate(state, step, verdicts)

    def _observe(self, state: TrainState, metrics: dict[str, Any]) -> dict[str, Plateau]:
        """Feed this step's evaluations to their detectors; the series newly on a plateau."""
        points: dict[str, tuple[float, float | None]] = {}
        if "eval/loss" in metrics:
            for d in self.domains:
                value = metrics.get(f"eval/loss/{d}")
                if isinstance(value, float):
                    points[f"eval/loss/{d}"] = (value, metrics.get(f"eval/loss_se/{d}"))
        if self.config.probes and state.probes_step == state.step and state.probes:
            for task in self.config.probes:
                points[f"probe/{task}/{self.config.probe_metric}"] = probe_value(
                    state.probes, task, self.config.probe_metric, "plateau.probes", "plateau.probe_metric")
        fired = {}
        for series, (value, se) in points.items():
            detector = self.detectors[series]
            was = detector.last
            verdict = detector.observe(state.step, value, se)
            if verdict is not None and (was is None or self.config.policy == "reinstate"):
                fired[series] = verdict  # under stop, a series already on its plateau is not news
        return fired

    def _event(self, state: TrainState, step: int, verdicts: dict[str, Plateau], **action: Any) -> None:
        for series, v in verdicts.items():
            state.event(step, "plateau", series=series, **{k: x for k, x in v.to_json().items() if k != "step"},
                        policy=self.config.policy, **action)

    def _stop(self, state: TrainState, step: int, verdicts: dict[str, Plateau]) -> None:
        still = sorted(k for k, d in self.detectors.items() if d.last is None)
        if still:
            self._event(state, step, verdicts, action="none", why=f"not on a plateau: {', '.join(still)}")
            return
        self._event(state, step, verdicts, action="stop")
        state.stop(step, "plateau", series=sorted(self.detectors))

    def _reinstate(self, state: TrainState, step: int, verdicts: dict[str, Plateau]) -> None:
        r = self.config.reinstate
        weights, why = None, []
        if r.phase is not None:
            weights, not_past = phase_mixture(state.sampler, r.phase)
            why += [not_past] if not_past else []
        for d in self.detectors.values():  # one plateau, one decision: each series needs patience new evaluations
            d.reset()
        if weights is None and not r.pacing_start:
            self._event(state, step, verdicts, action="none", why="; ".join(why))
            return
        self.window.open(state.sampler, step, r.steps, weights, r.pacing_start,
                         phase=r.phase if weights is not None else None)
        self._event(state, step, verdicts, action="reinstate", phase=self.window.state["phase"],
                    pacing_start=r.pacing_start, until_step=step + r.steps, **({"why": "; ".join(why)} if why else {}))
