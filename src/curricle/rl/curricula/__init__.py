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
- ``dynamic-filter``: ``uniform`` with the ``zero-variance`` gate, the batch filled as verl's
  DAPO does (over-generate, keep groups with nonzero variance, truncate);
- ``learnability``: ``B`` prompts without replacement, in proportion to ``p (1 - p) + floor``
  (``p`` the tracked pass rate, else a prior: the profile's base rate or the category's mean);
- ``lilo``: a pool of ``pool_factor x B`` distinct prompts rolled out, the top ``B`` groups by
  ``p (1 - p)`` trained (the trainer keeps them: :func:`top_learnable`, over every process's
  pool: :func:`deal_top_learnable`);
- ``target-difficulty``: the ``B`` prompts whose difficulty (``100 (1 - p0)`` of the base pass
  rate) is nearest the target ``T``; after each step ``T <- clip(T + eta tanh(alpha (R -
  beta)), 0, 100)``, ``R`` the smoothed mean reward;
- ``category-bandit``: each slot's category drawn from ``softmax(Q / tau)``, a prompt uniformly
  within it; after each step every arm ``Q <- Q + lr (r - Q)``, ``r`` the mean absolute
  advantage of its groups (0 if not drawn).

A policy lives in its own module (the contract in ``base``). Gates come in two kinds, any
number with any policy (``curriculum.gates``), every rejection counted under its reason:
*after generation* (``gate`` has the contract) a gate judges each generated group
(``zero-variance``, ``pass-rate-band``) and the trainer fills the batch with admitted groups of
fresh prompts (:func:`~curricle.rl.curricula.base.replacement_prompts`, drawn for every process
at once by :meth:`PromptPolicy.draw_pool`: none twice in a step while the prompts last);
*before generation* (``prompt_gate`` has the contract) a gate skips a chosen prompt at no
rollout cost (``greso``, ``gaussian``, ``pass-rate-band`` with ``before_rollout``), the
policy's next choice taking its place (:meth:`PromptPolicy.draw`), and judges the trainer's
fresh prompts (a refill, LILO's pool) the same way (:meth:`PromptPolicy.draw_more`). All are
registered by ``kind`` below.
"""

from __future__ import annotations

from typing import Sequence

from curricle.rl.config import PassRateConfig, before_rollout
from curricle.rl.curricula.base import (
    PassRates,
    check_gate_kinds,
    Prompt,
    PromptPolicy,
    difficulty_scale,
    group_advantages,
    group_pass_rate,
    replacement_prompts,
)
from curricle.rl.curricula.category_bandit import CategoryBanditPolicy
from curricle.rl.curricula.gate import Gate, verdicts
from curricle.rl.curricula.gaussian import GaussianPromptGate
from curricle.rl.curricula.greso import GresoPromptGate
from curricle.rl.curricula.learnability import LearnabilityPolicy
from curricle.rl.curricula.lilo import LiloPolicy, deal_top_learnable, top_learnable
from curricle.rl.curricula.pass_rate_band import PassRateBandGate, PassRateBandPromptGate
from curricle.rl.curricula.prompt_gate import PromptGate
from curricle.rl.curricula.target_difficulty import TargetDifficultyPolicy
from curricle.rl.curricula.uniform import UniformPolicy
from curricle.rl.curricula.zero_variance import ZeroVarianceGate

#: Policies by ``curriculum.kind`` (``dynamic-filter`` is ``uniform`` plus its gate).
POLICIES: dict[str, type[PromptPolicy]] = {
    "uniform": UniformPolicy, "dynamic-filter": UniformPolicy, "learnability": LearnabilityPolicy,
    "lilo": LiloPolicy, "target-difficulty": TargetDifficultyPolicy, "category-bandit": CategoryBanditPolicy,
}
#: Gates after generation (they judge generated groups) by ``curriculum.gates[].kind``.
GATES: dict[str, type[Gate]] = {"zero-variance": ZeroVarianceGate, "pass-rate-band": PassRateBandGate}
#: Gates before generation (they judge prompts), by ``curriculum.gates[].kind``.
PROMPT_GATES: dict[str, type[PromptGate]] = {"greso": GresoPromptGate, "gaussian": GaussianPromptGate,
                                             "pass-rate-band": PassRateBandPromptGate}


def build_policy(config, prompts: Sequence[Prompt], seed: int, pass_rate: PassRateConfig,
                 scale_rewards: str = "group", profile: dict[int, float] | None = None, batch: int = 1,
                 steps: int = 1) -> PromptPolicy:
    """The curriculum's policy, with its gates before generation."""
    prompt_gates = [PROMPT_GATES[g.kind](g, steps) for g in config.all_gates() if before_rollout(g)]
    return POLICIES[config.kind](config, prompts, seed, pass_rate, scale_rewards, profile=profile, batch=batch,
                                 steps=steps, prompt_gates=prompt_gates)


def build_gates(config) -> list[Gate]:
    """The curriculum's gates after generation, in order."""
    return [GATES[g.kind](g) for g in config.all_gates() if not before_rollout(g)]


__all__ = ["GATES", "POLICIES", "PROMPT_GATES", "Gate", "PassRates", "Prompt", "PromptGate", "PromptPolicy",
           "build_gates", "build_policy", "check_gate_kinds", "deal_top_learnable", "difficulty_scale",
           "group_advantages", "group_pass_rate", "replacement_prompts", "top_learnable", "verdicts"]
