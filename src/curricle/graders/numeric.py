"""``numeric``: the first number in the completion against the target's number."""

from __future__ import annotations

import math
import re

from curricle.graders.base import Grade, Grader

#: A decimal number: optional sign, digits with optional thousands commas, fraction, exponent.
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?")


def first_number(text: str) -> float | None:
    """The first number written in ``text`` (commas as thousands separators), or None."""
    m = NUMBER.search(text)
    return float(m.group().replace(",", "")) if m else None


class NumericGrader(Grader):
    def grade(self, item, completion: str) -> Grade:
        want = first_number(item.target)
        if want is None:
            return Grade(None, "target is not a number")
        got = first_number(completion)
        if got is None:
            return Grade(0.0, "no number")
        ok = math.isclose(got, want, rel_tol=self.config.rel_tol, abs_tol=self.config.abs_tol)
        return Grade(float(ok))
