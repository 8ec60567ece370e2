"""Every controller's config, and the registry of controllers.

Adding a controller: a ``ControllerConfig`` subclass here (its ``kind`` a ``Literal``, its
fields documented), ``controllers/<name>.py`` with a
:class:`~curricle.controllers.base.Controller` subclass, and one line in ``CONTROLLERS``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.registry import Registry
from curricle.synthetic.config import SKILL_PARAMS, ladder


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
        refused at load time. ``drift``: the per-domain drift signal (``DomainStats.drift``),
        computed by the controller's hook with the config's ``drift`` section (a
        :class:`DriftSignalConfig`), which a config that reads it must have."""
        return frozenset()

    def check_run(self, run: Any) -> "ControllerConfig":
        """This config checked against the rest of the run config ``run`` (its domains, sources,
        probes), with what it resolves from it; ``ValueError`` naming the field. Default: as is."""
        return self


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
    """ADO as released (``yidingjiang/ado``); see :mod:`curricle.controllers.ado`. Its fits
    read the raw per-step losses, so ``ema`` (the shared smoothing of the signal) is refused."""

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

    @model_validator(mode="after")
    def _no_ema(self) -> "ADOConfig":
        if "ema" in self.model_fields_set:
            raise ValueError("ema: ado fits its scaling laws to the raw per-step losses, so an EMA of the signal "
                             "would do nothing; leave ema out (savgol_window smooths the history)")
        return self


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


#: The shared knobs of a weight proposer, which a document prioritizer (it sets no mixture
#: weights: the schedule does) never reads.
WEIGHT_KNOBS = ("ema", "min_weight", "max_change")


def _refuse_unread(config: ControllerConfig, knobs: tuple[str, ...], why: str) -> None:
    """``ValueError`` naming the first of ``knobs`` set in ``config``, which its method never
    reads (``why``, completing "<kind> ...")."""
    for knob in knobs:
        if knob in config.model_fields_set:
            raise ValueError(f"{knob}: {config.kind} {why}; leave {knob} out")


class DocumentStateConfig(ControllerConfig):
    """What a document prioritizer keeps per document (see
    :class:`curricle.controllers.hard_examples.DocumentState`). It ranks documents within
    domains and sets no mixture weights, so the weight proposers' ``ema``, ``min_weight`` and
    ``max_change`` are refused."""

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

    @model_validator(mode="after")
    def _no_weight_knobs(self) -> "DocumentStateConfig":
        _refuse_unread(self, WEIGHT_KNOBS, "ranks documents within domains and sets no mixture weights (the "
                                           "schedule does), so it never reads it")
        return self


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
        _refuse_unread(self, ("update_every",), "sets its draw probabilities once, at warmup_steps, so it never "
                                                "reads it")
        if self.groups is not None and self.groups.floored:
            raise ValueError("groups: jtt uses groups only for reporting (as the paper does); "
                             "drop groups.min_share / groups.gamma")
        return self


#: ``targets``' metrics of a domain's held-out split (lower is better) and of a probe task (its
#: discrete and continuous metrics; higher is better).
DOMAIN_METRICS = ("eval_loss", "eval_ece")
PROBE_METRICS = ("acc", "exact_match", "prob", "logprob")


def _no_step_knobs(config: ControllerConfig) -> None:
    """An evaluation-driven controller updates at its measurements: ``update_every`` and
    ``ema`` would do nothing, so setting them is an error."""
    _refuse_unread(config, ("update_every", "ema"),
                   "updates when its held-out or probe signals are measured, unsmoothed")


