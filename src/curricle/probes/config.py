"""The probes' configs: the built-in suite, probing inside the training loop
(``train.probe``) and ``curricle probe``'s settings (``--config FILE``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from curricle.model.config import ModelSource
from curricle.synthetic.config import known_skill, ladder


def _level_names(v: Any) -> Any:
    """``[2, 4]`` as YAML writes it -> ``["2", "4"]``."""
    return [str(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for x in v] \
        if isinstance(v, list) else v


class SuiteConfig(BaseModel):
    """Which built-in tasks, and how many items each."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[str] | None = None
    """Keep only these built-in tasks (default: all; see :func:`builtin_task_names`); a skill
    probed at levels keeps all of its level tasks."""
    levels: dict[str, Annotated[list[str], BeforeValidator(_level_names)] | Literal["all"]] = Field(
        default_factory=dict)
    """Per synthetic skill, levels of its difficulty ladder to probe, each its own task
    ``skill@level`` (``copy@8``) in place of the skill's single task; ``all`` for its whole
    ladder. E.g. ``{copy: [2, 4, 8], arithmetic: all}``."""
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

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, v: dict[str, list[str] | str]) -> dict[str, list[str] | str]:
        for skill, levels in v.items():
            valid = ladder(known_skill(skill))
            if not valid:
                raise ValueError(f"skill {skill!r} has no difficulty levels")
            unknown = [lv for lv in ([] if levels == "all" else levels) if lv not in valid]
            if unknown:
                raise ValueError(f"{skill}: unknown level {unknown[0]!r} (levels: {', '.join(valid)})")
        return v

    def skill_levels(self, skill: str) -> list[str] | None:
        """The levels ``skill`` is probed at (None: its single task)."""
        levels = self.levels.get(skill)
        return list(ladder(skill)) if levels == "all" else levels


def _small_suite() -> SuiteConfig:
    return SuiteConfig(n=64, text_passages=16)


class ProbeHookConfig(BaseModel):
    """``train.probe``: probe the model during training."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(100, ge=1)
    """Probe every this many optimizer steps (and after the last one, also of a run a hook ends early)."""
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

    model: ModelSource | None = None
    """A model to probe besides the command line's checkpoints: a path, a pretrained preset
    (``{preset: smollm2-135m-instruct}``) or a GGUF file, materialized once into the cache."""
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
