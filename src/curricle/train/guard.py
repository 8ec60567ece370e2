"""The stability guard: skip bad steps, roll back after repeated spikes.

A step is judged once, on its global statistics (every micro-batch of every rank, after the
one all-reduce of the step), after its backward pass and before the optimizer step: NaN /
inf, or a domain's loss more than ``z_threshold`` standard deviations above that domain's
running mean over recent good steps, makes the step a skip (gradients dropped, nothing
applied). Every rank sees the same statistics, so every rank takes the same branch, and the
history it compares with holds the same statistic (global step means). Judging each domain
against its own history matters under a curriculum: when a phase brings in a domain whose loss
is naturally far above the others', the overall loss jumps, but no domain spiked (a domain
with too little history is not judged yet). After ``max_spikes`` consecutive skipped steps,
the trainer rolls back to the last checkpoint and continues with the data *after* the
offending window (it is not replayed). With no checkpoint to roll back to yet, the guard
forgets its history instead (:meth:`StabilityGuard.forget`): the level it compares with is
stale, and judging every later step against it would skip the rest of the run (a micro run with
``checkpoint.every`` at its length skipped 516 of its 600 steps so); the domains are judged
again once they have ``min_history`` good steps. Every decision is returned with a reason; the
trainer writes it to ``events.jsonl``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Literal

from curricle.train.config import GuardConfig

Verdict = Literal["ok", "nan", "spike"]


class StabilityGuard:
    def __init__(self, config: GuardConfig, domains: list[str]):
        self.config = config
        self.history: dict[str, deque[float]] = {d: deque(maxlen=config.window) for d in domains}
        self.consecutive = 0

    def check(self, loss: float, per_domain: dict[str, float]) -> tuple[Verdict, dict[str, Any]]:
        """Judge one step: its overall loss and its loss per domain. A verdict other than
        ``ok`` means skip the step."""
        if not self.config.enabled:
            return "ok", {}
        if not math.isfinite(loss):
            return "nan", {"loss": repr(loss)}
        worst: tuple[float, dict[str, Any]] | None = None
        for d, x in per_domain.items():
            hist = self.history[d]
            if len(hist) < self.config.min_history:
                continue
            n = len(hist)
            mean = sum(hist) / n
            std = max(self.config.min_std, math.sqrt(sum((h - mean) ** 2 for h in hist) / (n - 1)))
            z = (x - mean) / std
            if z > self.config.z_threshold and (worst is None or z > worst[0]):
                worst = (z, {"domain": d, "loss": x, "mean": mean, "std": std, "z": z})
        return ("spike", worst[1]) if worst else ("ok", {})

    def record(self, per_domain: dict[str, float] | None) -> bool:
        """Record a finished step: its per-domain losses if applied, ``None`` if skipped.
        True: roll back now."""
        if per_domain is None:
            self.consecutive += 1
            if self.consecutive >= self.config.max_spikes:
                self.consecutive = 0
                return True
            return False
        self.consecutive = 0
        for d, x in per_domain.items():
            self.history[d].append(x)
        return False

    def forget(self) -> None:
        """Drop every domain's history (a roll back was due and there was no checkpoint)."""
        for h in self.history.values():
            h.clear()
        self.consecutive = 0

    def state_dict(self) -> dict[str, Any]:
        return {"history": {d: list(h) for d, h in self.history.items()}, "consecutive": self.consecutive}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for d, h in state["history"].items():
            self.history[d] = deque(h, maxlen=self.config.window)
        self.consecutive = int(state["consecutive"])
