"""Held-out items of a synthetic skill generator (``curricle.synthetic.GENERATORS``).

The generator's train/held-out split is a hash of each item's key, so these items never
occur in the training documents the same generator writes, whatever the seed or count
(:func:`curricle.probes.check_contamination` verifies it on a store). ``seed`` must be the
seed of the training source for skills whose items depend on it (``facts``: the seed fixes
the people and their attributes).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from curricle.errors import CurricleError
from curricle.probes.datasets.base import BuildContext, DatasetConfig
from curricle.probes.item import ProbeItem
from curricle.synthetic import GENERATORS, known_skill, make_generator


class GeneratorDatasetConfig(DatasetConfig):
    kind: Literal["generator"] = "generator"
    """Always ``generator``."""
    skill: Annotated[str, AfterValidator(known_skill)]
    """A key of ``curricle.synthetic.GENERATORS``."""
    seed: int = 0
    """The generator seed (the training source's, for ``facts``)."""
    n: int = Field(200, ge=1)
    """How many held-out items."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword parameters of the generator (e.g. ``{digits: 3}``)."""


    def build(self, context: BuildContext) -> list[ProbeItem]:
        try:
            gen = make_generator(self.skill, self.seed, **self.params)
            items = gen.items("heldout", self.n)
        except ValueError as err:
            raise CurricleError(f"dataset (generator {self.skill}): {err}") from None
        return [ProbeItem(i.key, i.prompt, i.target, tuple(i.distractors)) for i in items]

    def default_composite_of(self) -> tuple[str, ...]:
        return tuple(GENERATORS[self.skill].composite_of)
