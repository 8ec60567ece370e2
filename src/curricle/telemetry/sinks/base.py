"""The sink contract: ``write(step, metrics)``, ``flush()`` and ``close()``; rank 0 only."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
