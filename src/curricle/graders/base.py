"""The grader contract and the one place graders are called."""

from __future__ import annotations

import numbers
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from curricle.graders.config import GRADERS


@dataclass(frozen=True)
class Grade:
    """A completion's grade: ``score`` in [0, 1], or None when it could not be graded (then
    ``reason`` says why; a counted reason, never a silent 0)."""

    score: float | None
    reason: str = ""
    steps: tuple[float, ...] | None = None
    """Per-step scores of a process grader (each written step right or not), else None."""


class Gradable(Protocol):
    """What a grader reads of an item: its target (``completion`` of a task item)."""

    @property
    def target(self) -> str: ...


class Grader:
    """Base of the graders: ``grade(item, completion) -> Grade``; ``config`` is its config."""

    def __init__(self, config: Any):
        self.config = config

    def grade(self, item: Gradable, completion: str) -> Grade:  # pragma: no cover - abstract
        raise NotImplementedError


def grade_all(grader: Grader, items: Sequence[Gradable], completions: Sequence[str]) -> tuple[list[Grade], Counter]:
    """Every completion graded; a grader that raises gives ``Grade(None, "error: <Type>")``, a
    score that is not a number ``Grade(None, "score is not a number")``.

    Returns the grades and the count of each reason of ungraded items (``None`` scores).
    """
    grades, reasons = [], Counter()
    for item, completion in zip(items, completions, strict=True):
        try:
            g = grader.grade(item, completion)
            if g.score is not None and not isinstance(g.score, numbers.Real):
                g = Grade(None, "score is not a number")
        except Exception as err:  # a user's grader: count it, never crash the run or score 0
            g = Grade(None, f"error: {type(err).__name__}")
        if g.score is not None and not 0.0 <= g.score <= 1.0:
            g = Grade(None, "score out of [0, 1]")
        if g.score is None:
            reasons[g.reason or "ungraded"] += 1
        grades.append(g)
    return grades, reasons


def build_grader(config: Any) -> Grader:
    """The grader a config names."""
    return GRADERS.build(config)
