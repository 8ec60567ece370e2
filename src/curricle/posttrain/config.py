"""The config sections every post-training verb shares.

::

    model: {path: runs/demo/final, dtype: float32}      # HFModelConfig

``model`` is a local HF checkpoint (the pretraining ``model:`` section, :mod:`curricle.model.config`,
builds one instead). Imports only pydantic and other config modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curricle.probes.config import SuiteConfig

class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HFModelConfig(_Config):
    """The model a post-training verb starts from."""

    path: Path
    """A local HF causal-LM checkpoint directory (weights and tokenizer)."""
    dtype: Literal["float32", "bfloat16"] = "float32"


class ProbeTasksConfig(_Config):
    """Pretraining probes scored as extra, evaluation-only tasks: fine-tuning's damage to
    pretraining skills shows in the forgetting matrix beside the tasks."""

    suite: SuiteConfig | None = Field(default_factory=lambda: SuiteConfig(n=64, text_domains=[]))
    """Built-in probe tasks (default: every synthetic skill, 64 items; no text probes)."""
    task_files: list[Path] = Field(default_factory=list)
    """Probe task YAML files or directories."""
