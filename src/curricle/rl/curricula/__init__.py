"""Prompt curricula for RL: which prompts each step's groups are drawn from (a *policy*), and
which generated groups are trained on (*gates*), after prime-rl's sampler + admission gates.

Torch-free. A policy keeps a small JSON-able state (pass rates, a target difficulty, bandit
values), changed by :meth:`PromptPolicy.observe` with each step's groups and their rewards.
:meth:`PromptPolicy.choose` is a pure function of a *snapshot* of that state, the seed and the
step: the sampler draws step ``k`` from the snapshot taken after step ``k - 2`` was observed
(a data loader has drawn step ``k + 1`` before step ``k``'s rewards exist), so the prompt order
does not depend on timing and a resumed run draws exactly what an uninterrupted one would.

The rules (``curricle.rl.config`` has each one's paper and defaults):

- ``uniform``: seeded epochs over the prompts, ``B`` a step;
- ``dynamic-filter``: ``uniform`` with the ``zero-variance`` gate;
- ``learnability``: ``B`` prompts without replacement, in proportion to ``p (1 - p) + floor``
  (``p`` the tracked pass rate, 0.5 for a prompt never drawn);
- ``target-difficulty``: the ``B`` prompts whose difficulty (0-100, the rank of the item's
  difficulty among all prompts) is nearest the target ``T``, ties at random; after each step
  ``T <- clip(T + eta tanh(alpha (R_avg - beta)), 0, 100)``;
- ``category-bandit``: each slot's category drawn from ``softmax(Q / tau)``, a prompt drawn
  uniformly within it; after each step, for each category drawn, ``Q <- Q + lr (r - Q)`` with
  ``r`` the mean absolute advantage of its groups.

A policy lives in its own module (``uniform``, ``learnability``, ``target_difficulty``,
``category_bandit``; the contract in ``base``). Gates (``gate`` has the contract) judge each
generated group: ``zero-variance`` (DAPO's filter) and ``pass-rate-band``; any number of them
goes with any policy (``curriculum.gates``), the trainer replaces a rejected group with a
freshly generated one (:func:`~curricle.rl.curricula.base.replacement_prompts`), and every
rejection is counted under its reason. Both kinds are registered by ``kind`` below.
"""

from __future__ import annotations

from typing import Sequence

from curricle.rl.config import PassRateConfig
from curricle.rl.curricula.base import (
    PassRates,
    Prompt,
    PromptPolicy,
    difficulty_scale,
    group_advantages,
    replacement_prompts,
)
from curricle.rl.curricula.category_bandit import CategoryBanditPolicy
from curricle.rl.curricula.gate import Gate, verdicts
from curricle.rl.curricula.learnability import LearnabilityPolicy
from curricle.rl.curricula.pass_rate_band import PassRateBandGate
from curricle.rl.curricula.target_difficulty import TargetDifficultyPolicy
from curricle.rl.curricula.uniform import UniformPolicy
from curricle.rl.curricula.zero_variance import ZeroVarianceGate

#: Policies by ``curriculum.kind`` (``dynamic-filter`` is ``uniform`` plus its gate).
POLICIES: dict[str, type[PromptPolicy]] = {
    "uniform": UniformPolicy, "dynamic-filter": UniformPolicy, "learnability": LearnabilityPolicy,
    "target-difficulty": TargetDifficultyPolicy, "category-bandit": CategoryBanditPolicy,
}
#: Gates by ``curriculum.gates[].kind``.
GATES: dict[str, type[Gate]] = {"zero-variance": ZeroVarianceGate, "pass-rate-band": PassRateBandGate}


def build_policy(config, prompts: Sequence[Prompt], seed: int, pass_rate: PassRateConfig,
                 scale_rewards: str = "group") -> PromptPolicy:
    return POLICIES[config.kind](config, prompts, seed, pass_rate, scale_rewards)


def build_gates(config) -> list[Gate]:
    """The curriculum's gates, in order (``config.all_gates()``)."""
    return [GATES[g.kind](g) for g in config.all_gates()]


__all__ = ["GATES", "POLICIES", "Gate", "PassRates", "Prompt", "PromptPolicy", "build_gates", "build_policy",
           "difficulty_scale", "group_advantages", "replacement_prompts", "verdicts"]
