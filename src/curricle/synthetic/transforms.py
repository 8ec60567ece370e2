"""String transforms and their compositions: ``reverse: abcd ->`` -> `` dcba``.

Each transform is a function in :data:`TRANSFORMS` and a registered skill; a composite skill
(``reverse+uppercase``) applies its parts left to right, and names them in ``composite_of``
so the emergence map can check that it emerges no earlier than they do. A composite's
distractors are near misses of its full output, so choosing the right one needs every part
(see :func:`chain_item`).

Every transform skill splits its items by the input string under one partition
(``transform``): ``uppercase: aba -> ABA`` is inside ``reverse+uppercase: aba -> ABA``, so
an input is held out for every transform or for none. The ladder of each is by the input's
length (``reverse@2`` .. ``reverse@8``); ``compose`` is the ladder of composition depth:
``compose@d`` applies a chain of ``d`` distinct transforms the prompt names
(``shift-letters+reverse: abc -> dcb``), so ``compose@1`` items are the single transforms'.
"""

from __future__ import annotations

import random
import string
from typing import Any, Callable, ClassVar

from curricle.synthetic.base import SkillGenerator, SkillItem
from curricle.synthetic.config import ComposeParams, TransformParams, checked
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


#: The single transforms (their names are ``synthetic.config.TRANSFORM_NAMES``, in this order).
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
    partition = "transform"
    levels = TransformParams.levels
    #: The parameters' dataclass (``compose`` has its own).
    params_type: ClassVar[type[TransformParams]] = TransformParams

    def __init__(self, seed: int = 0, **params: Any):
        """``params``: :class:`~curricle.synthetic.config.TransformParams` (``compose``:
        :class:`~curricle.synthetic.config.ComposeParams`)."""
        super().__init__(seed)
        self.params = checked(self.name, self.params_type, params)
        self.min_len = self.params.min_len
        self.max_len = self.params.max_len

    def _input(self, rng: random.Random) -> str:
        n = rng.randint(self.min_len, self.max_len)
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))

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
        return self.item(self._input(rng))

    def item(self, s: str) -> SkillItem:
        """The item for input string ``s`` (its key)."""
        return chain_item(self.name, self.seed, s, self.steps_of, s)


def chain_item(skill: str, seed: int, key: str, chain: tuple[str, ...], s: str) -> SkillItem:
    """The item applying ``chain`` to ``s``: prompt ``a+b: s ->``, the target, and distractors.

    A single transform's distractors are the input as is (the wrong transform: none) and near
    misses of its output. A chain's are near misses of its full output only (two neighbouring
    letters swapped, one letter shifted), so every distractor has what each part leaves on
    the answer (its case, its letters, their order but for one slip): knowing all parts but
    one picks the target no more often than chance. (They were each part applied alone; one
    part known then ruled one distractor out, which made a composite easier than its
    components: ``reverse+uppercase: ehmw ->`` against `` wmhe``, `` EHMW``, `` WMEH``.)
    """
    out = s
    for step in chain:
        out = TRANSFORMS[step](out)
    swaps, subs = near_misses(out)
    rng = item_rng(skill, seed, key)
    if len(chain) > 1:
        groups = [[" " + w for w in swaps], [" " + w for w in subs]]
    else:
        groups = [[" " + s], [" " + w for w in swaps + subs]]
    distractors = pick_distractors(rng, " " + out, groups, fallback=[" " + s])
    return SkillItem(skill, key, f"{'+'.join(chain)}: {s} ->", " " + out, distractors)


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


class Compose(StringTransform):
    """A chain of ``depth`` distinct transforms, drawn per item and named in the prompt; the
    key is ``chain:input`` (``reverse+uppercase:abc``), split by the input like every
    transform."""

    name = "compose"
    levels = ComposeParams.levels
    params_type = ComposeParams

    def __init__(self, seed: int = 0, **params: Any):
        super().__init__(seed, **params)
        self.depth = self.params.depth

    @classmethod
    def level_composite_of(cls, level: str) -> tuple[str, ...]:
        """A chain of several composes single transforms: ``compose@1``."""
        return (f"{cls.name}@1",) if cls.level_params(level)["depth"] > 1 else ()

    def split_key(self, key: str) -> str:
        return key.split(":", 1)[1]

    def _sample(self, rng: random.Random) -> SkillItem:
        chain = tuple(rng.sample(tuple(TRANSFORMS), self.depth))
        return self.item(chain, self._input(rng))

    def item(self, chain: tuple[str, ...], s: str) -> SkillItem:  # type: ignore[override]
        """The item applying ``chain`` (transform names, in order) to ``s``."""
        return chain_item(self.name, self.seed, f"{'+'.join(chain)}:{s}", tuple(chain), s)

    def difficulty(self, item: SkillItem) -> float:
        """The input's length times the chain's depth."""
        chain, s = item.key.split(":", 1)
        return float(len(s) * len(chain.split("+")))

    def steps(self, item: SkillItem) -> list[str]:
        chain, s = item.key.split(":", 1)
        out = []
        for step in chain.split("+"):
            s = TRANSFORMS[step](s)
            out.append(s)
        return out


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
