"""Multi-digit addition: ``12+345=`` -> ``357``.

Operands are uniform in ``[0, 10**digits)``. Distractors are the mistakes a model half way
to the skill makes: a dropped or spurious carry, the sum with no carries at all, one digit
off by one. Two skills are registered: ``arithmetic`` (2 digits) and ``arithmetic-hard``
(4 digits), both split by the sum's key (``12+34``) under one partition, so a sum is held
out at every digit count or at none.

The ladder is by digits and carries: ``arithmetic@1`` (one digit), ``@2c0``, ``@2c1``,
``@2c2`` (two digits, exactly that many carry columns), ``@3`` and ``@4`` (any carries).
"""

from __future__ import annotations

import random
from typing import Any, Iterator

from curricle.synthetic.base import SkillGenerator, SkillItem
from curricle.synthetic.config import ArithmeticHardParams, ArithmeticParams, checked
from curricle.synthetic.distractors import item_rng, pick_distractors
from curricle.synthetic.pool import pooled_documents


def carry_columns(a: int, b: int) -> list[int]:
    """The columns (0 = units) that produce a carry when adding ``a`` and ``b``."""
    cols, carry, i = [], 0, 0
    while a or b:
        carry = (a % 10 + b % 10 + carry) // 10
        if carry:
            cols.append(i)
        a, b, i = a // 10, b // 10, i + 1
    return cols


def sum_without_carries(a: int, b: int) -> int:
    """Column-wise sum mod 10: the answer of a model that never carries."""
    out, place = 0, 1
    while a or b:
        out += (a % 10 + b % 10) % 10 * place
        a, b, place = a // 10, b // 10, place * 10
    return out


def digit_off_by_one(n: int) -> list[int]:
    """Numbers equal to ``n`` but for one digit, changed by one (no leading zero made)."""
    s = str(n)
    out = []
    for i, ch in enumerate(s):
        for d in (int(ch) - 1, int(ch) + 1):
            if 0 <= d <= 9 and not (i == 0 and d == 0 and len(s) > 1):
                out.append(int(s[:i] + str(d) + s[i + 1 :]))
    return out


def count_with_carries(digits: int, carries: int) -> int:
    """How many pairs of operands in ``[0, 10**digits)`` add with exactly ``carries`` carry
    columns (column by column: with no carry in, 45 of the 100 digit pairs carry; with one,
    55)."""
    ways = {(0, 0): 1}  # (carry into the column, carries so far) -> pairs of lower digits
    for _ in range(digits):
        nxt: dict[tuple[int, int], int] = {}
        for (cin, k), n in ways.items():
            carry = 45 + 10 * cin
            nxt[(1, k + 1)] = nxt.get((1, k + 1), 0) + n * carry
            nxt[(0, k)] = nxt.get((0, k), 0) + n * (100 - carry)
        ways = nxt
    return sum(n for (_, k), n in ways.items() if k == carries)


class Arithmetic(SkillGenerator):
    """Addition of two operands of up to ``digits`` digits (with exactly ``carries`` carry
    columns, if given)."""

    name = "arithmetic"
    chance = 0.25
    partition = "arithmetic"
    levels = ArithmeticParams.levels

    def __init__(self, seed: int = 0, **params: Any):
        """``params``: :class:`~curricle.synthetic.config.ArithmeticParams`."""
        super().__init__(seed)
        p = checked(self.name, ArithmeticParams, params)
        self.digits = p.digits
        self.carries = p.carries

    @property
    def space(self) -> int:
        """How many distinct items there are."""
        top = 10**self.digits
        return top * top if self.carries is None else count_with_carries(self.digits, self.carries)

    def _sample(self, rng: random.Random) -> SkillItem:
        top = 10**self.digits
        while True:  # the rarest level (all columns carry) accepts about one draw in 2**digits
            a, b = rng.randrange(top), rng.randrange(top)
            if self.carries is None or len(carry_columns(a, b)) == self.carries:
                return self.item(a, b)

    def item(self, a: int, b: int) -> SkillItem:
        """The item ``a+b=`` -> ``a+b``."""
        key = f"{a}+{b}"
        s = a + b
        carries = [s - 10 ** (c + 1) for c in carry_columns(a, b)]
        carries.append(sum_without_carries(a, b))
        if not carries[:-1]:  # no carry to drop: a spurious one in the units column
            carries.append(s + 10)
        near = digit_off_by_one(s)
        fallback = [s + d for d in (1, 2, 3, 10, 11, 100)]
        rng = item_rng(self.name, self.seed, key)
        distractors = pick_distractors(
            rng,
            str(s),
            [[str(c) for c in carries if c >= 0], [str(c) for c in near]],
            fallback=[str(c) for c in fallback],
        )
        return SkillItem(self.name, key, f"{key}=", str(s), distractors)

    def difficulty(self, item: SkillItem) -> float:
        """Digits of the longer operand plus the number of carries (``19+3``: 2 + 1)."""
        a, b = (int(x) for x in item.key.split("+"))
        return float(max(len(str(a)), len(str(b))) + len(carry_columns(a, b)))

    def steps(self, item: SkillItem) -> list[str]:
        """Column by column from the units, with the carry: ``47+85`` -> ``7+5=12``,
        ``4+8+1=13``, ``132``."""
        a, b = (int(x) for x in item.key.split("+"))
        out, carry = [], 0
        while a or b:
            da, db = a % 10, b % 10
            s = da + db + carry
            out.append(f"{da}+{db}{'+1' if carry else ''}={s}")
            carry, a, b = s // 10, a // 10, b // 10
        return out + [item.target]

    def documents(self, n_docs: int, items_per_doc: int = 16) -> Iterator[tuple[str, str]]:
        """Distinct train items while the item space is ample; in a small space (few digits,
        many documents) every train item, repeated in passes."""
        top = 10**self.digits
        if n_docs * items_per_doc <= self.space // 2:
            return super().documents(n_docs, items_per_doc)
        lines = []
        for a in range(top):
            for b in range(top):
                if self.carries is not None and len(carry_columns(a, b)) != self.carries:
                    continue
                if self.split(f"{a}+{b}") == "train":
                    lines.append(f"{a}+{b}={a + b}")  # == self.item(a, b).text, cheaper
        return pooled_documents(self.name, self.seed, lines, n_docs, items_per_doc)


class ArithmeticHard(Arithmetic):
    """The harder level: 4-digit operands by default."""

    name = "arithmetic-hard"
    levels = ArithmeticHardParams.levels  # none: the ladder is arithmetic's

    def __init__(self, seed: int = 0, **params: Any):
        """``params``: :class:`~curricle.synthetic.config.ArithmeticHardParams`."""
        super().__init__(seed, digits=checked(self.name, ArithmeticHardParams, params).digits)
