"""How consistently runs order the same skills: rank correlations over censored ranks.

Within a run, skills are ranked by emergence position (1 = earliest; equal positions share
the mean rank). Skills that never emerged are right-censored: all that is known is that they
come after every skill that did, so they share the mean of the last ranks. Between two runs,
over the skills both probed:

- **Spearman**'s rho: the Pearson correlation of the two rank vectors;
- **Kendall**'s tau-b: ``(C - D) / sqrt((P - T_a) (P - T_b))`` with ``C``/``D`` the
  concordant/discordant pairs, ``P`` all pairs and ``T`` the pairs tied in one run.

Over several runs the statistic is the mean over pairs of runs. Its uncertainty comes from
resampling skills with replacement (bootstrap percentile interval), and its p-value from
shuffling which skill is which in every run but the first (one-sided: the share of shuffles
at least as consistent as observed, ``(1 + hits) / (1 + shuffles)``). Both are deterministic
in ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

import numpy as np

CENSORED = math.inf


def censored_ranks(values: Sequence[float]) -> np.ndarray:
    """Average ranks (1-based) of ``values``; ``inf`` (censored) ties after every finite one."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v), dtype=np.float64)
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Pearson correlation of the ranks (NaN when either has no variation)."""
    ra, rb = censored_ranks(a), censored_ranks(b)
    da, db = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((da**2).sum() * (db**2).sum()))
    return float((da * db).sum() / den) if den > 0 else float("nan")


def kendall(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (NaN when either has no variation)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    iu = np.triu_indices(len(x), k=1)
    # Signs by comparison, so two censored (inf) skills compare as tied.
    sx = ((x[:, None] > x[None, :]).astype(np.int8) - (x[:, None] < x[None, :]))[iu]
    sy = ((y[:, None] > y[None, :]).astype(np.int8) - (y[:, None] < y[None, :]))[iu]
    n_pairs = len(sx)
    den = math.sqrt(float((n_pairs - (sx == 0).sum()) * (n_pairs - (sy == 0).sum())))
    return float((sx * sy).sum() / den) if den > 0 else float("nan")


STATISTICS = {"spearman": spearman, "kendall": kendall}


def mean_pairwise(matrix: np.ndarray, stat) -> float:
    """Mean of ``stat`` over pairs of rows (runs) of ``matrix`` (runs x skills); NaN pairs
    are left out."""
    vals = [stat(matrix[i], matrix[j]) for i, j in combinations(range(len(matrix)), 2)]
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


@dataclass
class Consistency:
    """One statistic's value over runs, its bootstrap interval and permutation p-value."""

    value: float
    ci_low: float
    ci_high: float
    p_value: float
    pairs: list[dict] = field(default_factory=list)


def consistency(matrix: np.ndarray, runs: Sequence[str], statistic: str = "kendall", bootstrap: int = 1000,
                permutations: int = 1000, seed: int = 0, level: float = 0.95) -> Consistency:
    """Ordering consistency of ``matrix`` (runs x skills of emergence positions, ``inf``
    for censored) by ``statistic`` (``spearman`` or ``kendall``)."""
    stat = STATISTICS[statistic]
    m = np.asarray(matrix, dtype=np.float64)
    value = mean_pairwise(m, stat)
    pairs = [{"run_a": runs[i], "run_b": runs[j], statistic: stat(m[i], m[j])}
             for i, j in combinations(range(len(runs)), 2)]
    rng = np.random.default_rng(seed)
    n = m.shape[1]
    boots = []
    for _ in range(bootstrap):
        idx = rng.integers(0, n, n)
        v = mean_pairwise(m[:, idx], stat)
        if not math.isnan(v):
            boots.append(v)
    alpha = (1 - level) / 2
    lo, hi = (float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))) if boots else (math.nan,) * 2
    hits = 0
    for _ in range(permutations):
        shuffled = m.copy()
        for r in range(1, len(m)):
            shuffled[r] = m[r, rng.permutation(n)]
        v = mean_pairwise(shuffled, stat)
        if not math.isnan(v) and v >= value - 1e-12:
            hits += 1
    p = (1 + hits) / (1 + permutations) if permutations and not math.isnan(value) else math.nan
    return Consistency(value, lo, hi, p, pairs)