class TargetsConfig(ControllerConfig):
    """Targets the user states, steered toward in proportion to gap times progress; see
    :mod:`curricle.controllers.targets`."""

    kind: Literal["targets"] = "targets"
    targets: dict[str, dict[str, float]] = Field(min_length=1)
    """``{name: {metric: value}}``: a domain's ``eval_loss`` / ``eval_ece`` (lower is better),
    or an in-loop probe task's (``arithmetic@2c1``, ``copy``) ``acc`` / ``exact_match`` or
    continuous ``prob`` / ``logprob`` (higher is better)."""
    train_by: dict[str, list[str]] = Field(default_factory=dict)
    """Per probe target, the domains that train it; default: the domains of the ``synthetic``
    sources of its skill (and level), or ``d`` for a ``d-loss`` text probe."""
    stop_when_met: bool = False
    """End the run once every target is met (after the ``targets-met`` event)."""
    window: int = Field(3, ge=2)
    """Measurements of a target its rate of progress is fitted over (least squares): 3, the
    fewest that are more than a difference of two noisy values."""
    warmup_steps: int = Field(0, ge=0)
    """No change before this step (targets are measured, and met, from the first evaluation)."""
    ema: float = Field(0.0, ge=0, lt=1)
    """Not used (refused when set): the rate is a slope over ``window`` measurements."""

    @model_validator(mode="after")
    def _targets(self) -> "TargetsConfig":
        _no_step_knobs(self)
        for name, metrics in self.targets.items():
            if not metrics:
                raise ValueError(f"targets.{name}: give a metric and its target, e.g. {{eval_loss: 2.1}}")
            for metric, value in metrics.items():
                if metric not in DOMAIN_METRICS + PROBE_METRICS:
                    raise ValueError(f"targets.{name}.{metric}: unknown metric (a domain's: "
                                     f"{', '.join(DOMAIN_METRICS)}; a probe task's: {', '.join(PROBE_METRICS)})")
                if not math.isfinite(value):
                    raise ValueError(f"targets.{name}.{metric}: the target must be a finite number")
        for name, domains in self.train_by.items():
            if not any(m in PROBE_METRICS for m in self.targets.get(name, {})):
                raise ValueError(f"train_by.{name}: not a probe target (a domain's held-out targets are "
                                 f"trained by the domain itself)")
            if not domains:
                raise ValueError(f"train_by.{name}: name at least one domain")
        return self

    def reads(self) -> frozenset[str]:
        return frozenset("eval" if m in DOMAIN_METRICS else "probes" for ms in self.targets.values() for m in ms)

    def probe_targets(self) -> list[str]:
        """Names of the targets on probe tasks."""
        return [n for n, ms in self.targets.items() if any(m in PROBE_METRICS for m in ms)]

    def check_run(self, run: Any) -> "TargetsConfig":
        """Domains known, probe tasks probed, and ``train_by`` resolved for every probe target."""
        record_domains = any(getattr(s, "use_record_domain", False) for s in run.sources)
        known = ", ".join(run.domains)
        for name, metrics in self.targets.items():
            if any(m in DOMAIN_METRICS for m in metrics) and name not in run.domains and not record_domains:
                raise ValueError(f"controller.targets.{name}: unknown domain '{name}' (the sources declare: {known})")
        for name, domains in self.train_by.items():
            unknown = [d for d in domains if d not in run.domains]
            if unknown and not record_domains:
                raise ValueError(f"controller.train_by.{name}: unknown domain '{unknown[0]}' "
                                 f"(the sources declare: {known})")
        probe = run.train.probe
        train_by = dict(self.train_by)
        probed = suite_task_names(probe.suite, run.domains) if probe is not None else []
        for name in self.probe_targets():
            if name not in probed and not probe.task_files:
                raise ValueError(f"controller.targets.{name}: no such task in train.probe.suite (it probes: "
                                 f"{', '.join(probed) or 'nothing'})")
            if name in train_by:
                continue
            skill, _, level = name.partition("@")
            trains = sorted({s.domain for s in run.sources if getattr(s, "kind", None) == "synthetic"
                             and s.skill == skill and (not level or s.levels is None or level in s.levels)})
            if not trains and name.endswith("-loss") and name[:-len("-loss")] in run.domains:
                trains = [name[:-len("-loss")]]
            if not trains:
                raise ValueError(f"controller.targets.{name}: no synthetic source trains skill '{skill}'"
                                 f"{f' at level {level}' if level else ''}; name the domains that train it in "
                                 f"controller.train_by.{name}")
            train_by[name] = trains
        return self.model_copy(update={"train_by": train_by})


