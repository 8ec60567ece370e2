"""One skill's score curve over a run: smoothing, emergence, saturation, instability.

A curve is a score per checkpoint, with the checkpoints' positions ``x = ln(tokens)`` (or
``ln(step)`` for a series without token counts), increasing. Everything is computed on the
*smoothed* curve: a Gaussian kernel average in ``x`` (Nadaraya-Watson, bandwidth ``sigma``
in natural-log units, so a checkpoint series with uneven spacing is smoothed evenly in
log-tokens; ``sigma = 0`` leaves the scores as they are).

With ``base`` the score of guessing (or the first smoothed score where a metric has none)
and ``best`` the highest smoothed score:

- **emerged** when the gain ``best - base`` is at least ``min_gain`` and ``z`` standard
  errors of the best raw score; otherwise the skill is *right-censored* (it has not emerged
  by the last checkpoint): *not learned* when the gain is within ``z`` standard errors (the
  best score is indistinguishable from chance), else *below the minimum gain*;
- the **emergence** point is where the smoothed curve crosses ``base + f (best - base)``
  (``f`` = 0.5 by default), found by one of the :data:`CROSSINGS`: ``fixed`` (the first
  crossing), ``stable`` (the first crossing after which it stays above for ``k``
  checkpoints, or to the end), ``elbow`` (the checkpoint where the rise starts: the point of
  the curve, up to its best, farthest below the chord from the first point to the best, both
  axes scaled to [0, 1]);
- **saturation**: the ``fixed`` crossing of ``base + s (best - base)`` (``s`` = 0.9);
- **chaoticness** ``= 1 - |last - first| / total variation`` (0 for a monotone curve, near 1
  for one that returns where it started); **forgettability** = the sum of the drops after
  the best point.

Crossings are fractional checkpoint indices: ``3.4`` is 40% of the way from checkpoint 3 to
checkpoint 4, the score interpolated linearly between them, the position in log-space
(``tokens = exp(x_3 + 0.4 (x_4 - x_3))``). A crossing at index 0 is *left-censored*: the
skill was already there at the first checkpoint.

Every rule reads a batch of curves at once (:func:`analyze_many`, the crossings in
:data:`CROSSINGS`); :func:`analyze` is the batch of one, so the bootstrap draws of
:mod:`~curricle.emergence.intervals` are read exactly as the curve itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from curricle.emergence.config import CurveSettings


def smooth(x: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian kernel average of ``y`` at every ``x`` (bandwidth ``sigma``; 0: unchanged).

    ``y`` is one curve ``(n,)`` or a batch of curves ``(B, n)`` on the same positions.
    """
    y = np.asarray(y, dtype=np.float64)
    if sigma <= 0 or y.shape[-1] < 2:
        return y.copy()
    x = np.asarray(x, dtype=np.float64)
    w = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)  # (n, n)
    # Summed checkpoint by checkpoint rather than by w @ y: a matrix product rounds differently
    # for one curve and for a batch, and the bootstrap draws must smooth to the same bits as
    # the point estimate (a draw equal to the curve must give exactly its answer).
    acc = np.zeros_like(y)
    for j in range(y.shape[-1]):
        acc += y[..., j, None] * w[:, j]  # (..., n)
    return acc / w.sum(axis=1)


def fixed_crossings(ys: np.ndarray, thresholds: np.ndarray, k: int = 1) -> np.ndarray:
    """Per row of ``ys`` ``(B, n)``: the fractional index where it first reaches its threshold
    (NaN: never)."""
    return _interpolate(ys, _first(ys >= thresholds[:, None]), thresholds)


def stable_crossings(ys: np.ndarray, thresholds: np.ndarray, k: int = 3) -> np.ndarray:
    """Like :func:`fixed_crossings`, at the first point from which the row stays at or above
    its threshold for ``k`` points (or up to the last point, if fewer remain)."""
    n = ys.shape[1]
    below = np.cumsum(~(ys >= thresholds[:, None]), axis=1)
    below = np.concatenate([np.zeros((len(ys), 1), dtype=below.dtype), below], axis=1)  # (B, n + 1)
    ends = np.minimum(np.arange(n) + k, n)
    holds = below[:, ends] == below[:, :n]  # no point below in [i, i + k)
    return _interpolate(ys, _first(holds), thresholds)


