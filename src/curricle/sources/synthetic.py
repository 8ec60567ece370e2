"""A synthetic skill generator as a source: training documents made of its train items.

The generator (``curricle.synthetic.GENERATORS``) is deterministic in its seed and
parameters, so the config alone identifies the content. Held-out items never appear in these
documents; the probes use them. A source at several ``levels`` of the skill's ladder writes
each level's share of the documents in turn, easiest first.
"""

from __future__ import annotations

from typing import Iterator

from curricle.sources.base import Document, Source
from curricle.sources.config import SyntheticConfig
from curricle.synthetic import level_name, make_generator


class SyntheticSource(Source):
    """Documents of a synthetic skill's train items, ``items_per_doc`` lines each."""

    config: SyntheticConfig

    def describe(self) -> str:
        levels = f" at levels {', '.join(self.config.levels)}" if self.config.levels else ""
        return f"synthetic {self.config.skill}{levels}"

    def _iter(self) -> Iterator[Document]:
        c = self.config
        if c.levels is None:
            generator = make_generator(c.skill, c.seed, **c.params)
            for doc_id, text in generator.documents(c.n_docs, c.items_per_doc):
                yield Document(doc_id, text, domain=c.domain, meta={"skill": c.skill})
            return
        for i, level in enumerate(c.levels):
            n = c.n_docs // len(c.levels) + (1 if i < c.n_docs % len(c.levels) else 0)
            generator = make_generator(c.skill, c.seed, level=level, **c.params)
            for doc_id, text in generator.documents(n, c.items_per_doc):
                yield Document(f"{level_name(c.skill, level)}{doc_id.removeprefix(c.skill)}", text,
                               domain=c.domain, meta={"skill": c.skill, "level": level})
