"""``exact``: the completion equals the target."""

from __future__ import annotations

from curricle.graders.base import Grade, Grader


class ExactGrader(Grader):
    def grade(self, item, completion: str) -> Grade:
        a, b = completion, item.target
        if self.config.strip:
            a, b = a.strip(), b.strip()
        if not self.config.case_sensitive:
            a, b = a.casefold(), b.casefold()
        return Grade(float(a == b))
