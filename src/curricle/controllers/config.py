"""Every controller's config, and the registry of controllers.

Adding a controller: a ``ControllerConfig`` subclass here (its ``kind`` a ``Literal``, its
fields documented), ``controllers/<name>.py`` with a
:class:`~curricle.controllers.base.Controller` subclass, and one line in ``CONTROLLERS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.registry import Registry


class ControllerConfig(BaseModel):
    """Knobs every controller shares."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    update_every: int = Field(10, ge=1)
    """Steps between weight updates."""
    warmup_steps: int = Field(50, ge=0)
    """No change before this step (the signal is still collected)."""
    ema: float = Field(0.9, ge=0, lt=1)
    """EMA factor of the signal: smoothed = ema * smoothed + (1 - ema) * new."""
    min_weight: float = Field(0.02, ge=0, lt=1)
    """Floor on every domain's weight, so none is starved."""
    max_change: float = Field(0.1, gt=0, le=1)
    """Largest change of any one weight in one update."""

    def reads(self) -> frozenset[str]:
        """The run signals this controller reads beyond the training loss: ``eval`` (held-out
        loss and calibration per domain, every ``train.eval_every`` steps) and ``probes``
        (in-loop probe scores, ``train.probe``). A run config that does not collect one is
        refused at load time."""
        return frozenset()


class ScheduleControllerConfig(ControllerConfig):
    kind: Literal["schedule"] = "schedule"


class ReferenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: Path | None = None
    """A finished curricle run: its last checkpoint is the reference model."""
    checkpoint: Path | None = None
    """An HF checkpoint directory (same tokenizer as this run)."""
    steps: int | None = Field(None, ge=1)
    """Train a reference run of this many steps first (into RUN/reference), on the run's own
    mixture, as the paper's reference is trained on the baseline mixture."""

    @model_validator(mode="after")
    def _one(self) -> "ReferenceConfig":
        if sum(x is not None for x in (self.run, self.checkpoint, self.steps)) != 1:
            raise ValueError("give exactly one of 'run', 'checkpoint' or 'steps'")
        return self


class DoReMiConfig(BaseModel):
    """DoReMi's proxy run (``sangmichaelxie/doremi``); see :mod:`curricle.controllers.doremi`.

    The run samples from its own (static) mixture and learns domain weights; its product is
    ``RUN/doremi_weights.json``, the weights averaged over its steps, for a fresh run to train
    on (``mixture.schedule: {kind: static, weights_from: RUN/doremi_weights.json}``).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["doremi"] = "doremi"
    step_size: float = Field(1.0, gt=0)
    """eta of the exponentiated-gradient step (paper and release: 1)."""
    smoothing: float = Field(1e-3, ge=0, lt=1)
    """c: mix with uniform after each step (paper and release: 1e-3)."""
    reference: ReferenceConfig
    """The reference model, run on every batch beside the proxy."""
    rounds: int = Field(1, ge=1)
    """Iterated DoReMi: round k > 1 trains its reference on round k-1's averaged weights
    (``reference.steps`` only), then a new proxy against it, under ``RUN/round-<k>``."""

    @model_validator(mode="after")
    def _rounds_need_steps(self) -> "DoReMiConfig":
        if self.rounds > 1 and self.reference.steps is None:
            raise ValueError("rounds > 1 needs reference.steps: each round trains its own reference")
        return self


class AsReleasedConfig(ControllerConfig):
    """Defaults of a controller that follows a release which changes its weights every step,
    with none of the shared machinery on top: no EMA, no floor, no cap."""

    update_every: int = Field(1, ge=1)
    ema: float = Field(0.0, ge=0, lt=1)
    min_weight: float = Field(0.0, ge=0, lt=1)
    max_change: float = Field(1.0, gt=0, le=1)


class ODMConfig(AsReleasedConfig):
    """The release's smoothed-mean updater: every step, no extra smoothing, floor or cap."""

    kind: Literal["odm"] = "odm"
    warmup_steps: int = Field(0, ge=0)
    reward_smoothing: float = Field(0.9, ge=0, lt=1)
    """alpha: weight of the past in the smoothed perplexity (the release's smoothing_factor)."""


