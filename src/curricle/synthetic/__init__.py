"""Synthetic skill generators: one file per skill family, registered here by name.

Adding a skill: its parameters (a dataclass with their checks and its difficulty ladder in
``levels``) and one line of ``SKILL_PARAMS`` in :mod:`curricle.synthetic.config`, which configs
validate against without importing a generator; ``synthetic/<skill>.py`` with a
:class:`~curricle.synthetic.base.SkillGenerator` subclass (its ``name`` the registry key, its
parameters built from that dataclass); then one line of ``GENERATORS``.

A ladder level is named ``skill@level`` (``copy@8``, ``arithmetic@3``): the probes' task
names and the map's rows per family use that form (:func:`level_name`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curricle.registry import Registry
from curricle.synthetic.config import known_skill, with_level

if TYPE_CHECKING:
    from curricle.synthetic.base import SkillGenerator

#: Skill generators by name, imported when first looked up.
GENERATORS = Registry("skill", {
    "copy": "curricle.synthetic.copying:Copying",
    "facts": "curricle.synthetic.facts:Facts",
    "arithmetic": "curricle.synthetic.arithmetic:Arithmetic",
    "arithmetic-hard": "curricle.synthetic.arithmetic:ArithmeticHard",
    "reverse": "curricle.synthetic.transforms:Reverse",
    "uppercase": "curricle.synthetic.transforms:Uppercase",
    "sort-letters": "curricle.synthetic.transforms:SortLetters",
    "shift-letters": "curricle.synthetic.transforms:ShiftLetters",
    "reverse+uppercase": "curricle.synthetic.transforms:ReverseUppercase",
    "sort-letters+uppercase": "curricle.synthetic.transforms:SortLettersUppercase",
    "reverse+shift-letters": "curricle.synthetic.transforms:ReverseShiftLetters",
    "compose": "curricle.synthetic.transforms:Compose",
    "brackets": "curricle.synthetic.brackets:Brackets",
    "agreement": "curricle.synthetic.agreement:Agreement",
})


def level_name(skill: str, level: str | None) -> str:
    """``copy@8``: the name of a skill's ladder level (the skill itself for no level)."""
    return skill if level is None else f"{skill}@{level}"


def make_generator(name: str, seed: int = 0, level: str | None = None, **params: Any) -> "SkillGenerator":
    """The generator registered as ``name``, with its seed, ladder ``level`` (one of its
    ``levels``) and keyword parameters.

    Raises ``ValueError`` for an unknown name (listing the valid ones), an unknown level, a
    parameter both the level and ``params`` set (which one should win is not a guess to make),
    and for parameters the generator does not take or rejects.
    """
    try:
        cls = GENERATORS[name]
    except KeyError:
        raise ValueError(f"unknown skill {name!r}; valid: {', '.join(GENERATORS)}") from None
    params = with_level(name, level, params)
    try:
        return cls(seed, **params)
    except TypeError as err:  # an unexpected keyword: say which skill, not just __init__
        raise ValueError(f"skill {name!r}: bad parameters {sorted(params)}: {err}") from None


__all__ = ["GENERATORS", "known_skill", "level_name", "make_generator"]
