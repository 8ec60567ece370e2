"""Training documents from a finite pool of lines.

The base :meth:`~curricle.synthetic.base.SkillGenerator.documents` draws distinct train
items, which a small item space (2-digit sums, a fixed set of facts) cannot always supply.
Generators with such a space enumerate their train lines once and deal them out here:
every line once per pass, in a fresh shuffle per pass, so repetition is even.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence


def pooled_documents(
    name: str, seed: int, lines: Sequence[str], n_docs: int, items_per_doc: int
) -> Iterator[tuple[str, str]]:
    """``n_docs`` documents ``(id, text)`` of ``items_per_doc`` lines each, from ``lines``.

    Deterministic in (name, seed, lines, n_docs, items_per_doc); ids follow the base class
    (``{name}-{seed}-{d}``).
    """
    if not lines:
        raise ValueError(f"{name}: no training lines to make documents from")
    rng = random.Random(f"{name}:{seed}:documents")
    order: list[str] = []
    pos = 0
    for d in range(n_docs):
        chunk: list[str] = []
        while len(chunk) < items_per_doc:
            if pos == len(order):  # start a new pass over the pool
                order = list(lines)
                rng.shuffle(order)
                pos = 0
            take = min(items_per_doc - len(chunk), len(order) - pos)
            chunk.extend(order[pos : pos + take])
            pos += take
        yield f"{name}-{seed}-{d}", "\n".join(chunk) + "\n"
