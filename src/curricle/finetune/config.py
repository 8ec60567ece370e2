"""``curricle finetune``'s config: the model, the tasks, the curriculum and the trainer's settings.

::

    model: {path: runs/demo/final}           # any local HF causal-LM checkpoint
    tasks:
      - {name: reverse, source: {kind: builtin, skill: reverse}}
      - {name: reverse+uppercase, source: {kind: builtin, skill: reverse+uppercase}}
    curriculum:
      stages:
        - name: components
          tasks: {reverse: 1}
          advance_when: {task: reverse, metric: exact_match, at_least: 0.8, patience: 2}
          max_steps: 300
        - {name: compositions, tasks: {reverse+uppercase: 1}, max_steps: 300}
      review: {kind: leitner, decks: 3, fraction: 0.2, floor: 0.1}
      revisit_when: {margin_se: 2.0, weight: 0.25}
      eval_every: 25
    train: {batch_size: 16, lr: 1.0e-4}

**Weights count examples** (prompt-completion pairs), not tokens: a stage's ``tasks`` weights
are the shares of each optimizer step's examples its tasks get, allocated without a random
draw (a divisor method over the stage's steps, so every count stays close to its share:
usually within one example, within two where several sources are small). Imports only pydantic and other config modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.config import load_model_file
from curricle.controllers.config import PlateauDetectorConfig
from curricle.mixture.config import PACING
from curricle.posttrain.config import RENAMED_KEYS, CheckpointSettings, HFModelConfig, ProbeTasksConfig, TrainSettings
from curricle.tasks.config import NAME_PATTERN, TaskConfig


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DifficultyPacing(_Config):
    """Easiest items first within each task of a stage (competence-based, Platanios et al.
    2019): at step ``t`` of the stage, only the easiest ``ceil(c(t) * n)`` train items of a
    task are drawn, ``c`` rising from ``start`` to 1 over ``steps`` (the functions of
    :mod:`curricle.mixture.pacing`)."""

    kind: Literal["fixed_linear", "fixed_root", "fixed_discrete"] = "fixed_root"
    start: float = Field(0.2, gt=0, le=1)
    """Share of a task's items (easiest first) available when the stage starts."""
    steps: int = Field(ge=1)
    """Steps into the stage at which every item is available."""
    buckets: int = Field(4, ge=1)
    """Increments of ``fixed_discrete``."""
    descending: Literal[False] = False

    def competence(self, step: int) -> float:
        return PACING[self.kind](max(0, step), self.steps, self.start, self.buckets)


class Milestone(_Config):
    """When a stage is done: ``metric`` of ``task`` on its held-out items at least
    ``at_least`` at ``patience`` evaluations in a row."""

    task: str | None = None
    """A task's name; None: every task of the stage (the worst of them must reach it)."""
    metric: str = "exact_match"
    """A metric of the task's scoring (``exact_match``, ``prob``, ``acc``, ``score``...)."""
    at_least: float
    patience: int = Field(1, ge=1)
    """Evaluations in a row the milestone must hold."""


class StageConfig(_Config):
    name: str = Field(pattern=NAME_PATTERN)
    tasks: dict[str, float] = Field(min_length=1)
    """Task name -> weight (shares of each step's examples; normalized)."""
    pacing: DifficultyPacing | None = None
    """Easiest items first within each of the stage's tasks."""
    advance_when: Milestone | None = None
    """The milestone that ends the stage (checked at each evaluation)."""
    max_steps: int = Field(ge=1)
    """The fallback: the stage ends at the first evaluation this many steps into it (a later
    stage's steps count from the evaluation that ended the previous one: stages of 300 and 300
    steps, evaluated every 25, end at steps 300 and 600)."""
    min_steps: int = Field(0, ge=0)
    """The milestone is not checked before this many steps into the stage (counted as
    ``max_steps``)."""
    lr_scale: float = Field(1.0, gt=0)
    """The learning rate while the stage trains, as a multiple of ``train.lr``: the schedule's
    base rate is scaled from the step the stage's examples start (a stage switch at the
    evaluation after step ``s``: from step ``s + 2``, the first to draw them). 1: unchanged;
    e.g. 0.3 on a later stage decays the rate at the switch."""

    @model_validator(mode="after")
    def _positive(self) -> "StageConfig":
        bad = [t for t, w in self.tasks.items() if not w > 0]
        if bad:
            raise ValueError(f"tasks.{bad[0]}: a weight must be > 0")
        return self


