"""``greso``: skip a prompt before generation with a probability that rises with its run of
zero-variance groups (GRESO, Zheng et al. 2025; the rule of ``Infini-AI-Lab/GRESO``'s
``all_probabilistic`` filter): ``1 - max(p_easy^z, floor)`` after ``z`` all-correct groups in a
row, ``1 - max(p_hard^z, floor)`` after ``z`` all-wrong ones; ``p_easy`` and ``p_hard`` adapt
each step toward target shares of easy and hard groups (``curricle.rl.config.GresoGate``)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from curricle.rl.curricula.prompt_gate import PromptGate


class GresoPromptGate(PromptGate):
    def __init__(self, config, steps: int = 1):
        super().__init__(config, steps)
        self.easy: dict[int, int] = {}  # row -> all-correct groups in a row, up to its last group
        self.hard: dict[int, int] = {}
        self.p_easy, self.p_hard = float(config.p_easy), float(config.p_hard)

    def skip_probability(self, state: dict[str, Any], row: int) -> tuple[float, str | None]:
        c = self.config
        easy, hard = int(state["easy"].get(str(row), 0)), int(state["hard"].get(str(row), 0))
        if easy:
            return 1.0 - max(state["p_easy"] ** easy, c.floor), "easy"
        if hard:
            return 1.0 - max(state["p_hard"] ** hard, c.floor), "hard"
        return 0.0, None

    def skip(self, state, row, p, step, u):
        prob, reason = self.skip_probability(state, row)
        return reason if u < prob else None

    def observe(self, step: int, groups: Sequence[tuple[int, Sequence[float | None]]]) -> None:
        c = self.config
        n_easy = n_hard = n = 0
        for row, rewards in groups:
            got = [r for r in rewards if r is not None]
            if not got:
                continue
            n += 1
            mean = float(np.mean(got))
            if mean >= c.easy_above:
                self.easy[row] = self.easy.get(row, 0) + 1
                n_easy += 1
            else:
                self.easy.pop(row, None)
            if mean <= c.hard_below:
                self.hard[row] = self.hard.get(row, 0) + 1
                n_hard += 1
            else:
                self.hard.pop(row, None)
        if not n:
            return
        # More easy (hard) groups than the target: skip more of them (a smaller p), else fewer.
        t_easy, t_hard = c.target_zero_variance / 3, c.target_zero_variance * 2 / 3
        d_easy = -c.adjust if n_easy / n >= t_easy else c.adjust
        d_hard = -c.adjust if n_hard / n >= t_hard else c.adjust
        self.p_easy = float(np.clip(self.p_easy + d_easy, c.min_p, c.max_p))
        self.p_hard = float(np.clip(self.p_hard + d_hard, c.min_p, c.max_p))

    def state_dict(self) -> dict[str, Any]:
        return {"easy": {str(k): v for k, v in self.easy.items()}, "hard": {str(k): v for k, v in self.hard.items()},
                "p_easy": self.p_easy, "p_hard": self.p_hard}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.easy = {int(k): int(v) for k, v in state["easy"].items()}
        self.hard = {int(k): int(v) for k, v in state["hard"].items()}
        self.p_easy, self.p_hard = float(state["p_easy"]), float(state["p_hard"])
