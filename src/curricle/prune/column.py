"""``--by column:<name>``: rank by a ``meta.parquet`` column (``reference_loss``, a source's
``meta_fields`` entry such as ``quality``, or any numeric column); null and non-finite values
(NaN, +/-inf) are unscored (kept)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curricle.errors import CurricleError
from curricle.prune.base import PruneMetric
from curricle.store import DomainSplit


class ColumnMetric(PruneMetric):
    name = "column"

    def scores(self, domain: str, split: DomainSplit) -> np.ndarray:
        name = self.config.column
        names = split.meta().column_names
        if name not in names:
            raise CurricleError(f"--by column:{name}: domain '{domain}' has no metadata column '{name}' "
                                f"(has: {', '.join(names)})")
        column = split.meta([name]).column(0)
        t = column.type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t)):
            raise CurricleError(f"--by column:{name}: domain '{domain}': the column holds {t} values; pruning "
                                f"ranks numbers")
        values = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        return np.where(np.isfinite(values), values, np.nan)  # an infinite score ranks nothing (and is no JSON)