class ADOConfig(AsReleasedConfig):
    """ADO as released (``yidingjiang/ado``); see :mod:`curricle.controllers.ado`."""

    kind: Literal["ado"] = "ado"
    warmup_steps: int = Field(50, ge=0)
    """ADO's ``start_step``: the first fit and policy (the signal is collected from step 1)."""
    ignore_steps: int | None = Field(None, ge=0)
    """Steps left out of every fit (ADO's ``ignore_steps``); default: the run's LR warm-up."""
    refit_every: int = Field(10, ge=1)
    """Steps between fits (ADO's ``update_interval``); the policy changes every step."""
    fit_stride: int = Field(10, ge=1)
    """Every this-many-th step of the (filtered) history enters the fit (ADO: 10)."""
    savgol_window: int = Field(101, ge=3)
    """Savitzky-Golay window over the training-loss history (ADO: 101 steps)."""
    savgol_order: int = Field(3, ge=1)
    exponent_floor: float = Field(0.05, ge=0)
    """Lower bound on each law's exponent in the predicted slope (ADO: 0.05)."""
    min_probability: float = Field(0.01, ge=0, lt=1)
    """ADO's minimum probability per domain (its ``clip_min_probability``)."""


#: ``hard-examples``' ranking scores besides ``column:<name>`` (see
#: :mod:`curricle.controllers.hard_examples`).
SCORES = ("loss", "ema", "margin", "confidence", "calibration", "learning")
#: Scores read from the difficulty signals (which the loss then computes).
SIGNAL_SCORES = ("margin", "confidence", "calibration")


class GroupsConfig(BaseModel):
    """Groups of a domain's documents (the values of a metadata column), with floors on their
    share of the draws and per-group reporting. Floors count tokens: a group's share is the
    expected share of the domain's drawn tokens. They bind augmentation too: an augmented
    domain's overlay takes no more rows than leave every group its floor (augmented documents
    counting in the group of what they were made from)."""

    model_config = ConfigDict(extra="forbid")

    column: str
    """The per-document metadata column (``meta.parquet``) whose values are the groups, e.g.
    ``source`` or a ``meta_fields`` column; train and held-out splits must both have it."""
    min_share: dict[str, float] | None = None
    """A floor per named group on its share of the domain's drawn tokens (groups not named:
    no floor); the floors sum to at most 1."""
    gamma: float | None = Field(None, gt=0, le=1)
    """Every group's floor is its natural share of the domain's tokens times ``gamma``."""

    @model_validator(mode="after")
    def _floors(self) -> "GroupsConfig":
        if self.min_share is not None and self.gamma is not None:
            raise ValueError("give one of 'min_share' or 'gamma', not both")
        if self.min_share is not None:
            bad = [g for g, v in self.min_share.items() if not 0 < v < 1]
            if bad:
                raise ValueError(f"min_share.{bad[0]}: a share between 0 and 1 (exclusive)")
            if sum(self.min_share.values()) > 1 + 1e-9:
                raise ValueError(f"min_share: the floors sum to {sum(self.min_share.values()):g}, more than 1")
        return self

    @property
    def floored(self) -> bool:
        """Whether the groups have floors (else they are only reported)."""
        return self.min_share is not None or self.gamma is not None


