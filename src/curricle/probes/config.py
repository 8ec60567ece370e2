"""The probes' configs: the built-in suite, probing inside the training loop
(``train.probe``) and ``curricle probe``'s settings (``--config FILE``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SuiteConfig(BaseModel):
    """Which built-in tasks, and how many items each."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[str] | None = None
    """Keep only these built-in tasks (default: all; see :func:`builtin_task_names`)."""
    n: int = Field(200, ge=2)
    """Items per synthetic and code-syntax task."""
    seed: int = 0
    """Generator seed: must be the training sources' seed for ``facts`` (their default is 0)."""
    text_domains: list[str] = Field(default_factory=lambda: ["code", "prose"])
    """Store domains that get a ``<domain>-loss`` text probe (those the store has)."""
    text_passages: int = Field(64, ge=2)
    """Passages per text probe."""
    passage_chars: int = Field(400, ge=64)
    """Longest passage, in characters."""


def _small_suite() -> SuiteConfig:
    return SuiteConfig(n=64, text_passages=16)


class ProbeHookConfig(BaseModel):
    """``train.probe``: probe the model during training."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(100, ge=1)
    """Probe every this many optimizer steps (and after the last one)."""
    suite: SuiteConfig | None = Field(default_factory=_small_suite)
    """Built-in tasks to run (default: all, 64 items each, 16 passages per text probe);
    null for none."""
    task_files: list[Path] = Field(default_factory=list)
    """More tasks: YAML files or directories of them."""
    batch_size: int = Field(64, ge=1)
    """Rows per forward pass."""


class ProbeConfig(BaseModel):
    """Settings of ``curricle probe`` (``--config FILE``)."""

    model_config = ConfigDict(extra="forbid")

    suite: SuiteConfig = Field(default_factory=SuiteConfig)
    """The built-in suite: which tasks and how many items."""
    task_files: list[Path] = Field(default_factory=list)
    """Task YAML files or directories, instead of the built-in suite (``builtin`` includes it)."""
    batch_size: int = Field(64, ge=1)
    """Rows per forward pass."""
    device: str = "cpu"
    """Where to score (``cpu``, ``cuda``, ``cuda:1``)."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weights' dtype while scoring."""
    check_contamination: bool = True
    """Search the run's token store for every probe item first, and report any found."""
