"""The sink contract: ``write(step, metrics)``, ``flush()`` and ``close()``; rank 0 only.

A sink is opened with the run directory and ``start_step``: the step of the checkpoint the run
resumes from, or 0 for a fresh start. A sink that keeps its own record of the run (the JSONL
files, TensorBoard's events) drops what a killed run wrote after that checkpoint. A sink that
logs to a tracker (W&B, MLflow) records the tracker's run in ``RUN/trackers.json``
(:data:`TRACKERS`) when it starts one, and a resume continues that run instead of starting
another; a fresh start removes the file with the run's logs (the trainer does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curricle import atomic

#: The trackers' runs, by sink: ``{"wandb": {"id", "project"}, "mlflow": {"run_id", "experiment", "tracking_uri"}}``.
TRACKERS = "trackers.json"


class MetricsSink:
    def __init__(self, run_dir: Path, start_step: int, config: Any):
        self.run_dir = Path(run_dir)

    def write(self, step: int, metrics: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> None:
        """Make what was written durable (called at each checkpoint: a run killed after it
        resumes from it and keeps what was written up to it)."""

    def close(self) -> None:
        pass


def run_name(run_dir: Path, config: Any) -> str:
    """The run's name in W&B and MLflow: ``telemetry.run_name``, else the run directory's name."""
    return config.run_name or Path(run_dir).resolve().name


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries (sinks that plot take only these)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def tracker_run(run_dir: Path, sink: str) -> dict[str, Any] | None:
    """What ``sink`` recorded of the tracker run it started for this run (None: none recorded)."""
    path = Path(run_dir) / TRACKERS
    return json.loads(path.read_text(encoding="utf-8")).get(sink) if path.exists() else None


def record_tracker_run(run_dir: Path, sink: str, record: dict[str, Any]) -> None:
    """Record the tracker run ``sink`` started for this run (atomically; the other sinks' kept)."""
    path = Path(run_dir) / TRACKERS
    runs = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    atomic.write_json(path, {**runs, sink: record})


def clear_tracker_runs(run_dir: Path) -> None:
    """Forget the tracker runs: a fresh start (no ``--resume``) starts new ones."""
    (Path(run_dir) / TRACKERS).unlink(missing_ok=True)
