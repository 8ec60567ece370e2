"""TensorBoard event files under ``RUN/tb`` (``tensorboard --logdir RUN/tb``)."""

from __future__ import annotations

from curricle.telemetry.sinks.base import MetricsSink, scalars


class TensorBoardSink(MetricsSink):
    def __init__(self, run_dir, start_step, config):
        super().__init__(run_dir, start_step, config)
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events a killed run wrote after the checkpoint it resumes from.
        self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=start_step or None)

    def write(self, step, metrics):
        for k, v in scalars(metrics).items():
            self.writer.add_scalar(k, v, step)

    def close(self):
        self.writer.close()
