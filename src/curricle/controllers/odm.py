"""``odm``: online data mixing as a multi-armed bandit (EXP3).

Albalak et al., 2023, "Efficient Online Data Mixing For Language Model Pre-Training". Each
domain is an arm; its reward is its (smoothed) training loss, importance-weighted by the
probability it was sampled with, and accumulated with smoothing ``alpha``::

    R_d   = alpha * R_d + (1 - alpha) * loss_d / pi_d
    eps_t = min(1 / K, sqrt(ln K / (K * t)))          exploration, decaying with steps t
    pi    = (1 - K * eps_t) * softmax(eps_{t-1} * R) + eps_t

Domains whose loss stays high (more left to learn) are sampled more; exploration keeps every
domain in play. The paper updates every step, so ``update_every`` defaults to 1 here; ``t`` is
the training step, as in the paper, also when updates are less frequent (so exploration
decays with training, not with the number of updates: counted in updates, a run updating
every 12 steps would stay uniform for its first ``K ln K`` updates, 130 steps at K = 6).
"""

from __future__ import annotations

import math

import numpy as np

from curricle.controllers.base import Controller
from curricle.controllers.config import ODMConfig


class ODM(Controller):
    name = "odm"

    def __init__(self, config: ODMConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self.rewards = np.zeros(len(domains))

    def propose(self, step, signal, current):
        k = len(self.domains)
        eps_prev = min(1.0 / k, math.sqrt(math.log(k) / (k * max(1, step - 1))))
        eps = min(1.0 / k, math.sqrt(math.log(k) / (k * max(1, step))))
        a = self.config.reward_smoothing
        seen = np.isfinite(signal)
        reward = np.where(seen, signal / np.clip(current, 1e-6, None), 0.0)
        self.rewards = np.where(seen, a * self.rewards + (1 - a) * reward, self.rewards)
        z = eps_prev * self.rewards
        p = np.exp(z - z.max())
        pi = (1 - k * eps) * p / p.sum() + eps
        top = int(np.argmax(self.rewards))
        return pi, f"EXP3: highest estimated reward '{self.domains[top]}' ({self.rewards[top]:.2f}), exploration {eps:.3f}"

    def extra_state(self):
        return {"rewards": self.rewards.tolist()}

    def load_extra_state(self, state):
        self.rewards = np.array(state["rewards"])
