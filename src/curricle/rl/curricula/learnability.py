"""``learnability``: ``B`` prompts without replacement, in proportion to ``p (1 - p) + floor``
(Foster et al. 2025); ``p`` the tracked pass rate, or, for a prompt not yet rolled out or whose
estimate is older than ``stale_after`` steps, its prior (the profile's base pass rate, or its
category's mean tracked rate), taken within [0, 1]."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from curricle.rl.curricula.base import PromptPolicy


class LearnabilityPolicy(PromptPolicy):
    @property
    def stale_after(self) -> int:
        s = self.config.stale_after
        return s if s is not None else max(1, math.ceil(len(self.prompts) / max(1, self.batch)))

    def rates(self, snapshot: dict[str, Any], step: int | None = None) -> np.ndarray:
        """Each prompt's ``p``: fresh tracked rates, else the prior."""
        pr = snapshot["pass_rates"]
        p, t = pr["p"], pr.get("t", {})
        fresh = {}
        for q in self.prompts:
            key = str(q.row)
            if key in p and (step is None or step - int(t.get(key, step)) <= self.stale_after):
                fresh[q.row] = float(p[key])
        if self.config.prior == "category":
            by_cat: dict[str, list[float]] = {}
            for q in self.prompts:
                if q.row in fresh:
                    by_cat.setdefault(q.category, []).append(fresh[q.row])
            means = {c: float(np.mean(v)) for c, v in by_cat.items()}
            prior = [means.get(q.category, 0.5) for q in self.prompts]
        else:
            prior = [(self.profile or {}).get(q.row, 0.5) for q in self.prompts]
        return np.array([fresh.get(q.row, pri) for q, pri in zip(self.prompts, prior)], dtype=np.float64)

    def weights(self, snapshot: dict[str, Any], step: int | None = None) -> np.ndarray:
        # A pass rate is a probability: a reward outside [0, 1] (a user's own reward functions;
        # curricle rl refuses one at load) would give negative weights.
        rates = np.clip(self.rates(snapshot, step), 0.0, 1.0)
        return rates * (1 - rates) + self.config.floor

    def choose(self, snapshot, step, k, attempt=0):
        w = self.weights(snapshot, step)
        rng = np.random.default_rng([self.seed, 31, step] + ([attempt] if attempt else []))
        k = min(k, len(self.prompts))
        positive = np.flatnonzero(w > 0)
        if len(positive) >= k:
            idx = rng.choice(len(self.prompts), size=k, replace=False, p=w / w.sum())
        else:  # floor 0 and fewer than k prompts of weight > 0: those, then uniformly among the rest
            rest = np.setdiff1d(np.arange(len(self.prompts)), positive)
            idx = np.concatenate([rng.permutation(positive), rng.choice(rest, size=k - len(positive), replace=False)])
        return [self.prompts[int(i)].row for i in idx]

    def _observe(self, step, groups):
        w = self.weights(self.snapshot(), step)
        q = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))  # (all 0: drawn uniformly)
        q = q[q > 0]
        entropy = float(-(q * np.log(q)).sum())
        return {"event": "learnability", "step": step, **self.pass_rate_summary(),
                "effective_prompts": round(math.exp(entropy), 1),
                "learnable": int((w > self.config.floor + 1e-12).sum())}
