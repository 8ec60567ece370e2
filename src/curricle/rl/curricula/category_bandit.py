"""``category-bandit``: each slot's category drawn from ``softmax(Q / tau)``, a prompt drawn
uniformly within it (without replacement within a step); after each step every arm is
updated, ``Q <- Q + lr (r - Q)`` with ``r`` the mean absolute advantage of its groups' graded
completions, 0 for an arm not drawn (SEC, Chen et al. 2025, as released: unplayed arms
decay). Categories are the tasks or each task's levels (``categories``). Across steps a prompt
is drawn with replacement within its arm (the policy's choice reads only its snapshot)."""

from __future__ import annotations

import numpy as np

from curricle.errors import CurricleError
from curricle.rl.curricula.base import PromptPolicy, group_advantages


class CategoryBanditPolicy(PromptPolicy):
    state_key = "q"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.category_of = [p.task if self.config.categories == "task" else p.category for p in self.prompts]
        self.categories = sorted(set(self.category_of))
        self.q = {c: 0.0 for c in self.categories}
        self.members = {c: [i for i, cat in enumerate(self.category_of) if cat == c] for c in self.categories}

    def snapshot(self):
        return {**super().snapshot(), "q": dict(self.q)}

    def load_state_dict(self, state):
        self.check_kind(state)
        if sorted(state["q"]) != self.categories:
            raise CurricleError(f"curriculum.categories: the checkpoint's bandit arms {sorted(state['q'])} are not "
                                f"this run's {self.categories} (categories: {self.config.categories}): resume with "
                                f"the same categories and tasks")
        super().load_state_dict(state)
        self.q = {c: float(v) for c, v in state["q"].items()}

    def probabilities(self, q: dict[str, float]) -> np.ndarray:
        x = np.array([q[c] for c in self.categories]) / self.config.tau
        e = np.exp(x - x.max())
        return e / e.sum()

    def choose(self, snapshot, step, k, attempt=0):
        probs = self.probabilities(snapshot["q"])
        rng = np.random.default_rng([self.seed, 41, step] + ([attempt] if attempt else []))
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
        # scale_rewards: batch divides by the step's standard deviation over every graded
        # reward, as TRL does (unbiased, like torch's std)
        graded = [r for _, rewards in groups for r in rewards if r is not None]
        batch_std = float(np.std(graded, ddof=1)) if len(graded) > 1 else 0.0
        for row, rewards in groups:
            adv = group_advantages(rewards, self.scale_rewards, batch_std)
            # Ungraded completions (None) have no advantage: left out, not counted as 0.
            got = [abs(a) for a, r in zip(adv, rewards) if r is not None]
            if got:
                by_cat.setdefault(self.category_of[self.index[row]], []).append(float(np.mean(got)))
        for c in self.categories:
            r = float(np.mean(by_cat[c])) if c in by_cat else 0.0
            self.q[c] += self.config.lr * (r - self.q[c])
        return {"event": "bandit", "step": step, "q": dict(self.q),
                "probabilities": dict(zip(self.categories, self.probabilities(self.q).round(4).tolist()))}
