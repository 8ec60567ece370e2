"""The synthetic skills' parameters and difficulty ladders, as data a config is checked against.

Each skill's keyword parameters are a frozen dataclass here (defaults, documentation and the
checks of their values), its ladder the dataclass's ``levels``; the generator in
``synthetic/<skill>.py`` builds its parameters from that dataclass. So a source, task or probe
config that names a skill, its levels and its parameters is validated at load time without
importing a generator. Imports only the standard library.

A bad value raises ``ValueError`` (prefixed with the skill's name by :func:`checked`); an
unknown parameter raises the dataclass's ``TypeError``, which :func:`check_skill` and
``make_generator`` turn into one ``ValueError`` naming the skill.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

P = TypeVar("P")

#: The single transforms, in the order ``synthetic/transforms.py`` registers them (``compose``
#: chains up to this many distinct ones).
TRANSFORM_NAMES = ("reverse", "uppercase", "sort-letters", "shift-letters")


@dataclass(frozen=True)
class AgreementParams:
    levels: ClassVar[dict[str, dict[str, Any]]] = {str(k): {"attractors": k} for k in range(4)}

    p_adjective: float = 0.3
    """Chance of an adjective before each noun."""
    attractors: int | None = None
    """Exactly this many attractor phrases between subject and verb (None: zero or one)."""

    def __post_init__(self):
        if not 0.0 <= self.p_adjective <= 1.0:
            raise ValueError(f"p_adjective must be in [0, 1], got {self.p_adjective}")
        if self.attractors is not None and not 0 <= self.attractors <= 5:
            raise ValueError(f"attractors must be in [0, 5], got {self.attractors}")


def _check_digits(digits: int, carries: int | None) -> None:
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    if carries is not None and not 0 <= carries <= digits:
        raise ValueError(f"carries must be in [0, digits ({digits})], got {carries}")


@dataclass(frozen=True)
class ArithmeticParams:
    levels: ClassVar[dict[str, dict[str, Any]]] = {
        "1": {"digits": 1},
        "2c0": {"digits": 2, "carries": 0},
        "2c1": {"digits": 2, "carries": 1},
        "2c2": {"digits": 2, "carries": 2},
        "3": {"digits": 3},
        "4": {"digits": 4},
    }

    digits: int = 2
    """Operands have up to this many digits."""
    carries: int | None = None
    """Exactly this many carry columns (None: any)."""

    def __post_init__(self):
        _check_digits(self.digits, self.carries)


@dataclass(frozen=True)
class ArithmeticHardParams:
    levels: ClassVar[dict[str, dict[str, Any]]] = {}  # the ladder is arithmetic's

    digits: int = 4
    """Operands have up to this many digits."""

    def __post_init__(self):
        _check_digits(self.digits, None)


@dataclass(frozen=True)
class BracketsParams:
    levels: ClassVar[dict[str, dict[str, Any]]] = {
        str(d): {"depth": d, "min_len": d, "max_len": d + 6} for d in (1, 2, 4, 8)}

    min_len: int = 2
    """Fewest brackets in a prefix."""
    max_len: int = 10
    """Most brackets in a prefix."""
    p_close: float = 0.4
    """Chance of closing an open bracket at each step (without ``depth``)."""
    depth: int | None = None
    """Exactly this many brackets left open (None: any)."""

    @property
    def lengths(self) -> list[int]:
        """Prefix lengths that can leave ``depth`` open: a prefix leaving d open has d + 2c
        brackets (c of them closed on the way)."""
        if self.depth is None:
            return []
        return [n for n in range(max(self.min_len, self.depth), self.max_len + 1) if (n - self.depth) % 2 == 0]

    def __post_init__(self):
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}")
        if not 0.0 <= self.p_close < 1.0:
            raise ValueError(f"p_close must be in [0, 1), got {self.p_close}")
        if self.depth is not None and (self.depth < 1 or not self.lengths):
            raise ValueError(f"depth must be >= 1 with a length in [{self.min_len}, {self.max_len}] "
                             f"of its parity, got {self.depth}")


@dataclass(frozen=True)
class CopyParams:
    levels: ClassVar[dict[str, dict[str, Any]]] = {
        str(n): {"min_words": n, "max_words": n, "target_words": n} for n in (2, 4, 8, 16)}

    min_words: int = 4
    """Fewest pseudo-words in the sequence."""
    max_words: int = 8
    """Most pseudo-words in the sequence."""
    target_words: int = 3
    """The repeat's last this-many words are the target."""

    def __post_init__(self):
        if not 2 <= self.min_words <= self.max_words:
            raise ValueError(f"need 2 <= min_words <= max_words, got {self.min_words}, {self.max_words}")
        if not 1 <= self.target_words <= self.min_words:
            raise ValueError(f"need 1 <= target_words <= min_words ({self.min_words}), got {self.target_words}")


