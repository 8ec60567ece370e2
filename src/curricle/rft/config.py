"""``curricle rft [CHECKPOINT] CONFIG --out FILE``: rejection-sampling fine-tuning data.

::

    model: {preset: smollm2-135m-instruct}   # or CHECKPOINT on the command line
    teacher: {path: runs/big/final}          # optional: distill (sample the teacher instead)
    tasks: [{name: add, source: {kind: builtin, skill: arithmetic, levels: [{digits: 1}, {digits: 2}]}}]
    samples: 8                 # completions sampled per prompt
    temperature: 1.0
    keep: 1                    # passing completions kept per prompt (deduplicated, shortest first)

Imports only pydantic and other config modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from curricle.config import load_model_file
from curricle.model.config import ModelSource
from curricle.tasks.config import TaskConfig


class RFTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    model: ModelSource | None = None
    """The model to sample from, when the command line names no CHECKPOINT (a path, a
    pretrained preset or a GGUF file; exclusive with CHECKPOINT)."""
    teacher: ModelSource | None = None
    """Distillation: sample from this checkpoint instead (a path or a preset, with its own
    tokenizer: the prompts are rendered for it and its completions decoded to text). The
    completions are written as text, so the student re-tokenizes them with its own tokenizer
    when it fine-tunes on the file; the student (CHECKPOINT or ``model:``) is then optional and
    only renders chat prompts for the written file."""
    tasks: list[TaskConfig] = Field(min_length=1)
    """The tasks whose train prompts are sampled; each one's grader decides what passes."""
    samples: int = Field(8, ge=1)
    """Completions sampled per prompt."""
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(32, ge=1)
    keep: int = Field(1, ge=1)
    """Passing completions kept per prompt, after removing duplicates."""
    order: Literal["shortest", "first"] = "shortest"
    """Which passing completions are kept first: the shortest (ties: the first sampled), or
    in sampling order."""
    max_prompts: int | None = Field(None, ge=1)
    """Sample at most this many train prompts per task (the first by id hash)."""
    batch_size: int = Field(32, ge=1)
    """Prompts per generation call."""
    grader_timeout_s: float | None = Field(10.0, gt=0)
    device: str = "cpu"


def load_rft_config(path: Path | str) -> RFTConfig:
    return load_model_file(path, RFTConfig)
