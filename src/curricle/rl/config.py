"""``curricle rl``'s config: GRPO over TRL's ``GRPOTrainer`` with a prompt curriculum.

::

    model: {path: runs/sft/final}
    tasks:
      - {name: add, source: {kind: builtin, skill: arithmetic, levels: [{digits: 1}, {digits: 2}, {digits: 3}]}}
    curriculum: {kind: learnability, gates: [{kind: zero-variance}]}   # policy: uniform | dynamic-filter |
                                            # learnability | target-difficulty | category-bandit;
                                            # gates: zero-variance | pass-rate-band
    grpo: {num_generations: 8, prompts_per_step: 4, max_completion_length: 8, steps: 300}

Each prompt curriculum follows its paper's rule with its defaults; every change of the
sampling distribution is summarized in ``RUN/curriculum_log.jsonl``. Imports only pydantic
and other config modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.config import load_model_file
from curricle.posttrain.config import RENAMED_KEYS, CheckpointSettings, HFModelConfig
from curricle.tasks.config import TaskConfig

#: curricle's state in each ``checkpoint-N`` of an RL run.
STATE_FILE = "curricle_rl.json"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PassRateConfig(_Config):
    """Each prompt's tracked pass rate: an exponential moving average of its groups' mean reward."""

    ema: float = Field(0.5, gt=0, le=1)
    """Weight of the newest group (1: the last group's mean alone)."""


class ZeroVarianceGate(_Config):
    """DAPO's dynamic-sampling filter (Yu et al. 2025): a group whose graded rewards are all
    equal (all pass or all fail: zero advantage) is rejected (reason ``zero-variance``)."""

    kind: Literal["zero-variance"] = "zero-variance"


class PassRateBandGate(_Config):
    """A pass-rate band (verl #2791, prime-rl's admission gates): a group is admitted when its
    mean reward is within ``[low, high]`` (reasons ``below-band``, ``above-band``) and, with
    ``min_std`` set (for non-binary rewards), when its rewards' standard deviation exceeds it
    (reason ``low-std``)."""

    kind: Literal["pass-rate-band"] = "pass-rate-band"
    low: float = Field(0.0, ge=0, le=1)
    high: float = Field(1.0, ge=0, le=1)
    min_std: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "PassRateBandGate":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self


GateSpec = Annotated[Union[ZeroVarianceGate, PassRateBandGate], Field(discriminator="kind")]


class _Curriculum(_Config):
    """What every prompt curriculum shares: its admission gates."""

    gates: list[GateSpec] = []
    """Gates every generated group must pass, in order (the first that rejects gives the
    reason); a rejected group is replaced by a freshly generated one, up to ``max_resamples``
    extra generations a step, and every rollout generated counts toward the budget."""
    max_resamples: int = Field(3, ge=1)
    """Extra generation rounds a step for replacing rejected groups (with gates only)."""

    def all_gates(self) -> list:
        """The gates this curriculum runs (``dynamic-filter`` adds its zero-variance gate)."""
        return list(self.gates)


class UniformCurriculum(_Curriculum):
    """Prompts uniformly, in seeded epochs over the training prompts (the baseline)."""

    kind: Literal["uniform"] = "uniform"


class DynamicFilterCurriculum(_Curriculum):
    """DAPO's dynamic sampling (Yu et al. 2025), kept by this name: ``uniform`` plus the
    ``zero-variance`` gate (groups whose rewards are all equal are dropped and replaced by
    groups of fresh prompts, drawn and generated again, up to ``max_resamples`` extra
    generations a step; replacements count toward the rollout budget). The same gate goes
    with any other policy as ``gates: [{kind: zero-variance}]``."""

    kind: Literal["dynamic-filter"] = "dynamic-filter"

    def all_gates(self) -> list:
        return [ZeroVarianceGate(), *self.gates]


class LearnabilityCurriculum(_Curriculum):
    """Sample prompts in proportion to ``p (1 - p)`` of their tracked pass rate ``p`` (LILO,
    Foster et al. 2025; online difficulty filtering, Bae et al. 2025): the prompts a group can
    still learn from. Unseen prompts are optimistic (``p = 0.5``)."""

    kind: Literal["learnability"] = "learnability"
    floor: float = Field(0.01, ge=0)
    """Added to every weight, so no prompt is never drawn again."""


class TargetDifficultyCurriculum(_Curriculum):
    """AdaRFT (Shi et al. 2025): a target difficulty ``T`` on a 0-100 scale (the items'
    difficulty ranks); each step's prompts are the ones nearest ``T``, and after it
    ``T' = clip(T + eta * tanh(alpha * (R_avg - beta)), 0, 100)`` with ``R_avg`` the step's
    mean reward."""

    kind: Literal["target-difficulty"] = "target-difficulty"
    start: float = Field(0.0, ge=0, le=100)
    beta: float = 0.5
    alpha: float = 2.0
    eta: float = 50.0


class CategoryBanditCurriculum(_Curriculum):
    """SEC (Chen et al. 2025): a bandit over categories (tasks, or difficulty levels within
    them); a category's value is updated with the mean absolute advantage of its groups,
    ``Q <- Q + lr (r - Q)``, and categories are drawn by a Boltzmann policy ``softmax(Q / tau)``,
    then a prompt uniformly within the category."""

    kind: Literal["category-bandit"] = "category-bandit"
    categories: Literal["task", "level"] = "level"
    """``level``: each task's difficulty levels (a task without levels is one category)."""
    lr: float = Field(0.5, gt=0, le=1)
    tau: float = Field(1.0, gt=0)


PromptCurriculumSpec = Annotated[Union[UniformCurriculum, DynamicFilterCurriculum, LearnabilityCurriculum,
                                       TargetDifficultyCurriculum, CategoryBanditCurriculum],
                                 Field(discriminator="kind")]


class GRPOSettings(_Config):
    """The GRPO settings passed to TRL's ``GRPOConfig``."""

    steps: int = Field(200, ge=1)
    """Optimizer steps (each one generation round)."""
    rollouts: int | None = Field(None, ge=1)
    """A rollout budget: stop once this many completions were generated (replacements
    included); with it, ``steps`` is only a cap."""
    num_generations: int = Field(8, ge=2)
    """Completions per prompt (the group)."""
    prompts_per_step: int = Field(4, ge=1)
    """Distinct prompts per step, over all processes."""
    max_completion_length: int = Field(16, ge=1)
    temperature: float = Field(1.0, gt=0)
    lr: float = Field(1e-5, gt=0)
    beta: float = Field(0.0, ge=0)
    """KL coefficient against the starting model (0: none, TRL's default)."""
    scale_rewards: Literal["group", "batch", "none"] = "group"
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = "dapo"
    reward: Literal["grader", "random"] = "grader"
    """``random``: a Bernoulli(0.5) reward that ignores the completion (the control run)."""


class EvalSettings(_Config):
    """The held-out check against reward hacking: each task's test items, greedy exact match
    (independent of the training reward's grader)."""

    every: int = Field(25, ge=1)
    split: Literal["test", "heldout"] = "test"
    batch_size: int = Field(64, ge=1)


class GuardSettings(_Config):
    """Flags (``RUN/events.jsonl`` and the report), computed at every evaluation."""

    window: int = Field(3, ge=2)
    """Evaluations compared: the last one against the one ``window - 1`` before it."""
    reward_rise: float = Field(0.05, gt=0)
    metric_fall: float = Field(0.05, gt=0)
    """A rise of the training reward by ``reward_rise`` while the held-out metric falls by
    ``metric_fall`` is flagged ``reward-hacking``..."""
    metric_fall_se: float = Field(2.0, ge=0)
    """... if the fall is also at least this many standard errors of the difference of the two
    evaluations' means (each task's exact-match standard error, combined), so that one
    evaluation's noise on a small test set is not a flag; 0: the absolute fall alone."""
    length_ratio: float = Field(1.5, gt=1)
    """Mean completion length moving by this factor from the first evaluation's: ``length-drift``."""
    format_share: float = Field(0.2, gt=0, lt=1)
    """A share of completions the grader could not read (no number, no match) above this,
    up from the first evaluation's: ``format-drift``."""


class RLCheckpointSettings(CheckpointSettings):
    every: int = Field(50, ge=1)
    """Checkpoint every this many optimizer steps."""


class RLTrainSettings(_Config):
    checkpoint: RLCheckpointSettings = Field(default_factory=RLCheckpointSettings)
    """Every how many steps to checkpoint (HF ``checkpoint-N`` with curricle's state inside), and
    how many to keep (default: every 50 steps, the newest 2)."""
    log_every: int = Field(5, ge=1)
    use_cpu: bool = False
    tensorboard: bool = True
    grader_timeout_s: float | None = Field(10.0, gt=0)
    """Each completion's grading is cut off after this long (None: no timeout, in-process)."""
    trace: bool = False
    """Every process writes each step's prompt rows to RUN/trace/prompts.rank<R>.jsonl."""


class RLConfig(_Config):
    RENAMED_KEYS: ClassVar[dict[str, str]] = RENAMED_KEYS

    name: str = "rl"
    seed: int = 0
    model: HFModelConfig
    tasks: list[TaskConfig] = Field(min_length=1)
    curriculum: PromptCurriculumSpec = Field(default_factory=UniformCurriculum)
    pass_rate: PassRateConfig = Field(default_factory=PassRateConfig)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    train: RLTrainSettings = Field(default_factory=RLTrainSettings)

    @model_validator(mode="after")
    def _unique(self) -> "RLConfig":
        names = [t.name for t in self.tasks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"tasks: '{dup[0]}' is defined more than once")
        return self


def load_rl_config(path: Path | str) -> RLConfig:
    return load_model_file(path, RLConfig)
