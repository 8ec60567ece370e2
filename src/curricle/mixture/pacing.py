"""Difficulty pacing inside a domain (competence-based curriculum, Platanios et al., 2019).

Documents are ranked by a metadata column (easiest first). At step ``t`` the sampler may only
start documents among the easiest ``ceil(c(t) * n)``, where the competence ``c`` rises from
``start`` to 1 over ``steps``:

- ``fixed_linear``:   c(t) = min(1, start + (1 - start) * t / steps)
- ``fixed_root``:     c(t) = min(1, sqrt(start**2 + (1 - start**2) * t / steps))
- ``fixed_discrete``: c(t) = start + (1 - start) * floor(buckets * t / steps) / buckets, capped at 1
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


def fixed_linear(t: int, steps: int, start: float, buckets: int) -> float:
    return min(1.0, start + (1.0 - start) * t / steps)


def fixed_root(t: int, steps: int, start: float, buckets: int) -> float:
    return min(1.0, math.sqrt(start**2 + (1.0 - start**2) * t / steps))


def fixed_discrete(t: int, steps: int, start: float, buckets: int) -> float:
    return min(1.0, start + (1.0 - start) * math.floor(buckets * t / steps) / buckets)


PACING: dict[str, Callable[[int, int, float, int], float]] = {
    "fixed_linear": fixed_linear,
    "fixed_root": fixed_root,
    "fixed_discrete": fixed_discrete,
}


class PacingConfig(BaseModel):
    """Pacing of one domain."""

    model_config = ConfigDict(extra="forbid")

    column: str = "n_tokens"
    """Metadata column that measures difficulty (n_tokens, n_chars, compression_ratio,
    mean_token_rarity, or one you added)."""
    kind: Literal["fixed_linear", "fixed_root", "fixed_discrete"] = "fixed_root"
    """Competence function (see module doc)."""
    start: float = Field(0.1, gt=0, le=1)
    """Share of the domain's documents (easiest first) available at step 0."""
    steps: int = Field(ge=1)
    """Step at which every document is available."""
    buckets: int = Field(4, ge=1)
    """Number of increments for fixed_discrete."""
    descending: bool = False
    """Rank by the column descending (a larger value is easier), e.g. compression_ratio."""

    def competence(self, step: int) -> float:
        return PACING[self.kind](max(0, step), self.steps, self.start, self.buckets)


class DomainPacing:
    """Ranks one domain's documents and answers which are available at a step."""

    def __init__(self, config: PacingConfig, difficulty: np.ndarray):
        self.config = config
        values = np.asarray(difficulty, dtype=np.float64)
        key = -values if config.descending else values
        # Stable sort: ties keep document order, so the ranking is deterministic.
        self.order = np.argsort(key, kind="stable")
        self.sorted_values = values[self.order]
        self.n = len(values)

    def available(self, step: int) -> int:
        """How many of the easiest documents may be started at ``step`` (at least 1)."""
        return max(1, min(self.n, math.ceil(self.config.competence(step) * self.n - 1e-9)))

    def max_difficulty(self, step: int) -> float:
        """The difficulty of the hardest document available at ``step``."""
        return float(self.sorted_values[self.available(step) - 1])
