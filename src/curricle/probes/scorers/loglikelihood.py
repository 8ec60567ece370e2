"""``loglikelihood``: the target alone as the continuation of the prompt.

- ``acc``: every target token is the model's argmax (the target is the greedy continuation);
- ``logprob``: the target's summed log-probability.
"""

from __future__ import annotations

from curricle.probes.scorers.base import Scorer, TaskScore
from curricle.probes.scorers.multiple_choice import aggregate


class LoglikelihoodScorer(Scorer):
    output_type = "loglikelihood"
    discrete = "acc"
    continuous = "logprob"
    metric_names = ("acc", "logprob")

    def score(self, lm, task) -> TaskScore:
        scores = lm.score([(i.prompt, [i.target]) for i in task.items])
        per_item = {"acc": [float(s[0].is_greedy) for s in scores], "logprob": [s[0].logprob for s in scores]}
        return TaskScore(aggregate(per_item), len(task.items), per_item)

    def _chance(self, task):
        return {"acc": None, "logprob": None}