def suite_task_names(suite: Any, domains: list[str]) -> list[str]:
    """The built-in tasks ``suite`` (a ``train.probe.suite``, or None) probes, by name, as
    :func:`curricle.probes.builtin.builtin_task_configs` makes them, from the configs alone."""
    if suite is None:
        return []
    names = [f"{skill}@{lv}" if lv is not None else skill
             for skill in SKILL_PARAMS for lv in (suite.skill_levels(skill) or [None])]
    names += ["code-syntax", *(f"{d}-loss" for d in suite.text_domains if d in domains)]
    if suite.tasks is not None:
        names = [n for n in names if n in suite.tasks or n.split("@")[0] in suite.tasks]
    return names


class GroupDROConfig(AsReleasedConfig):
    """Online Group DRO (Sagawa et al., 2020) as a sampling mixture; see
    :mod:`curricle.controllers.group_dro`. As released: no EMA, floor or cap unless set."""

    kind: Literal["group-dro"] = "group-dro"
    step_size: float = Field(0.01, gt=0)
    """eta: ``q_d <- q_d exp(eta l_d)`` at each evaluation (the release's ``robust_step_size``,
    0.01; it updated every batch, this every evaluation: see the module doc)."""
    reference: Literal["train"] | Path | None = None
    """A finished curricle run: ``l_d`` is the excess of each domain's held-out loss over that
    run's (its ``metrics.jsonl``, read when the config is loaded; which of its evaluations:
    ``reference_at``); or ``train``: first train that reference into ``RUN/reference``, this
    run without the controller (its own mixture schedule, steps and evaluations) at seed + 1
    (at the run's own seed it would be this run until ``q`` moved, so ``q`` would never move);
    a finished one is reused, a killed one resumed."""
    reference_at: Literal["final", "same-step"] = "final"
    """Which of the reference's held-out losses ``l_d`` is measured against: ``final``, its
    last evaluation (what the reference reached: DoReMi's excess over a trained reference
    model, Oren et al.'s baselined loss), or ``same-step``, its evaluation at this run's step
    (how far this run is behind the reference's course so far)."""
    adjustment: float = Field(0.0, ge=0)
    """C of the release's generalization adjustment: ``l_d + C / sqrt(n_d)``, ``n_d`` the
    domain's training documents (0: none, the release's default)."""
    warmup_steps: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _knobs(self) -> "GroupDROConfig":
        _no_step_knobs(self)
        return self

    def reads(self) -> frozenset[str]:
        return frozenset({"eval"})

    def check_run(self, run: Any) -> "GroupDROConfig":
        """The reference run evaluated every domain at its last evaluation (``reference_at:
        final``) or at every step this run evaluates (``same-step``); one trained here does: it
        is this run's config."""
        if self.reference is None or self.reference == "train":
            return self
        ref = reference_eval_losses(self.reference)
        if self.reference_at == "final":
            last = max(ref, default=None)
            missing = [d for d in run.domains if d not in ref.get(last, {})]
            if missing:
                raise ValueError(f"controller.reference: {self.reference} has no held-out loss of '{missing[0]}' at "
                                 f"its last evaluation" + (f" (step {last})" if last is not None else " (it has none)"))
            return self
        steps = [s for s in range(1, run.train.steps + 1) if s % run.train.eval_every == 0 or s == run.train.steps]
        for step in steps:
            missing = [d for d in run.domains if d not in ref.get(step, {})]
            if missing:
                raise ValueError(f"controller.reference: {self.reference} has no held-out loss of '{missing[0]}' "
                                 f"at step {step}, where this run evaluates (it has steps "
                                 f"{', '.join(map(str, sorted(ref))) or 'none'})")
        return self


