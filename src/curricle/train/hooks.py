"""Named hook points of the training loop.

The loop calls, in order: ``on_train_start``; per step ``on_step_start(batch)``, then
``on_eval(metrics)`` on evaluation steps, ``on_step_end(batch, metrics)`` and
``on_checkpoint(path)`` on checkpoint steps; finally ``on_train_end``. Telemetry, progress,
controllers and debugging aids are hooks, so the loop itself stays one straight story.
A hook may add keys to ``metrics`` in ``on_eval`` / ``on_step_end`` before sinks see them
(hooks run in registration order; telemetry is registered last).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curricle.mixture.sampler import Batch
    from curricle.train.loop import Trainer


class Hook:
    def on_train_start(self, trainer: "Trainer") -> None: ...
    def on_step_start(self, trainer: "Trainer", batch: "Batch") -> None: ...
    def on_eval(self, trainer: "Trainer", metrics: dict[str, Any]) -> None: ...
    def on_step_end(self, trainer: "Trainer", batch: "Batch", metrics: dict[str, Any]) -> None: ...
    def on_checkpoint(self, trainer: "Trainer", path) -> None: ...
    def on_train_end(self, trainer: "Trainer") -> None: ...


class TelemetryHook(Hook):
    """Writes each step's metrics to the sinks (rank 0)."""

    def on_step_end(self, trainer, batch, metrics):
        for sink in trainer.sinks:
            sink.write(metrics["step"], metrics)

    def on_train_end(self, trainer):
        for sink in trainer.sinks:
            sink.close()


class ProgressHook(Hook):
    """A rich progress bar with ETA, loss and throughput (rank 0)."""

    def on_train_start(self, trainer):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console()
        # Off a terminal (a log file) nothing is drawn until the end, so no refresh thread;
        # on one, two redraws a second are plenty and cost little CPU.
        self.progress = Progress(
            TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), transient=False, console=console,
            auto_refresh=console.is_terminal, refresh_per_second=2,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=trainer.total_steps, completed=trainer.step, info="")

    def on_step_end(self, trainer, batch, metrics):
        loss = metrics.get("loss")
        info = f"loss {loss:.3f}" if isinstance(loss, float) else "skipped"
        info += f" | {metrics['tokens_per_s']:,.0f} tok/s | {metrics['phase']}"
        self.progress.update(self.task, completed=metrics["step"], info=info)

    def on_train_end(self, trainer):
        self.progress.stop()


class DataTraceHook(Hook):
    """Every rank writes a short hash of each row it trains on (``telemetry.trace_data``)."""

    def on_train_start(self, trainer):
        path = trainer.run_dir / f"data_trace.rank{trainer.rank}.jsonl"
        self.f = open(path, "a", encoding="utf-8")

    def on_step_start(self, trainer, batch):
        rows = [hashlib.blake2b(r.numpy().tobytes(), digest_size=8).hexdigest() for r in batch.tokens]
        self.f.write(json.dumps({"step": batch.step + 1, "rows": rows}) + "\n")
        self.f.flush()

    def on_train_end(self, trainer):
        self.f.close()
