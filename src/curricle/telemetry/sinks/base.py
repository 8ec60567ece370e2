"""The sink contract: ``write(step, metrics)`` and ``close()``; rank 0 only."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class MetricsSink:
    def __init__(self, run_dir: Path, start_step: int, config: Any):
        self.run_dir = Path(run_dir)

    def write(self, step: int, metrics: dict[str, Any]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries (sinks that plot take only these)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
