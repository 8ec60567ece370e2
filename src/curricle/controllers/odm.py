"""``odm``: online data mixing, as released: the smoothed-mean bandit.

Albalak et al., 2023, "Efficient Online Data Mixing For Language Model Pre-Training". This
follows ``SmoothedMeanWeightUpdater.group_update`` of the authors' release
(alon-albalak/online-data-mixing): each domain is an arm whose reward is its perplexity,
``exp(loss_d)``, smoothed over steps; the weights are the rewards normalized *linearly*, mixed
with a decaying exploration rate; it updates every step::

    R_d   = alpha * R_d + (1 - alpha) * exp(loss_d)         (R_d starts at 0)
    eps_t = min(1 / K, sqrt(log10(K) / (K * t)))            exploration, t = the step
    pi_d  = (1 - K * eps_t) * R_d / sum(R) + eps_t

A domain the step did not sample keeps its reward. There is no importance weighting by the
sampling probability and no softmax (those belong to the EXP3 updater of the paper's first
version, which an earlier curricle version followed), and no smoothing besides ``alpha``: the
shared EMA, floor and cap are off by default (``ema: 0``, ``min_weight: 0``,
``max_change: 1``), so the update is the release's formula exactly. Domains whose perplexity
stays high, the ones with more left to learn, or nothing learnable at all, are sampled more.
"""

from __future__ import annotations

import math

import numpy as np

from curricle.controllers.base import Controller
from curricle.controllers.config import ODMConfig


def exploration(k: int, step: int) -> float:
    """eps_t of the release: ``min(1/K, sqrt(log10(K) / (K t)))``."""
    return min(1.0 / k, math.sqrt(math.log10(k) / (k * max(1, step))))


def smoothed_mean_update(rewards: np.ndarray, losses: np.ndarray, alpha: float, step: int) -> tuple[np.ndarray, np.ndarray]:
    """One ``group_update``: (new rewards, new weights); NaN losses leave a reward as it is."""
    seen = np.isfinite(losses)
    rewards = np.where(seen, alpha * rewards + (1 - alpha) * np.exp(np.where(seen, losses, 0.0)), rewards)
    k = len(rewards)
    eps = exploration(k, step)
    total = rewards.sum()
    share = rewards / total if total > 0 else np.full(k, 1.0 / k)
    pi = (1 - k * eps) * share + eps
    return rewards, pi / pi.sum()


class ODM(Controller):
    name = "odm"

    def __init__(self, config: ODMConfig, context):
        super().__init__(config, context)
        self.rewards = np.zeros(len(self.domains))

    def propose(self, step, signal, current):
        # Only the domains this step sampled move their reward: the smoothed signal still holds
        # a domain's last loss when the step had none of it.
        losses = np.where(np.isfinite(self.step_signal), signal, np.nan)
        self.rewards, pi = smoothed_mean_update(self.rewards, losses, self.config.reward_smoothing, step)
        top = int(np.argmax(self.rewards))
        return pi, (f"smoothed mean: highest smoothed perplexity '{self.domains[top]}' ({self.rewards[top]:.2f}), "
                    f"exploration {exploration(len(self.domains), step):.3f}")

    def extra_state(self):
        return {"rewards": self.rewards.tolist()}

    def load_extra_state(self, state):
        self.rewards = np.array(state["rewards"])
