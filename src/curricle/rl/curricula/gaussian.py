"""``gaussian``: admit a prompt before generation with probability ``exp(-(p - mu)^2 / (2
sigma^2))`` of its pass rate ``p`` (tracked, else the profile's; unknown: admitted), ``mu``
moving linearly from ``start`` to ``end`` over the run (Nemotron-3's RL sampling shape)."""

from __future__ import annotations

import math

from curricle.rl.curricula.prompt_gate import PromptGate


class GaussianPromptGate(PromptGate):
    def mean(self, step: int) -> float:
        c = self.config
        frac = min(1.0, step / max(1, self.steps - 1))
        return c.start + (c.end - c.start) * frac

    def admit_probability(self, p: float | None, step: int) -> float:
        if p is None:
            return 1.0
        return math.exp(-((p - self.mean(step)) ** 2) / (2 * self.config.sigma ** 2))

    def skip(self, state, row, p, step, u):
        return "off-target" if u >= self.admit_probability(p, step) else None
