"""Weights & Biases (optional: ``pip install wandb``; offline mode works without network)."""

from __future__ import annotations

from curricle.extras import require
from curricle.telemetry.sinks.base import MetricsSink, run_name, scalars


class WandbSink(MetricsSink):
    def __init__(self, run_dir, start_step, config):
        super().__init__(run_dir, start_step, config)
        wandb = require("wandb", "telemetry.wandb")
        self.run = wandb.init(project=config.project, name=run_name(self.run_dir, config), dir=str(self.run_dir),
                              resume="allow", mode=config.wandb_mode)

    def write(self, step, metrics):
        self.run.log(scalars(metrics), step=step)

    def close(self):
        self.run.finish()
