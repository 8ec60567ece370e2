"""A synthetic skill generator as a source: training documents made of its train items.

The generator (``curricle.synthetic.GENERATORS``) is deterministic in its seed and
parameters, so the config alone identifies the content. Held-out items never appear in these
documents; the probes use them.
"""

from __future__ import annotations

from typing import Iterator

from curricle.sources.base import Document, Source
from curricle.sources.config import SyntheticConfig
from curricle.synthetic import make_generator


class SyntheticSource(Source):
    """Documents of a synthetic skill's train items, ``items_per_doc`` lines each."""

    config: SyntheticConfig

    def describe(self) -> str:
        return f"synthetic {self.config.skill}"

    def _iter(self) -> Iterator[Document]:
        c = self.config
        generator = make_generator(c.skill, c.seed, **c.params)
        for doc_id, text in generator.documents(c.n_docs, c.items_per_doc):
            yield Document(doc_id, text, domain=c.domain, meta={"skill": c.skill})
