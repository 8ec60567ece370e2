"""Named hook points of the training loop, and the state a hook sees.

The loop calls, in order::

    on_resume(state, checkpoint)                 a resumed run, after its parts are restored
    on_train_start(state)
    per step:
        on_step_start(state, batch)
        token_weights(state, batch, rows, last, token_loss)  optional, one hook: weights of the
                                                 micro-batch's tokens in its loss (DoReMi's proxy)
        on_micro_batch(state, batch, rows, token_loss)   after each micro-batch's backward pass,
                                                 before the guard judges the step
                                                 (``signals=`` too, for a hook that wants them)
        on_rollback(state, checkpoint)           the guard rolled back (parts already restored)
        wants_eval(state, step)                  whether this hook needs a held-out evaluation
                                                 after this step (besides every eval_every)
        on_eval(state, metrics)                  evaluation steps
        on_step_end(state, batch, metrics)       ``metrics["skipped"]``: the guard's verdict on a
                                                 step it skipped (absent on one that trained)
        on_eval(state, metrics)                  a hook ended the run at this step (TrainState.stop)
                                                 that had no evaluation: the end's (before the
                                                 trainer's own telemetry writes the step)
        on_stop(state, batch, metrics)           a hook ended the run at this step: after the end's
                                                 evaluation, before telemetry writes the step; what
                                                 a hook does at a run's last step (in-loop probes),
                                                 its on_step_end having run before the stop
        on_checkpoint(state, path)               checkpoint steps, and the last
    on_train_end(state)

Telemetry, progress, controllers, in-loop probes and debugging aids are hooks, so the loop
itself stays one straight story. A hook may add keys to ``metrics`` in ``on_eval`` /
``on_step_end`` before sinks see them (hooks run in the order given; telemetry runs last).

Hooks see a :class:`TrainState`, not the trainer. A hook that keeps state across steps
defines ``state_dict()`` / ``load_state_dict()`` (small and JSON-able; large per-document
arrays in ``array_state()`` / ``load_array_state()``): the trainer registers it with the
checkpointer under its ``name``, so its state is saved with every checkpoint and restored on
resume and rollback, with no change to checkpoint code. A hook that appends to a JSONL file
in the run directory names it in ``logs`` and writes it with :meth:`TrainState.append_log`:
the trainer clears it for a fresh run and cuts it back to the checkpoint on resume. A hook
whose every rank appends to a file of its own names it in ``rank_logs`` (``{rank}`` in the
name): each rank removes its own for a fresh run, and on resume cuts it back to the lines it
had when the checkpoint was saved (every rank's count is in the checkpoint).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from curricle.mixture.sampler import Batch, MixtureSampler
from curricle.telemetry.config import TelemetryConfig
from curricle.telemetry.sinks import open_sinks
from curricle.telemetry.sinks.jsonl import append_jsonl
from curricle.telemetry.trace import TRACE_DIR
from curricle.train.distributed import DistInfo

#: The trainer's own log of decisions (skips, rollbacks, resumes).
EVENTS = "events.jsonl"


@dataclass
class TrainState:
    """What hooks see of a run: where it stands, what trains, and where records go."""

    run_dir: Path
    domains: list[str]
    """The sampler's domains; per-domain arrays and ``domain_ids`` index into this."""
    total_steps: int
    dist: DistInfo
    model: torch.nn.Module
    """The model being trained (not wrapped by DDP)."""
    sampler: MixtureSampler
    tokenizer: Any = None
    autocast: Callable[[], Any] | None = None
    """A context manager factory for the forward pass's mixed precision (None: fp32)."""
    step: int = 0
    """Optimizer steps done."""
    tokens: int = 0
    """Training tokens seen (all ranks)."""
    eval_tokens: int = 0
    """Tokens spent on evaluation and in-loop probing (all ranks): the held-out labels scored,
    and every token a probe read (under DDP each rank probes, so each rank's count)."""
    probes: dict[str, Any] = field(default_factory=dict)
    """The latest in-loop probe scores by task
    (:class:`~curricle.controllers.base.ProbeSignal`), every rank; ``probes_step``: when."""
    probes_step: int | None = None
    stopped: dict[str, Any] | None = None
    """Set by :meth:`stop`: the run ends after this step (checkpointed), and stays ended on
    resume."""
    logs: set[str] = field(default_factory=lambda: {EVENTS})
    """JSONL files in ``run_dir`` the trainer keeps in step with its checkpoints."""
    rank_logs: set[str] = field(default_factory=set)
    """Per-rank JSONL files in ``run_dir`` (``{rank}`` in the name), kept in step likewise."""

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def rank(self) -> int:
        return self.dist.rank

    @property
    def world_size(self) -> int:
        return self.dist.world_size

    @property
    def device(self) -> torch.device:
        return self.dist.device

    def append_log(self, name: str, record: dict[str, Any]) -> None:
        """Append ``record`` as one line of ``RUN/name`` (main rank only); ``name`` must be one
        of the run's logs (a hook's ``logs``)."""
        if name not in self.logs:
            raise ValueError(f"{name} is not a log of this run; name it in the hook's `logs`")
        if self.is_main:
            append_jsonl(self.run_dir / name, record)

    def stop(self, step: int, reason: str, **fields: Any) -> None:
        """End the run after this step (a controller's targets are met, a plateau's ``stop``
        policy): a ``stop`` event with ``reason``; the trainer evaluates the step (unless it did
        already: the evaluation at the end), calls the hooks' ``on_stop`` (the in-loop probes'
        last probe), checkpoints it and returns. Called from
        ``on_step_end``. Every rank must ask alike (hooks decide from global signals)."""
        if self.stopped is None:
            self.stopped = {"step": step, "reason": reason, **fields}
            self.event(step, "stop", reason=reason, **fields)

    def event(self, step: int, event: str, **fields: Any) -> None:
        """One line of ``RUN/events.jsonl``: a decision and why."""
        self.append_log(EVENTS, {"step": step, "event": event, **fields})


