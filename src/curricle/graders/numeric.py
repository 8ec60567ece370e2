"""``numeric``: the first number in the completion against the target's number."""

from __future__ import annotations

import re

from curricle.graders.base import Grade, Grader

#: A decimal number: optional sign, digits with optional thousands commas, fraction, exponent.
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?")


#: Characters that are only ever a minus sign, read as ``-``: the minus sign, the small and the
#: fullwidth hyphen-minus (dashes such as U+2013 are left alone: they also join ranges, "3–5").
MINUS_SIGNS = str.maketrans({"\u2212": "-", "\ufe63": "-", "\uff0d": "-"})


def first_number(text: str) -> float | None:
    """The first number written in ``text`` (commas as thousands separators, a Unicode minus
    sign as ``-``), or None."""
    m = NUMBER.search(text.translate(MINUS_SIGNS))
    return float(m.group().replace(",", "")) if m else None


class NumericGrader(Grader):
    def grade(self, item, completion: str) -> Grade:
        want = first_number(item.target)
        if want is None:
            return Grade(None, "target is not a number")
        got = first_number(completion)
        if got is None:
            return Grade(0.0, "no number")
        # The documented tolerance, relative to the target alone (math.isclose takes the larger of
        # the two); equal infinities match.
        ok = got == want or abs(got - want) <= self.config.abs_tol + self.config.rel_tol * abs(want)
        return Grade(float(ok))
