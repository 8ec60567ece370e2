"""Held-out items of a synthetic skill generator (``curricle.synthetic.GENERATORS``).

The generator's train/held-out split is a hash of each item's key, so these items never
occur in the training documents the same generator writes, whatever the seed or count
(:func:`curricle.probes.check_contamination` verifies it on a store). ``seed`` must be the
seed of the training source for skills whose items depend on it (``facts``: the seed fixes
the people and their attributes).

With ``level``, the items are one level of the skill's difficulty ladder (``copy`` at 8
words); the split does not depend on the level, so every level's held-out items are out of
training at every level. A level whose held-out side is smaller than ``n`` gives what it has,
with a warning; one with fewer than ``min_heldout`` held-out items (a small item space:
one-digit sums, 100 items, about 20 held out) cannot be probed out of sample: its items are
drawn from the whole space, with a warning, and the task is marked *in-sample*.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from curricle.errors import CurricleError
from curricle.probes.datasets.base import BuildContext, DatasetConfig
from curricle.probes.item import ProbeItem
from curricle.synthetic import GENERATORS, known_skill, make_generator
from curricle.synthetic.base import SkillGenerator

log = logging.getLogger(__name__)


def level_str(v: Any) -> Any:
    """A level as YAML may write it (``8``) as its name (``"8"``)."""
    return str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


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
    level: Annotated[str | None, BeforeValidator(level_str)] = None
    """A level of the skill's difficulty ladder (a key of its generator's ``levels``, e.g.
    ``8`` for ``copy``): its parameters, with ``params`` for the rest (not the same ones)."""
    min_heldout: int = Field(20, ge=1)
    """The fewest held-out items that make an out-of-sample probe: with fewer, the items come
    from the whole item space and the task is marked in-sample."""

    @model_validator(mode="after")
    def _valid_generator(self) -> "GeneratorDatasetConfig":
        self.generator()  # an unknown level or a bad parameter fails at load time
        return self

    def generator(self) -> SkillGenerator:
        try:
            return make_generator(self.skill, self.seed, level=self.level, **self.params)
        except ValueError as err:
            raise ValueError(f"generator {self.skill}: {err}") from None

    def build(self, context: BuildContext) -> list[ProbeItem]:
        gen = self.generator()
        where = f"dataset (generator {self.skill}{'@' + self.level if self.level else ''})"
        items = gen.items("heldout", self.n, at_most=True)
        if len(items) < min(self.n, self.min_heldout):
            log.warning("%s: the item space holds only %d held-out items (fewer than min_heldout %d): "
                        "drawing %d from all its items, so the probe is in-sample", where, len(items),
                        self.min_heldout, self.n)
            items += gen.items("train", self.n - len(items), at_most=True)
        elif len(items) < self.n:
            log.warning("%s: only %d held-out items, not %d", where, len(items), self.n)
        if not items:
            raise CurricleError(f"{where}: no items")
        return [ProbeItem(i.key, i.prompt, i.target, tuple(i.distractors)) for i in items]

    def default_composite_of(self) -> tuple[str, ...]:
        cls = GENERATORS[self.skill]
        return cls.level_composite_of(self.level) if self.level is not None else tuple(cls.composite_of)

    def default_ladder(self) -> tuple[str, str, int] | None:
        if self.level is None:
            return None
        return self.skill, self.level, list(GENERATORS[self.skill].levels).index(self.level)

    def in_sample(self, items: list[ProbeItem]) -> bool:
        gen = self.generator()
        return any(gen.split(i.id) == "train" for i in items)
