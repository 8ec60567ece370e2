"""Scoring a DPO run: the evaluation tasks as fine-tuning scores them, and each margin band on
its held-out pairs.

:class:`PairEvaluator` stands where fine-tuning's :class:`~curricle.posttrain.evaluate.Evaluator`
stands in the curriculum's callback: ``evaluate`` gives the tasks' scores plus, per band,
``pref_acc`` (the share of its held-out pairs whose chosen answer has the higher per-token mean
log-probability under the model: the model's own preference, not biased toward short answers)
and ``margin`` (the mean of that difference), each with its standard error; ``correct`` tests a
band's pair (Leitner review) by the same preference, and a task's item as the tasks' evaluator
does. So milestones, revisits, review and the forgetting matrix read bands as they read tasks.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from curricle.dpo.config import BAND_METRICS
from curricle.posttrain.evaluate import Evaluator
from curricle.probes.stats import mean_se
from curricle.tasks.items import TaskItem
from curricle.tasks.load import Task


class PairEvaluator:
    """The tasks' :class:`Evaluator` and the bands' held-out pairs (see the module doc)."""

    def __init__(self, tasks: Evaluator, bands: Sequence[Task]):
        self.tasks = tasks
        self.bands = {b.name: b for b in bands}

    def close(self) -> None:
        self.tasks.close()

    @property
    def discrete_metrics(self) -> dict[str, str]:
        return {**self.tasks.discrete_metrics, **{b: BAND_METRICS[0] for b in self.bands}}

    @property
    def ungraded(self):
        return self.tasks.ungraded

    def preferences(self, model, items: Sequence[TaskItem]) -> list[float]:
        """Per pair: the chosen answer's per-token mean log-probability minus the rejected one's."""
        if not items:
            return []
        scored = self.tasks.lm(model).score([(i.prompt, (i.completion, i.meta["rejected"])) for i in items])
        return [c.logprob / max(c.tokens, 1) - r.logprob / max(r.tokens, 1) for c, r in scored]

    @torch.no_grad()
    def evaluate(self, model, split: str = "heldout") -> dict[str, dict[str, float]]:
        out = self.tasks.evaluate(model, split)
        if split != "heldout":
            return out  # the bands have no test pairs
        was_training = model.training
        model.eval()
        try:
            for name, band in self.bands.items():
                items = band.eval_set("heldout")
                if not items:
                    continue
                diffs = self.preferences(model, items)
                acc, acc_se = mean_se([float(d > 0) for d in diffs])
                margin, margin_se = mean_se(diffs)
                out[name] = {"pref_acc": acc, "pref_acc_se": acc_se, "margin": margin, "margin_se": margin_se,
                             "n": len(items)}
        finally:
            model.train(was_training)
        return out

    @torch.no_grad()
    def correct(self, model, task_items: Sequence[tuple[str, TaskItem]]) -> list[bool]:
        out: list[Any] = [None] * len(task_items)
        pairs = [k for k, (t, _) in enumerate(task_items) if t in self.bands]
        rest = [k for k in range(len(task_items)) if k not in set(pairs)]
        if rest:
            for k, ok in zip(rest, self.tasks.correct(model, [task_items[k] for k in rest])):
                out[k] = ok
        if pairs:
            was_training = model.training
            model.eval()
            try:
                for k, d in zip(pairs, self.preferences(model, [task_items[k][1] for k in pairs])):
                    out[k] = d > 0
            finally:
                model.train(was_training)
        return out
