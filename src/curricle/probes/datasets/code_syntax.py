"""Python syntax completions: ``def kelo(mapu, riso`` -> ``):``.

Each item is one line of Python with made-up identifiers (two consonant-vowel syllables, as
in the copy skill, so no line can be recalled from the standard library), cut where the
grammar leaves one right continuation: the closers of the open brackets and quotes, and the
colon that opens a block. The distractors close in a wrong order or with a wrong kind, or
end the line as another language would (``;``, `` {``), so choosing needs the syntax, not
the names. Chance is 0.25.

Every prompt ends in a letter or digit and every target starts with punctuation or a space:
byte-level BPE tokenizers never merge across such a boundary, so the target's tokens are the
same whether it is encoded alone or after its prompt (a prompt ending in ``)`` would let
``):`` become one token, and the continuation would be empty).
"""

from __future__ import annotations

import random
from typing import Callable, Literal

from pydantic import Field

from curricle.errors import CurricleError
from curricle.probes.datasets.base import BuildContext, DatasetConfig
from curricle.probes.item import ProbeItem

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"

#: The right continuation -> its three distractors (none a prefix of another).
DISTRACTORS: dict[str, tuple[str, str, str]] = {
    ":": (";", " {", ")"),
    "):": (");", ") {", "]:"),
    ")": ("]", "}", ":"),
    "))": (")]", "])", ")}"),
    "]": (")", "}", ":"),
    "}": (")", "]", ":"),
    '")': ("')", '"]', ")"),
}


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(2))


def _args(rng: random.Random) -> str:
    return ", ".join(_name(rng) for _ in range(rng.randint(1, 3)))


#: Line makers: each returns (prompt, target).
PATTERNS: tuple[Callable[[random.Random], tuple[str, str]], ...] = (
    lambda r: (f"def {_name(r)}({_args(r)}", "):"),
    lambda r: (f"for {_name(r)} in range({r.randint(2, 99)}", "):"),
    lambda r: (f"if {_name(r)} == {r.randint(0, 99)}", ":"),
    lambda r: (f"while {_name(r)} < {_name(r)}", ":"),
    lambda r: (f"class {_name(r).capitalize()}({_name(r).capitalize()}", "):"),
    lambda r: (f"{_name(r)} = {_name(r)}({_name(r)}({_args(r)}", "))"),
    lambda r: (f"{_name(r)}.append({_name(r)}", ")"),
    lambda r: (f"{_name(r)} = [{_args(r)}", "]"),
    lambda r: (f"{_name(r)} = {{'{_name(r)}': {r.randint(0, 99)}", "}"),
    lambda r: (f'print("{_name(r)} {_name(r)}', '")'),
)


class CodeSyntaxDatasetConfig(DatasetConfig):
    kind: Literal["code-syntax"] = "code-syntax"
    """Always ``code-syntax``."""
    seed: int = 0
    """Fixes the items."""
    n: int = Field(200, ge=1, le=20000)
    """How many items (distinct lines, patterns in turn)."""

    def build(self, context: BuildContext) -> list[ProbeItem]:
        rng = random.Random(f"code-syntax:{self.seed}")
        out: dict[str, ProbeItem] = {}
        tries = 0
        while len(out) < self.n:
            tries += 1
            if tries > 50 * self.n:
                raise CurricleError(f"code-syntax: cannot draw {self.n} distinct items")
            prompt, target = PATTERNS[len(out) % len(PATTERNS)](rng)
            if prompt not in out:
                out[prompt] = ProbeItem(prompt, prompt, target, DISTRACTORS[target])
        return list(out.values())