class DocumentStateConfig(ControllerConfig):
    """What a document prioritizer keeps per document (see
    :class:`curricle.controllers.hard_examples.DocumentState`)."""

    domains: list[str] | None = None
    """Domains whose documents are prioritized (default: all)."""
    smoothing: float = Field(0.5, ge=0, lt=1)
    """EMA factor of each document's smoothed loss and signals over its visits:
    ``ema = smoothing * ema + (1 - smoothing) * visit`` (the first visit sets it)."""
    history: int = Field(4, ge=2)
    """K: the last K visit losses kept per document, for its trend."""
    signals: bool = True
    """Keep each document's margin, confidence, top-1 accuracy and calibration contribution
    (the loss computes them: one more reduction per chunk of logits); off: those stay NaN."""
    groups: GroupsConfig | None = None
    """Groups of documents: floors on their share (``hard-examples``) and per-group reporting
    (``group/share/<domain>/<group>``, ``eval/group_loss/<domain>/<group>``,
    ``eval/worst_group_loss``, ``eval/worst_group``)."""


class HardExamplesConfig(DocumentStateConfig):
    kind: Literal["hard-examples"] = "hard-examples"
    score: str = "loss"
    """What ranks documents, larger meaning harder: ``loss`` (the latest), ``ema`` (the
    smoothed loss), ``margin`` (smaller is harder), ``confidence`` (less confident is harder),
    ``calibration`` (more over-confident is harder), ``learning`` (a faster-falling loss
    trend first), or ``column:<name>``: a per-document metadata column, larger drawn more."""
    priority: Literal["rank", "loss"] = "rank"
    """How estimates become draw probabilities: by rank (Loshchilov & Hutter) or by value."""
    selection_pressure: float = Field(100.0, ge=1)
    """rank: how many times as often the hardest document is drawn as the easiest."""
    temperature: float = Field(1.0, gt=0)
    """loss: p ~ estimate ** (1 / temperature); lower is greedier."""
    staleness: float = Field(0.98, gt=0, le=1)
    """Per step since a document was seen, its loss estimate moves this much toward the mean."""
    max_serves: int = Field(8, ge=1)
    """A document served this many times is no longer drawn (until all are)."""
    update_every: int = Field(10, ge=1)
    warmup_steps: int = Field(10, ge=0)

    @model_validator(mode="after")
    def _score(self) -> "HardExamplesConfig":
        column = self.score.startswith("column:")
        if column and not self.score[len("column:"):]:
            raise ValueError("score: 'column:' needs a column name, e.g. 'column:reference_loss'")
        if not column and self.score not in SCORES:
            raise ValueError(f"score: '{self.score}' is not one of {', '.join(SCORES)} or 'column:<name>'")
        if self.priority == "loss" and self.score not in ("loss", "ema") and not column:
            raise ValueError(f"priority: loss draws in proportion to a positive estimate; score '{self.score}' "
                             f"needs priority: rank")
        if self.score in SIGNAL_SCORES and not self.signals:
            raise ValueError(f"score: '{self.score}' needs signals: true")
        return self


class JTTConfig(DocumentStateConfig):
    """Just Train Twice (Liu et al., 2021): upweight the documents a first run got wrong; see
    :mod:`curricle.controllers.jtt`."""

    kind: Literal["jtt"] = "jtt"
    run: Path
    """The first run (a ``hard-examples`` or ``jtt`` run): its latest checkpoint's document losses."""
    top: float = Field(0.2, gt=0, le=1)
    """The error set: this fraction of each domain's documents the first run saw, by its
    latest loss, hardest first."""
    factor: float = Field(5.0, ge=1)
    """lambda_up: documents of the error set are drawn this many times as often."""
    warmup_steps: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _report_only(self) -> "JTTConfig":
        if self.groups is not None and self.groups.floored:
            raise ValueError("groups: jtt uses groups only for reporting (as the paper does); "
                             "drop groups.min_share / groups.gamma")
        return self


CONTROLLERS = Registry("controller", {
    "schedule": (ScheduleControllerConfig, "curricle.controllers.schedule:ScheduleController"),
    "doremi": (DoReMiConfig, "curricle.controllers.doremi:DoReMi"),
    "odm": (ODMConfig, "curricle.controllers.odm:ODM"),
    "ado": (ADOConfig, "curricle.controllers.ado:ADO"),
    "hard-examples": (HardExamplesConfig, "curricle.controllers.hard_examples:HardExamples"),
    "jtt": (JTTConfig, "curricle.controllers.jtt:JTT"),
})