class AioliConfig(AsReleasedConfig):
    """Aioli as released (``HazyResearch/aioli``, ``trainer/aioli_trainer.py``); see
    :mod:`curricle.controllers.aioli`. Defaults: the release's README command."""

    kind: Literal["aioli"] = "aioli"
    update_every: int = Field(250, ge=1)
    """Steps in a round (the release's ``update_steps``): its sweeps, then the new mixture."""
    warmup_steps: int = Field(1, ge=1)
    """The first round starts after this many steps on the run's own mixture (the release's
    ``prior_steps``; it starts at step 0, but curricle first evaluates after step 1)."""
    lp_rounds: int = Field(4, ge=1)
    """Sweeps through the k domains per round (the release's ``lp_rounds``)."""
    lp_steps: int = Field(4, ge=1)
    """Steps of each sweep (the release's ``lp_steps``)."""
    eta: float = Field(0.2, gt=0)
    """Step size of the exponentiated-gradient update (the release's ``eta``)."""
    one_hot_factor: float = Field(0.625, gt=0, le=1)
    """A sweep's share of its domain's tokens; the others share the rest equally (1: one-hot)."""
    normalize_a: bool = True
    """Shift the estimated matrix to be non-negative and scale it to sum 1 (``aioli_normalize_A``)."""
    ema: float | None = Field(0.1, ge=0, lt=1)
    """EMA of the estimated matrix over rounds, ``ema * old + (1 - ema) * new`` (the release's
    ``ema``); None: no EMA, the update multiplies the previous weights."""

    def reads(self) -> frozenset[str]:
        return frozenset({"eval"})


def reference_eval_losses(run_dir: Path) -> dict[int, dict[str, float]]:
    """A finished run's held-out loss per domain by step (``eval/loss/<domain>`` of its
    ``metrics.jsonl``); ``ValueError`` naming the file when it cannot be read."""
    path = Path(run_dir) / "metrics.jsonl"
    out: dict[int, dict[str, float]] = {}
    try:
        for line in path.read_text().splitlines():
            m = json.loads(line)
            losses = {k[len("eval/loss/"):]: float(v) for k, v in m.items()
                      if k.startswith("eval/loss/") and isinstance(v, (int, float))}
            if losses:
                out[int(m["step"])] = losses
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"controller.reference: cannot read {path}: {type(err).__name__}: {err}") from None
    return out


class FrontierConfig(BaseModel):
    """The emergence map feeds the mix: each skill's share moves up its ladder as levels
    emerge in the in-loop probes; see :mod:`curricle.controllers.frontier`. Level weights
    count tokens within the skill's domain; the mixture across domains stays with the
    schedule."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["frontier"] = "frontier"
    domains: list[str] | None = None
    """Domains whose documents are drawn by level (default: every domain of a ``synthetic``
    source with ``levels``); each holds one skill's levels."""
    start: Literal["easiest", "uniform"] = "easiest"
    """The level weights before any level emerged: all on the easiest level, or even."""
    move: float = Field(0.5, gt=0, le=1)
    """At each probe step, this fraction of an emerged level's weight above ``keep`` moves to
    the next level up."""
    keep: float = Field(0.1, ge=0, lt=1)
    """A move leaves an emerged level at least this share of its domain's tokens, so what the
    model learned stays reviewed."""
    min_move: float = Field(1e-3, ge=0)
    """A move of less than this share of the domain's tokens is not made (the level has settled
    near ``keep``: each move takes ``move`` of what is left above it, so without a floor the
    moves shrink forever, one audit line each); 0: every move, however small."""
    z: float = Field(3.0, ge=0)
    """The emergence map's rule (``curricle map``'s ``z`` and ``min_gain``, the same
    defaults): a level emerges when its probe score is at least ``z`` standard errors..."""
    min_gain: float = Field(0.1, ge=0)
    """...and at least ``min_gain`` above chance."""

    def reads(self) -> frozenset[str]:
        return frozenset({"probes"})

    def check_run(self, run) -> "FrontierConfig":
        """What only the whole run config shows (``ValueError``, one line naming the field):
        each frontier domain holds one synthetic skill's levels, no pacing draws it, and
        ``train.probe.suite`` probes every one of its levels."""
        by_domain: dict[str, list] = {}
        for s in run.sources:
            by_domain.setdefault(s.domain, []).append(s)
        leveled = [d for d, ss in sorted(by_domain.items()) if any(getattr(s, "levels", None) for s in ss)]
        if self.domains is None and not leveled:
            raise ValueError("controller.kind: frontier moves a skill up its ladder; no synthetic source has levels "
                             "(give one `levels: [...]`, e.g. copy's [2, 4, 8])")
        skills: dict[str, str] = {}
        for d in self.domains if self.domains is not None else leveled:
            if d not in by_domain:
                raise ValueError(f"controller.domains: unknown domain '{d}' (the sources declare: "
                                 f"{', '.join(sorted(by_domain))})")
            sources = by_domain[d]
            if not all(getattr(s, "levels", None) for s in sources):
                raise ValueError(f"controller.domains: domain '{d}' has a source without levels; a frontier domain "
                                 f"holds only synthetic sources with `levels`")
            names = sorted({s.skill for s in sources})
            if len(names) > 1:
                raise ValueError(f"controller.domains: domain '{d}' holds skills {', '.join(names)}; a frontier "
                                 f"domain holds one skill's levels")
            skill = names[0]
            if skill in skills:
                raise ValueError(f"controller.domains: skill '{skill}' is in domains '{skills[skill]}' and '{d}'; "
                                 f"the frontier moves each skill in one domain")
            skills[skill] = d
            if d in run.mixture.pacing:
                raise ValueError(f"mixture.pacing: domain '{d}' is drawn by the frontier controller's level weights; "
                                 f"drop its pacing")
            if d in run.mixture.weight_by:
                raise ValueError(f"mixture.weight_by: domain '{d}' is drawn by the frontier controller's level "
                                 f"weights; drop its weight_by")
            suite = run.train.probe.suite
            if suite is None:
                raise ValueError(f"train.probe.suite: the frontier controller reads the built-in probes of {skill}'s "
                                 f"levels; the suite is off")
            levels = [lv for lv in ladder(skill) if any(lv in s.levels for s in sources)]
            missing = [lv for lv in levels if lv not in (suite.skill_levels(skill) or [])]
            if missing:
                raise ValueError(f"train.probe.suite.levels: the frontier controller moves {skill} up levels "
                                 f"{', '.join(levels)}; probe each one (missing: {', '.join(missing)})")
            left_out = [lv for lv in levels if suite.tasks is not None and skill not in suite.tasks
                        and f"{skill}@{lv}" not in suite.tasks]
            if left_out:
                raise ValueError(f"train.probe.suite.tasks: leaves out {skill}@{left_out[0]}, whose probe the "
                                 f"frontier controller reads")
        return self


