"""``format``: 1 when the completion has the stated form (a regular expression), else 0."""

from __future__ import annotations

import re

from curricle.graders.base import Grade, Grader


class FormatGrader(Grader):
    def __init__(self, config):
        super().__init__(config)
        self.pattern = re.compile(config.pattern)

    def grade(self, item, completion: str) -> Grade:
        found = (self.pattern.fullmatch(completion.strip()) if self.config.full
                 else self.pattern.search(completion))
        return Grade(1.0) if found else Grade(0.0, "no match")
