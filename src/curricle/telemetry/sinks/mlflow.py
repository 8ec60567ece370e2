"""MLflow (optional: ``pip install mlflow``); logs to ``RUN/mlruns`` unless a tracking URI is set."""

from __future__ import annotations

from curricle.extras import require
from curricle.telemetry.sinks.base import MetricsSink, run_name, scalars


class MlflowSink(MetricsSink):
    def __init__(self, run_dir, start_step, config):
        super().__init__(run_dir, start_step, config)
        mlflow = require("mlflow", "telemetry.mlflow")
        self.mlflow = mlflow
        if not mlflow.get_tracking_uri() or mlflow.get_tracking_uri().startswith("file:"):
            mlflow.set_tracking_uri((self.run_dir / "mlruns").resolve().as_uri())
        mlflow.set_experiment(config.project)
        mlflow.start_run(run_name=run_name(self.run_dir, config))

    def write(self, step, metrics):
        self.mlflow.log_metrics({k.replace("/", "."): v for k, v in scalars(metrics).items()}, step=step)

    def close(self):
        self.mlflow.end_run()
