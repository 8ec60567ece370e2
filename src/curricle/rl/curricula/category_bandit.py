"""``category-bandit``: each slot's category drawn from ``softmax(Q / tau)``, a prompt drawn
uniformly within it; after each step, for each category drawn, ``Q <- Q + lr (r - Q)`` with ``r``
the mean absolute advantage of its groups (SEC, Chen et al. 2025)."""

from __future__ import annotations

import numpy as np

from curricle.rl.curricula.base import PromptPolicy, group_advantages


class CategoryBanditPolicy(PromptPolicy):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.categories = sorted({p.category for p in self.prompts})
        self.q = {c: 0.0 for c in self.categories}
        self.members = {c: [i for i, p in enumerate(self.prompts) if p.category == c] for c in self.categories}

    def snapshot(self):
        return {**super().snapshot(), "q": dict(self.q)}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.q = {c: float(v) for c, v in state["q"].items()}

    def probabilities(self, q: dict[str, float]) -> np.ndarray:
        x = np.array([q[c] for c in self.categories]) / self.config.tau
        e = np.exp(x - x.max())
        return e / e.sum()

    def choose(self, snapshot, step, k):
        probs = self.probabilities(snapshot["q"])
        rng = np.random.default_rng([self.seed, 41, step])
        cats = rng.choice(len(self.categories), size=k, p=probs)
        out, used = [], set()
        for c in cats:
            pool = [i for i in self.members[self.categories[c]] if i not in used] or self.members[self.categories[c]]
            i = pool[int(rng.integers(len(pool)))]
            used.add(i)
            out.append(self.prompts[i].row)
        return out

    def _observe(self, step, groups):
        by_cat: dict[str, list[float]] = {}
        for row, rewards in groups:
            adv = group_advantages(rewards, self.scale_rewards)
            by_cat.setdefault(self.prompts[self.index[row]].category, []).append(float(np.mean(np.abs(adv))))
        for c, values in by_cat.items():
            self.q[c] += self.config.lr * (float(np.mean(values)) - self.q[c])
        return {"event": "bandit", "step": step, "q": dict(self.q),
                "probabilities": dict(zip(self.categories, self.probabilities(self.q).round(4).tolist()))}
