"""The stability guard: skip bad batches, roll back after repeated spikes.

A micro-batch's loss is checked before its backward pass. NaN / inf, or a loss more than
``z_threshold`` standard deviations above the running mean of recent good steps, makes the
whole optimizer step a skip (gradients dropped, nothing applied). After ``max_spikes``
consecutive skipped steps, the trainer rolls back to the last checkpoint and continues with
the data *after* the offending window (it is not replayed). Every decision is returned with a
reason; the trainer writes it to ``events.jsonl``.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["ok", "nan", "spike"]


class GuardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Turn the guard off entirely (bad steps are then applied)."""
    z_threshold: float = Field(6.0, gt=0)
    """A loss this many standard deviations above the recent mean is a spike."""
    window: int = Field(50, ge=2)
    """How many recent good steps the mean and deviation are taken over."""
    min_history: int = Field(10, ge=2)
    """No spike detection before this many good steps (early loss falls fast)."""
    min_std: float = Field(0.01, ge=0)
    """Floor on the deviation, so a flat loss curve does not flag tiny wiggles."""
    max_spikes: int = Field(3, ge=1)
    """Consecutive skipped steps that trigger a rollback to the last checkpoint."""
    inject: dict[int, Literal["nan", "spike"]] = {}
    """Testing aid: make the loss of these steps NaN, or 100x larger, to exercise the guard."""


class StabilityGuard:
    def __init__(self, config: GuardConfig):
        self.config = config
        self.history: deque[float] = deque(maxlen=config.window)
        self.consecutive = 0

    def check(self, loss: float) -> tuple[Verdict, dict[str, Any]]:
        """Judge one micro-batch loss; a verdict other than ``ok`` means skip the step."""
        if not self.config.enabled:
            return "ok", {}
        if not math.isfinite(loss):
            return "nan", {"loss": repr(loss)}
        if len(self.history) >= self.config.min_history:
            n = len(self.history)
            mean = sum(self.history) / n
            std = max(self.config.min_std, math.sqrt(sum((x - mean) ** 2 for x in self.history) / (n - 1)))
            z = (loss - mean) / std
            if z > self.config.z_threshold:
                return "spike", {"loss": loss, "mean": mean, "std": std, "z": z}
        return "ok", {}

    def record(self, step_loss: float | None) -> bool:
        """Record a finished step: its loss if applied, ``None`` if skipped. True: roll back now."""
        if step_loss is None:
            self.consecutive += 1
            if self.consecutive >= self.config.max_spikes:
                self.consecutive = 0
                return True
            return False
        self.consecutive = 0
        self.history.append(step_loss)
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "consecutive": self.consecutive}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = deque(state["history"], maxlen=self.config.window)
        self.consecutive = int(state["consecutive"])
