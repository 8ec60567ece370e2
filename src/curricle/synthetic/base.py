"""The contract of a synthetic skill generator.

A generator is deterministic given its seed and parameters. It partitions its item space into
a *train* and a *heldout* split by a hash of each item's canonical ``key``, so held-out items
(the probes use them) can never appear in training documents, whatever the seed or count.

The hash does not see the seed or the parameters, only the generator's ``partition`` (its
name unless it shares one) and :meth:`SkillGenerator.split_key`, so every difficulty level
of a skill splits its items the same way: a sum held out at 2 digits is held out at 3 digits
too. Generators whose items can contain one another's text share a partition (every string
transform and composition splits by its input string), so a held-out text is never inside a
training line of a sibling skill either.

A skill's difficulty ladder, :attr:`SkillGenerator.levels`, names parameter sets from easy
to hard (``copy`` at 2, 4, 8, 16 words); ``make_generator(skill, level="8")`` builds one, and
the probes and sources name a level ``skill@level``.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Literal

from curricle.synthetic.config import ladder_params
from curricle.synthetic.pool import pooled_documents

Split = Literal["train", "heldout"]

#: Share of each generator's item space reserved for held-out items (by key hash).
HELDOUT_SHARE = 0.2


def split_of(skill: str, key: str) -> Split:
    """Which split an item belongs to: a stable hash of (skill, key), not of the seed."""
    h = hashlib.blake2b(f"{skill}\x00{key}".encode(), digest_size=8).digest()
    u = int.from_bytes(h, "big") / 2**64
    return "heldout" if u < HELDOUT_SHARE else "train"


@dataclass(frozen=True)
class SkillItem:
    """One item of a skill.

    ``prompt + target`` is what a training document contains for a train item; a probe scores
    ``target`` (and each of ``distractors``) as the continuation of ``prompt``.
    """

    skill: str
    key: str
    prompt: str
    target: str
    distractors: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return self.prompt + self.target


class SkillGenerator(ABC):
    """Base class of the synthetic skill generators (one file each, registered in
    ``curricle.synthetic.GENERATORS``)."""

    name: ClassVar[str]
    #: Skills this one composes (a composite should emerge no earlier than its parts).
    composite_of: ClassVar[tuple[str, ...]] = ()
    #: Score of a model that guesses: 1 / (1 + number of distractors) for multiple choice.
    chance: ClassVar[float] = 0.0
    #: The namespace of the train/held-out hash (None: the name). Generators whose item texts
    #: can overlap share one, so a text is on the same side whichever of them wrote it.
    partition: ClassVar[str | None] = None
    #: The difficulty ladder: level name -> the parameters that make it, easiest first (its
    #: parameters' ``levels``, in :mod:`curricle.synthetic.config`).
    levels: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, seed: int = 0):
        self.seed = seed

    def split_key(self, key: str) -> str:
        """What the split hashes of an item's ``key`` (by default the key itself)."""
        return key

    def split(self, key: str) -> Split:
        """The split of the item with ``key``: :func:`split_of` the partition and split key."""
        return split_of(self.partition or self.name, self.split_key(key))

    @classmethod
    def level_params(cls, level: str) -> dict[str, Any]:
        """The parameters of ladder level ``level``; ``ValueError`` naming the valid levels."""
        return ladder_params(cls.name, cls.levels, level)

    @classmethod
    def level_composite_of(cls, level: str) -> tuple[str, ...]:
        """The skill levels a composite's ``level`` composes: each part at the same level."""
        return tuple(f"{part}@{level}" for part in cls.composite_of)

    @abstractmethod
    def _sample(self, rng: random.Random) -> SkillItem:
        """Draw one item (either split) from the generator's item space."""

    def items(self, split: Split, n: int, at_most: bool = False, draw_seed: int | None = None) -> list[SkillItem]:
        """``n`` distinct items of ``split``, deterministic in (seed, split, n).

        Raises ``ValueError`` when the item space cannot supply ``n`` distinct items; with
        ``at_most``, returns the ones found instead (drawing stops after 2,000 draws in a row
        found nothing new). ``draw_seed`` draws another sequence of items from the same
        generator (for ``facts``, the same people): the augmenters' new items at a source's
        parameters (None: the generator's seed).
        """
        rng = random.Random(f"{self.name}:{self.seed if draw_seed is None else draw_seed}:{split}")
        out: dict[str, SkillItem] = {}
        tries = since_new = 0
        while len(out) < n:
            tries += 1
            since_new += 1
            if at_most and since_new > 2000:
                break
            if tries > 50 * n + 1000:
                if at_most:
                    break
                raise ValueError(f"{self.name}: cannot draw {n} distinct {split} items")
            item = self._sample(rng)
            if item.key not in out and self.split(item.key) == split:
                out[item.key] = item
                since_new = 0
        return list(out.values())

    def difficulty(self, item: SkillItem) -> float:
        """How hard ``item`` is, on the skill's own scale (larger is harder); by default the
        target's length in characters."""
        return float(len(item.target.strip()))

    def steps(self, item: SkillItem) -> list[str]:
        """The answer written out step by step, the last step the answer itself (a process
        grader scores each); by default one step, the answer."""
        return [item.target.strip()]

    def documents(self, n_docs: int, items_per_doc: int = 16) -> Iterator[tuple[str, str]]:
        """Training documents ``(id, text)``: ``items_per_doc`` train items, one per line,
        distinct while the item space has enough; a small space (bare agreement frames, two-
        letter transforms) gives every train item it has, repeated evenly in passes."""
        items = self.items("train", n_docs * items_per_doc, at_most=True)
        if len(items) < n_docs * items_per_doc:
            return pooled_documents(self.name, self.seed, [i.text for i in items], n_docs, items_per_doc)
        return self._chunks(items, n_docs, items_per_doc)

    def _chunks(self, items: list[SkillItem], n_docs: int, items_per_doc: int) -> Iterator[tuple[str, str]]:
        for d in range(n_docs):
            chunk = items[d * items_per_doc : (d + 1) * items_per_doc]
            yield f"{self.name}-{self.seed}-{d}", "\n".join(i.text for i in chunk) + "\n"
