"""``train.telemetry``: where metrics go besides ``RUN/metrics.jsonl``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tensorboard: bool = True
    """Write TensorBoard event files to RUN/tb."""
    wandb: bool = False
    """Log to Weights & Biases (needs the wandb package)."""
    wandb_mode: Literal["online", "offline"] = "offline"
    """W&B mode; offline needs no network (sync later with ``wandb beta sync RUN/wandb``)."""
    mlflow: bool = False
    """Log to MLflow (needs the mlflow package)."""
    project: str = "curricle"
    """Project / experiment name for W&B and MLflow."""
    run_name: str | None = None
    """Run name for W&B and MLflow (default: the run directory's name)."""
