"""A task's RL reward: one grader's score, or a composite of weighted, annealed graders.

``score(items, completions, step) -> Scored``: each completion's total (None: ungraded), the
ungraded completions by reason, the format failures by reason (graded 0, counted apart: the
format-drift guard reads them), each component's scores (for ``reward/<component>``) and the
failures by grader and reason (for the ``grader-failure`` guard, which names the grader).

A composite's total is ``sum_i w_i(t) x score_i`` over its components, ``w_i(t)`` moving
linearly from ``weight`` to ``anneal.to`` over ``anneal.steps`` trainer steps. A completion that
any component leaves ungraded (an error, a timeout, no score) has no total: it is counted
under ``<component>: <reason>`` and left out of its group, as one grader's ungraded completion
is; its other components' scores are still logged. Never a silent 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from curricle.graders.base import Grade
from curricle.graders.config import GRADERS
from curricle.graders.runner import GraderRunner

#: Grader reasons that mean the completion could not be read at all: a graded 0, counted apart
#: (``format/<reason>`` per step) for the format-drift guard, not as ungraded.
FORMAT_REASONS = ("no number", "no match")


def describe(config: Any) -> str:
    """A grader config in a few words (``python mod:fn``, ``numeric``)."""
    return f"python {config.function}" if config.kind == "python" else config.kind


@dataclass
class Scored:
    """One call's scores (see the module doc)."""

    totals: list[float | None]
    reasons: Counter = field(default_factory=Counter)
    """Ungraded completions by reason."""
    formats: Counter = field(default_factory=Counter)
    """Format failures (``FORMAT_REASONS``) by reason, a completion counted once."""
    components: dict[str, list[float | None]] = field(default_factory=dict)
    failures: Counter = field(default_factory=Counter)
    """``(grader, reason) -> completions`` it left ungraded."""


def build_runner(config: dict | Any, timeout_s: float | None) -> GraderRunner:
    if isinstance(config, dict):
        config = GRADERS.configs[config["kind"]].model_validate(config)
    return GraderRunner(config, timeout_s)


class GraderReward:
    """A task's reward from one grader: its score."""

    def __init__(self, runner: GraderRunner, task: str = ""):
        self.runner = runner
        self.label = f"{task}'s grader {describe(runner.config)}" if task else f"grader {describe(runner.config)}"

    def grade(self, items, completions):
        """The runner's ``(grades, reasons)`` (what the base sampling pass reads)."""
        return self.runner.grade(items, completions)

    def score(self, items: Sequence[Any], completions: Sequence[str], step: int = 0) -> Scored:
        grades, why = self.runner.grade(items, completions)
        out = Scored([g.score for g in grades], Counter(why))
        for g in grades:
            if g.score is None:
                out.failures[(self.label, g.reason or "ungraded")] += 1
            elif g.reason in FORMAT_REASONS:
                out.formats[g.reason] += 1
        return out

    def close(self) -> None:
        self.runner.close()


class Component:
    """One weighted term: ``weight_at(step) x`` its grader's score."""

    def __init__(self, name: str, runner: GraderRunner, weight: float, anneal_to: float | None = None,
                 anneal_steps: int | None = None):
        self.name, self.runner, self.weight = name, runner, weight
        self.anneal_to, self.anneal_steps = anneal_to, anneal_steps

    def weight_at(self, step: int) -> float:
        """``weight + (to - weight) min(step / steps, 1)``; ``weight`` without annealing."""
        if self.anneal_to is None:
            return self.weight
        return self.weight + (self.anneal_to - self.weight) * min(step / self.anneal_steps, 1.0)


class CompositeReward:
    """A task's reward as a weighted, annealed list of graders (see the module doc)."""

    def __init__(self, components: Sequence[Component], task: str = ""):
        self.components = list(components)
        self.task = task

    @classmethod
    def from_config(cls, task: str, configs: Sequence[Any], timeout_s: float | None) -> "CompositeReward":
        """From an RL task's ``reward:`` list (:class:`~curricle.rl.config.RewardComponent`)."""
        return cls([Component(c.name or c.grader.kind, build_runner(c.grader, timeout_s), c.weight,
                              None if c.anneal is None else c.anneal.to, None if c.anneal is None else c.anneal.steps)
                    for c in configs], task)

    def weights_at(self, step: int) -> dict[str, float]:
        return {c.name: c.weight_at(step) for c in self.components}

    def score(self, items: Sequence[Any], completions: Sequence[str], step: int = 0) -> Scored:
        totals: list[float | None] = [0.0] * len(completions)
        out = Scored(totals)
        unreadable: list[str | None] = [None] * len(completions)
        for c in self.components:
            grades, _ = c.runner.grade(items, completions)
            w = c.weight_at(step)
            out.components[c.name] = [g.score for g in grades]
            for k, g in enumerate(grades):
                if g.score is None:
                    reason = g.reason or "ungraded"
                    out.reasons[f"{c.name}: {reason}"] += 1
                    where = f"{self.task}'s " if self.task else ""
                    out.failures[(f"{where}reward component {c.name} ({describe(c.runner.config)})", reason)] += 1
                    totals[k] = None
                else:
                    if g.reason in FORMAT_REASONS and unreadable[k] is None:
                        unreadable[k] = g.reason
                    if totals[k] is not None:
                        totals[k] += w * g.score
        out.formats.update(r for r in unreadable if r is not None)  # a completion counted once
        return out

    def grade(self, items, completions):
        """The totals at step 0 as grades (what the base sampling pass reads: their mean, as
        a pass rate), and the ungraded reasons."""
        s = self.score(items, completions, 0)
        return [Grade(t) for t in s.totals], s.reasons

    def close(self) -> None:
        for c in self.components:
            c.runner.close()
