"""The config sections every post-training verb shares.

::

    model: {path: runs/demo/final, dtype: float32}      # HFModelConfig (or {preset: ...}, {gguf: FILE})
    train:
      checkpoint: {every: 100, keep_last: 2}            # CheckpointSettings
      trace: true                                       # RUN/trace/<what>.jsonl
      use_cpu: false                                    # TrainSettings: where and how it computes
      tf32: true

``model`` is a local HF checkpoint, a pretrained preset or a GGUF file, the last two
materialized once as an HF checkpoint in the cache (the pretraining ``model:`` section,
:mod:`curricle.model.config`, can also build one from scratch). ``train.checkpoint``,
``train.trace`` and ``train.tf32`` are spelled as in a pretraining run config, with the same
meaning; the old post-training spellings of the first two (:data:`RENAMED_KEYS`) are refused at
load with a one-line error naming the new key. Imports only pydantic and other config modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curricle.model.config import ModelSource
from curricle.probes.config import SuiteConfig

#: Old spellings of the shared knobs (dotted paths in a finetune or rl config) -> the new key.
#: A config still using one is refused: "train.save_every was renamed: use train.checkpoint.every".
RENAMED_KEYS = {
    "train.save_every": "train.checkpoint.every",
    "train.keep_checkpoints": "train.checkpoint.keep_last",
    "train.trace_data": "train.trace",
    "train.trace_prompts": "train.trace",
}


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HFModelConfig(ModelSource):
    """The model a post-training verb starts from."""

    dtype: Literal["float32", "bfloat16"] = "float32"


class CheckpointSettings(_Config):
    """HF ``checkpoint-N`` directories with curricle's state inside (TRL's ``save_steps`` and
    ``save_total_limit``)."""

    every: int = Field(100, ge=1)
    """Checkpoint every this many optimizer steps."""
    keep_last: int | None = Field(2, ge=1)
    """Newest checkpoints kept (None: all)."""


class TrainSettings(_Config):
    """The ``train:`` settings every post-training verb shares (fine-tuning's, DPO's and RL's
    ``train:`` add their own): the device the trainer computes on, and how."""

    use_cpu: bool = False
    """Train on CPU even where a GPU is present."""
    tf32: bool = True
    """On CUDA, let fp32 matrix products use TF32 tensor cores (``torch.backends.*.allow_tf32``,
    :mod:`curricle.train.tf32`), set before the verb's first one (sampling, evaluation,
    training); on CPU nothing changes. Pretraining's ``train.tf32``: the same key and default.
    For a ``model.dtype: float32`` model (a ``bfloat16`` one computes in bfloat16 anyway)."""


class ProbeTasksConfig(_Config):
    """Pretraining probes scored as extra, evaluation-only tasks: fine-tuning's damage to
    pretraining skills shows in the forgetting matrix beside the tasks."""

    suite: SuiteConfig | None = Field(default_factory=lambda: SuiteConfig(n=64, text_domains=[]))
    """Built-in probe tasks (default: every synthetic skill, 64 items; no text probes)."""
    task_files: list[Path] = Field(default_factory=list)
    """Probe task YAML files or directories."""
