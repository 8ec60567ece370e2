"""Copying (induction): repeat a sequence of pseudo-words seen earlier in the context.

An item is ``copy: kelo mapu riso tuva | kelo`` -> `` mapu riso tuva``: the sequence, a
marker, and the start of the repeat; the target is its last ``target_words`` words. The
words are meaningless, so only copying from the context predicts them.

The ladder (``levels``) is by length: ``copy@L`` repeats exactly ``L`` words (2, 4, 8, 16),
all of them the target (``copy: kelo mapu | `` -> `` kelo mapu``), so a longer sequence is
more to carry over, not only a longer context to copy the same three words from.
"""

from __future__ import annotations

import random
from typing import Any

from curricle.synthetic.base import SkillGenerator, SkillItem
from curricle.synthetic.config import CopyParams, checked
from curricle.synthetic.distractors import item_rng, pick_distractors

#: Pseudo-words are two consonant-vowel syllables: 70 syllables, 4900 words.
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
SYLLABLES = tuple(c + v for c in CONSONANTS for v in VOWELS)


def pseudo_word(rng: random.Random) -> str:
    return rng.choice(SYLLABLES) + rng.choice(SYLLABLES)


def _spaced(words: list[str]) -> str:
    """Words each preceded by a space, as they follow the prompt."""
    return " " + " ".join(words) if words else ""


class Copying(SkillGenerator):
    """Repeat ``min_words``..``max_words`` distinct pseudo-words; the last ``target_words``
    words of the repeat are the target (all of them: the prompt ends at the marker)."""

    name = "copy"
    chance = 0.25
    levels = CopyParams.levels

    def __init__(self, seed: int = 0, **params: Any):
        """``params``: :class:`~curricle.synthetic.config.CopyParams`."""
        super().__init__(seed)
        p = checked(self.name, CopyParams, params)
        self.min_words = p.min_words
        self.max_words = p.max_words
        self.target_words = p.target_words

    def _sample(self, rng: random.Random) -> SkillItem:
        n = rng.randint(self.min_words, self.max_words)
        words: list[str] = []
        while len(words) < n:
            w = pseudo_word(rng)
            if w not in words:
                words.append(w)
        return self.item(words)

    def difficulty(self, item: SkillItem) -> float:
        """Words in the sequence to copy from."""
        return float(len(item.key.split()))

    def item(self, words: list[str]) -> SkillItem:
        """The item for a sequence of distinct words (its key is the sequence)."""
        key = " ".join(words)
        cut = len(words) - self.target_words
        prompt = f"copy: {key} |" + _spaced(words[:cut])
        tail = words[cut:]
        target = _spaced(tail)

        # Wrong order: two neighbouring target words swapped.
        swaps = []
        for i in range(len(tail) - 1):
            ws = list(tail)
            ws[i], ws[i + 1] = ws[i + 1], ws[i]
            swaps.append(_spaced(ws))
        # Wrong word: one target word replaced by another word of the sequence (a copy from
        # the wrong position), the commonest mistake of a half-formed induction head.
        subs = []
        for i in range(len(tail)):
            for w in words:
                if w != tail[i]:
                    subs.append(_spaced(tail[:i] + [w] + tail[i + 1 :]))
        rng = item_rng(self.name, self.seed, key)
        return SkillItem(self.name, key, prompt, target, pick_distractors(rng, target, [swaps, subs]))
