"""The statistics ``curricle drift`` computes, as pure functions of arrays.

Each takes OLD's numbers first and NEW's second and returns a plain float (or a small dict),
so a section (:mod:`curricle.drift.sections`) is a loop over domains and the calibration
(:mod:`curricle.drift.verdict`) can call the same function on two halves of OLD:

- :func:`js_distance`: Jensen-Shannon *distance* (the square root of the divergence, base 2,
  so 0 for equal distributions and 1 for disjoint ones) between two count or probability
  vectors: domain shares, token unigrams, hashed bigrams;
- :func:`effective_number`: exp of the Shannon entropy (nats) of a share vector, the number of
  equally weighted domains with the same entropy;
- :func:`scaled_wasserstein`: the 1-Wasserstein distance between two samples divided by OLD's
  standard deviation (``inf`` when OLD is constant and NEW is not), so "0.3" means NEW moved
  by 0.3 of OLD's spread whatever the column's unit;
- :func:`ks`: the two-sample Kolmogorov-Smirnov statistic and scipy's p-value (reported, never
  deciding: at corpus scale every p-value is about 0);
- :func:`quantile_shift`: NEW's quantiles minus OLD's at 10/25/50/75/90%;
- :func:`roc_auc`: the area under the ROC curve of scores against 0/1 labels (ties count a
  half), the Mann-Whitney statistic over n_pos * n_neg;
- :func:`top_moved`: the entries whose probability changed most between two count vectors;
- :func:`newcombe_difference`: the difference of two proportions (pass rates) with Newcombe's
  interval from two Wilson intervals (:func:`wilson`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as sps

#: The quantiles :func:`quantile_shift` reports.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def _distribution(x: np.ndarray | Sequence[float], name: str) -> np.ndarray:
    p = np.asarray(x, dtype=np.float64)
    if p.ndim != 1 or (p < 0).any() or not np.isfinite(p).all():
        raise ValueError(f"{name}: expected a 1-D vector of finite non-negative counts")
    total = p.sum()
    if total <= 0:
        raise ValueError(f"{name}: all counts are zero")
    return p / total


def js_distance(old: np.ndarray | Sequence[float], new: np.ndarray | Sequence[float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count or probability vectors
    of the same length; each is normalized first."""
    p, q = _distribution(old, "old"), _distribution(new, "new")
    if p.shape != q.shape:
        raise ValueError(f"js_distance: vectors of length {len(p)} and {len(q)}")
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    div = 0.5 * kl(p) + 0.5 * kl(q)
    return math.sqrt(min(max(div, 0.0), 1.0))


def effective_number(shares: np.ndarray | Sequence[float]) -> float:
    """exp(H) of a share vector (H in nats): 4 for four equal domains, 1 for one."""
    p = _distribution(shares, "shares")
    nz = p > 0
    return float(math.exp(-np.sum(p[nz] * np.log(p[nz]))))


def scaled_wasserstein(old: np.ndarray, new: np.ndarray) -> float:
    """W1(OLD, NEW) / sd(OLD): how far NEW's values moved, in units of OLD's spread."""
    a, b = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    w = float(sps.wasserstein_distance(a, b))
    sd = float(np.std(a))
    if sd > 0:
        return w / sd
    return 0.0 if w == 0 else math.inf


def ks(old: np.ndarray, new: np.ndarray) -> tuple[float, float]:
    """The two-sample Kolmogorov-Smirnov statistic (max distance between the empirical CDFs)
    and its p-value (scipy's asymptotic two-sided one)."""
    a, b = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan
    res = sps.ks_2samp(a, b, method="asymp")  # exact p-values are slow and only read, never decide
    return float(res.statistic), float(res.pvalue)


def quantile_shift(old: np.ndarray, new: np.ndarray, qs: Sequence[float] = QUANTILES) -> dict[str, float]:
    """NEW's quantile minus OLD's at each of ``qs`` (keys ``q10``, ``q50``, ...; linear
    interpolation, numpy's default)."""
    a, b = np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)
    if len(a) == 0 or len(b) == 0:
        return {}
    qa, qb = np.quantile(a, qs), np.quantile(b, qs)
    return {f"q{round(q * 100)}": float(y - x) for q, x, y in zip(qs, qa, qb)}


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive (label 1) scores above a random
    negative, ties counting a half. NaN when one class is empty."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = sps.rankdata(s)  # average ranks: ties share
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def top_moved(old: np.ndarray, new: np.ndarray, k: int = 10) -> list[tuple[int, float, float]]:
    """The ``k`` entries whose share changed most (by absolute difference), as
    ``(index, old_share, new_share)``, largest change first (ties by index)."""
    p, q = _distribution(old, "old"), _distribution(new, "new")
    diff = np.abs(q - p)
    order = np.lexsort((np.arange(len(diff)), -diff))[:k]
    return [(int(i), float(p[i]), float(q[i])) for i in order if diff[i] > 0]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``k / n`` (``(0, 1)`` for n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(k_old: int, n_old: int, k_new: int, n_new: int, z: float = 1.96) -> tuple[float, float, float]:
    """NEW's proportion minus OLD's, with Newcombe's interval (his method 10: the two Wilson
    intervals combined), as ``(difference, low, high)``; 95% for the default ``z``."""
    p0, p1 = k_old / n_old, k_new / n_new
    l0, u0 = wilson(k_old, n_old, z)
    l1, u1 = wilson(k_new, n_new, z)
    d = p1 - p0
    return d, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


__all__ = ["QUANTILES", "js_distance", "effective_number", "scaled_wasserstein", "ks", "quantile_shift",
           "roc_auc", "top_moved", "wilson", "newcombe_difference"]
