"""``target-difficulty``: the ``B`` prompts whose difficulty (0-100, the rank of the item's
difficulty among all prompts) is nearest the target ``T``, ties at random; after each step
``T <- clip(T + eta tanh(alpha (R_avg - beta)), 0, 100)`` (AdaRFT, Shi et al. 2025)."""

from __future__ import annotations

import math

import numpy as np

from curricle.rl.curricula.base import PromptPolicy


class TargetDifficultyPolicy(PromptPolicy):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.target = float(self.config.start)

    def snapshot(self):
        return {**super().snapshot(), "target": self.target}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.target = float(state["target"])

    def choose(self, snapshot, step, k):
        t = snapshot["target"]
        rng = np.random.default_rng([self.seed, 37, step])
        ties = rng.random(len(self.prompts))
        order = sorted(range(len(self.prompts)), key=lambda i: (abs(self.prompts[i].difficulty - t), ties[i]))
        return [self.prompts[i].row for i in order[:k]]

    def _observe(self, step, groups):
        rewards = [r for _, rs in groups for r in rs if r is not None]
        if not rewards:
            return None
        r_avg = float(np.mean(rewards))
        c = self.config
        old = self.target
        self.target = float(np.clip(old + c.eta * math.tanh(c.alpha * (r_avg - c.beta)), 0.0, 100.0))
        return {"event": "target", "step": step, "reward": r_avg, "target": self.target, "previous": old}
