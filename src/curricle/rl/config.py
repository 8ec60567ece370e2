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
from curricle.graders.config import GraderSpec
from curricle.posttrain.config import RENAMED_KEYS, CheckpointSettings, HFModelConfig, TrainSettings
from curricle.tasks.config import NAME_PATTERN, TaskConfig

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
    """A pass-rate band (verl #2791, prime-rl's admission gates). After generation (default): a
    group is admitted when its mean reward is within ``[low, high]`` (reasons ``below-band``,
    ``above-band``) and, with ``min_std`` set (for non-binary rewards), when its rewards'
    standard deviation exceeds it (reason ``low-std``). With ``before_rollout: true`` it judges
    the prompt's tracked pass rate before generating it instead (a prompt not yet rolled out
    has the profile's rate, or is admitted), so a skipped prompt costs no rollouts."""

    kind: Literal["pass-rate-band"] = "pass-rate-band"
    low: float = Field(0.0, ge=0, le=1)
    high: float = Field(1.0, ge=0, le=1)
    min_std: float | None = Field(None, ge=0)
    before_rollout: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "PassRateBandGate":
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.before_rollout and self.min_std is not None:
            raise ValueError("min_std judges a group's rewards: it cannot be used with before_rollout")
        return self


class GresoGate(_Config):
    """GRESO (Zheng et al. 2025, ``Infini-AI-Lab/GRESO``'s ``all_probabilistic`` filter), before
    generation: a prompt whose last ``z`` groups in a row were all correct (mean reward >=
    ``easy_above``) is skipped with probability ``1 - max(p_easy^z, floor)`` (reason ``easy``);
    one whose last ``z`` groups were all wrong (mean <= ``hard_below``) with ``1 - max(p_hard^z,
    floor)`` (reason ``hard``). After each step ``p_easy`` (``p_hard``) moves by ``adjust``
    toward skipping more while the step's share of all-correct (all-wrong) groups is at or above
    its target (``target_zero_variance / 3``, ``2 target_zero_variance / 3``), less otherwise,
    within ``[min_p, max_p]``. Defaults: the release's scripts and trainer (the release adjusts
    once an epoch has passed; here from the first step, as the share is measured each step)."""

    kind: Literal["greso"] = "greso"
    p_easy: float = Field(0.5, gt=0, le=1)
    p_hard: float = Field(0.5, gt=0, le=1)
    floor: float = Field(0.01, ge=0, le=1)
    """The exploration floor: a prompt is never skipped with probability above ``1 - floor``."""
    target_zero_variance: float = Field(0.25, ge=0, le=1)
    adjust: float = Field(0.01, ge=0)
    min_p: float = Field(0.05, gt=0, le=1)
    max_p: float = Field(0.95, gt=0, le=1)
    easy_above: float = Field(0.98, ge=0, le=1)
    hard_below: float = Field(0.11, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "GresoGate":
        if self.min_p > self.max_p:
            raise ValueError(f"min_p: {self.min_p} is above max_p {self.max_p}")
        if self.hard_below >= self.easy_above:
            raise ValueError(f"hard_below: {self.hard_below} is not below easy_above {self.easy_above} (a group "
                             f"would be both all-wrong and all-correct)")
        return self


class GaussianGate(_Config):
    """A Gaussian over pass rate with a scheduled mean, before generation (the sampling of
    Nemotron-3's RL curriculum): a prompt with tracked pass rate ``p`` (the profile's, before it
    is rolled out; a prompt with neither is admitted) is admitted with probability
    ``exp(-(p - mu)^2 / (2 sigma^2))``, ``mu`` moving linearly from ``start`` to ``end`` over the
    run's steps (``grpo.steps``, or with ``grpo.rollouts`` the steps that budget affords at one
    group a prompt, when fewer: :func:`curricle.rl.command.run_steps`) (reason ``off-target``).
    The defaults are curricle's (the report gives the shape, not its numbers): start at 0.5,
    where a group's variance is largest, and fall to 0.25."""

    kind: Literal["gaussian"] = "gaussian"
    start: float = Field(0.5, ge=0, le=1)
    end: float = Field(0.25, ge=0, le=1)
    sigma: float = Field(0.2, gt=0)


GateSpec = Annotated[Union[ZeroVarianceGate, PassRateBandGate, GresoGate, GaussianGate], Field(discriminator="kind")]
#: The gates that judge a prompt before it is generated (the others judge generated groups).
PROMPT_GATES = ("greso", "gaussian")
#: The policies and gates (by kind) that read a mean reward as a pass rate, a probability in
#: [0, 1] (``p (1 - p)``, a band or a Gaussian over [0, 1], all-correct and all-wrong groups):
#: refused with a reward that can leave [0, 1] (:meth:`RLConfig._pass_rates_are_probabilities`).
READS_PASS_RATES = ("learnability", "lilo", "pass-rate-band", "greso", "gaussian")


def before_rollout(gate) -> bool:
    """Whether ``gate`` judges prompts before generation (else generated groups)."""
    return gate.kind in PROMPT_GATES or bool(getattr(gate, "before_rollout", False))


class ProfileConfig(_Config):
    """The base sampling pass (a warm start): before training, every training prompt is rolled
    out ``samples`` times by the starting model at the run's temperature and graded; its pass
    rate seeds the policies that read one (``learnability``'s prior, ``target-difficulty``'s
    difficulty, the gates' prior). A prompt's rate is read as its tracked rate is during
    training: the mean graded reward of its samples, ungraded ones (a grader error or timeout)
    left out of the sum and the count (none graded: no rate, ``null``; the prompt is unknown, as
    one not yet rolled out, and ``target-difficulty`` puts it at 100). The rollouts are counted
    apart (``profile_rollouts``), not in the budget: they are a one-off cost that can be shared
    between runs (``from``)."""

    samples: int = Field(8, ge=1)
    batch_size: int = Field(64, ge=1)
    from_file: Path | None = Field(None, alias="from")
    """A ``profile.json`` another run of the same model and tasks wrote (checked: same prompts)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Curriculum(_Config):
    """What every prompt curriculum shares: its gates."""

    gates: list[GateSpec] = []
    """Gates, in order (the first that rejects gives the reason). Gates before generation
    (``greso``, ``gaussian``, ``pass-rate-band`` with ``before_rollout``) skip the policy's
    prompts, which are replaced by its next choices, and the fresh prompts of a refill or of
    LILO's pool, at no rollout cost; gates after generation judge each generated group, and the
    step's batch is filled from admitted groups by generating more (``oversample``,
    ``max_resamples``: rounds of fresh prompts, none generated twice in a step while the prompts
    last); every rollout generated counts toward the budget and every rejection is
    counted under its reason."""
    max_resamples: int = Field(3, ge=1)
    """Extra generation rounds a step for filling the batch (with gates after generation)."""
    oversample: int = Field(1, ge=1)
    """Prompts generated in each extra round, in batches (``B``): 1 replaces one batch's worth a
    round; ``dynamic-filter``'s is DAPO's recipe's 3 (verl's ``gen_batch_size = 3 x B``)."""
    max_draws: int = Field(16, ge=1)
    """Rounds of the policy's choices a step for gates before generation (and of fresh draws for
    each refill or pool the trainer generates); prompts still short after them are filled with
    skipped ones (counted ``forced``)."""

    def all_gates(self) -> list:
        """The gates this curriculum runs (``dynamic-filter`` adds its zero-variance gate)."""
        return list(self.gates)

    def needs_profile(self) -> bool:
        """Whether the run rolls out the base sampling pass (:class:`ProfileConfig`)."""
        return False


class UniformCurriculum(_Curriculum):
    """Prompts uniformly, in seeded epochs over the training prompts (the baseline)."""

    kind: Literal["uniform"] = "uniform"


class DynamicFilterCurriculum(_Curriculum):
    """DAPO's dynamic sampling as verl runs it (Yu et al. 2025; ``recipe/dapo``): ``uniform``
    plus the ``zero-variance`` gate; the step's ``B`` prompts are generated, then rounds of
    ``oversample x B`` fresh uniform prompts (DAPO's recipe: 3; none of the step's own nor an
    earlier round's nor twice in a round, over every process, while the prompts last) until
    ``B`` groups with nonzero reward variance were generated (at most ``max_resamples`` rounds,
    DAPO's recipe: 10), and the batch is the first ``B`` of them in generation order
    (truncated). All rollouts count toward the budget. The metrics row gives the trained
    batch's zero-variance share (``zero_variance_groups``) and every generated group's
    (``generated/zero_variance_groups``)."""

    kind: Literal["dynamic-filter"] = "dynamic-filter"
    oversample: int = Field(3, ge=1)
    max_resamples: int = Field(10, ge=1)

    def all_gates(self) -> list:
        return [ZeroVarianceGate(), *self.gates]


class LearnabilityCurriculum(_Curriculum):
    """Sample prompts in proportion to ``p (1 - p) + floor`` of their tracked pass rate ``p``
    (learnability, Foster et al. 2025; online difficulty filtering, Bae et al. 2025). Before a
    prompt is rolled out, ``p`` is its ``prior``: the base sampling pass's rate (``profile``) or
    the mean tracked rate of its category (``category``, 0.5 while none is known). An estimate
    not refreshed for ``stale_after`` steps goes back to the prior, so the prompt is drawn again
    and re-measured."""

    kind: Literal["learnability"] = "learnability"
    floor: float = Field(0.05, ge=0)
    """Added to every weight: 0.2 of the largest ``p (1 - p)`` (0.25), so that a prompt once
    seen at 0/8 or 8/8 is still drawn a sixth as often as the most learnable one (0.05 against
    0.30). At 0 (pure ``p (1 - p)``), a step with fewer than ``B`` prompts of weight above 0
    draws those, then the rest uniformly."""
    prior: Literal["profile", "category"] = "profile"
    stale_after: int | None = Field(None, ge=1)
    """Steps after which an estimate is stale (None: one pass over the prompts, ``N / B``)."""

    def needs_profile(self) -> bool:
        return self.prior == "profile"


class LiloCurriculum(_Curriculum):
    """Learnability as LILO runs it (Foster et al. 2025): each step a pool of ``pool_factor x B``
    prompts (the step's ``B``, then uniformly drawn ones, none twice in the pool while the prompts
    last) is rolled out under the current model, and the ``B`` groups with the largest ``p (1 -
    p)`` of their own pass rate ``p`` are trained on (ties: first generated; with several
    processes, the top of every process's pool together, groups sent between processes so that
    each trains its share). Gates before generation judge every pool prompt. Stateless; every
    pool rollout counts toward the budget (its gain is per optimizer step; the benchmark gives
    both). ``pool_factor``: the paper's 4."""

    kind: Literal["lilo"] = "lilo"
    pool_factor: int = Field(4, ge=2)

    @model_validator(mode="after")
    def _no_group_gates(self) -> "LiloCurriculum":
        if any(not before_rollout(g) for g in self.gates):
            raise ValueError("lilo keeps its pool's top groups itself: gates after generation cannot go with it "
                             "(gates before generation can)")
        return self


class TargetDifficultyCurriculum(_Curriculum):
    """AdaRFT (Shi et al. 2025): each prompt's difficulty on a 0-100 scale is ``100 (1 - p0)``
    with ``p0`` its base pass rate from the profile (``difficulty: heuristic``: the rank of the
    item's own difficulty, for runs without one); each step's prompts are the ``B`` nearest a
    target ``T`` (ties at random), and after it ``T' = clip(T + eta tanh(alpha (R - beta)), 0,
    100)`` with ``R`` the step's mean reward smoothed (``R <- s R + (1 - s) r``). AdaRFT's
    ``eta = 50`` is for batches of 1,024 prompts; it is scaled to the batch, ``50 B / 1024``,
    unless set."""

    kind: Literal["target-difficulty"] = "target-difficulty"
    difficulty: Literal["profile", "heuristic"] = "profile"
    start: float = Field(0.0, ge=0, le=100)
    beta: float = 0.5
    alpha: float = 2.0
    eta: float | None = Field(None, gt=0)
    """None: ``50 x prompts_per_step / 1024``."""
    smoothing: float = Field(0.5, ge=0, lt=1)
    """``s`` in the smoothed reward (0: the step's own mean, as the paper's formula reads)."""

    def needs_profile(self) -> bool:
        return self.difficulty == "profile"


class CategoryBanditCurriculum(_Curriculum):
    """SEC (Chen et al. 2025): a bandit over categories (``task``, or each task's difficulty
    ``level``); after each step every arm is updated, ``Q <- Q + lr (r - Q)`` with ``r`` the mean
    absolute advantage of the arm's groups' graded completions (0 for an arm not drawn, so unplayed arms decay), and
    categories are drawn by ``softmax(Q / tau)``, prompts without replacement within a category.
    Defaults: the release's ``lr`` 0.5 and its math temperature 0.4 (its puzzles use 0.2)."""

    kind: Literal["category-bandit"] = "category-bandit"
    categories: Literal["task", "level"] = "level"
    """``level``: each task's difficulty levels (a task without levels is one category)."""
    lr: float = Field(0.5, gt=0, le=1)
    tau: float = Field(0.4, gt=0)


PromptCurriculumSpec = Annotated[Union[UniformCurriculum, DynamicFilterCurriculum, LearnabilityCurriculum,
                                       LiloCurriculum, TargetDifficultyCurriculum, CategoryBanditCurriculum],
                                 Field(discriminator="kind")]


class AnnealConfig(_Config):
    """A component's weight moving linearly from its ``weight`` (at trainer step 0) to ``to``
    (at step ``steps`` and after): ``w(t) = weight + (to - weight) min(t / steps, 1)``, ``t`` the
    trainer's global step when the completions were generated (optimizer steps done before)."""

    to: float
    steps: int = Field(ge=1)


class RewardComponent(_Config):
    """One term of a composite reward: ``weight(t) x`` its grader's score."""

    name: str | None = Field(None, pattern=NAME_PATTERN)
    """What its metrics are called (``reward/<name>``); default: the grader's kind."""
    grader: GraderSpec
    weight: float = 1.0
    """Negative for a penalty (e.g. the ``length`` grader)."""
    anneal: AnnealConfig | None = None


class RLTaskConfig(TaskConfig):
    """A task of an RL run: a task whose reward may be a weighted list of graders."""

    reward: list[RewardComponent] | None = Field(None, min_length=1)
    """A composite reward, ``sum_i weight_i(t) x score_i`` (exclusive with ``grader``). A
    completion that any component fails to grade (an error, a timeout) is ungraded, as with one
    grader: counted under ``<component>: <reason>`` and left out of its group (no advantage),
    never a 0. The policies, gates and the profile read the total as they read a grader's score
    (the profile the total at step 0); those that read a mean reward as a pass rate
    (``READS_PASS_RATES``) are refused with weights that let the total leave [0, 1]
    (:meth:`reward_range`)."""

    def reward_range(self) -> tuple[float, float]:
        """The lowest and highest reward a completion can get: ``[0, 1]`` with one grader (a
        score is in [0, 1]); with a composite, over the steps, each weight's share of ``sum_i
        w_i(t) x score_i`` (its extremes are at ``t = 0`` or where an annealing ends)."""
        if self.reward is None:
            return 0.0, 1.0
        steps = {0} | {c.anneal.steps for c in self.reward if c.anneal is not None}
        lows, highs = [], []
        for t in sorted(steps):
            w = [c.weight if c.anneal is None else c.weight + (c.anneal.to - c.weight) * min(t / c.anneal.steps, 1.0)
                 for c in self.reward]
            lows.append(sum(min(0.0, x) for x in w))
            highs.append(sum(max(0.0, x) for x in w))
        return min(lows), max(highs)

    @model_validator(mode="after")
    def _one_reward(self) -> "RLTaskConfig":
        if self.reward is not None:
            if self.grader is not None:
                raise ValueError("give either grader or reward (a weighted list of graders), not both")
            names = [c.name or c.grader.kind for c in self.reward]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"reward: two components are named '{dup[0]}' (give them distinct name:)")
        return self


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
    (independent of the training reward's grader), and with ``samples`` sampled pass@1: the
    share of ``samples`` completions at ``temperature`` that match exactly, averaged over items
    (it moves on items the greedy answer already gets right, and resolves finer)."""

    every: int = Field(25, ge=1)
    """Evaluate every this many optimizer steps (and at the end)."""
    every_rollouts: int | None = Field(None, ge=1)
    """Evaluate each time another this many rollouts were generated, instead of ``every`` (so
    runs that generate more per step, with gates or a pool, are scored at the same budgets)."""
    split: Literal["test", "heldout"] = "test"
    batch_size: int = Field(64, ge=1)
    samples: int = Field(0, ge=0)
    """Completions per item for sampled pass@1 (0: greedy only)."""
    temperature: float = Field(1.0, gt=0)


class GraderFailureGuard(_Config):
    """A step whose share of ungraded completions (a grader raised, timed out or returned
    nothing) is above ``max_ungraded_share`` is flagged ``grader-failure``; after ``stop_after``
    such steps in a row the run stops with an error naming the grader and its top reason."""

    max_ungraded_share: float = Field(0.5, ge=0, lt=1)
    stop_after: int | None = Field(3, ge=1)
    """None: flag, never stop."""


class ModeCollapseGuard(_Config):
    """``mode-collapse``: the sampled completions' diversity (:mod:`curricle.rl.diversity`,
    measured at each evaluation with ``eval.samples`` of at least 2) at or below its first
    evaluation's divided by ``factor``, while the held-out score (sampled pass@1 where scored,
    else greedy) or the training reward rose since then: the policy is narrowing onto fewer
    answers while looking better."""

    metric: Literal["edit_distance", "distinct_1", "distinct_2", "answer_entropy"] = "edit_distance"
    """The per-prompt diversity watched (``diversity/<metric>``): mean pairwise normalized edit
    distance by default."""
    factor: float = Field(2.0, gt=1)


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
    grader_failure: GraderFailureGuard | None = Field(default_factory=lambda: GraderFailureGuard())
    """Every step: the share of completions left ungraded (None: no check)."""
    mode_collapse: ModeCollapseGuard = Field(default_factory=ModeCollapseGuard)


class RLCheckpointSettings(CheckpointSettings):
    every: int = Field(50, ge=1)
    """Checkpoint every this many optimizer steps."""


class RLTrainSettings(TrainSettings):
    checkpoint: RLCheckpointSettings = Field(default_factory=RLCheckpointSettings)
    """Every how many steps to checkpoint (HF ``checkpoint-N`` with curricle's state inside), and
    how many to keep (default: every 50 steps, the newest 2)."""
    log_every: int = Field(5, ge=1)
    tensorboard: bool = True
    grader_timeout_s: float | None = Field(10.0, gt=0)
    """Each completion's grading is cut off after this long (None: no timeout, in-process)."""
    trace: bool = False
    """Every process writes each step's prompt rows to RUN/trace/prompts.rank<R>.jsonl."""


class RLConfig(_Config):
    RENAMED_KEYS: ClassVar[dict[str, str]] = RENAMED_KEYS

    name: str = "rl"
    """A label, kept with the config (``RUN/config.yaml``, ``run.json``'s config hash); nothing
    else reads it: logs and the report name the run by its directory, as fine-tuning's and DPO's."""
    seed: int = 0
    model: HFModelConfig
    tasks: list[RLTaskConfig] = Field(min_length=1)
    curriculum: PromptCurriculumSpec = Field(default_factory=UniformCurriculum)
    profile: ProfileConfig | None = None
    """The base sampling pass; required by (and defaulted for) the curricula that read it."""
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
        self._pass_rates_are_probabilities()
        if self.profile is None and (self.curriculum.needs_profile()
                                     or any(g.kind == "gaussian" for g in self.curriculum.gates)):
            self.profile = ProfileConfig()
        return self


    def _pass_rates_are_probabilities(self) -> None:
        """Refuse a policy or gate that reads pass rates as probabilities (``READS_PASS_RATES``)
        with a task whose reward can leave [0, 1] (a composite's weights)."""
        if self.grpo.reward == "random":  # a coin: 0 or 1
            return
        readers = [("curriculum.kind", self.curriculum.kind)] if self.curriculum.kind in READS_PASS_RATES else []
        readers += [(f"curriculum.gates.{i}", g.kind) for i, g in enumerate(self.curriculum.gates)
                    if g.kind in READS_PASS_RATES]
        if not readers:
            return
        for i, task in enumerate(self.tasks):
            low, high = task.reward_range()
            if low < -1e-9 or high > 1 + 1e-9:
                where, kind = readers[0]
                raise ValueError(f"{where}: {kind} reads each prompt's mean reward as a pass rate in [0, 1], but "
                                 f"tasks.{i}.reward ('{task.name}') can be {low:g} to {high:g}: scale its weights "
                                 f"so that the reward stays within [0, 1], or a policy and gates that read no pass "
                                 f"rates (uniform, dynamic-filter, target-difficulty, category-bandit; zero-variance)")


def load_rl_config(path: Path | str) -> RLConfig:
    return load_model_file(path, RLConfig)