class LeitnerReview(_Config):
    """Spaced review by Leitner queues (Amiri et al. 2017; M'hamdi & May 2024), never below a
    floor.

    When a stage ends, ``items_per_task`` train items of each of its tasks that the next stage
    does not train go into deck 0: items training has drawn (trained on), never one the pacing
    had not released or the stage did not reach (fewer drawn: fewer go in; none, or only items
    queued already: no ``review-added`` record). Deck ``i`` is due every ``2**i`` evaluations.
    Between two evaluations, ``fraction`` of every step's examples
    are drawn from the items of the decks due; when no deck is due, ``floor`` of every step's
    examples are drawn from every queued item, so review never stops while the queues hold
    items. At the evaluation each due item is tested on a fresh held-out item of its task, not
    on itself (it was just trained on, so it is known by heart; the task's held-out items say
    whether the skill is kept): the next item of a cycle through the task's held-out split in a
    fixed hashed order, so consecutive tests take different items (within one evaluation,
    distinct ones while the task has at least as many as it has due items; with fewer the
    cycle wraps) and no train or test item is ever a test. Right moves the item up a deck (at
    most ``decks - 1``), wrong back to deck 0: a task that is forgotten has more items due, so
    it is reviewed more.
    """

    kind: Literal["leitner"] = "leitner"
    decks: int = Field(3, ge=2)
    fraction: float = Field(0.2, gt=0, lt=1)
    """Share of every step's examples drawn from the due decks' items."""
    floor: float = Field(0.1, ge=0, lt=1)
    """Share of every step's examples drawn from every queued item when no deck is due (at most
    ``fraction``; 0: no review in those intervals, and no ``review-floor`` record)."""
    items_per_task: int = Field(32, ge=1)
    """Train items of each finished task put into the queues (at most: only items already drawn)."""

    @model_validator(mode="after")
    def _floor_below_fraction(self) -> "LeitnerReview":
        if self.floor > self.fraction:
            raise ValueError(f"floor ({self.floor}) must be at most fraction ({self.fraction})")
        return self


class ReplayReview(_Config):
    """A fixed share of every step's examples from the finished stages' tasks (their train
    items, equally weighted)."""

    kind: Literal["replay"] = "replay"
    fraction: float = Field(0.2, gt=0, lt=1)


ReviewSpec = Annotated[Union[LeitnerReview, ReplayReview], Field(discriminator="kind")]


class RevisitConfig(_Config):
    """Bring a finished task back when its held-out score falls more than ``margin_se``
    standard errors below its score when its stage ended; it leaves as soon as it is back
    within them. The standard error is the drop's, ``sqrt(se_end**2 + se_now**2)`` from the
    evaluator's ``<metric>_se`` at the two evaluations (an error that cannot be computed, with
    fewer than 2 items, counts as 0), so the margin follows how many items a task has and how
    far its score is from 0 or 1. A later stage that trains a revisited task ends its revisit
    (a ``revisit-end`` record saying why), and so does the run's end for one still open."""

    margin_se: float = Field(2.0, gt=0)
    """The margin, in standard errors of the drop (2: a drop that noise alone rarely makes)."""
    weight: float = Field(0.25, gt=0, lt=1)
    """Share of every step's examples the revisited tasks get together."""


class StagePlateau(PlateauDetectorConfig):
    """Plateaus of a stage's milestone (``curriculum.plateau``): what a stuck stage does
    instead of running to its ``max_steps``.

    At every evaluation from the stage's ``min_steps`` on, the milestone's value (the worst of
    its tasks, with that task's standard error) feeds a plateau detector
    (:mod:`curricle.controllers.plateau`: no gain beyond ``z`` standard errors over
    ``patience`` evaluations). On a plateau below the milestone's ``at_least``:

    - ``reinstate``: the previous stage's tasks (at their weights there) get ``weight`` of every
      step's examples for ``steps`` steps, then the stage goes on as before (the first stage
      has no earlier one: nothing is done);
    - ``stop``: the stage ends (reason ``plateau``) and the next starts; in the last stage the
      run ends. In the last stage the run also ends early when its series (its milestone, or
      without one the worst of its tasks' scores) is on a plateau while every stage's milestone
      holds: nothing left to reach, and nothing improves.
    """

    policy: Literal["reinstate", "stop"] = "reinstate"
    steps: int | None = Field(None, ge=1)
    """reinstate: steps the earlier stage's tasks come back for (required with it); a
    reinstatement the run's end cuts short is closed then (``reinstate-end``, "the run ended")."""
    weight: float = Field(0.3, gt=0, lt=1)
    """reinstate: their share of every step's examples meanwhile."""

    @model_validator(mode="after")
    def _policy(self) -> "StagePlateau":
        if self.policy == "reinstate" and self.steps is None:
            raise ValueError("policy: reinstate needs steps (how long the earlier stage's tasks come back)")
        given = sorted({"steps", "weight"} & self.model_fields_set)
        if self.policy == "stop" and given:
            raise ValueError(f"{given[0]}: only policy: reinstate reads it (policy is stop)")
        return self


