"""The controller's place in the training loop: after each step, before telemetry.

:class:`ControllerHook` feeds each step's per-domain statistics to the controller and hands a
new mixture to the sampler (used from the next step on), appending every change to
``RUN/mixture_log.jsonl`` with the signal that caused it. For controllers that rank documents
(hard examples) it also collects the per-token losses of each micro-batch, turns them into
per-document losses (gathered from every rank) and passes the resulting draw probabilities to
the sampler. The controller's state is checkpointed under ``controller``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from curricle.controllers.base import Controller, DomainStats
from curricle.controllers.hard_examples import doc_losses
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
    )


class ControllerHook(Hook):
    """Runs ``controller`` in the loop (see the module doc)."""

    name = "controller"
    logs = (MIXTURE_LOG,)

    def __init__(self, controller: Controller):
        self.controller = controller
        self._losses: list[torch.Tensor] = []

    def state_dict(self) -> dict[str, Any]:
        return self.controller.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state)

    def array_state(self) -> dict[str, np.ndarray]:
        return self.controller.array_state()

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.controller.load_array_state(arrays)

    def on_step_start(self, state, batch):
        self._losses = []

    def on_micro_batch(self, state, batch, rows, token_loss):
        if self.controller.needs_doc_losses:
            self._losses.append(token_loss)

    def on_step_end(self, state, batch, metrics):
        step = metrics["step"]
        if self.controller.needs_doc_losses:
            self._priorities(state, batch, step, skipped=metrics.get("skipped") is not None)
        result = self.controller.update(step, stats_from_metrics(state, batch, metrics))
        if result is None:
            return
        weights, entry = result
        state.sampler.set_weights(weights)
        metrics["mixture_updated"] = True
        state.append_log(MIXTURE_LOG, {"controller": self.controller.name, **entry.to_json(state.domains)})

    def _priorities(self, state: TrainState, batch, step: int, skipped: bool) -> None:
        # Per-document losses of this step's rows, from every rank (none for a skipped step).
        mine = [] if skipped else doc_losses(batch, torch.cat(self._losses), state.domains)
        observed = [x for part in all_gather_objects(state.dist, mine) for x in part]
        self.controller.observe_docs(step, observed)
        priorities = self.controller.doc_priorities(step)
        if not priorities:
            return
        for domain, p in priorities.items():
            state.sampler.set_doc_priorities(domain, p)
        state.append_log(MIXTURE_LOG, {"controller": self.controller.name, "step": step, "effective_from_step": step + 1,
                                       "priorities": self.controller.summary(priorities),
                                       "reason": "document priorities from their most recent losses"})
