"""Metric sinks, registered by name; ``metrics.jsonl`` is always written."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

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


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tensorboard: bool = True
    """Write TensorBoard event files to RUN/tb."""
    wandb: bool = False
    """Log to Weights & Biases (needs the wandb package)."""
    wandb_mode: Literal["online", "offline"] = "offline"
    """W&B mode; offline needs no network (sync later with ``wandb sync``)."""
    mlflow: bool = False
    """Log to MLflow (needs the mlflow package)."""
    project: str = "curricle"
    """Project / experiment name for W&B and MLflow."""
    run_name: str | None = None
    """Run name for W&B and MLflow (default: the config's name)."""
    trace_data: bool = False
    """Debugging aid: every rank writes a hash of each row it trained on to
    RUN/data_trace.rank<R>.jsonl (to check what each rank saw)."""


def open_sinks(run_dir: Path, start_step: int, config: TelemetryConfig) -> list[MetricsSink]:
    names = ["jsonl"] + [n for n in ("tensorboard", "wandb", "mlflow") if getattr(config, n)]
    return [SINKS[n](run_dir, start_step, config) for n in names]


__all__ = ["SINKS", "MetricsSink", "TelemetryConfig", "open_sinks"]
