"""``multiple_choice``: the target against its distractors, as continuations of the prompt.

Per item, with ``ll`` the summed log-probability of each choice (target first):

- ``acc``: the target has the highest ``ll`` (ties go to the target, as in lm-eval's argmax);
- ``prob``: the target's share of the choices' probability, ``softmax(ll)[0]``;
- ``margin``: ``ll[target] - max(ll[distractors])`` (nats; ``acc`` is 1 exactly when it is
  >= 0: a tie, margin 0, goes to the target);
- ``logprob``: ``ll[target]``.
"""

from __future__ import annotations

import numpy as np

from curricle.probes.scorers.base import Scorer, TaskScore, uniform_choice_chance
from curricle.probes.stats import mean_se


def choice_metrics(lls: list[float]) -> dict[str, float]:
    x = np.asarray(lls, dtype=np.float64)
    p = np.exp(x - x.max())
    return {
        "acc": float(np.argmax(x) == 0),
        "prob": float(p[0] / p.sum()),
        "margin": float(x[0] - x[1:].max()),
        "logprob": float(x[0]),
    }


def aggregate(per_item: dict[str, list[float]]) -> dict[str, float]:
    out = {}
    for name, values in per_item.items():
        out[name], out[f"{name}_se"] = mean_se(values)
    return out


def score_choices(lm, task) -> dict[str, list[float]]:
    """Per-item choice metrics (lists aligned with ``task.items``)."""
    return choice_lists(lm.score([(i.prompt, i.choices) for i in task.items]))


def choice_lists(scores) -> dict[str, list[float]]:
    """Per-item choice metrics from each item's choice scores (target first)."""
    per_item: dict[str, list[float]] = {"acc": [], "prob": [], "margin": [], "logprob": []}
    for item_scores in scores:
        for k, v in choice_metrics([s.logprob for s in item_scores]).items():
            per_item[k].append(v)
    return per_item


class MultipleChoiceScorer(Scorer):
    output_type = "multiple_choice"
    discrete = "acc"
    continuous = "prob"
    metric_names = ("acc", "prob", "margin", "logprob")

    def score(self, lm, task) -> TaskScore:
        per_item = score_choices(lm, task)
        return TaskScore(aggregate(per_item), len(task.items), per_item)

    def _chance(self, task):
        c = uniform_choice_chance(task)
        return {"acc": c, "prob": c, "margin": None, "logprob": None}