class CurriculumConfig(_Config):
    stages: list[StageConfig] = Field(min_length=1)
    """In order; the last one runs until the end of training."""
    review: ReviewSpec | None = None
    """Spaced review of finished stages' items (none: nothing is reviewed)."""
    revisit_when: RevisitConfig | None = None
    """Revisits of finished tasks that regressed (none: no revisits)."""
    eval_every: int = Field(25, ge=1)
    """Evaluate every task's held-out items every this many optimizer steps (milestones,
    revisits and review are decided then)."""
    plateau: StagePlateau | None = None
    """What a stage whose milestone plateaus does (none: it runs to its ``max_steps``)."""

    @model_validator(mode="after")
    def _shares(self) -> "CurriculumConfig":
        names = [s.name for s in self.stages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"stages: '{dup[0]}' is named twice")
        share = (self.review.fraction if self.review else 0) + (self.revisit_when.weight if self.revisit_when else 0)
        if share >= 1:
            raise ValueError("review.fraction + revisit_when.weight must be < 1 (the stage's own tasks need a share)")
        p = self.plateau
        if p is not None and p.policy == "reinstate" and share + p.weight >= 1:
            raise ValueError("plateau.weight: review.fraction + revisit_when.weight + plateau.weight must be < 1 (the "
                             "stage's own tasks need a share)")
        return self

    @property
    def steps(self) -> int:
        """Every stage's ``max_steps`` together: the default length of training."""
        return sum(s.max_steps for s in self.stages)


class FinetuneTrainConfig(TrainSettings):
    """The trainer's settings (TRL ``SFTConfig`` underneath)."""

    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps (default: every stage's ``max_steps`` together)."""
    batch_size: int = Field(16, ge=1)
    """Examples per device per micro-batch."""
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(1e-4, gt=0)
    lr_scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = "constant_with_warmup"
    warmup_steps: int = Field(0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    max_length: int = Field(512, ge=8)
    """Longest prompt + completion in tokens (longer ones are cut, keeping the start)."""
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    """Every how many steps to checkpoint (HF ``checkpoint-N`` with curricle's state inside), and
    how many to keep (default: every 100 steps, the newest 2)."""
    log_every: int = Field(10, ge=1)
    """Training loss and learning rate to metrics.jsonl every this many steps."""
    eval_batch_size: int = Field(64, ge=1)
    """Rows per forward pass when scoring held-out items."""
    activation_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, ~30% more compute)."""
    trace: bool = False
    """Write every step's example rows to RUN/trace/examples.jsonl (to check the data order)."""
    tensorboard: bool = True
    """TensorBoard event files under RUN/tb."""


class FinetuneConfig(_Config):
    RENAMED_KEYS: ClassVar[dict[str, str]] = {
        **RENAMED_KEYS,
        "curriculum.revisit_when.margin": "curriculum.revisit_when.margin_se (standard errors of the task's "
                                          "score, not score points)",
    }

    name: str = "finetune"
    seed: int = 0
    """Data order, generator items and the trainer's seed."""
    model: HFModelConfig
    tasks: list[TaskConfig] = Field(min_length=1)
    curriculum: CurriculumConfig
    train: FinetuneTrainConfig = Field(default_factory=FinetuneTrainConfig)
    probes: ProbeTasksConfig | None = None
    """Pretraining probes scored beside the tasks (none: only the tasks)."""

    @model_validator(mode="after")
    def _names_known(self) -> "FinetuneConfig":
        scoring = {t.name: t.scoring for t in self.tasks}
        for i, stage in enumerate(self.curriculum.stages):
            where = f"curriculum.stages.{i}"
            unknown = [t for t in stage.tasks if t not in scoring]
            if unknown:
                raise ValueError(f"{where}.tasks: unknown task '{unknown[0]}' (tasks: {', '.join(scoring)})")
            m = stage.advance_when
            if m is None:
                continue
            if m.task is not None and m.task not in scoring:
                raise ValueError(f"{where}.advance_when.task: unknown task '{m.task}'")
            for t in [m.task] if m.task is not None else list(stage.tasks):
                if m.metric not in scoring[t].metrics:
                    raise ValueError(f"{where}.advance_when.metric: task {t} reports {', '.join(scoring[t].metrics)}, "
                                     f"not '{m.metric}'")
        return self

    @property
    def steps(self) -> int:
        return self.train.max_steps or self.curriculum.steps


def load_finetune_config(path: Path | str) -> FinetuneConfig:
    """A fine-tuning config file, validated (errors: one line naming the file and field)."""
    return load_model_file(path, FinetuneConfig)
