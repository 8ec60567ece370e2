"""The graders' configs (``scoring.grader`` of a task), one per kind, told apart by ``kind``.

Imports nothing but pydantic and the registry: validating a task config loads no grader.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from curricle.registry import Registry


class GraderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str


class ExactGraderConfig(GraderConfig):
    """1 when the completion equals the item's target."""

    kind: Literal["exact"] = "exact"
    strip: bool = True
    """Compare with leading and trailing whitespace removed from both."""
    case_sensitive: bool = True


class NumericGraderConfig(GraderConfig):
    """1 when the first number in the completion is within tolerance of the target's number
    (``|x - y| <= abs_tol + rel_tol * |y|``); 0 when the completion has no number."""

    kind: Literal["numeric"] = "numeric"
    abs_tol: float = Field(0.0, ge=0)
    rel_tol: float = Field(0.0, ge=0)


class RegexGraderConfig(GraderConfig):
    """With a capture group: the first group of the first match is the answer, compared with
    the target (both stripped); without one: 1 when the pattern matches at all (a format
    check; the target is not read)."""

    kind: Literal["regex"] = "regex"
    pattern: str
    """A Python regular expression, searched for in the completion."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except (re.error, OverflowError, RecursionError) as err:  # "a{4294967296}" overflows
            raise ValueError(f"not a valid regular expression ({err})") from None
        return v


class PythonGraderConfig(GraderConfig):
    """A function of yours, ``module:function``, called as ``function(item, completion)`` and
    returning a score in [0, 1] (or a :class:`~curricle.graders.base.Grade`)."""

    kind: Literal["python"] = "python"
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """``package.module:function``, importable where curricle runs."""


class ProcessGraderConfig(GraderConfig):
    """Scores every written step of a multi-step answer against the item's expected steps
    (``meta["steps"]``, the last one the answer; built-in tasks with ``written: steps`` have
    them): ``steps`` are the per-step scores, ``score`` the outcome (the last step right) or,
    with ``reward: steps``, the share of steps right."""

    kind: Literal["process"] = "process"
    separator: str = ";"
    """What separates the steps in a completion."""
    reward: Literal["outcome", "steps"] = "outcome"


class FormatGraderConfig(GraderConfig):
    """1 when the completion has the stated form, else 0 (with reason ``no match``, so the
    format drift guard counts it): the whole completion matches ``pattern`` (``full: true``,
    leading and trailing whitespace removed first) or the pattern is found in it (``full:
    false``). The target is not read: a shaping term of a composite reward."""

    kind: Literal["format"] = "format"
    pattern: str
    """A Python regular expression, e.g. ``'<answer>.*</answer>'``."""
    full: bool = True

    _compiles = field_validator("pattern")(RegexGraderConfig._compiles.__func__)
    """(The regex grader's check: the pattern compiles.)"""


class LengthGraderConfig(GraderConfig):
    """A penalty for running over a length budget: ``min(1, max(0, n - budget) / scale)`` with
    ``n`` the completion's length in ``unit`` (characters, or whitespace-separated words): 0 at
    or under the budget, rising linearly to 1 at ``budget + scale`` (``scale`` defaults to the
    budget: 1 at twice it). A penalty, so give it a negative weight in a composite reward."""

    kind: Literal["length"] = "length"
    budget: int = Field(ge=0)
    scale: int | None = Field(None, ge=1)
    """Length over the budget at which the penalty reaches 1 (None: ``budget``, or 1 for a 0 budget)."""
    unit: Literal["chars", "words"] = "chars"


#: Graders by kind: config eagerly, implementation lazily.
GRADERS = Registry("grader", {
    "exact": (ExactGraderConfig, "curricle.graders.exact:ExactGrader"),
    "numeric": (NumericGraderConfig, "curricle.graders.numeric:NumericGrader"),
    "regex": (RegexGraderConfig, "curricle.graders.regex:RegexGrader"),
    "python": (PythonGraderConfig, "curricle.graders.python:PythonGrader"),
    "process": (ProcessGraderConfig, "curricle.graders.process:ProcessGrader"),
    "format": (FormatGraderConfig, "curricle.graders.format:FormatGrader"),
    "length": (LengthGraderConfig, "curricle.graders.length:LengthGrader"),
})

GraderSpec = GRADERS.union()

#: The built-in grader of each built-in skill (others: exact match): the RL reward and RFT's
#: filter when a task names none.
BUILTIN_GRADERS: dict[str, dict] = {"arithmetic": {"kind": "numeric"}, "arithmetic-hard": {"kind": "numeric"}}
