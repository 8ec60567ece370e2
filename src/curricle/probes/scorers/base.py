"""The contract of a scorer: one per ``output_type``, registered in ``scorers/__init__``.

``score(lm, task)`` returns a :class:`TaskScore`: for every metric its mean over the task
(``metrics[name]``) and standard error (``metrics[name + "_se"]``), the item count, and the
per-item values the means came from. Each scorer names its *discrete* metric (accuracy or
exact match) and its *continuous* one (a normalized probability or a log-probability), and
the score of guessing on each (``chance``; None where there is no such level, and the map
then takes the first checkpoint's score as the baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from curricle.probes.lm import ProbeLM
    from curricle.probes.task import ProbeTask


@dataclass
class TaskScore:
    metrics: dict[str, float]
    n: int
    per_item: dict[str, list[Any]] = field(default_factory=dict)


class Scorer:
    output_type: ClassVar[str]
    #: The discrete metric (accuracy / exact match) and the continuous one.
    discrete: ClassVar[str]
    continuous: ClassVar[str]
    #: Every metric the scorer reports; higher is better for all but ``bits_per_byte``.
    metric_names: ClassVar[tuple[str, ...]]

    def score(self, lm: "ProbeLM", task: "ProbeTask") -> TaskScore:  # pragma: no cover - abstract
        raise NotImplementedError

    def continuous_metric(self, task: "ProbeTask") -> str:
        return self.continuous

    def chance(self, task: "ProbeTask") -> dict[str, float | None]:
        """Score of guessing per metric; the task's ``chance`` overrides the discrete one's."""
        out = self._chance(task)
        if task.chance_override is not None:
            out[self.discrete] = task.chance_override
        return out

    def _chance(self, task: "ProbeTask") -> dict[str, float | None]:
        return {}


def uniform_choice_chance(task: "ProbeTask") -> float:
    """Mean over items of 1 / number of choices."""
    return sum(1.0 / len(i.choices) for i in task.items) / len(task.items)
