"""Bracket matching: the closing sequence that balances a prefix, ``close: ([{ ->`` -> `` }])``.

A prefix is a well-nested-so-far string of ``()``, ``[]`` and ``{}`` with at least one
bracket left open; the target closes them, innermost first. Distractors close in a wrong
order, with a wrong type, or with a wrong count.

The ladder is by depth, the brackets left open: ``brackets@d`` (1, 2, 4, 8) closes exactly
``d`` of them, after a prefix of ``d`` to ``d + 6`` brackets (the rest opened and closed
on the way).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from curricle.synthetic.base import SkillGenerator, SkillItem
from curricle.synthetic.config import BracketsParams, checked
from curricle.synthetic.distractors import item_rng, pick_distractors

PAIRS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = tuple(PAIRS.values())


def closing(prefix: str) -> str:
    """The closers that balance ``prefix`` (which must never close a bracket it did not open)."""
    stack = []
    for ch in prefix:
        if ch in PAIRS:
            stack.append(PAIRS[ch])
        elif not stack or stack.pop() != ch:
            raise ValueError(f"{prefix!r} closes a bracket it did not open")
    return "".join(reversed(stack))


def is_balanced(s: str) -> bool:
    """Whether every bracket in ``s`` is closed, in order, by its own type."""
    try:
        return closing(s) == ""
    except ValueError:
        return False


class Brackets(SkillGenerator):
    """Close a random open prefix of ``min_len``..``max_len`` brackets."""

    name = "brackets"
    chance = 0.25
    levels = BracketsParams.levels

    def __init__(self, seed: int = 0, **params: Any):
        """``params``: :class:`~curricle.synthetic.config.BracketsParams`."""
        super().__init__(seed)
        p = checked(self.name, BracketsParams, params)
        self.min_len = p.min_len
        self.max_len = p.max_len
        self.p_close = p.p_close
        self.depth = p.depth
        self.lengths = p.lengths  # prefix lengths that leave ``depth`` open ([] without a depth)

    def _sample(self, rng: random.Random) -> SkillItem:
        if self.depth is not None:
            return self.item(self._sample_depth(rng))
        n = rng.randint(self.min_len, self.max_len)
        out: list[str] = []
        stack: list[str] = []
        for i in range(n):
            last = i == n - 1
            # Close only when something is open, and never the last bracket at the last step,
            # so the prefix always leaves something to close.
            can_close = len(stack) > (1 if last else 0)
            if can_close and rng.random() < self.p_close:
                out.append(stack.pop())
            else:
                opener = rng.choice(tuple(PAIRS))
                out.append(opener)
                stack.append(PAIRS[opener])
        return self.item("".join(out))

    def _sample_depth(self, rng: random.Random) -> str:
        """A prefix of one of ``lengths`` leaving exactly ``depth`` open: a shuffle of its
        opens and closes, redrawn until no close comes before its open (a uniform draw of
        such orders; about one shuffle in ``c + 1`` is kept)."""
        n = rng.choice(self.lengths)
        closes = (n - self.depth) // 2
        while True:
            moves = [1] * (n - closes) + [-1] * closes
            rng.shuffle(moves)
            heights = itertools.accumulate(moves)
            if all(h >= 0 for h in heights):
                break
        out: list[str] = []
        stack: list[str] = []
        for m in moves:
            if m < 0:
                out.append(stack.pop())
            else:
                opener = rng.choice(tuple(PAIRS))
                out.append(opener)
                stack.append(PAIRS[opener])
        return "".join(out)

    def difficulty(self, item: SkillItem) -> float:
        """The depth left open: how many brackets must be closed."""
        return float(len(closing(item.key)))

    def item(self, prefix: str) -> SkillItem:
        """The item for an open ``prefix`` (its key)."""
        close = closing(prefix)
        if not close:
            raise ValueError(f"brackets: prefix {prefix!r} leaves nothing to close")
        # Wrong order: outermost first, or two neighbours swapped.
        order = [close[::-1]] + [
            close[:i] + close[i + 1] + close[i] + close[i + 2 :] for i in range(len(close) - 1)
        ]
        # Wrong type: one closer replaced by another kind.
        kind = [close[:i] + c + close[i + 1 :] for i in range(len(close)) for c in CLOSERS]
        # Wrong count: one closer short, or one too many.
        count = ([close[:-1]] if len(close) > 1 else []) + [close + c for c in CLOSERS]
        rng = item_rng(self.name, self.seed, prefix)
        distractors = pick_distractors(
            rng, " " + close, [[" " + d for d in order], [" " + d for d in kind], [" " + d for d in count]]
        )
        return SkillItem(self.name, prefix, f"close: {prefix} ->", " " + close, distractors)
