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
  by the last checkpoint);
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


def smooth(x: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian kernel average of ``y`` at every ``x`` (bandwidth ``sigma``; 0: unchanged)."""
    y = np.asarray(y, dtype=np.float64)
    if sigma <= 0 or len(y) < 2:
        return y.copy()
    x = np.asarray(x, dtype=np.float64)
    w = np.exp(-0.5 * ((x[:, None] - x[None, :]) / sigma) ** 2)  # (n, n)
    return (w @ y) / w.sum(axis=1)


def fixed_crossing(y: np.ndarray, threshold: float, k: int = 1) -> float | None:
    """Fractional index where ``y`` first reaches ``threshold`` (None: never)."""
    above = np.nonzero(y >= threshold)[0]
    if len(above) == 0:
        return None
    return _interpolate(y, int(above[0]), threshold)


def stable_crossing(y: np.ndarray, threshold: float, k: int = 3) -> float | None:
    """Like :func:`fixed_crossing`, at the first point from which ``y`` stays at or above
    ``threshold`` for ``k`` points (or up to the last point, if fewer remain)."""
    n = len(y)
    for i in range(n):
        window = y[i : min(n, i + k)]
        if np.all(window >= threshold):
            return _interpolate(y, i, threshold)
    return None


def elbow_point(y: np.ndarray, threshold: float | None = None, k: int = 1) -> float | None:
    """Index of the point where the rise to the best starts (see the module doc); the
    threshold is not used."""
    best = int(np.argmax(y))
    if best <= 1:
        return 0.0
    seg = y[: best + 1]
    span = seg[-1] - seg[0]
    if span <= 0:
        return 0.0
    t = np.linspace(0.0, 1.0, best + 1)
    below = t - (seg - seg[0]) / span  # chord minus curve, both scaled to [0, 1]
    return float(np.argmax(below))


def _interpolate(y: np.ndarray, i: int, threshold: float) -> float:
    if i == 0:
        return 0.0
    lo, hi = y[i - 1], y[i]
    frac = 1.0 if hi == lo else float(np.clip((threshold - lo) / (hi - lo), 0.0, 1.0))
    return i - 1 + frac


#: How the emergence point is read off the smoothed curve.
CROSSINGS: dict[str, Callable[..., float | None]] = {
    "fixed": fixed_crossing,
    "stable": stable_crossing,
    "elbow": elbow_point,
}


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
class CurveSettings:
    fraction: float = 0.5
    saturation: float = 0.9
    sigma: float = 0.15
    stable_k: int = 3
    min_gain: float = 0.1
    z: float = 2.0


@dataclass
class CurveResult:
    """Everything the map reports about one curve; positions are fractional indices."""

    base: float
    best: float
    best_index: int
    gain: float
    emerged: bool
    crossings: dict[str, float | None]
    saturation: float | None
    chaoticness: float
    forgettability: float
    smoothed: np.ndarray


def analyze(x: np.ndarray, y: np.ndarray, chance: float | None, settings: CurveSettings,
            se: np.ndarray | None = None) -> CurveResult:
    """Emergence, saturation and instability of one curve (see the module doc)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ys = smooth(x, y, settings.sigma)
    base = float(chance) if chance is not None else float(ys[0])
    best_i = int(np.argmax(ys))
    best = float(ys[best_i])
    gain = best - base
    raw_best = int(np.argmax(y))
    noise = float(se[raw_best]) if se is not None and np.isfinite(se[raw_best]) else 0.0
    emerged = gain >= settings.min_gain and gain >= settings.z * noise
    crossings: dict[str, float | None] = {name: None for name in CROSSINGS}
    saturation = None
    if emerged:
        threshold = base + settings.fraction * gain
        for name, fn in CROSSINGS.items():
            crossings[name] = fn(ys, threshold, settings.stable_k)
        saturation = fixed_crossing(ys, base + settings.saturation * gain)
    return CurveResult(base, best, best_i, gain, emerged, crossings, saturation, chaoticness(ys),
                       forgettability(ys), ys)
