"""Synthetic skill generators: one file per skill family, registered here by name.

Adding a skill: write ``synthetic/<skill>.py`` with a :class:`SkillGenerator` subclass (its
``name`` the registry key, its parameters keyword-only in ``__init__``), then add one line to
``GENERATORS``.
"""

from __future__ import annotations

from typing import Any

from curricle.synthetic.agreement import Agreement
from curricle.synthetic.arithmetic import Arithmetic, ArithmeticHard
from curricle.synthetic.base import HELDOUT_SHARE, SkillGenerator, SkillItem, Split, split_of
from curricle.synthetic.brackets import Brackets
from curricle.synthetic.copying import Copying
from curricle.synthetic.facts import Facts
from curricle.synthetic.transforms import (
    Reverse,
    ReverseShiftLetters,
    ReverseUppercase,
    ShiftLetters,
    SortLetters,
    SortLettersUppercase,
    Uppercase,
)

GENERATORS: dict[str, type[SkillGenerator]] = {
    "copy": Copying,
    "facts": Facts,
    "arithmetic": Arithmetic,
    "arithmetic-hard": ArithmeticHard,
    "reverse": Reverse,
    "uppercase": Uppercase,
    "sort-letters": SortLetters,
    "shift-letters": ShiftLetters,
    "reverse+uppercase": ReverseUppercase,
    "sort-letters+uppercase": SortLettersUppercase,
    "reverse+shift-letters": ReverseShiftLetters,
    "brackets": Brackets,
    "agreement": Agreement,
}


def known_skill(name: str) -> str:
    """``name`` if it is a registered skill, else ``ValueError`` listing the valid ones (for
    config validators)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown skill {name!r}; expected one of: {', '.join(GENERATORS)}")
    return name


def make_generator(name: str, seed: int = 0, **params: Any) -> SkillGenerator:
    """The generator registered as ``name``, with its seed and keyword parameters.

    Raises ``ValueError`` for an unknown name (listing the valid ones) and for parameters
    the generator does not take or rejects.
    """
    try:
        cls = GENERATORS[name]
    except KeyError:
        raise ValueError(f"unknown skill {name!r}; valid: {', '.join(GENERATORS)}") from None
    try:
        return cls(seed, **params)
    except TypeError as err:  # an unexpected keyword: say which skill, not just __init__
        raise ValueError(f"skill {name!r}: bad parameters {sorted(params)}: {err}") from None


__all__ = [
    "GENERATORS",
    "HELDOUT_SHARE",
    "SkillGenerator",
    "SkillItem",
    "Split",
    "known_skill",
    "make_generator",
    "split_of",
]
