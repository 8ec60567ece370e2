"""``generate_until``: exact match of a short greedy generation.

- ``exact_match``: the generation, cut at the first stop string, equals the target exactly
  (no stripping: targets carry their leading space, as a model's continuation does). It is
  the answer greedy generation gives, read from a teacher-forced pass (see
  :meth:`ProbeLM.greedy_matches`) that generates only where that pass cannot decide it;
- continuous, teacher-forced: with distractors, the multiple-choice ``prob``, ``margin`` and
  ``logprob`` of the target; without, its ``logprob`` alone.
"""

from __future__ import annotations

from curricle.probes.scorers.base import Scorer, TaskScore, uniform_choice_chance
from curricle.probes.scorers.multiple_choice import aggregate, choice_lists


class GenerateUntilScorer(Scorer):
    output_type = "generate_until"
    discrete = "exact_match"
    continuous = "prob"
    metric_names = ("exact_match", "prob", "margin", "logprob")

    def score(self, lm, task) -> TaskScore:
        # The exact match and the continuous scores from one pass (the target's tokens are shared).
        with_choices = all(i.distractors for i in task.items)
        groups = [(i.prompt, i.choices if with_choices else (i.target,)) for i in task.items]
        scores, matches = lm.score_and_match(groups, task.until, task.gen_tokens)
        per_item: dict[str, list] = {"exact_match": [float(m) for m in matches]}
        if with_choices:
            per_item.update(choice_lists(scores))
            del per_item["acc"]
        else:
            per_item["logprob"] = [s[0].logprob for s in scores]
        return TaskScore(aggregate(per_item), len(task.items), per_item)

    def continuous_metric(self, task) -> str:
        return "prob" if all(i.distractors for i in task.items) else "logprob"

    def _chance(self, task):
        out: dict[str, float | None] = {"exact_match": 0.0, "logprob": None}
        if all(i.distractors for i in task.items):
            out.update(prob=uniform_choice_chance(task), margin=None)
        return out