class DriftSignalConfig(BaseModel):
    """The in-training drift signal (:mod:`curricle.controllers.drift_signal`): per domain, its
    loss's residual against a line through its own last ``window`` values, standardized, and
    an upward CUSUM of it that raises alarms."""

    model_config = ConfigDict(extra="forbid")

    series: Literal["train", "eval"] = "train"
    """The series watched: ``train``, each step's mean training loss of the domain (steps
    without its rows are skipped); ``eval``, its held-out loss at each evaluation."""
    window: int = Field(20, ge=4)
    """Values the trend line is fitted through (none is judged before it is full)."""
    k: float = Field(0.5, ge=0)
    """CUSUM reference value, in standard deviations: half the sustained shift to detect
    (0.5 with ``h`` 5: the standard design for a 1-sd shift)."""
    h: float = Field(5.0, gt=0)
    """CUSUM decision threshold, in standard deviations: an alarm when the sum exceeds it."""
    min_spread: float = Field(0.01, gt=0)
    """Floor on the residuals' spread, in loss units (nats), so a perfectly smooth curve's
    rounding errors raise no alarm."""


#: Controllers that propose no mixture weights, with their role: drift-aware cannot wrap them.
NOT_WEIGHTS = {"doremi": "a loss-weighting proxy", "hard-examples": "a document prioritizer",
               "jtt": "a document prioritizer", "frontier": "a document prioritizer", "drift-aware": "a wrapper itself"}


