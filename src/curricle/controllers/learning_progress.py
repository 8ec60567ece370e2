"""``learning-progress``: favour the domains with the most predicted learning progress.

After Jiang et al., 2024, "Adaptive Data Optimization: Dynamic Sample Selection with Scaling
Laws" (ADO), with its defaults. For each domain, a power law of its (EMA-smoothed) training
loss against the tokens seen is fitted online::

    L_d(n) = e_d + b_d * n ** (-a_d)

(``e_d`` by a grid search below the smallest observed loss, ``a_d`` and ``b_d`` by least
squares in log space). ``n`` is the run's total tokens by default, as in ADO, which advances
every domain's count by the whole step so that transfer between domains shows up in each law;
``tokens: domain`` counts each domain's own tokens instead. At each update:

- the predicted progress is the loss drop per token, ``-dL_d/dn = a_d * (L_d(n) - e_d) / n``;
- the preference is ``rho_d ∝ mu_d * h_d ** s * (-dL_d/dn)``: ``mu`` is the prior (the
  mixture the run started with, or the natural token shares), ``h`` the credit assignment, an
  EMA (``credit_smoothing``, per step) of the weights actually used, raised to
  ``credit_power`` = ``s``: a domain's progress is credited in proportion to how much of it was
  sampled, so progress that came from transfer is not chased;
- the policy is ``pi = gamma2 * rho + (1 - gamma2) * mean(mu, rho_1, ..., rho_{m-1})``, with
  ``gamma2`` = ``policy_smoothing``: the new preference mixed with the running average of the
  earlier ones (the prior counted as the first), so the mixture drifts instead of jumping.

ADO's minimum probability (``delta_min`` = 0.01) is the shared ``min_weight`` floor. Domains
with too few points for a fit get the mean progress of the others.
"""

from __future__ import annotations

import numpy as np

from curricle.controllers.base import Controller, DomainStats
from curricle.controllers.config import LearningProgressConfig


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


class LearningProgress(Controller):
    name = "learning-progress"

    def __init__(self, config: LearningProgressConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self.points: list[list[list[float]]] = [[] for _ in domains]
        self.prior: np.ndarray | None = (self.natural / self.natural.sum()) if config.prior == "natural" else None
        self.credit: np.ndarray | None = None
        self.rho_mean: np.ndarray | None = None  # mean of the prior and the preferences so far
        self.n_rho = 0
        self.rho: np.ndarray | None = None  # the last preference (for the audit and tests)

    def signal(self, stats: DomainStats) -> np.ndarray:
        used = np.asarray(stats.weights, dtype=np.float64)
        used = used / used.sum()
        if self.prior is None:
            self.prior = used.copy()
        g = self.config.credit_smoothing
        self.credit = used.copy() if self.credit is None else g * used + (1 - g) * self.credit
        total = float(np.sum(stats.tokens))
        for i, (loss, n) in enumerate(zip(stats.train_loss, stats.tokens)):
            x = total if self.config.tokens == "total" else float(n)
            if np.isfinite(loss) and n > 0:
                self.points[i].append([x, float(loss)])
                del self.points[i][: -self.config.history]
        return stats.train_loss

    def progress(self) -> np.ndarray:
        """-dL/dn per domain from its fitted law at its latest point (NaN: no fit yet)."""
        out = np.full(len(self.domains), np.nan)
        for i, pts in enumerate(self.points):
            if len(pts) >= 5:
                arr = np.array(pts)
                fit = fit_power_law(arr[:, 0], arr[:, 1])
                if fit is not None:
                    e, b, a = fit
                    n = arr[-1, 0]
                    out[i] = a * b * n ** (-a) / n  # a * (L(n) - e) / n
        return out

    def propose(self, step, signal, current):
        slope = self.progress()
        if not np.isfinite(slope).any():
            return None
        slope = np.clip(np.where(np.isfinite(slope), slope, np.nanmean(slope)), 0.0, None)
        pref = self.prior * self.credit ** self.config.credit_power * slope
        if pref.sum() <= 0:
            return None
        rho = pref / pref.sum()
        if self.rho_mean is None:
            self.rho_mean, self.n_rho = self.prior.copy(), 1
        g = self.config.policy_smoothing
        pi = g * rho + (1 - g) * self.rho_mean
        self.rho_mean = (self.rho_mean * self.n_rho + rho) / (self.n_rho + 1)
        self.n_rho += 1
        self.rho = rho
        top = int(np.argmax(rho))
        return pi / pi.sum(), (f"most predicted progress: '{self.domains[top]}' "
                               f"(preference {rho[top]:.3f}, -dL/dn = {slope[top]:.3g} per token)")

    def extra_state(self):
        def listed(x):
            return None if x is None else [float(v) for v in x]

        return {"points": self.points, "prior": listed(self.prior), "credit": listed(self.credit),
                "rho_mean": listed(self.rho_mean), "n_rho": self.n_rho, "rho": listed(self.rho)}

    def load_extra_state(self, state):
        def array(x):
            return None if x is None else np.array(x, dtype=np.float64)

        self.points = [list(map(list, p)) for p in state["points"]]
        self.prior = array(state.get("prior"))
        if self.prior is None and self.config.prior == "natural":
            self.prior = self.natural / self.natural.sum()
        self.credit = array(state.get("credit"))
        self.rho_mean = array(state.get("rho_mean"))
        self.n_rho = int(state.get("n_rho", 0))
        self.rho = array(state.get("rho"))
