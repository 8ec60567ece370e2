"""``learning-progress``: favour the domains with the most predicted learning progress.

After Jiang et al., 2024, "Adaptive Data Optimization: Dynamic Sample Selection with Scaling
Laws" (ADO). For each domain, a power law of its training loss against the tokens it has been
served is fitted online::

    L_d(n) = e_d + b_d * n ** (-a_d)

(``e_d`` by a grid search below the smallest observed loss, ``a_d`` and ``b_d`` by least
squares in log space). The predicted progress is the loss drop per relative increase of data,
``rho_d = -n dL/dn = a_d * b_d * n ** (-a_d)``, and the weights are proportional to
``rho_d * prior_d`` with the natural token shares as the prior raised to ``prior_power``
(ADO's credit assignment toward larger domains; 0 disables it). Domains with too few points
for a fit get the mean progress of the others.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from curricle.controllers.base import Controller, ControllerConfig, DomainStats


def fit_power_law(n: np.ndarray, loss: np.ndarray, grid: int = 24) -> tuple[float, float, float] | None:
    """(e, b, a) of ``loss ~ e + b * n**-a`` by least squares; None if it cannot be fitted."""
    n = np.asarray(n, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    ok = (n > 0) & np.isfinite(loss)
    n, loss = n[ok], loss[ok]
    if len(n) < 5 or np.ptp(np.log(n)) < 1e-6:
        return None
    best = None
    x = np.log(n)
    for e in np.linspace(0.0, 0.99 * loss.min(), grid):
        y = np.log(loss - e)
        slope, intercept = np.polyfit(x, y, 1)
        resid = loss - (e + np.exp(intercept + slope * x))
        sse = float(resid @ resid)
        if best is None or sse < best[0]:
            best = (sse, e, float(np.exp(intercept)), float(-slope))
    _, e, b, a = best
    return (e, b, max(a, 0.0))


class LearningProgressConfig(ControllerConfig):
    kind: Literal["learning-progress"] = "learning-progress"
    history: int = Field(200, ge=10)
    """Most recent (tokens, loss) points per domain used for the fit."""
    prior_power: float = Field(0.0, ge=0)
    """Exponent on the natural token shares used as prior (0: no prior)."""


class LearningProgress(Controller):
    name = "learning-progress"
    config_class = LearningProgressConfig

    def __init__(self, config: LearningProgressConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self.points: list[list[list[float]]] = [[] for _ in domains]

    def signal(self, stats: DomainStats) -> np.ndarray:
        for i, (loss, n) in enumerate(zip(stats.train_loss, stats.tokens)):
            if np.isfinite(loss) and n > 0:
                self.points[i].append([float(n), float(loss)])
                del self.points[i][: -self.config.history]
        return stats.train_loss

    def propose(self, step, signal, current):
        rho = np.full(len(self.domains), np.nan)
        for i, pts in enumerate(self.points):
            if len(pts) >= 5:
                arr = np.array(pts)
                fit = fit_power_law(arr[:, 0], arr[:, 1])
                if fit is not None:
                    e, b, a = fit
                    rho[i] = a * b * arr[-1, 0] ** (-a)
        if not np.isfinite(rho).any():
            return None
        rho = np.where(np.isfinite(rho), rho, np.nanmean(rho))
        rho = np.clip(rho, 1e-9, None)
        prior = (self.natural / self.natural.sum()) ** self.config.prior_power
        w = rho * prior
        top = int(np.argmax(rho))
        return w / w.sum(), f"most predicted progress: '{self.domains[top]}' (-dL/dlog n = {rho[top]:.4f})"

    def extra_state(self):
        return {"points": self.points}

    def load_extra_state(self, state):
        self.points = [list(map(list, p)) for p in state["points"]]
