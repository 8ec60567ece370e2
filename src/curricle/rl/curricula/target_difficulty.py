"""``target-difficulty``: the ``B`` prompts whose difficulty (0-100: ``100 (1 - p0)`` of the base
pass rate from the profile, 100 for a prompt none of whose samples was graded, or the rank of the
item's own difficulty) is nearest the target ``T``, ties at random; after each step ``T <- clip(T
+ eta tanh(alpha (R - beta)), 0, 100)`` with ``R`` the smoothed mean reward (AdaRFT, Shi et al.
2025; ``eta`` scaled to the batch)."""

from __future__ import annotations

import math

import numpy as np

from curricle.rl.curricula.base import PromptPolicy


class TargetDifficultyPolicy(PromptPolicy):
    state_key = "target"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.target = float(self.config.start)
        self.reward: float | None = None
        if self.config.difficulty == "profile":
            if self.profile is None:
                raise ValueError("target-difficulty with difficulty: profile needs the base sampling pass")
            self.difficulty = [100.0 * (1.0 - self.profile.get(q.row, 0.0)) for q in self.prompts]
        else:
            self.difficulty = [q.difficulty for q in self.prompts]

    @property
    def eta(self) -> float:
        return self.config.eta if self.config.eta is not None else 50.0 * self.batch / 1024

    def snapshot(self):
        return {**super().snapshot(), "target": self.target, "reward": self.reward}

    def load_state_dict(self, state):
        super().load_state_dict(state)  # (its kind checked first)
        self.target = float(state["target"])
        self.reward = state.get("reward")

    def choose(self, snapshot, step, k, attempt=0):
        t = snapshot["target"]
        rng = np.random.default_rng([self.seed, 37, step])
        ties = rng.random(len(self.prompts))
        order = sorted(range(len(self.prompts)), key=lambda i: (abs(self.difficulty[i] - t), ties[i]))
        return [self.prompts[i].row for i in order[attempt * k:(attempt + 1) * k]]

    def _observe(self, step, groups):
        rewards = [r for _, rs in groups for r in rs if r is not None]
        if not rewards:
            return None
        r = float(np.mean(rewards))
        s = self.config.smoothing
        self.reward = r if self.reward is None else s * self.reward + (1 - s) * r
        c = self.config
        old = self.target
        self.target = float(np.clip(old + self.eta * math.tanh(c.alpha * (self.reward - c.beta)), 0.0, 100.0))
        return {"event": "target", "step": step, "reward": r, "smoothed_reward": self.reward,
                "target": self.target, "previous": old}
