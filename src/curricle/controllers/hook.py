"""The controller's place in the training loop: after each step, before telemetry."""

from __future__ import annotations

import json

import numpy as np

from curricle.controllers.base import Controller, DomainStats
from curricle.train.hooks import Hook


def stats_from_metrics(trainer, batch, metrics) -> DomainStats:
    domains = trainer.domains

    def per_domain(prefix: str) -> np.ndarray:
        return np.array([v if isinstance(v := metrics.get(f"{prefix}{d}"), float) else np.nan for d in domains])

    return DomainStats(
        step=metrics["step"],
        train_loss=per_domain("loss/"),
        tokens=trainer.sampler.served_tokens.astype(np.float64),
        weights=np.asarray(batch.weights, dtype=np.float64),
        eval_loss=per_domain("eval/loss/") if "eval/loss" in metrics else None,
    )


class ControllerHook(Hook):
    """Feeds each step's stats to the controller; a new mixture is handed to the sampler
    (used from the next step on) and appended to ``RUN/mixture_log.jsonl`` (rank 0)."""

    def __init__(self, controller: Controller):
        self.controller = controller

    def on_step_end(self, trainer, batch, metrics):
        step = metrics["step"]
        if self.controller.needs_doc_losses:
            self._priorities(trainer, step)
        result = self.controller.update(step, stats_from_metrics(trainer, batch, metrics))
        if result is None:
            return
        weights, entry = result
        trainer.sampler.set_weights(weights)
        metrics["mixture_updated"] = True
        self._log(trainer, {"controller": self.controller.name, **entry.to_json(trainer.domains)})

    def _priorities(self, trainer, step: int) -> None:
        self.controller.observe_docs(step, trainer.last_doc_losses)
        priorities = self.controller.doc_priorities(step)
        if not priorities:
            return
        for domain, p in priorities.items():
            trainer.sampler.set_doc_priorities(domain, p)
        self._log(trainer, {"controller": self.controller.name, "step": step, "effective_from_step": step + 1,
                            "priorities": self.controller.summary(priorities),
                            "reason": "document priorities from their most recent losses"})

    def _log(self, trainer, line: dict) -> None:
        if trainer.dist.is_main:
            with open(trainer.run_dir / "mixture_log.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
