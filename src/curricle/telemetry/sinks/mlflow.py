"""MLflow (optional: ``pip install mlflow``); logs to ``RUN/mlruns`` unless a tracking URI other
than a local ``file:`` store is set (``MLFLOW_TRACKING_URI``, ``mlflow.set_tracking_uri``).

One MLflow run for the curricle run, however often it was killed: the first start records the
MLflow run's id, experiment and tracking URI in ``RUN/trackers.json`` (null for the run's own
``RUN/mlruns``), and ``--resume`` continues that run (``mlflow.start_run(run_id=...)``) in that
store and its experiment, whatever the tracking URI and ``telemetry.project`` say now (a warning
says so when they differ); a run not found there fails the resume. A resume of a run whose
first start did not log to MLflow starts an MLflow run then; a fresh start (no ``--resume``)
always starts a new one.

MLflow keeps every value logged at a step, so a step logged again is there twice. A run killed
after its last checkpoint may have logged steps past it; on resume those keep the values the
killed run logged, and the resumed run writes only the steps after the last one the MLflow run
has (its ``step`` metric's latest value, which every write logs), so each step is there once.
Those values are the uninterrupted run's (a resume trains the same steps again), wall-clock ones
(``tokens_per_s``) aside; ``metrics.jsonl`` and TensorBoard hold the resumed run's.
"""

from __future__ import annotations

import logging
from types import ModuleType

from curricle.extras import require
from curricle.telemetry.sinks.base import MetricsSink, record_tracker_run, run_name, scalars, tracker_run

log = logging.getLogger(__name__)


def tracking_uri(mlflow: ModuleType) -> str | None:
    """The tracking URI set for this process, None where none is (or a local ``file:`` store:
    the run's own ``RUN/mlruns`` is taken instead; it is also what an earlier run of this process
    set). MLflow's default where none is set is not asked for: ``./mlflow.db`` since MLflow 3."""
    uri = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    return None if uri is None or uri.startswith("file:") else uri


class MlflowSink(MetricsSink):
    def __init__(self, run_dir, start_step, config):
        super().__init__(run_dir, start_step, config)
        mlflow = require("mlflow", "telemetry.mlflow")
        self.mlflow = mlflow
        kept = tracker_run(self.run_dir, "mlflow") if start_step else None
        uri = tracking_uri(mlflow) if kept is None else kept["tracking_uri"]
        if kept is not None and uri != tracking_uri(mlflow):
            log.warning("the MLflow tracking URI is now %s, but this run's MLflow run %s is in %s: it continues there",
                        tracking_uri(mlflow) or "unset", kept["run_id"], uri or "RUN/mlruns")
        mlflow.set_tracking_uri(uri or (self.run_dir / "mlruns").resolve().as_uri())
        if kept is None:
            mlflow.set_experiment(config.project)
            run = mlflow.start_run(run_name=run_name(self.run_dir, config))
            record_tracker_run(self.run_dir, "mlflow", {"run_id": run.info.run_id, "experiment": config.project,
                                                        "tracking_uri": uri})
            self.last_step = 0
            return
        if kept["experiment"] != config.project:
            log.warning("telemetry.project is now %s, but this run's MLflow run %s is in experiment %s: it "
                        "continues there", config.project, kept["run_id"], kept["experiment"])
        run = mlflow.start_run(run_id=kept["run_id"])
        # The last step the MLflow run has: the steps after the checkpoint up to it were logged before the kill.
        self.last_step = int(run.data.metrics.get("step", 0))
        if self.last_step > start_step:
            log.info("MLflow run %s has steps up to %d from before the kill; this run logs from step %d",
                     kept["run_id"], self.last_step, self.last_step + 1)

    def write(self, step, metrics):
        if step > self.last_step:
            values = {**scalars(metrics), "step": float(step)}
            self.mlflow.log_metrics({k.replace("/", "."): v for k, v in values.items()}, step=step)

    def close(self):
        self.mlflow.end_run()
