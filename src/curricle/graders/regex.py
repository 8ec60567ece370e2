"""``regex``: an answer extracted by a pattern, or the pattern as a format check."""

from __future__ import annotations

import re

from curricle.graders.base import Grade, Grader


class RegexGrader(Grader):
    def __init__(self, config):
        super().__init__(config)
        self.pattern = re.compile(config.pattern)

    def grade(self, item, completion: str) -> Grade:
        m = self.pattern.search(completion)
        if self.pattern.groups == 0:
            return Grade(float(m is not None))
        if m is None or m.group(1) is None:
            return Grade(0.0, "no match")
        return Grade(float(m.group(1).strip() == item.target.strip()))
