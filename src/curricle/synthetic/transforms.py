"""String transforms and their compositions: ``reverse: abcd ->`` -> `` dcba``.

Each transform is a function in :data:`TRANSFORMS` and a registered skill; a composite skill
(``reverse+uppercase``) applies its parts left to right, and names them in ``composite_of``
so the emergence map can check that it emerges no earlier than they do. A composite's
distractors are each part applied alone (where that differs from the target) and a near
miss: choosing the right one needs both parts.
"""

from __future__ import annotations

import random
import string
from typing import Callable

from curricle.synthetic.base import SkillGenerator, SkillItem
from curricle.synthetic.distractors import item_rng, pick_distractors


def reverse(s: str) -> str:
    return s[::-1]


def uppercase(s: str) -> str:
    return s.upper()


def sort_letters(s: str) -> str:
    return "".join(sorted(s))


def _shift(ch: str, by: int) -> str:
    alphabet = string.ascii_uppercase if ch.isupper() else string.ascii_lowercase
    return alphabet[(alphabet.index(ch) + by) % 26]


def shift_letters(s: str) -> str:
    """Each letter to the next one of the alphabet, ``z`` to ``a``."""
    return "".join(_shift(ch, 1) for ch in s)


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "reverse": reverse,
    "uppercase": uppercase,
    "sort-letters": sort_letters,
    "shift-letters": shift_letters,
}


def near_misses(s: str) -> tuple[list[str], list[str]]:
    """Strings one slip away from ``s``: (two neighbouring letters swapped, one letter
    replaced by an alphabet neighbour)."""
    swaps = [s[:i] + s[i + 1] + s[i] + s[i + 2 :] for i in range(len(s) - 1) if s[i] != s[i + 1]]
    subs = [s[:i] + _shift(s[i], by) + s[i + 1 :] for i in range(len(s)) for by in (1, -1)]
    return swaps, subs


class StringTransform(SkillGenerator):
    """Base of the transform skills: a subclass names its transform (``name``, a key of
    :data:`TRANSFORMS`) or, for a composite, its parts in ``composite_of``."""

    chance = 0.25

    def __init__(self, seed: int = 0, *, min_len: int = 3, max_len: int = 6):
        super().__init__(seed)
        if not 2 <= min_len <= max_len:
            raise ValueError(f"{self.name}: need 2 <= min_len <= max_len, got {min_len}, {max_len}")
        self.min_len = min_len
        self.max_len = max_len

    @property
    def steps_of(self) -> tuple[str, ...]:
        """The transforms applied, in order."""
        return self.composite_of or (self.name,)

    def apply(self, s: str) -> str:
        for step in self.steps_of:
            s = TRANSFORMS[step](s)
        return s

    def difficulty(self, item: SkillItem) -> float:
        """The input's length times the number of transforms composed (the depth)."""
        return float(len(item.key) * len(self.steps_of))

    def steps(self, item: SkillItem) -> list[str]:
        """The string after each transform in turn (one step for a single transform)."""
        out, s = [], item.key
        for step in self.steps_of:
            s = TRANSFORMS[step](s)
            out.append(s)
        return out

    def _sample(self, rng: random.Random) -> SkillItem:
        n = rng.randint(self.min_len, self.max_len)
        return self.item("".join(rng.choice(string.ascii_lowercase) for _ in range(n)))

    def item(self, s: str) -> SkillItem:
        """The item for input string ``s`` (its key)."""
        out = self.apply(s)
        # Wrong transform: for a composite, each part alone (one group each, so every part
        # that differs from the target is a distractor); for a single one, the input as is.
        if self.composite_of:
            wrong = [[" " + TRANSFORMS[step](s)] for step in self.steps_of]
        else:
            wrong = [[" " + s]]
        swaps, subs = near_misses(out)
        rng = item_rng(self.name, self.seed, s)
        distractors = pick_distractors(
            rng, " " + out, [*wrong, [" " + w for w in swaps + subs]], fallback=[" " + s]
        )
        return SkillItem(self.name, s, f"{self.name}: {s} ->", " " + out, distractors)


class Reverse(StringTransform):
    name = "reverse"


class Uppercase(StringTransform):
    name = "uppercase"


class SortLetters(StringTransform):
    name = "sort-letters"


class ShiftLetters(StringTransform):
    name = "shift-letters"


class ReverseUppercase(StringTransform):
    name = "reverse+uppercase"
    composite_of = ("reverse", "uppercase")


class SortLettersUppercase(StringTransform):
    name = "sort-letters+uppercase"
    composite_of = ("sort-letters", "uppercase")


class ReverseShiftLetters(StringTransform):
    name = "reverse+shift-letters"
    composite_of = ("reverse", "shift-letters")


#: The transform skills, single and composite, in registry order.
TRANSFORM_SKILLS: tuple[type[StringTransform], ...] = (
    Reverse,
    Uppercase,
    SortLetters,
    ShiftLetters,
    ReverseUppercase,
    SortLettersUppercase,
    ReverseShiftLetters,
)
