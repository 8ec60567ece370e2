"""Values as curricle writes them: JSON-safe, and large numbers short.

Shared by the probe results, the emergence map and the report.
"""

from __future__ import annotations

import math
from typing import Any


def jsonable(v: Any) -> Any:
    """``v`` with NaN and infinities as None (JSON has neither), numpy scalars as Python
    numbers, tuples as lists and dict keys as strings, recursively."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "item") and callable(v.item) and not isinstance(v, (str, bytes)):  # numpy scalars
        return jsonable(v.item())
    return v


def short_number(v: float | None) -> str:
    """``1.23M``, ``456k``, ``12.5``; ``–`` for None or a non-finite value."""
    if v is None or not math.isfinite(v):
        return "–"
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.4g}"


__all__ = ["jsonable", "short_number"]