@dataclass(frozen=True)
class FactsParams:
    levels: ClassVar[dict[str, dict[str, Any]]] = {str(n): {"n_entities": n} for n in (20, 50, 200, 1000)}

    n_entities: int = 200
    """How many people the world has."""

    def __post_init__(self):
        if self.n_entities < 1:
            raise ValueError(f"n_entities must be >= 1, got {self.n_entities}")


@dataclass(frozen=True)
class TransformParams:
    levels: ClassVar[dict[str, dict[str, Any]]] = {str(n): {"min_len": n, "max_len": n} for n in (2, 3, 4, 6, 8)}

    min_len: int = 3
    """Shortest input string."""
    max_len: int = 6
    """Longest input string."""

    def __post_init__(self):
        if not 2 <= self.min_len <= self.max_len:
            raise ValueError(f"need 2 <= min_len <= max_len, got {self.min_len}, {self.max_len}")


@dataclass(frozen=True)
class ComposeParams(TransformParams):
    levels: ClassVar[dict[str, dict[str, Any]]] = {str(d): {"depth": d} for d in (1, 2, 3)}

    depth: int = 2
    """How many distinct transforms each item chains."""
    max_len: int = 5
    """Longest input string."""

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.depth <= len(TRANSFORM_NAMES):
            raise ValueError(f"depth must be in [1, {len(TRANSFORM_NAMES)}], got {self.depth}")


#: Each registered skill's parameters (the keys of ``curricle.synthetic.GENERATORS``).
SKILL_PARAMS: dict[str, type] = {
    "copy": CopyParams,
    "facts": FactsParams,
    "arithmetic": ArithmeticParams,
    "arithmetic-hard": ArithmeticHardParams,
    "reverse": TransformParams,
    "uppercase": TransformParams,
    "sort-letters": TransformParams,
    "shift-letters": TransformParams,
    "reverse+uppercase": TransformParams,
    "sort-letters+uppercase": TransformParams,
    "reverse+shift-letters": TransformParams,
    "compose": ComposeParams,
    "brackets": BracketsParams,
    "agreement": AgreementParams,
}


def known_skill(name: str) -> str:
    """``name`` if it is a registered skill, else ``ValueError`` listing the valid ones (for
    config validators)."""
    if name not in SKILL_PARAMS:
        raise ValueError(f"unknown skill {name!r}; expected one of: {', '.join(SKILL_PARAMS)}")
    return name


def ladder(skill: str) -> dict[str, dict[str, Any]]:
    """The difficulty ladder of registered ``skill``: level name -> its parameters, easiest first."""
    return SKILL_PARAMS[skill].levels


def ladder_params(skill: str, levels: dict[str, dict[str, Any]], level: str) -> dict[str, Any]:
    """The parameters of ``level`` of ``skill``'s ladder ``levels``; ``ValueError`` naming the
    valid levels."""
    try:
        return dict(levels[str(level)])
    except KeyError:
        valid = ", ".join(levels) or "none"
        raise ValueError(f"{skill}: unknown level {level!r} (levels: {valid})") from None


def with_level(skill: str, level: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` and the parameters of ``level``; a parameter both set is a ``ValueError``
    (which one should win is not a guess to make)."""
    if level is None:
        return dict(params)
    fixed = ladder_params(skill, ladder(skill), level)
    both = sorted(set(fixed) & set(params))
    if both:
        raise ValueError(f"skill {skill!r}: level {level!r} sets {both}; give them in params or the level, not both")
    return {**params, **fixed}


#: What a parameter of each annotated type may be (a bool is neither: YAML's ``yes`` is one).
_KINDS = {"int": ((int,), "an integer"), "int | None": ((int, type(None)), "an integer or null"),
          "float": ((int, float), "a number")}


def checked(skill: str, params_type: type[P], params: dict[str, Any]) -> P:
    """``params_type(**params)``; a bad value's ``ValueError`` names ``skill``, and so does a
    value of the wrong type (``digits: 2.5`` failed only when items were drawn)."""
    try:
        for f in fields(params_type):
            if f.name in params and str(f.type) in _KINDS:
                types, what = _KINDS[str(f.type)]
                value = params[f.name]
                if isinstance(value, bool) or not isinstance(value, types):
                    raise ValueError(f"{f.name} must be {what}, got {value!r}")
        return params_type(**params)
    except ValueError as err:
        raise ValueError(f"{skill}: {err}") from None


def check_skill(skill: str, level: str | None = None, params: dict[str, Any] | None = None) -> None:
    """Raise the ``ValueError`` that ``make_generator(skill, level=level, **params)`` would,
    without importing the generator: an unknown skill or level, a parameter the level also
    sets, an unknown parameter, a bad value."""
    known_skill(skill)
    merged = with_level(skill, level, params or {})
    try:
        checked(skill, SKILL_PARAMS[skill], merged)
    except TypeError as err:
        raise ValueError(f"skill {skill!r}: bad parameters {sorted(merged)}: {err}") from None
