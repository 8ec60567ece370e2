"""The controller's place in the training loop: after each step, before telemetry.

:class:`ControllerHook` feeds each step's per-domain statistics to the controller and hands a
new mixture to the sampler (used from the next step on), appending every change to
``RUN/mixture_log.jsonl`` with the signal that caused it; what else the controller says of the
step (:class:`~curricle.controllers.base.StepNotes`: metrics, events, audit-log lines that are
no weight change, a request to end the run) goes into the step's metrics,
``RUN/events.jsonl``, ``RUN/mixture_log.jsonl`` and ``TrainState.stop``. For controllers that
rank documents it passes their draw probabilities to the sampler (a controller with priorities
before any visit, such as ``jtt`` or ``frontier``, sets them before the first batch); for those
that rank them by loss (hard examples) it also collects the per-token losses (and, when the
controller wants them, the per-token difficulty signals) of each micro-batch and turns them
into per-document visits (gathered from every rank); the tokens of augmented documents' rows,
by group (``Batch.overlay_groups``), reach it too, and its groups' token shares join every
step's metrics. For a controller whose config reads ``drift`` it computes the per-domain drift
signal first (:class:`~curricle.controllers.drift_signal.DriftTracker`, with the config's
``drift`` section) into ``DomainStats.drift``, adds ``drift/z/<d>`` and ``drift/cusum/<d>``
to the step's metrics and writes a ``drift-alarm`` event per alarm; and it opens the bounded
windows the controller asks for (``StepNotes.window``: a
:class:`~curricle.controllers.mixture_window.MixtureWindow`, the controller's updates kept
aside meanwhile), with a line of ``RUN/mixture_log.jsonl`` at each start and end. The
controller's state is checkpointed under ``controller`` (with the tracker's and the window's
under ``drift_signal`` and ``mixture_window`` when it reads ``drift``).

:class:`DoReMiProxyHook` is DoReMi's proxy run instead (:mod:`curricle.controllers.doremi`):
it runs the reference model on each micro-batch, updates the domain weights once a step from
the clipped per-token excess loss, and weighs the proxy's loss by them.

A step the stability guard skipped trained nothing, and no controller learns from it: its
statistics say so (``DomainStats.skipped``, no training loss, no document visits), a document
prioritizer that updates on training steps is asked for no priorities there
(:meth:`~curricle.controllers.base.Controller.takes_step`), and DoReMi's update of the step,
computed before the guard judged it (its weights weigh the step's last micro-batch), is
dropped rather than applied.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import torch

from curricle import atomic
from curricle.controllers.base import DOCUMENTS, LOSS_WEIGHTING, Controller, DomainStats
from curricle.controllers.doremi import WEIGHTS_FILE, DoReMi
from curricle.controllers.drift_signal import DriftTracker
from curricle.controllers.hard_examples import doc_visits
from curricle.controllers.mixture_window import MixtureWindow, phase_mixture
from curricle.train.distributed import all_gather_objects
from curricle.train.hooks import Hook, TrainState

MIXTURE_LOG = "mixture_log.jsonl"


def stats_from_metrics(state: TrainState, batch, metrics: dict[str, Any]) -> DomainStats:
    domains = state.domains

    def per_domain(prefix: str) -> np.ndarray:
        return np.array([v if isinstance(v := metrics.get(f"{prefix}{d}"), float) else np.nan for d in domains])

    return DomainStats(
        step=metrics["step"],
        train_loss=per_domain("loss/"),
        tokens=state.sampler.served_tokens.astype(np.float64),
        weights=np.asarray(batch.weights, dtype=np.float64),
        eval_loss=per_domain("eval/loss/") if "eval/loss" in metrics else None,
        eval_ece=per_domain("eval/ece/") if "eval/loss" in metrics else None,
        probes=dict(state.probes) if state.probes_step == metrics["step"] and state.probes else None,
        eval_tokens=state.eval_tokens,
        skipped=metrics.get("skipped") is not None,
    )


def controller_hook(controller: Controller) -> Hook:
    """The training loop's hook for ``controller``, by its role: DoReMi's proxy for a
    loss-weighting controller (its reference model built from its context), else
    :class:`ControllerHook`."""
    if controller.role == LOSS_WEIGHTING:
        context = controller.context
        return DoReMiProxyHook(controller, context.build_model(context.reference), context.fixed_mixture,
                               str(context.reference))
    return ControllerHook(controller)


class ControllerHook(Hook):
    """Runs ``controller`` in the loop (see the module doc)."""

    name = "controller"
    logs = (MIXTURE_LOG,)

    def __init__(self, controller: Controller):
        self.controller = controller
        self.wants_token_signals = controller.needs_doc_losses and controller.needs_signals
        self._losses: list[torch.Tensor] = []
        self._signals: list[torch.Tensor] = []
        reads = getattr(controller.config, "reads", None)
        self.drift = (DriftTracker(controller.config.drift, controller.domains)
                      if reads is not None and "drift" in reads() else None)
        self.window = MixtureWindow()
        self._change_seen = False

    def state_dict(self) -> dict[str, Any]:
        state = self.controller.state_dict()
        if self.drift is not None:
            state = {**state, "drift_signal": self.drift.state_dict(), "mixture_window": self.window.state}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.drift is not None:
            state = dict(state)
            self.drift.load_state_dict(state.pop("drift_signal"))
            self.window.state = state.pop("mixture_window")
        self.controller.load_state_dict(state)

    def array_state(self) -> dict[str, np.ndarray]:
        return self.controller.array_state()

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.controller.load_array_state(arrays)

    def on_train_start(self, state):
        # Priorities known before any visit (a fixed table, a metadata column, a start on the
        # easiest level) apply from the first batch; a resumed run has them in the sampler's
        # state already.
        if self.controller.role == DOCUMENTS and state.step == 0:
            self._apply(state, 0, self.controller.doc_priorities(0))

    def wants_eval(self, state, step):
        return self.controller.wants_eval(step)

    def on_step_start(self, state, batch):
        self._losses = []
        self._signals = []

    def on_micro_batch(self, state, batch, rows, token_loss, signals=None):
        if self.controller.needs_doc_losses:
            self._losses.append(token_loss)
            if signals is not None:
                self._signals.append(signals)

    def on_step_end(self, state, batch, metrics):
        step = metrics["step"]
        c = self.controller
        stats = stats_from_metrics(state, batch, metrics)
        if c.needs_doc_losses:
            self._observe(state, batch, step, skipped=stats.skipped)
            metrics.update(c.group_metrics())
        if self.drift is not None:
            # The first step this hook sees after a resume on another snapshot of the data
            # carries the sampler's account of what changed (the hook is built anew at a resume).
            change, self._change_seen = (None if self._change_seen else state.sampler.snapshot_change), True
            stats.drift = self.drift.observe(stats, change)
            metrics.update(self.drift.metrics(stats.drift))
            for fields in self.drift.alarms(stats.drift):
                state.event(step, "drift-alarm", **fields)
        result = c.update(step, stats)
        notes = c.take_notes()
        for line in notes.audit:
            state.append_log(MIXTURE_LOG, {"controller": c.name, **line})
        # From the visits just observed, or the update (frontier); none from a step the
        # controller does not take (a skipped one: hard-examples' due update waits, unaged).
        if c.role == DOCUMENTS and c.takes_step(stats):
            self._apply(state, step, c.doc_priorities(step))
        metrics.update(notes.metrics)
        for event, fields in notes.events:
            state.event(step, event, **fields)
        if notes.stop is not None:
            state.stop(step, notes.stop[0], **notes.stop[1])
        if result is not None:
            weights, entry = result
            state.sampler.set_weights(weights)
            metrics["mixture_updated"] = True
            held = {"held_by_window": True} if self.window.open_now else {}
            state.append_log(MIXTURE_LOG, {"controller": c.name, **entry.to_json(state.domains), **held})
        if self.window.open_now:
            self.window.hold(state.sampler, result is not None)
            if self.window.due(step):
                self._close_window(state, step)
        if notes.window is not None:
            self._open_window(state, step, notes.window, batch.weights)

    def _open_window(self, state: TrainState, step: int, request, drawn) -> None:
        # old: the weights this step was drawn with (what the controller moved from, as in
        # every audit entry); new: what the next step draws with.
        sampler = state.sampler
        old = [float(x) for x in drawn]
        weights, why = request.weights, None
        if request.phase is not None:
            phase_weights, why = phase_mixture(sampler, request.phase)
            weights = phase_weights if phase_weights is not None else weights
        phase = request.phase if why is None else None
        self.window.open(sampler, step, request.steps, weights, request.pacing_start, phase=phase)
        new = [float(x) for x in sampler.weights_at(step)]
        state.append_log(MIXTURE_LOG, {
            "controller": self.controller.name, "step": step, "effective_from_step": step + 1,
            "old": dict(zip(state.domains, old)), "new": dict(zip(state.domains, new)),
            "window": {"until_step": step + request.steps, "phase": phase, "pacing_start": request.pacing_start},
            "signal": request.signal, "reason": request.reason + (f" ({why}: the raised mixture instead)" if why else "")})

    def _close_window(self, state: TrainState, step: int) -> None:
        sampler = state.sampler
        old = [float(x) for x in sampler.weights_at(step)]
        ended = self.window.close(sampler)
        new = [float(x) for x in sampler.weights_at(step)]
        state.append_log(MIXTURE_LOG, {
            "controller": self.controller.name, "step": step, "effective_from_step": step + 1,
            "old": dict(zip(state.domains, old)), "new": dict(zip(state.domains, new)), "window_end": ended,
            "reason": f"the window opened at step {ended['since']} ends: back to "
                      f"{ended.get('returned_to', 'the mixture in use')}"
                      f"{' and the pacing clock' if ended['pacing_start'] else ''}"})

    def _observe(self, state: TrainState, batch, step: int, skipped: bool) -> None:
        # Per-document visits of this step's rows, from every rank (none for a skipped step).
        signals = torch.cat(self._signals) if self._signals else None
        mine = [] if skipped else doc_visits(batch, torch.cat(self._losses), state.domains, signals)
        overlay = [] if skipped else [(state.domains[d], g, n) for d, g, n in batch.overlay_groups or ()]
        parts = all_gather_objects(state.dist, (mine, overlay))
        observed = [x for part, _ in parts for x in part]
        self.controller.observe_docs(step, observed)
        overlay_tokens = [x for _, part in parts for x in part]
        if overlay_tokens:
            self.controller.observe_group_tokens(step, overlay_tokens)

    def _apply(self, state: TrainState, step: int, priorities: dict[str, np.ndarray] | None) -> None:
        if not priorities:
            return
        for domain, p in priorities.items():
            state.sampler.set_doc_priorities(domain, p)
        state.append_log(MIXTURE_LOG, {"controller": self.controller.name, "step": step, "effective_from_step": step + 1,
                                       "priorities": self.controller.summary(priorities),
                                       "reason": self.controller.priority_reason})


class DoReMiProxyHook(Hook):
    """DoReMi's proxy (see :mod:`curricle.controllers.doremi`): ``reference`` is a
    :class:`~curricle.train.loss.TokenLoss` around the reference model (on the run's device),
    ``sampling`` the fixed mixture the run samples from (in the sampler's domain order)."""

    name = "controller"
    logs = (MIXTURE_LOG,)

    def __init__(self, controller: DoReMi, reference: torch.nn.Module, sampling: np.ndarray, source: str):
        self.controller = controller
        self.reference = reference.eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.sampling = np.asarray(sampling, dtype=np.float64)
        self.source = source
        self._sums: torch.Tensor | None = None
        self._counts: torch.Tensor | None = None
        #: The step's update (scores, alpha), applied at the step's end unless the guard skipped it.
        self._pending: tuple[np.ndarray, np.ndarray] | None = None

    def state_dict(self) -> dict[str, Any]:
        return self.controller.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state)

    def on_step_start(self, state, batch):
        k = len(state.domains)
        self._sums = torch.zeros(k, dtype=torch.float64, device=state.dist.device)
        self._counts = torch.zeros(k, dtype=torch.float64, device=state.dist.device)
        self._pending = None

    @torch.no_grad()
    def token_weights(self, state: TrainState, batch, rows: slice, last: bool, token_loss: torch.Tensor) -> torch.Tensor:
        x = batch.tokens[rows].to(token_loss.device)
        domain = batch.domain_ids[rows].to(token_loss.device)  # (b,)
        with state.autocast() if state.autocast else contextlib.nullcontext():
            _, ref_loss = self.reference(x)
        excess = (token_loss - ref_loss.float()).clamp_(min=0)  # clipped per token
        per_row = excess.sum(1).double()
        self._sums.index_add_(0, domain, per_row)
        self._counts.index_add_(0, domain, torch.full_like(per_row, excess.size(1)))
        if last:
            sums, counts = self._sums, self._counts
            if state.dist.active:
                both = torch.stack([sums, counts])
                torch.distributed.all_reduce(both)
                sums, counts = both[0], both[1]
            self._pending = self.controller.next_update(sums.cpu().numpy(), counts.cpu().numpy())
        alpha = self.controller.alpha if self._pending is None else self._pending[1]
        ratio = torch.as_tensor(alpha / self.sampling, dtype=torch.float32, device=token_loss.device)
        w = ratio[domain][:, None].expand_as(token_loss)
        total = w.sum()
        if state.dist.active:  # normalized over every rank's tokens (DDP averages the gradients)
            total = total.clone()
            torch.distributed.all_reduce(total)
            total = total / state.dist.world_size
        return w / total

    def on_step_end(self, state, batch, metrics):
        pending, self._pending = self._pending, None
        if pending is None or metrics.get("skipped") is not None:
            return  # a skipped step trained nothing: its update is dropped (the module doc)
        c = self.controller
        c.apply(*pending)
        metrics.update({f"doremi/weight/{d}": float(a) for d, a in zip(state.domains, c.alpha)})
        state.append_log(MIXTURE_LOG, {"controller": c.name, "step": metrics["step"],
                                       "alpha": dict(zip(state.domains, c.alpha.tolist())),
                                       "excess": dict(zip(state.domains, c.scores.tolist())),
                                       "reason": "exponentiated-gradient step on the clipped excess loss"})

    def on_train_end(self, state):
        if not state.is_main or self.controller.updates == 0 or state.step < state.total_steps:
            return  # only a finished proxy has weights to hand on
        c = self.controller
        atomic.write_text(state.run_dir / WEIGHTS_FILE, json.dumps({
            "weights": dict(zip(state.domains, c.average.tolist())),
            "last": dict(zip(state.domains, c.alpha.tolist())),
            "sampling": dict(zip(state.domains, self.sampling.tolist())),
            "steps": c.updates,
            "reference": self.source,
            "how": "DoReMi's domain weights averaged over the proxy run's steps",
        }, indent=1))
