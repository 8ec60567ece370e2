"""``learnability``: ``B`` prompts without replacement, in proportion to ``p (1 - p) + floor``
(``p`` the tracked pass rate, 0.5 for a prompt never drawn); LILO, Foster et al. 2025."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from curricle.rl.curricula.base import PromptPolicy


class LearnabilityPolicy(PromptPolicy):
    def weights(self, snapshot: dict[str, Any]) -> np.ndarray:
        p = snapshot["pass_rates"]["p"]
        rates = np.array([p.get(str(q.row), 0.5) for q in self.prompts], dtype=np.float64)
        return rates * (1 - rates) + self.config.floor

    def choose(self, snapshot, step, k):
        w = self.weights(snapshot)
        rng = np.random.default_rng([self.seed, 31, step])
        idx = rng.choice(len(self.prompts), size=min(k, len(self.prompts)), replace=False, p=w / w.sum())
        return [self.prompts[int(i)].row for i in idx]

    def _observe(self, step, groups):
        w = self.weights(self.snapshot())
        q = w / w.sum()
        q = q[q > 0]
        entropy = float(-(q * np.log(q)).sum())
        return {"event": "learnability", "step": step, **self.pass_rate_summary(),
                "effective_prompts": round(math.exp(entropy), 1),
                "learnable": int((w > self.config.floor + 1e-12).sum())}
