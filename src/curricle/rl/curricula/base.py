"""The prompt policy contract, and what the policies share (pass rates, difficulty scale,
GRPO's advantages, seeded epochs).

A policy keeps a small JSON-able state, changed by :meth:`PromptPolicy.observe` with each step's
groups and their rewards; :meth:`PromptPolicy.choose` is a pure function of a *snapshot* of that
state, the seed and the step (see :mod:`curricle.rl.curricula`). The base policy is uniform:
seeded epochs over the prompts, ``B`` a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from curricle.rl.config import PassRateConfig


@dataclass(frozen=True)
class Prompt:
    """A training prompt: its dataset row, task, difficulty on a 0-100 scale, category."""

    row: int
    task: str
    difficulty: float
    category: str


def difficulty_scale(values: Sequence[float]) -> list[float]:
    """Each value's rank among ``values`` on a 0-100 scale (ties share their mean rank)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return [0.0] * len(x)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for v in np.unique(x):  # ties: their mean rank
        same = x == v
        ranks[same] = ranks[same].mean()
    return (100.0 * ranks / (len(x) - 1)).tolist()


def group_advantages(rewards: Sequence[float | None], scale: str, batch_std: float | None = None) -> list[float]:
    """GRPO's advantages of one group as TRL computes them: ``(r - mean) / (std + 1e-4)`` with the
    group's unbiased std (``group``), the batch's (``batch``) or none (``none``); ungraded
    completions (None) are left out of the mean and get 0."""
    r = np.array([np.nan if v is None else v for v in rewards], dtype=np.float64)
    ok = ~np.isnan(r)
    if not ok.any():
        return [0.0] * len(r)
    mean = r[ok].mean()
    adv = r - mean
    if scale == "group":
        std = r[ok].std(ddof=1) if ok.sum() > 1 else 0.0
        adv = adv / (std + 1e-4)
    elif scale == "batch":
        adv = adv / ((batch_std or 0.0) + 1e-4)
    return np.where(ok, adv, 0.0).tolist()


class PassRates:
    """Each prompt's pass rate: an EMA of its groups' mean reward (None until first drawn)."""

    def __init__(self, config: PassRateConfig):
        self.ema = config.ema
        self.p: dict[int, float] = {}
        self.n: dict[int, int] = {}

    def update(self, row: int, mean_reward: float) -> None:
        old = self.p.get(row)
        self.p[row] = mean_reward if old is None else (1 - self.ema) * old + self.ema * mean_reward
        self.n[row] = self.n.get(row, 0) + 1

    def state_dict(self) -> dict[str, Any]:
        return {"p": {str(k): v for k, v in self.p.items()}, "n": {str(k): v for k, v in self.n.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = {int(k): float(v) for k, v in state["p"].items()}
        self.n = {int(k): int(v) for k, v in state["n"].items()}


def _epoch_rows(n: int, seed: int, start: int, k: int) -> list[int]:
    """Positions ``start .. start + k`` of seeded back-to-back permutations of ``range(n)``."""
    out = []
    while len(out) < k:
        epoch, pos = divmod(start + len(out), n)
        perm = np.random.default_rng([seed, 17, epoch]).permutation(n)
        out.extend(perm[pos: pos + k - len(out)].tolist())
    return out


class PromptPolicy:
    """Base: uniform epochs. ``prompts``: every training prompt; ``scale_rewards``: how the
    trainer normalizes advantages (the bandit's reward uses the same)."""

    def __init__(self, config, prompts: Sequence[Prompt], seed: int, pass_rate: PassRateConfig,
                 scale_rewards: str = "group"):
        self.config = config
        self.prompts = list(prompts)
        self.seed = seed
        self.scale_rewards = scale_rewards
        self.pass_rates = PassRates(pass_rate)
        self.index = {p.row: i for i, p in enumerate(self.prompts)}

    @property
    def name(self) -> str:
        return self.config.kind

    # -- state ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What :meth:`choose` reads (JSON-able)."""
        return {"pass_rates": self.pass_rates.state_dict()}

    def state_dict(self) -> dict[str, Any]:
        return self.snapshot()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pass_rates.load_state_dict(state["pass_rates"])

    # -- choosing and observing ----------------------------------------------------------------------

    def choose(self, snapshot: dict[str, Any], step: int, k: int) -> list[int]:
        """The rows of step ``step``'s ``k`` prompts."""
        pos = _epoch_rows(len(self.prompts), self.seed, step * k, k)
        return [self.prompts[i].row for i in pos]

    def observe(self, step: int, groups: Sequence[tuple[int, Sequence[float | None]]]) -> dict[str, Any] | None:
        """Take step ``step``'s groups ``(row, rewards)``; returns a log record if the sampling
        distribution changed in a way worth a line."""
        for row, rewards in groups:
            got = [r for r in rewards if r is not None]
            if got:
                self.pass_rates.update(row, float(np.mean(got)))
        return self._observe(step, groups)

    def _observe(self, step, groups) -> dict[str, Any] | None:
        return None

    def pass_rate_summary(self) -> dict[str, Any]:
        p = np.array(list(self.pass_rates.p.values()))
        if not len(p):
            return {"seen": 0}
        return {"seen": len(p), "unseen": len(self.prompts) - len(p), "solved": int((p >= 1).sum()),
                "failed": int((p <= 0).sum()), "mean": float(p.mean())}


def replacement_prompts(prompts: Sequence[Prompt], seed: int, step: int, attempt: int, process: int, k: int) -> list[int]:
    """Fresh prompts for ``k`` dropped groups (DAPO): uniform without replacement, seeded by
    (step, attempt, process), so every process and every rerun draws the same."""
    rng = np.random.default_rng([seed, 29, step, attempt, process])
    idx = rng.choice(len(prompts), size=min(k, len(prompts)), replace=False)
    return [prompts[int(i)].row for i in idx]
