"""Scoring every task's held-out (or test) items with the model being trained.

Items are scored by the probes' scorers (:mod:`curricle.probes.scorers`) through a
:class:`~curricle.probes.lm.ProbeLM` over the live model: ``exact_match`` tasks as
``generate_until`` probes (exact match of the greedy generation, plus the completion's
probability among its distractors or its log-probability), ``loglikelihood`` tasks as
``multiple_choice`` probes, and ``grader`` tasks by grading the greedy generation (ungraded
items counted under their reason, left out of the mean). Every metric comes with its
standard error (``<metric>_se``). Evaluation-only probe tasks (pretraining skills,
:func:`probe_tasks`) are scored the same way beside them. Fine-tuning, RL and the pipeline's
checkpoint table all score with it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any, Sequence

import torch

from curricle.graders.runner import GraderRunner
from curricle.posttrain.config import ProbeTasksConfig
from curricle.probes.builtin import builtin_tasks
from curricle.probes.item import ProbeItem
from curricle.probes.lm import ProbeLM
from curricle.probes.scorers import SCORERS
from curricle.probes.stats import mean_se
from curricle.probes.task import ProbeTask, check_unique, load_tasks
from curricle.tasks.items import TaskItem
from curricle.tasks.load import Task

_OUTPUT_TYPE = {"exact_match": "generate_until", "loglikelihood": "multiple_choice"}


def probe_tasks(config: ProbeTasksConfig | None) -> list[ProbeTask]:
    """The pretraining probes to score beside the tasks, named ``probe:<task>`` (a task's name
    cannot hold a colon, so the two never clash)."""
    if config is None:
        return []
    tasks = builtin_tasks(config.suite) if config.suite is not None else []
    for f in config.task_files:
        tasks.extend(load_tasks(f))
    return [replace(t, name=f"probe:{t.name}") for t in check_unique(tasks)]


class Evaluator:
    """Scores ``tasks`` (and ``probe_tasks``) with a model and ``tokenizer``."""

    def __init__(self, tasks: Sequence[Task], tokenizer: Any, batch_size: int = 64,
                 probe_tasks: Sequence[ProbeTask] = (), grader_timeout_s: float | None = 10.0):
        self.tasks = list(tasks)
        self.probe_tasks = list(probe_tasks)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        #: A ``metric: grader`` task's grader, in a worker process with ``grader_timeout_s`` a
        #: completion (:class:`~curricle.graders.runner.GraderRunner`): one that hangs or raises
        #: leaves that item ungraded, under its reason, never scored 0 and never the run stuck.
        self.graders = {t.name: GraderRunner(t.scoring.grader, grader_timeout_s)
                        for t in self.tasks if t.scoring.metric == "grader"}
        #: Ungraded items per task, by reason, over every evaluation so far.
        self.ungraded: dict[str, Counter] = {t.name: Counter() for t in self.tasks}
        self._memo: dict[str, list[int]] = {}
        self._probe_of: dict[tuple[str, str], ProbeTask] = {}

    def close(self) -> None:
        """Stop the graders' worker processes (they also end when this process does)."""
        for runner in self.graders.values():
            runner.close()

    @property
    def discrete_metrics(self) -> dict[str, str]:
        """Each task's and probe's discrete metric."""
        out = {t.name: t.scoring.discrete for t in self.tasks}
        out.update({p.name: SCORERS[p.output_type].discrete for p in self.probe_tasks})
        return out

    def lm(self, model) -> ProbeLM:
        return ProbeLM(model, self.tokenizer, batch_size=self.batch_size, token_memo=self._memo)

    @torch.no_grad()
    def evaluate(self, model, split: str = "heldout") -> dict[str, dict[str, float]]:
        """``{task: {metric: value, metric_se: error, n: items}}`` on ``split`` (``heldout``: each
        task's ``eval_items``; ``test``: all its test items; probes: their items)."""
        was_training = model.training
        model.eval()
        try:
            lm = self.lm(model)
            out = {}
            for task in self.tasks:
                items = task.eval_set(split)
                if items:
                    out[task.name] = self._score(lm, task, items, split)[0]
            for probe in self.probe_tasks:
                score = SCORERS[probe.output_type].score(lm, probe)
                out[probe.name] = {**score.metrics, "n": score.n}
            return out
        finally:
            model.train(was_training)

    @torch.no_grad()
    def correct(self, model, task_items: Sequence[tuple[str, TaskItem]]) -> list[bool]:
        """Whether the model answers each ``(task, item)`` right (its discrete metric is 1)."""
        was_training = model.training
        model.eval()
        try:
            lm = self.lm(model)
            by_task: dict[str, list[int]] = {}
            for k, (t, _) in enumerate(task_items):
                by_task.setdefault(t, []).append(k)
            out = [False] * len(task_items)
            tasks = {t.name: t for t in self.tasks}
            for name, ks in by_task.items():
                _, per_item = self._score(lm, tasks[name], [task_items[k][1] for k in ks], f"review:{len(ks)}")
                for k, v in zip(ks, per_item):
                    out[k] = v is not None and v >= 1.0
            return out
        finally:
            model.train(was_training)

    def _probe_task(self, task: Task, items: Sequence[TaskItem], key: str, output_type: str) -> ProbeTask:
        k = (task.name, key)
        cached = self._probe_of.get(k)
        if cached is None or len(cached.items) != len(items) or key.startswith("review"):
            cached = ProbeTask(
                name=task.name, output_type=output_type, skill=task.skill,
                items=tuple(ProbeItem(i.id, i.prompt, i.completion, i.distractors) for i in items),
                until=tuple(task.scoring.until), max_gen_tokens=task.scoring.max_new_tokens)
            if not key.startswith("review"):
                self._probe_of[k] = cached
        return cached

    def _score(self, lm: ProbeLM, task: Task, items: Sequence[TaskItem], key: str
               ) -> tuple[dict[str, float], list[float | None]]:
        """The task's metrics on ``items`` and each item's discrete value (None: ungraded)."""
        metric = task.scoring.metric
        if metric in _OUTPUT_TYPE:
            probe = self._probe_task(task, items, key, _OUTPUT_TYPE[metric])
            score = SCORERS[probe.output_type].score(lm, probe)
            return {**score.metrics, "n": score.n}, list(score.per_item[task.scoring.discrete])
        probe = self._probe_task(task, items, key, "generate_until")
        texts = lm.generate([i.prompt for i in items], task.scoring.until, probe.gen_tokens)
        grades, reasons = self.graders[task.name].grade(items, texts)
        if not key.startswith("review"):
            self.ungraded[task.name].update(reasons)
        scores = [g.score for g in grades]
        graded = [s for s in scores if s is not None]
        out: dict[str, float] = {"n": len(items), "ungraded": len(items) - len(graded)}
        out["score"], out["score_se"] = mean_se(graded)
        logprob = [s[0].logprob for s in lm.score([(i.prompt, (i.completion,)) for i in items])]
        out["logprob"], out["logprob_se"] = mean_se(logprob)
        return out, scores


def fmt_score(v: Any) -> str:
    """A score in a console table: three decimals, ``-`` for none or NaN."""
    return "-" if v is None or v != v else f"{v:.3f}"
