"""Difficulty pacing inside a domain (competence-based curriculum, Platanios et al., 2019);
the competence functions and ``PacingConfig`` are in :mod:`curricle.mixture.config`.

Documents are ranked by a metadata column (easiest first). At step ``t`` the sampler may only
start documents among the easiest ``ceil(c(t) * n)``, where the competence ``c`` rises from
``start`` to 1 over ``steps``:

- ``fixed_linear``:   c(t) = min(1, start + (1 - start) * t / steps)
- ``fixed_root``:     c(t) = min(1, sqrt(start**2 + (1 - start**2) * t / steps))
- ``fixed_discrete``: c(t) = start + (1 - start) * floor(buckets * t / steps) / buckets, capped at 1

The column may be any numeric or bool column of ``meta.parquet``, a source's ``meta_fields``
(``quality``) or ``reference_loss`` included; documents with a null value rank last (as the
hardest), in document order.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from curricle.errors import CurricleError
from curricle.mixture.config import PacingConfig


def numeric_column(split, column: str, where: str, what: str) -> np.ndarray:
    """Column ``column`` of ``split`` (a :class:`~curricle.store.DomainSplit`) as float64
    (null: NaN; a bool: 1 / 0). A missing or non-numeric column is a one-line error starting
    with ``where`` (the config field, e.g. ``mixture.pacing.web.column``); ``what`` ends it
    (``pacing ranks numbers``)."""
    names = split.meta().column_names
    if column not in names:
        raise CurricleError(f"{where}: domain '{split.domain}' has no metadata column "
                            f"'{column}' (has: {', '.join(names)})")
    values = split.meta([column]).column(0)
    t = values.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)):
        raise CurricleError(f"{where}: '{column}' holds {t} values; {what}")
    return np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def pacing_difficulty(split, domain: str, config: PacingConfig) -> np.ndarray:
    """The difficulty column of ``split`` that ``config`` ranks by, as float64 (null: NaN). A
    missing or non-numeric column is a one-line error naming ``mixture.pacing.<domain>.column``."""
    return numeric_column(split, config.column, f"mixture.pacing.{domain}.column", "pacing ranks numbers")


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
