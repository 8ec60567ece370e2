"""``curricle pipeline PIPELINE.yaml``: named post-training stages in order, each from the
previous stage's chosen checkpoint.

::

    name: line
    model: {path: runs/demo/run/checkpoints/step_2500}     # where the first stage starts
    stages:
      - {name: sft, kind: finetune, config: configs/post/sft.yaml}
      - {name: grpo, kind: rl, config: configs/post/rl.yaml}
      - {name: rft, kind: rft, config: configs/post/rft.yaml}          # teacher: <stage> or a path: distill
      - {name: sft2, kind: finetune, config: configs/post/sft2.yaml, tasks_from: rft}
    select: best-mean                                     # or a rule: {maximize: mean, subject_to: {...}}
    evaluate: {tasks: [...]}                              # the checkpoint table's common yardstick

A stage's own config names its model too; the pipeline replaces it with the previous stage's
checkpoint. Imports only pydantic and other config modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.config import load_model_file
from curricle.posttrain.config import HFModelConfig, ProbeTasksConfig
from curricle.selection.config import PIPELINE_COLUMNS, SelectRule, SelectSpec
from curricle.tasks.config import NAME_PATTERN, TaskConfig


class StageSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["pretrain", "finetune", "rl", "rft", "dpo"]
    """``pretrain``: ``curricle train`` (a run config; it starts from its own model settings);
    ``finetune``, ``rl``, ``dpo``: their configs; ``rft``: sample the current model and write a task."""
    config: Path
    tasks_from: str | None = None
    """For ``finetune``: an earlier ``rft`` stage whose file joins this stage's tasks, as a task
    named after that stage (your curriculum's stages may name it)."""
    teacher: str | None = None
    """For ``rft``: distill from a teacher, an earlier stage's name (its chosen checkpoint) or a
    checkpoint directory (replaces the rft config's own ``teacher:``)."""


class EvaluateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskConfig] = Field(min_length=1)
    """Scored on their test items (greedy exact match) at every stage's chosen checkpoint."""
    probes: ProbeTasksConfig | None = None
    """Pretraining probes, a regression check against the starting model."""
    batch_size: int = Field(64, ge=1)
    max_probe_drop: float = Field(0.05, ge=0)
    """A checkpoint whose mean probe score is this much below the start's is not marked best."""


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "pipeline"
    model: HFModelConfig | None = None
    """Where the first stage starts (a ``pretrain`` first stage makes its own)."""
    stages: list[StageSpec] = Field(min_length=1)
    select: SelectSpec = "best-mean"
    """How checkpoints are chosen: ``best-mean``, ``last`` or a rule (``{maximize | minimize:
    COLUMN, subject_to: {COLUMN: ">= 0.5", ...}, tie: COLUMN}``, :mod:`curricle.selection`).
    Within a stage, the checkpoint the next stage starts from: ``last``, its final model;
    otherwise the best by the rule among those on disk (its final model counts, at its last
    step) judged on the columns its own evaluations have (``mean``, ``worst``, each task's
    held-out score, ``step``; ``best-mean``: the highest mean; a ``dpo`` stage's mean is that
    of its tasks' held-out scores where it has any, not its bands' preference accuracy).
    Across stages, the checkpoint
    table's best: by the rule over the table's columns (the shorthands: highest ``mean`` with
    ``probe_drop <= evaluate.max_probe_drop``, ties: fewer tokens)."""
    evaluate: EvaluateConfig

    @model_validator(mode="after")
    def _order(self) -> "PipelineConfig":
        seen: dict[str, str] = {}
        for i, s in enumerate(self.stages):
            if s.name in seen:
                raise ValueError(f"stages.{i}.name: '{s.name}' is used twice")
            if s.tasks_from is not None:
                if s.kind != "finetune":
                    raise ValueError(f"stages.{i}.tasks_from: only a finetune stage takes tasks from an rft stage")
                if seen.get(s.tasks_from) != "rft":
                    raise ValueError(f"stages.{i}.tasks_from: '{s.tasks_from}' is not an earlier rft stage")
            if s.teacher is not None and s.kind != "rft":
                raise ValueError(f"stages.{i}.teacher: only an rft stage samples a teacher")
            seen[s.name] = s.kind
        if self.model is None and self.stages[0].kind != "pretrain":
            raise ValueError("model: the first stage needs a model to start from (or make it a pretrain stage)")
        if isinstance(self.select, SelectRule):
            tasks = [t.name for t in self.evaluate.tasks]
            known = [*tasks, *PIPELINE_COLUMNS]
            for col in self.select.columns():
                if col not in known and not col.startswith("probe:"):
                    raise ValueError(f"select: unknown column '{col}' (known: {', '.join(known)}, probe:<name>)")
        if self.stages[0].kind == "rft":
            raise ValueError("stages.0: an rft stage needs a stage before it to sample from")
        return self


def load_pipeline_config(path: Path | str) -> PipelineConfig:
    return load_model_file(path, PipelineConfig)
