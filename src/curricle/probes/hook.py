"""In-loop probing: score the live model on probe tasks every ``every`` steps.

Configured in the run config under ``train.probe``; the trainer registers a
:class:`ProbeHook` (on rank 0) when the block is present. Each probe appends one row per
task to ``RUN/probes.jsonl`` (the same schema as ``curricle probe``, with ``checkpoint``
null) and adds ``probe/<task>/<metric>`` scalars to the step's metrics, so they reach
``metrics.jsonl`` and TensorBoard. A resumed run drops rows after its checkpoint's step.

Cost: a probe is a few forward passes per item with no gradients, paid once every
``every`` steps; the log line after each probe says how long it took.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from curricle.probes.builtin import SuiteConfig
from curricle.train.hooks import Hook

if TYPE_CHECKING:
    from curricle.train.loop import Trainer

log = logging.getLogger(__name__)

PROBES_FILE = "probes.jsonl"


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


class ProbeHook(Hook):
    """Scores the trainer's model on the configured tasks every ``every`` steps (rank 0)."""

    def __init__(self, config: ProbeHookConfig):
        self.config = config
        self.tasks: list = []
        self.lm = None

    def on_train_start(self, trainer: "Trainer") -> None:
        from curricle.probes.builtin import builtin_tasks
        from curricle.probes.lm import ProbeLM
        from curricle.probes.task import check_unique, load_tasks

        data_dir = Path(trainer.store.data_dir)
        tasks = builtin_tasks(self.config.suite, data_dir=data_dir) if self.config.suite is not None else []
        for path in self.config.task_files:
            tasks += load_tasks(path, data_dir=data_dir)
        self.tasks = check_unique(tasks)
        self.lm = ProbeLM(trainer.model, trainer.tokenizer, batch_size=self.config.batch_size)
        self.path = trainer.run_dir / PROBES_FILE
        if trainer.step == 0:
            self.path.unlink(missing_ok=True)
        elif self.path.exists():  # resumed: forget probes of steps the checkpoint has not seen
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= trainer.step]
            self.path.write_text("".join(line + "\n" for line in keep))

    def on_step_end(self, trainer: "Trainer", batch, metrics: dict[str, Any]) -> None:
        step = trainer.step
        if not self.tasks or (step % self.config.every and step != trainer.total_steps):
            return
        from curricle.probes.results import append_rows
        from curricle.probes.runner import make_row, score_tasks
        from curricle.probes.scorers import SCORERS

        t0 = time.perf_counter()
        model = trainer.model
        was_training = model.training
        model.eval()
        try:
            if trainer.autocast:
                with trainer.autocast():
                    scored = score_tasks(self.lm, self.tasks)
            else:
                scored = score_tasks(self.lm, self.tasks)
        finally:
            if was_training:
                model.train()
        rows = []
        for task in self.tasks:
            score, seconds = scored[task.name]
            rows.append(make_row(task, score.metrics, score.n, seconds, run=trainer.run_dir, checkpoint=None,
                                 step=step, tokens=trainer.tokens))
            scorer = SCORERS[task.output_type]
            for name in (scorer.discrete, scorer.continuous_metric(task)):
                metrics[f"probe/{task.name}/{name}"] = score.metrics[name]
        append_rows(self.path, rows)
        metrics["probe/seconds"] = time.perf_counter() - t0
        log.info("step %d: probed %d tasks in %.1fs", step, len(self.tasks), metrics["probe/seconds"])
