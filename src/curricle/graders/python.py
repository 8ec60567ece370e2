"""``python``: a user's ``module:function(item, completion)``."""

from __future__ import annotations

from curricle.errors import CurricleError
from curricle.graders.base import Grade, Grader
from curricle.registry import load


class PythonGrader(Grader):
    def __init__(self, config):
        super().__init__(config)
        try:
            self.function = load(config.function)
        except (ImportError, AttributeError) as err:
            raise CurricleError(f"grader.function: cannot import {config.function!r} ({err})") from None
        if not callable(self.function):
            raise CurricleError(f"grader.function: {config.function!r} is not callable")

    def grade(self, item, completion: str) -> Grade:
        out = self.function(item, completion)
        if isinstance(out, Grade):
            return out
        if out is None:
            return Grade(None, "grader returned None")
        return Grade(float(out))