def elbow_points(ys: np.ndarray, thresholds: np.ndarray | None = None, k: int = 1) -> np.ndarray:
    """Per row: the index of the point where the rise to the best starts (see the module
    doc); the thresholds are not used."""
    out = np.zeros(len(ys))
    best = np.argmax(ys, axis=1)
    for b in np.unique(best[best > 1]):  # rows with the same best point share the chord's length
        rows = np.nonzero(best == b)[0]
        seg = ys[rows, : b + 1]
        span = seg[:, -1] - seg[:, 0]
        t = np.linspace(0.0, 1.0, b + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            below = t - (seg - seg[:, :1]) / span[:, None]  # chord minus curve, both scaled to [0, 1]
        out[rows] = np.where(span > 0, np.argmax(below, axis=1), 0.0)
    return out


def _first(mask: np.ndarray) -> np.ndarray:
    """Per row: the index of the first True (-1: none)."""
    return np.where(mask.any(axis=1), np.argmax(mask, axis=1), -1)


def _interpolate(ys: np.ndarray, i: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row: where the curve reaches its threshold between points ``i - 1`` and ``i``
    (0 where ``i`` is 0, NaN where it is -1)."""
    rows = np.arange(len(ys))
    lo, hi = ys[rows, np.maximum(i - 1, 0)], ys[rows, np.maximum(i, 0)]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hi == lo, 1.0, np.clip((thresholds - lo) / (hi - lo), 0.0, 1.0))
    return np.where(i < 0, np.nan, np.where(i == 0, 0.0, (i - 1) + frac))


#: How the emergence point is read off smoothed curves, a batch at a time:
#: ``(ys (B, n), thresholds (B,), k) -> (B,)`` fractional indices, NaN for none.
CROSSINGS: dict[str, Callable[..., np.ndarray]] = {
    "fixed": fixed_crossings,
    "stable": stable_crossings,
    "elbow": elbow_points,
}


def _one(fn: Callable[..., np.ndarray], y: np.ndarray, threshold: float | None, k: int) -> float | None:
    p = float(fn(np.asarray(y, dtype=np.float64)[None, :], np.array([threshold], dtype=np.float64), k)[0])
    return None if math.isnan(p) else p


def fixed_crossing(y: np.ndarray, threshold: float, k: int = 1) -> float | None:
    """Fractional index where ``y`` first reaches ``threshold`` (None: never)."""
    return _one(fixed_crossings, y, threshold, k)


def stable_crossing(y: np.ndarray, threshold: float, k: int = 3) -> float | None:
    """Like :func:`fixed_crossing`, at the first point from which ``y`` stays at or above
    ``threshold`` for ``k`` points (or up to the last point, if fewer remain)."""
    return _one(stable_crossings, y, threshold, k)


def elbow_point(y: np.ndarray, threshold: float | None = None, k: int = 1) -> float | None:
    """Index of the point where the rise to the best starts (see the module doc); the
    threshold is not used."""
    return _one(elbow_points, y, threshold, k)


def at_index(values: np.ndarray, p: float | None, log_space: bool = True) -> float | None:
    """``values`` (positions) at fractional index ``p``, interpolated in log-space."""
    if p is None:
        return None
    v = np.asarray(values, dtype=np.float64)
    i = min(int(math.floor(p)), len(v) - 1)
    frac = p - i
    if frac == 0 or i + 1 >= len(v):
        return float(v[i])
    if log_space and v[i] > 0 and v[i + 1] > 0:
        return float(math.exp(math.log(v[i]) + frac * (math.log(v[i + 1]) - math.log(v[i]))))
    return float(v[i] + frac * (v[i + 1] - v[i]))


def chaoticness(y: np.ndarray) -> float:
    """``1 - |y[-1] - y[0]| / sum |diff(y)|`` (0 for a flat curve)."""
    tv = float(np.abs(np.diff(y)).sum())
    return 0.0 if tv == 0 else 1.0 - abs(float(y[-1] - y[0])) / tv


def forgettability(y: np.ndarray) -> float:
    """Sum of the drops after the best point."""
    best = int(np.argmax(y))
    d = np.diff(y[best:])
    return float(-d[d < 0].sum()) + 0.0  # + 0.0: no negative zero


@dataclass
class CurveResult:
    """Everything the map reports about one curve; positions are fractional indices."""

    base: float
    best: float
    best_index: int
    gain: float
    best_se: float
    """The standard error of the best raw score (0 where unknown)."""
    emerged: bool
    crossings: dict[str, float | None]
    saturation: float | None
    chaoticness: float
    forgettability: float
    smoothed: np.ndarray


@dataclass
class CurveBatch:
    """:func:`analyze` of a batch of curves on the same positions, one entry per curve
    (``(B,)`` arrays); positions are fractional indices, NaN where there is none."""

    base: np.ndarray
    best: np.ndarray
    best_index: np.ndarray
    gain: np.ndarray
    best_se: np.ndarray
    emerged: np.ndarray
    crossings: dict[str, np.ndarray]
    saturation: np.ndarray
    smoothed: np.ndarray  # (B, n)


def clears_noise(gain, se, min_gain: float, z: float):
    """The map's emergence rule (module doc): a gain over the base (chance) of at least
    ``min_gain`` and at least ``z`` standard errors ``se`` of the score (0 where unknown).
    Arrays or numbers alike; the frontier controller applies it to each in-loop probe score."""
    return (gain >= min_gain) & (gain >= z * se)


def analyze_many(x: np.ndarray, ys: np.ndarray, chance: float | None, settings: CurveSettings,
                 se: np.ndarray | None = None) -> CurveBatch:
    """Emergence and saturation of every curve of ``ys`` ``(B, n)`` at positions ``x``, each
    with the standard errors ``se`` ``(n,)``: row ``b`` is exactly what :func:`analyze` says of
    ``ys[b]``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)  # (B, n)
    rows = np.arange(len(y))
    sm = smooth(x, y, settings.sigma)  # (B, n)
    base = np.full(len(y), float(chance)) if chance is not None else sm[:, 0].copy()
    best_i = np.argmax(sm, axis=1)
    best = sm[rows, best_i]
    gain = best - base
    if se is None:
        noise = np.zeros(len(y))
    else:
        noise = np.asarray(se, dtype=np.float64)[np.argmax(y, axis=1)]  # of the best raw score
        noise = np.where(np.isfinite(noise), noise, 0.0)
    emerged = clears_noise(gain, noise, settings.min_gain, settings.z)
    threshold = base + settings.fraction * gain
    crossings = {name: np.where(emerged, fn(sm, threshold, settings.stable_k), np.nan)
                 for name, fn in CROSSINGS.items()}
    saturation = np.where(emerged, fixed_crossings(sm, base + settings.saturation * gain), np.nan)
    return CurveBatch(base, best, best_i, gain, noise, emerged, crossings, saturation, sm)


def analyze(x: np.ndarray, y: np.ndarray, chance: float | None, settings: CurveSettings,
            se: np.ndarray | None = None) -> CurveResult:
    """Emergence, saturation and instability of one curve (see the module doc)."""
    b = analyze_many(x, np.asarray(y, dtype=np.float64)[None, :], chance, settings, se)
    ys = b.smoothed[0]

    def at(v: np.ndarray) -> float | None:
        return None if math.isnan(v[0]) else float(v[0])

    return CurveResult(float(b.base[0]), float(b.best[0]), int(b.best_index[0]), float(b.gain[0]),
                       float(b.best_se[0]), bool(b.emerged[0]), {name: at(v) for name, v in b.crossings.items()}, at(b.saturation),
                       chaoticness(ys), forgettability(ys), ys)
