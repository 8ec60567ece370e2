"""A synthetic skill generator as a source: training documents made of its train items.

The generator (``curricle.synthetic.GENERATORS``) is deterministic in its seed and
parameters, so the config alone identifies the content. Held-out items never appear in these
documents; the probes use them.
"""

from __future__ import annotations

from typing import Annotated, Any, Iterator, Literal

from pydantic import AfterValidator, Field, model_validator

from curricle.sources.base import Document, Source, SourceConfig
from curricle.synthetic import known_skill, make_generator


class SyntheticConfig(SourceConfig):
    kind: Literal["synthetic"] = "synthetic"
    """Always ``synthetic``."""
    skill: Annotated[str, AfterValidator(known_skill)]
    """The generator, a key of ``curricle.synthetic.GENERATORS`` (e.g. ``arithmetic``)."""
    seed: int = 0
    """The generator's seed: it fixes the items (and, for ``facts``, the entities)."""
    n_docs: int = Field(500, gt=0)
    """How many documents to generate."""
    items_per_doc: int = Field(16, gt=0)
    """Train items per document, one per line."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword parameters of the generator (e.g. ``{digits: 3}`` for ``arithmetic``)."""


    @model_validator(mode="after")
    def _valid_params(self) -> "SyntheticConfig":
        # Build the generator once so bad parameters fail at load time, not mid-prepare.
        make_generator(self.skill, self.seed, **self.params)
        return self


class SyntheticSource(Source):
    """Documents of a synthetic skill's train items, ``items_per_doc`` lines each."""

    config_class = SyntheticConfig
    config: SyntheticConfig

    def describe(self) -> str:
        return f"synthetic {self.config.skill}"

    def _iter(self) -> Iterator[Document]:
        c = self.config
        generator = make_generator(c.skill, c.seed, **c.params)
        for doc_id, text in generator.documents(c.n_docs, c.items_per_doc):
            yield Document(doc_id, text, domain=c.domain, meta={"skill": c.skill})
