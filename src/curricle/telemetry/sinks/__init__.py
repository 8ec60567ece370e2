"""Metric sinks, registered by name; ``metrics.jsonl`` is always written."""

from __future__ import annotations

from pathlib import Path

from curricle.telemetry.config import TelemetryConfig
from curricle.telemetry.sinks.base import MetricsSink
from curricle.telemetry.sinks.jsonl import JsonlSink
from curricle.telemetry.sinks.mlflow import MlflowSink
from curricle.telemetry.sinks.tensorboard import TensorBoardSink
from curricle.telemetry.sinks.wandb import WandbSink

SINKS: dict[str, type[MetricsSink]] = {
    "jsonl": JsonlSink,
    "tensorboard": TensorBoardSink,
    "wandb": WandbSink,
    "mlflow": MlflowSink,
}


def open_sinks(run_dir: Path, start_step: int, config: TelemetryConfig) -> list[MetricsSink]:
    names = ["jsonl"] + [n for n in ("tensorboard", "wandb", "mlflow") if getattr(config, n)]
    return [SINKS[n](run_dir, start_step, config) for n in names]


__all__ = ["SINKS", "MetricsSink", "open_sinks"]
