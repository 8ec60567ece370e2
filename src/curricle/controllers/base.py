"""The controller contracts, and the machinery every controller shares.

A controller steers what the run sees, in one of three roles (``Controller.role``):

- ``weights``, a *weight proposer* (schedule, ODM, ADO): the run's telemetry in, mixture
  weights out::

      update(step, stats) -> (weights, audit entry) | None      None: keep the current weights

- ``documents``, a *document prioritizer* (hard examples): per-document losses in
  (``observe_docs``), within-domain draw probabilities out (``doc_priorities``);
- ``loss-weighting``, a *loss-weighting proxy* (DoReMi): it returns no weights; its hook
  weighs the training tokens, and its product is written for a fresh run.

Every controller is built from its config and a :class:`ControllerContext` (what the run knows
of itself), declares in ``needs`` which of the context's optional parts it cannot do without
(checked when it is built, one line naming the part), and says whether it runs inside an HF
``Trainer`` (``in_hf_trainer``). Its state (``state_dict()`` / ``load_state_dict()``) is small
and JSON-able, and part of every checkpoint.

A weight proposer implements two methods: :meth:`Controller.signal` (a per-domain number read from
the step's :class:`DomainStats`, NaN where the step says nothing about a domain) and
:meth:`Controller.propose` (weights from the smoothed signal). This base class does the rest,
the same way for every method, so none of them chases noise:

- the signal is smoothed by an EMA per domain (domains absent from a step keep their value);
- nothing changes before ``warmup_steps``, and then only every ``update_every`` steps;
- the proposal is floored at ``min_weight`` per domain, then moved toward from the current
  weights by at most ``max_change`` (in any one weight) per update;
- every change is returned as an :class:`AuditEntry` (old and new weights, the signal that
  caused it, and a reason) that the trainer appends to ``RUN/mixture_log.jsonl``;
- a step the stability guard skipped (``DomainStats.skipped``) trained nothing, so a controller
  that updates on training steps (``updates_on: steps``) takes nothing from it: no signal, no
  smoothing, no update (one due then waits for the next update step; a document prioritizer's
  priorities too, so ``hard-examples`` does not age them there). One that updates on
  held-out or probe signals still reads an evaluation made after it (the model as it stands).

A controller may also say more about a step than new weights (:class:`StepNotes`, collected by
its hook after each update): metrics for the step's line, events for ``RUN/events.jsonl``, and
a request to end the run (a ``targets`` controller whose targets are all met).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from curricle.mixture.overlay_groups import GroupFloors

from curricle.controllers.config import CONTROLLERS, ControllerConfig
from curricle.errors import CurricleError


@dataclass
class DomainStats:
    """What a step tells a controller, per domain (arrays in the sampler's domain order)."""

    step: int
    """The optimizer step just finished (1-based)."""
    train_loss: np.ndarray
    """Mean training loss per domain over this step's rows (NaN: no rows of that domain)."""
    tokens: np.ndarray
    """Tokens served per domain since the start of the run."""
    weights: np.ndarray
    """The weights this step was drawn with."""
    eval_loss: np.ndarray | None = None
    """Held-out loss per domain, on evaluation steps only."""
    eval_ece: np.ndarray | None = None
    """Held-out expected calibration error per domain, on evaluation steps only."""
    probes: dict[str, "ProbeSignal"] | None = None
    """In-loop probe scores by task (``copy@8``), on probe steps only (``train.probe``)."""
    eval_tokens: int = 0
    """Tokens spent on evaluation and probing since the start of the run (every rank)."""
    drift: "DriftSignal | None" = None
    """Each domain's drift signal after this step, for a controller whose config reads
    ``drift`` (its hook's :class:`~curricle.controllers.drift_signal.DriftTracker` fills it
    before the controller runs); None otherwise."""
    skipped: bool = False
    """The stability guard skipped this step (nothing was trained; ``train_loss`` is all NaN)."""


@dataclass(frozen=True)
class DriftSignal:
    """Per domain (the sampler's order), where its loss stands against its own recent trend
    after a step (:mod:`curricle.controllers.drift_signal`)."""

    z: np.ndarray
    """The step's standardized residual (NaN: the domain was not judged this step)."""
    cusum: np.ndarray
    """The upward CUSUM at the step (at an alarm, the sum that crossed ``h``; it restarts from
    0 at the domain's next value)."""
    alarm: np.ndarray
    """Whether the CUSUM crossed its threshold at this step (bool)."""
    consecutive: np.ndarray
    """Alarms since the CUSUM last ended a step at 0 without one (int)."""
    shift: np.ndarray | None = None
    """At the first step after a resume on another snapshot of the data only: per domain the
    largest move of a metadata column's mean (``n_tokens``, ``compression_ratio``, ...) in the
    old data's standard deviations, the shift of the batches the restarted stream now serves
    (NaN: the domain's documents did not change); None on every other step."""


@dataclass(frozen=True)
class ProbeSignal:
    """One in-loop probe task's score at one step, as a controller reads it."""

    task: str
    """The task's name (``arithmetic@2`` for a ladder level)."""
    skill: str
    family: str | None
    """The ladder a level belongs to (``arithmetic``); None for a task without levels."""
    level: str | None
    level_index: int | None
    """The level's place in its ladder, easiest first."""
    metric: str
    """The discrete metric (``acc`` or ``exact_match``)."""
    score: float
    stderr: float
    chance: float | None
    """The discrete metric's score of guessing (None: no such level)."""
    continuous: str
    continuous_score: float
    continuous_stderr: float
    step: int
    """The step the score was measured at."""
    n: int
    """Items scored."""
    in_sample: bool = False
    """Whether the task's items are in the training data (the map counts no emergence of an
    in-sample task)."""

    def value(self, metric: str) -> tuple[float, float]:
        """``(score, stderr)`` of ``metric``: ``acc`` / ``exact_match`` (the discrete one,
        whichever the task has), or its continuous metric by name."""
        if metric in (self.metric, "acc", "exact_match"):
            return self.score, self.stderr
        if metric == self.continuous:
            return self.continuous_score, self.continuous_stderr
        raise KeyError(f"probe task {self.task} has no metric '{metric}' (it has {self.metric}, {self.continuous})")


def probe_value(probes: dict[str, ProbeSignal], task: str, metric: str, task_field: str,
                metric_field: str) -> tuple[float, float]:
    """``(score, stderr)`` of ``metric`` of probe ``task`` in a step's ``probes``; a one-line
    :class:`~curricle.errors.CurricleError` naming ``task_field`` when the probes have no such
    task, ``metric_field`` when the task has no such metric."""
    signal = probes.get(task)
    if signal is None:
        raise CurricleError(f"{task_field}: the in-loop probes have no task '{task}' (they have: "
                            f"{', '.join(sorted(probes))})")
    try:
        return signal.value(metric)
    except KeyError as err:
        raise CurricleError(f"{metric_field}: {err.args[0]}") from None


@dataclass
class ControllerContext:
    """What the run knows of itself when it builds its controller. The optional parts are
    given where the run has them; a controller names in ``needs`` those it cannot do without."""

    domains: list[str]
    """The sampler's domains, in its order."""
    natural_tokens: dict[str, int]
    """Training tokens per domain in the store (the natural mixture)."""
    doc_counts: dict[str, int] | None = None
    """Training documents per domain (a document prioritizer keeps state per document)."""
    lr_warmup_steps: int | None = None
    """The learning rate's warm-up steps, where known at build time (else see
    :meth:`Controller.set_lr_warmup`)."""
    fixed_mixture: np.ndarray | None = None
    """The run's mixture when its schedule is static (DoReMi's proxy samples from it)."""
    reference: Path | None = None
    """The reference model's HF directory, when the config names one."""
    build_model: Callable[[Path], Any] | None = None
    """Builds a model from an HF directory, as the run's per-token loss on its device."""
    run_dir: Path | None = None
    """The run's directory."""
    doc_column: Callable[[str, str], np.ndarray] | None = None
    """``doc_column(domain, name)``: a per-document metadata column of a domain's training
    split (``meta.parquet``), one value per document; a one-line
    :class:`~curricle.errors.CurricleError` when the column is missing."""
    doc_lengths: Callable[[str], np.ndarray] | None = None
    """``doc_lengths(domain)``: tokens per training document of a domain, EOS included (what
    the sampler serves of it)."""
    seed: int = 0
    """The run's seed: a controller's own random draws derive from it (and the step)."""


@dataclass
class AuditEntry:
    step: int
    old: list[float]
    new: list[float]
    signal: dict[str, float]
    reason: str

    def to_json(self, domains: list[str]) -> dict[str, Any]:
        return {
            "step": self.step,
            "effective_from_step": self.step + 1,
            "old": dict(zip(domains, self.old)),
            "new": dict(zip(domains, self.new)),
            "signal": self.signal,
            "reason": self.reason,
        }


@dataclass
class StepNotes:
    """What a controller says about a step besides its weights; its hook adds ``metrics`` to
    the step's, writes each of ``events`` (``(name, fields)``) to ``RUN/events.jsonl`` and each
    of ``audit`` (lines that are neither a weight change nor new document priorities, e.g.
    ``frontier``'s one per level moved, each with its ``step`` and ``reason``) to
    ``RUN/mixture_log.jsonl``, and, on ``stop`` (``(reason, fields)``), ends the run after the
    step (``TrainState.stop``). Every rank's controller must decide alike (from global signals:
    held-out loss, probe scores)."""

    metrics: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    stop: tuple[str, dict[str, Any]] | None = None
    window: "WindowRequest | None" = None
    """Other material for a bounded window, from the next step (the hook opens a
    :class:`~curricle.controllers.mixture_window.MixtureWindow` and logs its start and end)."""


@dataclass
class WindowRequest:
    """A controller's request for a bounded window: ``weights`` (or, when the run is past
    ``phase`` of the schedule, that phase's mixture) and/or the pacing from its start, for
    ``steps`` steps; ``reason`` and ``signal`` go into the audit line of its start."""

    steps: int
    weights: np.ndarray | None
    reason: str
    signal: dict[str, Any]
    phase: str | None = None
    pacing_start: bool = False


def apply_floor(w: np.ndarray, floor: float) -> np.ndarray:
    """The closest-in-spirit weights with every entry >= ``floor``: raise the low ones to the
    floor and scale the others down to keep the sum 1."""
    w = np.asarray(w, dtype=np.float64)
    w = w / w.sum()
    if floor <= 0:
        return w
    if floor * len(w) >= 1:
        return np.full(len(w), 1.0 / len(w))
    low = np.zeros(len(w), dtype=bool)
    for _ in range(len(w)):
        low_new = low | (w < floor)
        free = 1.0 - floor * low_new.sum()
        rest = np.where(low_new, 0.0, w)
        w = np.where(low_new, floor, rest / rest.sum() * free)
        if np.array_equal(low_new, low):
            break
        low = low_new
    return w


def apply_floors(w: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """:func:`apply_floor` with a floor per entry (``floors`` summing to at most 1): raise the
    entries below their floor to it, scale the others down to keep the sum 1."""
    w = np.asarray(w, dtype=np.float64)
    w = w / w.sum()
    floors = np.asarray(floors, dtype=np.float64)
    low = np.zeros(len(w), dtype=bool)
    for _ in range(len(w)):
        low_new = low | (w < floors)
        rest = np.where(low_new, 0.0, w)
        if rest.sum() <= 0:  # every entry at its floor
            return floors / floors.sum()
        w = np.where(low_new, floors, rest / rest.sum() * (1.0 - floors[low_new].sum()))
        if np.array_equal(low_new, low):
            break
        low = low_new
    return w


def limit_change(current: np.ndarray, target: np.ndarray, max_change: float) -> np.ndarray:
    """Move from ``current`` toward ``target`` so no weight changes by more than ``max_change``.

    A convex combination of two points of the simplex stays on it, and keeps a floor both
    respect.
    """
    gap = np.max(np.abs(target - current))
    if gap <= max_change:
        return target.copy()
    return current + (target - current) * (max_change / gap)


WEIGHTS, DOCUMENTS, LOSS_WEIGHTING = "weights", "documents", "loss-weighting"


class Controller:
    """Base class; see the module doc. ``name`` is the registry key."""

    name: ClassVar[str]
    #: ``weights``, ``documents`` or ``loss-weighting`` (the module doc).
    role: ClassVar[str] = WEIGHTS
    #: The optional parts of the :class:`ControllerContext` it cannot do without.
    needs: ClassVar[frozenset[str]] = frozenset()
    #: Whether it can run inside an HF ``Trainer`` (curricle.integrations.hf), and if not, why
    #: (one line, after ``controller.kind: ``).
    in_hf_trainer: ClassVar[bool] = True
    hf_refusal: ClassVar[str] = ""
    #: A document prioritizer's reason for new priorities, in the audit log.
    priority_reason: ClassVar[str] = "document priorities"
    #: When a weight proposer may update (past ``warmup_steps``): ``steps`` every
    #: ``update_every`` steps; ``eval`` at each evaluation (the held-out signals are fresh);
    #: ``probes`` at each in-loop probe.
    updates_on: ClassVar[str] = "steps"

    def __init__(self, config: ControllerConfig, context: ControllerContext):
        missing = sorted(n for n in self.needs if getattr(context, n) is None)
        if missing:
            raise CurricleError(f"controller.kind: {self.name} needs the run's {', '.join(missing)}, which this "
                                f"trainer does not give it; use `curricle train`")
        self.config = config
        self.context = context
        self.domains = list(context.domains)
        self.natural = np.array([float(context.natural_tokens[d]) for d in self.domains])
        self.smoothed = np.full(len(self.domains), np.nan)
        #: The latest step's raw signal (NaN for a domain the step had none of).
        self.step_signal = np.full(len(self.domains), np.nan)
        #: This step's notes so far (:meth:`take_notes`).
        self.notes = StepNotes()

    def take_notes(self) -> StepNotes:
        """The notes of the step just updated (:class:`StepNotes`); the next step starts empty."""
        notes, self.notes = self.notes, StepNotes()
        return notes

    @property
    def needs_doc_losses(self) -> bool:
        """Whether its hook must collect per-document losses (a document prioritizer does,
        unless its priorities come from elsewhere: ``frontier``'s from probe scores)."""
        return self.role == DOCUMENTS

    @property
    def reads_heldout(self) -> bool:
        """Whether its decisions read the held-out losses of evaluations (the run's start warns
        when those average few rows: :func:`curricle.train.command.eval_noise_warning`)."""
        return self.updates_on == "eval"

    @property
    def decider(self) -> str:
        """The name of the controller whose rule decides (a wrapper's inner one's)."""
        return self.name

    @property
    def needs_signals(self) -> bool:
        """Whether its hook must collect the per-token difficulty signals too
        (:func:`curricle.train.loss.token_signals`); a document prioritizer may."""
        return False

    def group_metrics(self) -> dict[str, float]:
        """Metrics it adds to every step (a document prioritizer's groups' shares)."""
        return {}

    def observe_group_tokens(self, step: int, tokens: list[tuple[str, str, int]]) -> None:
        """This step's trained tokens that are no document of the store (augmented documents'
        rows), as ``(domain, group, tokens)``: a controller with groups counts them in
        ``group/share/...``; no-op by default."""

    def group_floors(self) -> dict[str, GroupFloors]:
        """Per domain with floored groups, the floors an augmentation overlay of the domain must
        leave its groups (:meth:`curricle.mixture.sampler.MixtureSampler.attach_overlay`);
        none by default."""
        return {}

    @classmethod
    def train(cls, config: Any, run_dir: Path, resume: bool, train_one: Callable[..., dict[str, Any]]) -> dict[str, Any]:
        """Run ``curricle train``'s training for a run with this controller: one run
        (``train_one(config, run_dir, resume)``), unless the method needs more (DoReMi's
        reference run and rounds)."""
        return train_one(config, run_dir, resume)

    def set_lr_warmup(self, steps: int) -> None:
        """The run's learning-rate warm-up, for a trainer that knows it only when training starts
        (an HF ``Trainer``); no-op unless the controller uses it."""

    @property
    def doc_domains(self) -> list[str]:
        """Domains whose documents this controller ranks (the sampler draws their documents one
        at a time, by the controller's priorities); none by default."""
        return []

    # -- what subclasses write ------------------------------------------------------------

    def signal(self, stats: DomainStats) -> np.ndarray:
        """Per-domain signal of this step (NaN where unknown). Default: the training loss."""
        return stats.train_loss

    def propose(self, step: int, signal: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, str] | None:
        """Weights from the smoothed signal, and a one-line reason; None: no opinion."""
        raise NotImplementedError

    def wants_eval(self, step: int) -> bool:
        """Whether it needs held-out loss after ``step`` besides every ``train.eval_every``
        (Aioli, at its sweeps' ends); the loop then evaluates there. None by default."""
        return False

    def extra_state(self) -> dict[str, Any]:
        return {}

    def array_state(self) -> dict[str, np.ndarray]:
        """Per-document state too large for JSON (saved in the checkpoint's arrays file)."""
        return {}

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # -- the shared machinery ---------------------------------------------------------------

    def takes_step(self, stats: DomainStats) -> bool:
        """Whether it takes anything from this step: not from one the stability guard skipped,
        when it updates on training steps (the module doc); its hook then asks a document
        prioritizer for no priorities either."""
        return not (stats.skipped and self.updates_on == "steps")

    def update(self, step: int, stats: DomainStats) -> tuple[np.ndarray, AuditEntry] | None:
        """Ingest one step; at update times return (new weights, audit entry), else None (and
        nothing at all from a step it does not take: :meth:`takes_step`)."""
        if not self.takes_step(stats):
            return None
        raw = np.asarray(self.signal(stats), dtype=np.float64)
        self.step_signal = raw
        seen = np.isfinite(raw)
        fresh = seen & ~np.isfinite(self.smoothed)
        a = self.config.ema
        self.smoothed = np.where(fresh, raw, self.smoothed)
        self.smoothed = np.where(seen & ~fresh, a * self.smoothed + (1 - a) * raw, self.smoothed)
        if step < self.config.warmup_steps or not self._update_time(step, stats):
            return None
        current = np.asarray(stats.weights, dtype=np.float64)
        proposal = self.propose(step, self.smoothed, current)
        if proposal is None:
            return None
        target, reason = proposal
        signal = {d: (float(s) if np.isfinite(s) else None) for d, s in zip(self.domains, self.smoothed)}
        return self.move(step, current, target, reason, signal)

    def move(self, step: int, current: np.ndarray, target: np.ndarray, reason: str,
             signal: dict[str, float | None]) -> tuple[np.ndarray, AuditEntry] | None:
        """From ``current`` toward ``target``: floored at ``min_weight``, capped at
        ``max_change``, with its audit entry; None when nothing changes."""
        # The cap is applied last, so it always holds: a convex combination of the weights in
        # use and a floored target is on the simplex, and above the floor wherever the weights
        # in use were; a domain that starts below the floor (a schedule's zero) is raised
        # toward it by at most max_change an update.
        target = apply_floor(target, self.config.min_weight)
        new = limit_change(current, target, self.config.max_change)
        if np.allclose(new, current, atol=1e-12):
            return None
        return new, AuditEntry(step, [float(x) for x in current], [float(x) for x in new], signal, reason)

    def _update_time(self, step: int, stats: DomainStats) -> bool:
        if self.updates_on == "eval":
            return stats.eval_loss is not None
        if self.updates_on == "probes":
            return stats.probes is not None
        return step % self.config.update_every == 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "smoothed": [float(x) if np.isfinite(x) else None for x in self.smoothed],
            **self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.smoothed = np.array([np.nan if x is None else float(x) for x in state["smoothed"]])
        self.load_extra_state(state)


def refusal_in_hf_trainer(controller: Any) -> str | None:
    """Why ``controller`` (built, its config, or a config dict) cannot run inside an HF
    ``Trainer``, in one line; None when it can (or its kind is unknown: validation says so)."""
    if isinstance(controller, Controller):
        cls = type(controller)
    else:
        kind = controller.get("kind") if isinstance(controller, dict) else getattr(controller, "kind", None)
        if kind not in CONTROLLERS.configs:
            return None
        cls = CONTROLLERS[kind]
    return None if cls.in_hf_trainer else f"controller.kind: {cls.hf_refusal}"
