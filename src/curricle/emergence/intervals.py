"""Intervals for a curve's emergence and saturation points: a parametric bootstrap.

Each checkpoint's score ``y_i`` comes with a standard error ``se_i`` (a missing one counts
as 0). A draw is the curve ``y* = y + se * N(0, 1)``, independently per checkpoint, read by
exactly the rules of :func:`~curricle.emergence.curves.analyze` (same smoothing, chance,
gain test against the same ``se``). Over ``draws`` draws:

- the **emergence probability** is the fraction of draws that have an emergence point (the
  ``variant`` crossing; with ``stable`` a draw that passes the gain test but never holds
  above the threshold has none, as for the point estimate);
- the **emergence interval** is the 2.5th to 97.5th percentile of the emergence point over
  the draws that have one, so *where* the skill emerges given that it does; it is reported
  only when at least :data:`MIN_FRACTION` (10%) of all draws have one: fewer leave too few
  values for the tails to mean anything, and say that the skill mostly does not emerge;
- the **saturation interval** likewise, over the draws that saturate.

Percentiles are taken of the fractional checkpoint indices (linear between order
statistics); the map converts them to tokens and steps with
:func:`~curricle.emergence.curves.at_index`, which is increasing, so they are the matching
percentiles of the positions, interpolated in log-space. The interval describes the score
noise only: it says nothing of the variation between seeds (that is what several runs are
for), and the point estimate need not sit in its middle (smoothing and the threshold are not
linear in the scores).

Each skill's draws come from a generator seeded by the map's ``seed`` and the skill's name
(:func:`skill_rng`), so an interval does not depend on which other skills were mapped or in
what order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from curricle.emergence.config import CurveSettings
from curricle.emergence.curves import analyze_many

#: The fewest draws, as a fraction of all, with a point for its interval to be reported.
MIN_FRACTION = 0.1

#: The interval's percentiles.
PERCENTILES = (2.5, 97.5)


@dataclass
class PointIntervals:
    """Bootstrap intervals of one curve, as fractional checkpoint indices (None: not reported)."""

    draws: int
    emergence_probability: float
    emergence: tuple[float, float] | None
    saturation: tuple[float, float] | None


def skill_rng(seed: int, skill: str) -> np.random.Generator:
    """The draws' generator for ``skill``: from ``seed`` and a stable hash of the name (not
    Python's ``hash``, which changes from one process to the next)."""
    return np.random.default_rng([seed, zlib.crc32(skill.encode("utf-8"))])


def point_intervals(x: np.ndarray, y: np.ndarray, se: np.ndarray | None, chance: float | None,
                    settings: CurveSettings, variant: str, draws: int,
                    rng: np.random.Generator) -> PointIntervals | None:
    """Bootstrap intervals of the ``variant`` emergence point and the saturation point of the
    curve ``y`` at positions ``x`` (see the module doc); None when ``draws`` is 0."""
    if draws == 0:
        return None
    y = np.asarray(y, dtype=np.float64)
    noise = np.zeros_like(y) if se is None else np.asarray(se, dtype=np.float64)
    noise = np.where(np.isfinite(noise), noise, 0.0)
    ys = y + noise * rng.standard_normal((draws, len(y)))  # (draws, n)
    batch = analyze_many(x, ys, chance, settings, se)
    emergence = batch.crossings[variant]
    return PointIntervals(draws, float(np.isfinite(emergence).mean()), _interval(emergence),
                          _interval(batch.saturation))


def _interval(points: np.ndarray) -> tuple[float, float] | None:
    """The percentile interval of the finite ``points``, if at least MIN_FRACTION are."""
    have = points[np.isfinite(points)]
    if len(have) == 0 or len(have) < MIN_FRACTION * len(points):
        return None
    lo, hi = np.percentile(have, PERCENTILES)
    return float(lo), float(hi)


__all__ = ["MIN_FRACTION", "PERCENTILES", "PointIntervals", "point_intervals", "skill_rng"]