class DriftAwareConfig(ControllerConfig):
    """Any weight proposer (``inner``), plus a bounded reaction to a drifting domain; see
    :mod:`curricle.controllers.drift_aware`. ``min_weight`` and ``max_change`` bound the
    raise; ``warmup_steps``: no reaction before this step (the signal is still computed)."""

    kind: Literal["drift-aware"] = "drift-aware"
    inner: "ControllerSpec"
    """The controller whose weights are used when no domain drifts (``{kind: schedule}``,
    ``{kind: odm}``, ...), with its own knobs."""
    drift: DriftSignalConfig = Field(default_factory=DriftSignalConfig)
    """The drift signal's series and detector."""
    after_alarms: int = Field(2, ge=1)
    """React to a domain once its detector has raised this many alarms in a row."""
    raise_by: float = Field(0.1, gt=0, lt=1)
    """The most a drifting domain's weight is raised (absolute; the others scaled down),
    before the floor and the cap."""
    hold_steps: int = Field(50, ge=1)
    """Steps the raised mixture holds; then the inner controller's latest weights (or the
    schedule) return."""
    reinstate: "ReinstateConfig | None" = None
    """Instead of the raise, easier material for ``reinstate.steps``: an earlier phase's
    mixture (used when the run is past it; else the raised mixture) and/or the pacing's start."""
    shift_alarm: float | None = Field(None, gt=0)
    """Also react, at once, to a domain whose documents changed under a run resumed on another
    snapshot of the data when a metadata column's mean moved by at least this many of the old
    data's standard deviations (``stats.drift.shift``). None: the shift is reported, not acted on."""

    @model_validator(mode="before")
    @classmethod
    def _inner_proposes_weights(cls, data: Any) -> Any:
        inner = data.get("inner") if isinstance(data, dict) else None
        kind = inner.get("kind") if isinstance(inner, dict) else getattr(inner, "kind", None)
        if kind in NOT_WEIGHTS:
            raise ValueError(f"inner.kind: drift-aware wraps a controller that proposes mixture weights; {kind} is "
                             f"{NOT_WEIGHTS[kind]}")
        return data

    @model_validator(mode="after")
    def _knobs(self) -> "DriftAwareConfig":
        for knob in ("update_every", "ema"):
            if knob in self.model_fields_set:
                raise ValueError(f"{knob}: drift-aware reacts at alarms, unsmoothed; set {knob} in inner")
        return self

    def reads(self) -> frozenset[str]:
        return self.inner.reads() | {"drift"} | ({"eval"} if self.drift.series == "eval" else set())

    def check_run(self, run: Any) -> "DriftAwareConfig":
        """The inner config's own checks (and what it resolves), and the reinstated material's."""
        if self.reinstate is not None:
            self.reinstate.check_run(run, "controller.reinstate")
        check = getattr(self.inner, "check_run", None)
        return self if check is None else self.model_copy(update={"inner": check(run)})


CONTROLLERS = Registry("controller", {
    "schedule": (ScheduleControllerConfig, "curricle.controllers.schedule:ScheduleController"),
    "doremi": (DoReMiConfig, "curricle.controllers.doremi:DoReMi"),
    "odm": (ODMConfig, "curricle.controllers.odm:ODM"),
    "ado": (ADOConfig, "curricle.controllers.ado:ADO"),
    "hard-examples": (HardExamplesConfig, "curricle.controllers.hard_examples:HardExamples"),
    "jtt": (JTTConfig, "curricle.controllers.jtt:JTT"),
    "targets": (TargetsConfig, "curricle.controllers.targets:Targets"),
    "group-dro": (GroupDROConfig, "curricle.controllers.group_dro:GroupDRO"),
    "frontier": (FrontierConfig, "curricle.controllers.frontier:Frontier"),
    "aioli": (AioliConfig, "curricle.controllers.aioli:Aioli"),
    "drift-aware": (DriftAwareConfig, "curricle.controllers.drift_aware:DriftAware"),
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

    def check_run(self, run: Any, where: str) -> None:
        """The phase is one of ``mixture.schedule``'s and not its last, and ``pacing_start`` has
        a pacing to restart (``ValueError`` naming ``where``'s field)."""
        if self.phase is not None:
            names = list(run.phase_starts())
            if self.phase not in names:
                raise ValueError(f"{where}.phase: no phase '{self.phase}' in mixture.schedule (phases: "
                                 f"{', '.join(names) or 'none'})")
            if self.phase == names[-1]:
                raise ValueError(f"{where}.phase: '{self.phase}' is the last phase of mixture.schedule; the run "
                                 f"is never past it, so it is never easier material")
        if self.pacing_start and not run.mixture.pacing:
            raise ValueError(f"{where}.pacing_start: mixture.pacing paces no domain")


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


DriftAwareConfig.model_rebuild()  # its ``inner`` is any controller's config, ``reinstate`` a plateau's
