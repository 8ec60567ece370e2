"""TensorBoard event files under ``RUN/tb`` (``tensorboard --logdir RUN/tb``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from curricle.telemetry.sinks.base import MetricsSink, scalars

#: The event files' folder under the run.
TB_DIR = "tb"


def clear_tensorboard(run_dir: Path) -> None:
    """Remove ``RUN/tb``: a fresh start (no ``--resume``) of a run killed before its first
    checkpoint must not show that attempt's values beside its own, as its JSONL logs do not."""
    shutil.rmtree(Path(run_dir) / TB_DIR, ignore_errors=True)


class TensorBoardSink(MetricsSink):
    def __init__(self, run_dir, start_step, config):
        super().__init__(run_dir, start_step, config)
        from torch.utils.tensorboard import SummaryWriter

        # TensorBoard drops the events at steps >= purge_step: what a killed run wrote after the
        # checkpoint it resumes from (step start_step, whose own metrics were written before it).
        self.writer = SummaryWriter(str(self.run_dir / TB_DIR), purge_step=start_step + 1 if start_step else None)

    def write(self, step, metrics):
        for k, v in scalars(metrics).items():
            self.writer.add_scalar(k, v, step)

    def flush(self):
        self.writer.flush()

    def close(self):
        self.writer.close()