#: The config of any controller, told apart by its ``kind`` field.
ControllerSpec = CONTROLLERS.union()


# -- plateaus (not a controller: a hook after it; see controllers/plateau.py) -------------------


class PlateauDetectorConfig(BaseModel):
    """When a series is on a plateau: its last ``patience`` evaluations' best does not beat
    the best before them by more than ``z`` standard errors of the difference, nor by more
    than ``min_delta`` (:mod:`curricle.controllers.plateau`). Shared with fine-tuning's
    ``curriculum.plateau``."""

    model_config = ConfigDict(extra="forbid")

    patience: int = Field(3, ge=1)
    """Evaluations in the window (the first verdict needs one more before it)."""
    z: float = Field(2.0, ge=0)
    """Standard errors of the difference, sqrt(se_before**2 + se_window**2), an improvement
    must exceed to count."""
    min_delta: float = Field(0.0, ge=0)
    """The least improvement that counts whatever the standard errors (the whole threshold
    for a series without them)."""


class ReinstateConfig(BaseModel):
    """What easier material a plateau brings back, and for how long."""

    model_config = ConfigDict(extra="forbid")

    phase: str | None = None
    """A phase of ``mixture.schedule``, not its last: its mixture is used again while the run
    is past it."""
    pacing_start: bool = False
    """Restart every ``mixture.pacing`` from its start: the easiest documents again, the
    competence rising on its own schedule from the plateau on."""
    steps: int = Field(ge=1)
    """Steps the easier material is used; then the schedule (or the adaptive controller's
    latest weights) and the pacing's own clock return."""

    @model_validator(mode="after")
    def _something(self) -> "ReinstateConfig":
        if self.phase is None and not self.pacing_start:
            raise ValueError("name the easier material: 'phase' (an earlier phase of mixture.schedule) and/or "
                             "'pacing_start: true'")
        return self


class PlateauConfig(PlateauDetectorConfig):
    """``plateau:`` of a run config: watch held-out losses and probe scores, act on a plateau
    (:class:`curricle.controllers.plateau_hook.PlateauHook`).

    Each watched series has its own detector: a domain's held-out loss at every evaluation
    (standard error ``eval/loss_se/<d>``), a probe task's score at every in-loop probe.
    ``policy: reinstate``: when any series plateaus, ``reinstate``'s easier material for its
    ``steps``, then back (no series is judged meanwhile; each needs ``patience`` evaluations
    after the return). ``policy: stop``: the run ends when every watched series is on a
    plateau at once."""

    domains: list[str] | None = None
    """Domains whose held-out loss is watched (None: every domain; ``[]``: none)."""
    probes: list[str] = Field(default_factory=list)
    """In-loop probe tasks whose score is watched (``arithmetic@2``); needs ``train.probe``."""
    probe_metric: str = "acc"
    """``acc`` / ``exact_match`` (each task's discrete metric, whichever it has) or a
    continuous metric by name; higher is better."""
    policy: Literal["reinstate", "stop"] = "reinstate"
    reinstate: ReinstateConfig | None = None
    """What ``policy: reinstate`` brings back (required with it)."""

    @model_validator(mode="after")
    def _policy(self) -> "PlateauConfig":
        if self.domains == [] and not self.probes:
            raise ValueError("nothing to watch: give domains (held-out loss) and/or probes")
        if self.policy == "reinstate" and self.reinstate is None:
            raise ValueError("policy: reinstate needs reinstate: {phase: <an earlier phase> and/or "
                             "pacing_start: true, steps: N}")
        if self.policy == "stop" and self.reinstate is not None:
            raise ValueError("reinstate: only policy: reinstate reads it (policy is stop)")
        return self
