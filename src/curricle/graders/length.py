"""``length``: a penalty in [0, 1] for a completion over its length budget."""

from __future__ import annotations

from curricle.graders.base import Grade, Grader


class LengthGrader(Grader):
    def grade(self, item, completion: str) -> Grade:
        c = self.config
        n = len(completion) if c.unit == "chars" else len(completion.split())
        scale = c.scale or max(c.budget, 1)
        return Grade(min(1.0, max(0, n - c.budget) / scale))
