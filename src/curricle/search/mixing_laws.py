"""Mixing laws: the pieces of ``curricle mix-search`` that are arithmetic (the procedure is in
:mod:`curricle.search.command`).

- :func:`draw_mixtures`: mixtures drawn as RegMix draws them (Liu et al., 2024), around a
  centre with a log-uniform Dirichlet strength, each weight within a cap;
- :func:`epoch_caps`: the cap that keeps every domain within ``mixture.max_epochs``;
- :func:`floor_within_caps`: the proposal's floor per domain, never over the domain's cap;
- :func:`fit_mixing_law` / :class:`MixtureModel`: the regression from mixture to held-out loss
  (the Data Mixing Laws form per domain, Ye et al., 2024, or LightGBM as in RegMix).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from curricle.controllers.base import apply_floors
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.mixture.config import MixtureConfig, seq_len_at

log = logging.getLogger(__name__)


#: A draw is rejected at most this many times per mixture on average before the search gives up.
MAX_REJECTIONS = 1000


def draw_mixtures(rng: np.random.Generator, centre: np.ndarray, strength: tuple[float, float], n: int,
                  cap: np.ndarray | None = None) -> np.ndarray:
    """``n`` mixtures (n, D) from Dirichlet(strength_i * centre), ``strength_i`` log-uniform
    in ``strength``, each weight at most ``cap`` (per domain) where given. Draws over the cap,
    or whose every weight underflowed to 0, are drawn again."""
    lo, hi = np.log(strength[0]), np.log(strength[1])
    out = np.empty((n, len(centre)))
    tries = 0
    for i in range(n):
        while True:
            tries += 1
            if tries > MAX_REJECTIONS * n:
                raise CurricleError(
                    f"mixture.max_epochs: fewer than 1 in {MAX_REJECTIONS} mixtures drawn around the natural one "
                    f"keep every domain within it; raise it or add data to the small domains")
            r = rng.dirichlet(np.exp(rng.uniform(lo, hi)) * centre)
            if np.isfinite(r).all() and r.sum() > 0:
                r = r / r.sum()
                if cap is None or (r <= cap).all():
                    out[i] = r
                    break
    return out


def epoch_caps(mix: MixtureConfig, natural_tokens: np.ndarray, steps: int) -> np.ndarray:
    """Per domain, the largest weight that serves it at most ``mixture.max_epochs`` times over
    in a run of ``steps`` steps (weights count tokens; each row carries seq_len + 1 of them)."""
    run_tokens = mix.batch_rows * sum(seq_len_at(mix.seq_len, s) + 1 for s in range(steps))
    cap = np.minimum(1.0, mix.max_epochs * natural_tokens / run_tokens)
    if cap.sum() < 1.0:
        raise CurricleError(
            f"mixture.max_epochs: a run of {steps} steps ({run_tokens:,} tokens) serves some domain more than "
            f"{mix.max_epochs} times over whatever the mixture (the domains hold {int(natural_tokens.sum()):,} "
            f"tokens); raise it or shorten the proxy runs")
    return cap


def floor_within_caps(w: np.ndarray, min_weight: float, cap: np.ndarray) -> np.ndarray:
    """``w`` (within ``cap``, per domain) with every weight at least ``min(min_weight, cap)``:
    the low ones raised to their floor, the others scaled down to keep the sum 1, so no weight
    passes its cap. Floors summing to 1 or more: the floors, normalized."""
    floors = np.minimum(min_weight, np.asarray(cap, dtype=np.float64))
    if floors.sum() >= 1.0:
        return floors / floors.sum()
    return apply_floors(w, floors)


def fit_mixing_law(r: np.ndarray, loss: np.ndarray, grid: int = 20) -> tuple[float, float, np.ndarray]:
    """(c, k, t) of ``loss ~ c + k * exp(r @ t)`` over mixtures ``r`` (n, D)."""
    design = np.hstack([np.ones((len(r), 1)), r])  # (n, 1 + D)
    top = 0.999 * loss.min()

    def search(cs):
        best = None
        for c in cs:
            coef, *_ = np.linalg.lstsq(design, np.log(loss - c), rcond=None)
            sse = float(((c + np.exp(design @ coef) - loss) ** 2).sum())
            if best is None or sse < best[0]:
                best = (sse, c, coef)
        return best

    coarse = search(np.linspace(0.0, top, grid))
    step = top / max(1, grid - 1)
    _, c, coef = search(np.linspace(max(0.0, coarse[1] - step), min(top, coarse[1] + step), grid))
    return float(c), float(np.exp(coef[0])), coef[1:]


class MixtureModel:
    """The fitted mixture -> mean held-out loss model."""

    def __init__(self, kind: str, mixtures: np.ndarray, per_domain: np.ndarray):
        self.kind = kind
        if kind == "lightgbm":
            lightgbm = require("lightgbm", "mix_search.regressor lightgbm")
            self.gbm = lightgbm.LGBMRegressor(n_estimators=200, learning_rate=0.05, min_child_samples=2, verbose=-1)
            self.gbm.fit(mixtures, per_domain.mean(axis=1))
        else:
            self.laws = [fit_mixing_law(mixtures, per_domain[:, i]) for i in range(per_domain.shape[1])]

    def predict(self, mixtures: np.ndarray) -> np.ndarray:
        mixtures = np.atleast_2d(mixtures)
        if self.kind == "lightgbm":
            return self.gbm.predict(mixtures)
        per = np.stack([c + k * np.exp(mixtures @ t) for c, k, t in self.laws], axis=1)
        return per.mean(axis=1)

    def describe(self) -> dict[str, Any]:
        if self.kind == "lightgbm":
            return {"kind": "lightgbm"}
        return {"kind": "mixing-law", "laws": [{"c": c, "k": k, "t": t.tolist()} for c, k, t in self.laws]}


def mean_eval_loss(metrics_path: Path, domains: list[str]) -> tuple[float, list[float]]:
    last = None
    for line in metrics_path.read_text().splitlines():
        m = json.loads(line)
        if "eval/loss" in m:
            last = m
    if last is None:
        raise CurricleError(f"{metrics_path}: no evaluation in this run")
    per = [last[f"eval/loss/{d}"] for d in domains]
    return float(np.mean(per)), per


