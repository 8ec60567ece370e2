"""Means and their standard errors, the two aggregations every probe metric uses.

Per-item metrics (accuracy, log-probability, margin) are averaged over items with the
standard error of the mean, ``stdev(ddof=1) / sqrt(n)`` (the convention lm-evaluation-harness
uses, so the two agree). Token-weighted metrics of text probes (loss per token, bits per
byte) are ratios of sums, ``sum(a) / sum(b)`` over items, with the delta-method standard
error of a ratio estimator.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, standard error of the mean)``; the error is NaN for fewer than 2 values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size == 1:
        return float(x[0]), float("nan")
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def ratio_se(num: Sequence[float], den: Sequence[float]) -> tuple[float, float]:
    """``(sum(num) / sum(den), its standard error)`` over items (delta method).

    The items are the sampling units (passages), each contributing ``num_i`` (e.g. summed
    log-probability) and ``den_i`` (e.g. tokens): ``SE^2 = sum((num_i - R den_i)^2) /
    (n (n - 1) mean(den)^2)``.
    """
    a = np.asarray(num, dtype=np.float64)
    b = np.asarray(den, dtype=np.float64)
    if a.size == 0 or b.sum() == 0:
        return float("nan"), float("nan")
    r = float(a.sum() / b.sum())
    if a.size == 1:
        return r, float("nan")
    n = a.size
    resid = a - r * b
    se = math.sqrt(float((resid**2).sum()) / (n * (n - 1))) / float(b.mean())
    return r, se
