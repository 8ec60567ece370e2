"""A ``TrainerCallback`` base that owns what curricle writes beside an HF trainer.

curricle's callbacks for an HF ``Trainer`` or a TRL trainer all keep JSONL logs, metrics sinks
and state that must survive a kill; this base does that once, the way curricle's own loop
does it:

- **Logs.** A subclass names its JSONL logs (``logs``: the main process's; ``rank_logs``:
  one file per process, ``{rank}`` in the name) and the whole files it writes (``outputs``). A
  fresh run removes them; a resumed one cuts each log back to the lines it had when the
  checkpoint was saved, so what a killed run wrote after it is written again, once.
- **Sinks.** With ``metrics = True``, ``OUT/metrics.jsonl`` (and TensorBoard under ``OUT/tb``
  with ``tensorboard=True``) on the main process, written through :meth:`_write`; flushed at
  each checkpoint, and ``OUT/tb`` removed for a fresh run like the logs.
- **State.** Stateful parts are registered by name (:meth:`register`) in the same
  :class:`~curricle.train.parts.Parts` registry as curricle's own checkpoints; a
  sampler the data loader has drawn ahead of is registered ``at_step=True`` and saved through
  its ``state_at(step)`` (see :mod:`curricle.hf.snapshots`). The callback's own numbers
  (histories, counters) come from :meth:`own_state`. In every ``checkpoint-N`` the main
  process writes them after the trainer's files, sealed by ``state_file`` with the size of
  every file (:mod:`curricle.hf.checkpoints` finds the complete ones), and a resumed trainer
  (``state.global_step > 0`` at ``on_train_begin``) reads them back from
  ``OUTPUT_DIR/checkpoint-<step>``.

A subclass that overrides ``on_train_begin`` or ``on_train_end`` calls the base's first (begin:
the output folder, the logs and the state are then ready) or last (end: it closes the sinks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch.distributed as dist
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
from transformers import TrainerCallback

from curricle.errors import CurricleError
from curricle.hf.checkpoints import check_checkpoint, checkpoint_dir
from curricle.telemetry.sinks.jsonl import JsonlSink, append_jsonl, count_lines, truncate_jsonl
from curricle.telemetry.sinks.tensorboard import TensorBoardSink, clear_tensorboard
from curricle.train.checkpoint import seal
from curricle.train.parts import ARRAYS_FILE, Parts, Stateful

METRICS = "metrics.jsonl"
#: Keys of the state file that are the base's own, and the names of the trainer's own files in
#: a checkpoint (a binary part is read back from ``<name>.pt``): no part or own number takes them.
RESERVED = frozenset({"log_lines", "files", "optimizer", "scheduler", "scaler", "rng_state", "trainer_state",
                      "training_args", "model"})


class _AtStep:
    """A part whose state is taken at the step being saved (``state_at(step)`` /
    ``load_state(state)``): a sampler the data loader has drawn ahead of."""

    def __init__(self, part: Any, step: Callable[[], int]):
        self.part = part
        self.step = step

    def state_dict(self) -> dict[str, Any]:
        return self.part.state_at(self.step())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.part.load_state(state)


class StatefulCallback(TrainerCallback):
    """Logs, sinks and checkpointed state of a curricle callback (see the module doc).
    ``out``: where the logs go (default: the trainer's ``output_dir``)."""

    #: curricle's state file in each ``checkpoint-N``.
    state_file: str = "curricle_state.json"
    #: JSONL logs of the main process, under ``OUT``.
    logs: tuple[str, ...] = ()
    #: JSONL logs every process writes its own of (``{rank}`` in the name); cut back on resume
    #: to the main process's line count.
    rank_logs: tuple[str, ...] = ()
    #: Files the main process writes whole (not appended to): removed for a fresh run.
    outputs: tuple[str, ...] = ()
    #: Whether the callback writes ``OUT/metrics.jsonl`` (and TensorBoard) through :meth:`_write`.
    metrics: bool = False

    def __init__(self, out: Path | str | None = None, tensorboard: bool = False):
        self.out = Path(out) if out is not None else None
        self.tensorboard = tensorboard
        self.parts = Parts(RESERVED)
        self._sinks: list = []
        self._main = True
        self._rank = 0
        self._saving = 0  # the step being saved (what at-step parts are asked for)

    def register(self, name: str, part: Stateful | Any, at_step: bool = False, binary: bool = False) -> None:
        """Save ``part`` under ``name`` in every checkpoint and restore it on resume: through
        ``state_dict()`` / ``load_state_dict()``, or with ``at_step`` through ``state_at(step)``
        (the checkpoint's step) / ``load_state()``."""
        self.parts.register(name, _AtStep(part, lambda: self._saving) if at_step else part, binary=binary)

    def own_state(self) -> dict[str, Any]:
        """The callback's own numbers for a checkpoint (top-level keys of its state file)."""
        return {}

    def load_own_state(self, saved: dict[str, Any]) -> None:
        """Take back what :meth:`own_state` saved (``saved``: the whole state file, read before
        the parts are loaded)."""

    # -- start and end ----------------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        self.out = self.out or Path(args.output_dir)
        self._main = state.is_world_process_zero
        self._rank = args.process_index
        self.out.mkdir(parents=True, exist_ok=True)
        for name in (*self.logs, *self.rank_logs):  # a log may live in a folder (trace/...)
            (self.out / name).parent.mkdir(parents=True, exist_ok=True)
        start = state.global_step
        if start > 0:
            self._resume(checkpoint_dir(args.output_dir, start))
        else:
            self._clear()
        if self._main and self.metrics:
            self._sinks = [JsonlSink(self.out, start, None)]
            if self.tensorboard:
                self._sinks.append(TensorBoardSink(self.out, start, None))

    def on_train_end(self, args, state, control, **kwargs):
        for sink in self._sinks:
            sink.close()
        self._sinks = []

    # -- writing ------------------------------------------------------------------------------

    def _write(self, step: int, row: dict[str, Any]) -> None:
        """One row of metrics at ``step`` to every sink (the main process's)."""
        for sink in self._sinks:
            sink.write(step, row)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        """``record`` to the log ``name``: the main process's, or this process's own for a
        ``rank_logs`` entry."""
        if name in self.rank_logs:
            append_jsonl(self.out / name.format(rank=self._rank), record)
        elif self._main:
            append_jsonl(self.out / name, record)

    def _main_logs(self) -> tuple[str, ...]:
        return (METRICS, *self.logs) if self.metrics else self.logs

    def _clear(self) -> None:
        if self._main:
            for name in (*self._main_logs(), *self.outputs):
                (self.out / name).unlink(missing_ok=True)
            if self.metrics:
                clear_tensorboard(self.out)
        for name in self.rank_logs:
            (self.out / name.format(rank=self._rank)).unlink(missing_ok=True)

    def _log_lines(self) -> dict[str, int]:
        lines = {name: count_lines(self.out / name) for name in self._main_logs()}
        lines.update({name: count_lines(self.out / name.format(rank=self._rank)) for name in self.rank_logs})
        return lines

    def _cut_back(self, lines: dict[str, int]) -> None:
        if self._main:
            for name in self._main_logs():
                truncate_jsonl(self.out / name, lines.get(name, 0))
        for name in self.rank_logs:
            truncate_jsonl(self.out / name.format(rank=self._rank), lines.get(name, 0))

    # -- checkpoints ----------------------------------------------------------------------------

    def on_save(self, args, state, control, **kwargs):
        # The trainer has written this checkpoint's files, each process its own RNG state: all
        # must be complete before the main process records their sizes.
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
        if state.is_world_process_zero:
            for sink in self._sinks:  # what was written up to this checkpoint survives a kill after it
                sink.flush()
            self.save(checkpoint_dir(args.output_dir, state.global_step), state.global_step)

    def save(self, folder: Path, step: int) -> None:
        """Write the parts, the own numbers and the logs' line counts into ``folder`` (the
        trainer's checkpoint after ``step``), sealed by ``state_file`` last."""
        folder.mkdir(parents=True, exist_ok=True)
        # A state file left by an earlier run at this step must not vouch for the new files.
        (folder / self.state_file).unlink(missing_ok=True)
        self._saving = step
        own = self.own_state()
        states, arrays = self.parts.save(folder)
        taken = own.keys() & (states.keys() | RESERVED)
        if taken:
            raise ValueError(f"{type(self).__name__}: own state and parts both name {sorted(taken)}")
        if arrays:
            save_arrays(arrays, str(folder / ARRAYS_FILE))
        seal(folder, {**own, **states, "log_lines": self._log_lines()}, self.state_file)

    def _resume(self, folder: Path) -> None:
        path = folder / self.state_file
        if not path.is_file():
            raise CurricleError(f"{folder}: no {self.state_file}: the checkpoint was not saved with "
                                f"{type(self).__name__}")
        problem = check_checkpoint(folder, self.state_file)
        if problem is not None:
            raise CurricleError(f"{path}: the checkpoint is incomplete ({problem})")
        saved = json.loads(path.read_text())
        self.load_own_state(saved)
        arrays = load_arrays(str(folder / ARRAYS_FILE)) if (folder / ARRAYS_FILE).is_file() else {}
        self.parts.load(folder, saved, arrays, source=path)
        self._cut_back(saved.get("log_lines", {}))