class Hook:
    """Base class: every hook point is a no-op; override the ones you need (see module doc)."""

    #: Key of this hook's state in checkpoints (hooks with ``state_dict``); default: the class name.
    name: ClassVar[str | None] = None
    #: JSONL files in the run directory this hook appends to (see :meth:`TrainState.append_log`).
    logs: ClassVar[tuple[str, ...]] = ()
    #: JSONL files every rank appends its own of (``{rank}`` in the name; see the module doc).
    rank_logs: ClassVar[tuple[str, ...]] = ()
    #: Whether ``on_micro_batch`` wants each token's difficulty signals (``signals=``): the
    #: loss then computes them (:func:`curricle.train.loss.token_signals`); read once, when
    #: the trainer is built.
    wants_token_signals: bool = False

    def on_resume(self, state: TrainState, checkpoint: Path) -> None: ...
    def on_train_start(self, state: TrainState) -> None: ...
    def on_step_start(self, state: TrainState, batch: Batch) -> None: ...
    def on_micro_batch(self, state: TrainState, batch: Batch, rows: slice, token_loss: torch.Tensor,
                       signals: torch.Tensor | None = None) -> None:
        """``token_loss``: (rows, L), detached, the loss of each label of ``batch.tokens[rows]``.
        Called after the micro-batch's backward pass and before the guard judges the step, so for
        every micro-batch, those of a step the guard then skips (NaN, a spike) included: a hook
        learns of the skip at ``on_step_end``, from ``metrics["skipped"]`` (the verdict; absent
        when the step trained), and drops what it gathered for the step. A hook with
        ``wants_token_signals`` is called with ``signals=`` too: (rows, L, 3) fp32, each
        label's margin, confidence and top-1 correctness (:data:`curricle.train.loss.SIGNALS`)."""
    def on_rollback(self, state: TrainState, checkpoint: Path) -> None: ...
    def wants_eval(self, state: TrainState, step: int) -> bool:
        """Whether the run must evaluate after ``step`` for this hook (a controller that reads
        held-out loss at its own steps), besides every ``train.eval_every``; the evaluation's
        tokens are counted in ``eval_tokens`` like any other. Every rank must answer alike."""
        return False
    def on_eval(self, state: TrainState, metrics: dict[str, Any]) -> None: ...
    def on_step_end(self, state: TrainState, batch: Batch, metrics: dict[str, Any]) -> None: ...
    def on_stop(self, state: TrainState, batch: Batch, metrics: dict[str, Any]) -> None:
        """A hook ended the run at this step (:meth:`TrainState.stop`), once; every hook's
        ``on_step_end`` has run, the stopping hook's included, and ``state.total_steps`` is this
        step. A hook that acts at the run's last step does it here when its ``on_step_end``
        (run before the stop was asked, or before ``total_steps`` was cut) did not."""
    def on_checkpoint(self, state: TrainState, path: Path | None) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


class TelemetryHook(Hook):
    """Writes each step's metrics to ``RUN/metrics.jsonl`` and the configured sinks (rank 0)."""

    logs = ("metrics.jsonl",)

    def __init__(self, config: TelemetryConfig):
        self.config = config
        self.sinks: list = []

    def on_train_start(self, state):
        self.sinks = open_sinks(state.run_dir, state.step, self.config)

    def on_step_end(self, state, batch, metrics):
        metrics["eval_tokens"] = state.eval_tokens
        for sink in self.sinks:
            sink.write(metrics["step"], metrics)

    def on_checkpoint(self, state, path):
        for sink in self.sinks:
            sink.flush()

    def on_train_end(self, state):
        for sink in self.sinks:
            sink.close()


class ProgressHook(Hook):
    """A rich progress bar with ETA, loss and throughput (rank 0)."""

    def on_train_start(self, state):
        console = Console()
        # Off a terminal (a log file) nothing is drawn until the end, so no refresh thread;
        # on one, two redraws a second are plenty and cost little CPU.
        self.progress = Progress(
            TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), transient=False, console=console,
            auto_refresh=console.is_terminal, refresh_per_second=2,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.total_steps, completed=state.step, info="")

    def on_step_end(self, state, batch, metrics):
        loss = metrics.get("loss")
        info = f"loss {loss:.3f}" if isinstance(loss, float) else "skipped"
        info += f" | {metrics['tokens_per_s']:,.0f} tok/s | {metrics['phase']}"
        self.progress.update(self.task, completed=metrics["step"], info=info)

    def on_train_end(self, state):
        self.progress.stop()


class DataTraceHook(Hook):
    """Every rank writes a short hash of each row it trains on to ``RUN/trace/rows.rank<R>.jsonl``
    (``train.trace``)."""

    rank_logs = (f"{TRACE_DIR}/rows.rank{{rank}}.jsonl",)

    def on_train_start(self, state):
        path = state.run_dir / self.rank_logs[0].format(rank=state.rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "a", encoding="utf-8")

    def on_step_start(self, state, batch):
        rows = [hashlib.blake2b(r.numpy().tobytes(), digest_size=8).hexdigest() for r in batch.tokens]
        self.f.write(json.dumps({"step": batch.step + 1, "rows": rows}) + "\n")
        self.f.flush()

    def on_train_end(self, state):
        self.f.close()
