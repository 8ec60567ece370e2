"""``ado``: adaptive data optimization, as released: per-domain scaling laws fitted online.

Jiang et al., 2024, "Adaptive Data Optimization: Dynamic Sample Selection with Scaling Laws".
This follows ``AdoSelector`` in the authors' release (yidingjiang/ado,
``src/data_selectors/ado.py``), step for step:

- **Data.** Each step records every domain's mean training loss (a domain the step did not
  sample repeats its last value, or with none yet takes the step's mean, as at ADO's first
  step) and the run's total count ``n`` so far, the same x axis for every domain (ADO's
  ``use_same_step_size``). ``n`` counts sequences of 1024 tokens, ADO's, so that the bounds
  below mean what they mean there. A non-finite loss (NaN, inf) counts as no value, like a
  domain not sampled; steps before the first with a finite loss (a first step whose losses
  were all NaN) hold no value and are left out of the fits (filtered, a NaN spreads over the
  filter's window, and scipy refuses one within its edge fit). A step the stability guard
  skipped is not recorded at all (:mod:`curricle.controllers.base`), and ``n`` counts only the
  tokens trained: not that step's, nor those of the steps a rollback undid (their data never
  updated the model).
- **Fit** (every ``refit_every`` steps from ``warmup_steps``, ADO's ``start_step``): the loss history is filtered with
  a Savitzky-Golay filter (window ``savgol_window``, order ``savgol_order``), the first
  ``ignore_steps`` steps are dropped (the learning-rate warm-up by default) and every
  ``fit_stride``-th point kept; then ``L(n) = exp(e) + exp(a) * n ** -alpha`` is fitted in log
  space with a Huber loss (``delta = 1e-3``) and ADO's soft bounds (``alpha`` in [0, 0.8],
  ``a <= 6.5``, ``e >= 0.5``). ADO runs L-BFGS (jaxopt) from each of 512 grid starts; here the
  objective is evaluated on the same 512 starts and the 4 best are refined with scipy's BFGS
  (the bounds are penalties, so the problem is unconstrained; analytic gradient; at most 200
  iterations, ADO's ``maxiter``). scipy's L-BFGS-B gives the same fits but, through its
  threaded BLAS, ran 5x slower on a busy 2-core machine.
  A fit that comes out NaN or infinite is dropped (the previous one is kept).
- **Policy** (every step from ``warmup_steps``, once a fit exists): the predicted loss drop per
  sample ``slope_d = max(alpha_d, 0.05) * (L_d(n) - exp(e_d)) / n`` is weighted by the prior
  ``mu`` (the domains' natural token shares) and by ``sqrt(h_d (1 - h_d))``, where ``h`` is an
  EMA (0.9) of the weights each step was drawn with (the release counts the samples each step
  drew; a step's rows follow its weights by credit allocation, so the two stay close but are
  not the same); normalized, clipped to at least
  ``min_probability`` per domain, it is mixed into the running average of all earlier ones::

      p     = 0.9 * p_avg + 0.1 * dist
      p_avg = (1 - 1 / (t + 1)) * p_avg + dist / (t + 1)         (p_avg starts at mu)

  ``t`` is the step, so the prior counts as ``warmup_steps`` observations when the first policy
  is made. The shared EMA, floor and cap are off (``ema: 0``, ``min_weight: 0``,
  ``max_change: 1``): the policy above is the mixture used.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.signal import savgol_filter

from curricle.controllers.base import Controller, DomainStats
from curricle.controllers.config import ADOConfig
from curricle.jsonable import jsonable

#: ADO counts sequences of this many tokens.
SEQUENCE_TOKENS = 1024
#: ADO's start grid: a in -2..5, e in -2..1.5, alpha in 0..0.7.
_GRID = np.stack(np.meshgrid(np.arange(-2.0, 6.0, 1.0), np.arange(-2.0, 2.0, 0.5), np.arange(0.0, 0.8, 0.1),
                             indexing="ij"), axis=-1).reshape(-1, 3)


def _huber(diff: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(diff)
    return np.where(a > delta, delta * (a - 0.5 * delta), 0.5 * a**2)


def ado_objective(params: np.ndarray, n: np.ndarray, loss: np.ndarray, delta: float = 1e-3) -> np.ndarray:
    """ADO's fitting loss for (..., 3) params ``(a, e, alpha)``: Huber on log L plus its bounds."""
    params = np.asarray(params, dtype=np.float64)
    a, e, alpha = params[..., 0:1], params[..., 1:2], params[..., 2:3]
    pred = np.logaddexp(a - alpha * np.log(n), e)
    fit = _huber(np.log(loss) - pred, delta).sum(-1)
    a, e, alpha = a[..., 0], e[..., 0], alpha[..., 0]
    return (fit + np.maximum(alpha - 0.8, 0) - np.minimum(alpha, 0.001) + np.maximum(a - 6.5, 0)
            - np.minimum(e - 0.5, 0))


def ado_objective_grad(params: np.ndarray, n: np.ndarray, loss: np.ndarray, delta: float = 1e-3) -> np.ndarray:
    """The gradient of :func:`ado_objective` for one ``(a, e, alpha)`` (its bounds' terms
    are piecewise linear: their slopes)."""
    a, e, alpha = (float(x) for x in params)
    logn = np.log(n)
    u = a - alpha * logn
    pred = np.logaddexp(u, e)
    r = np.log(loss) - pred
    psi = np.clip(r, -delta, delta)  # Huber's derivative
    s1, s2 = np.exp(u - pred), np.exp(e - pred)
    grad = -np.array([psi @ s1, psi @ s2, -(psi * logn) @ s1])
    grad += [float(a > 6.5), -float(e < 0.5), float(alpha > 0.8) - float(alpha < 0.001)]
    return grad


def fit_scaling_law(n: np.ndarray, loss: np.ndarray, refine: int = 4) -> np.ndarray:
    """``(a, e, alpha)`` of ``loss ~ exp(e) + exp(a) * n ** -alpha`` by ADO's objective."""
    n = np.asarray(n, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    start = ado_objective(_GRID, n, loss)
    best, best_value = None, np.inf
    for i in np.argsort(start)[:refine]:
        res = minimize(lambda p: float(ado_objective(p, n, loss)), _GRID[i], method="BFGS",
                       jac=lambda p: ado_objective_grad(p, n, loss), options={"maxiter": 200})
        if np.isfinite(res.fun) and res.fun < best_value:
            best, best_value = res.x, res.fun
    return np.full(3, np.nan) if best is None else np.asarray(best)


def clip_min_probability(p: np.ndarray, floor: float) -> np.ndarray:
    """ADO's ``clip_min_probability``: scale down to make room, raise to the floor, renormalize."""
    p = np.asarray(p, dtype=np.float64)
    deficit = max(floor * len(p) - p.sum(), 0.0)
    clipped = np.maximum(p * (1 - deficit) / p.sum(), floor)
    return clipped / clipped.sum()


def savgol(losses: np.ndarray, window: int, order: int) -> np.ndarray:
    """The release's Savitzky-Golay filter along steps; a history shorter than the window
    uses the longest odd window it has (and no filter below order + 2 points)."""
    t = losses.shape[-1]
    w = min(window, t if t % 2 else t - 1)
    if w <= order:
        return losses
    return savgol_filter(losses, w, order, axis=-1)


class ADO(Controller):
    name = "ado"

    def __init__(self, config: ADOConfig, context):
        super().__init__(config, context)
        self.prior = self.natural / self.natural.sum()
        self.n: list[float] = []  # total sequences after each step
        self.losses: list[list[float]] = []  # per step, per domain (NaN: no value yet)
        self.params: np.ndarray | None = None  # (K, 3) of the last valid fit
        self.history = self.prior.copy()  # h: EMA of the sampled shares
        self.p_avg = self.prior.copy()
        self.p = self.prior.copy()
        self.ignore_steps = config.ignore_steps if config.ignore_steps is not None else 0
        #: Tokens served at steps that trained nothing (skipped by the stability guard, or
        #: undone by a rollback): not on the x axis. After every step, n[-1] * SEQUENCE_TOKENS
        #: plus this is the tokens served so far.
        self.untrained_tokens = 0.0
        if context.lr_warmup_steps is not None:
            self.set_lr_warmup(context.lr_warmup_steps)

    def set_lr_warmup(self, steps: int) -> None:
        """The run's learning-rate warm-up is left out of the fits, when ``ignore_steps`` is left to it."""
        if self.config.ignore_steps is None:
            self.ignore_steps = steps

    def update(self, step: int, stats: DomainStats):
        if not self.takes_step(stats):
            # The step's tokens (with a rollback, those of every step since the checkpoint it
            # went back to) trained nothing: the next step's n leaves them out.
            counted = (self.n[-1] * SEQUENCE_TOKENS if self.n else 0.0) + self.untrained_tokens
            self.untrained_tokens += float(np.sum(stats.tokens)) - counted
        return super().update(step, stats)

    def signal(self, stats: DomainStats) -> np.ndarray:
        loss = np.asarray(stats.train_loss, dtype=np.float64)
        finite = np.isfinite(loss)
        prev = np.array(self.losses[-1]) if self.losses else np.full(len(self.domains), np.nan)
        if finite.any():  # a domain without a value yet takes the step's mean (the release's first step)
            prev = np.where(np.isfinite(prev), prev, np.nanmean(np.where(finite, loss, np.nan)))
        self.losses.append(np.where(finite, loss, prev).tolist())  # all NaN until a step has a finite loss
        self.n.append((float(np.sum(stats.tokens)) - self.untrained_tokens) / SEQUENCE_TOKENS)
        used = np.asarray(stats.weights, dtype=np.float64)
        self.history = 0.9 * self.history + 0.1 * used / used.sum()
        return loss

    def fit(self) -> np.ndarray | None:
        """Refit every domain's law on the history (None: too few points yet)."""
        cfg = self.config
        losses = np.array(self.losses, dtype=np.float64).T  # (K, T)
        # The steps before the first finite loss hold no value (NaN): left out, not filtered.
        known = np.isfinite(losses).all(0)
        start = int(np.argmax(known)) if known.any() else losses.shape[1]
        losses = savgol(losses[:, start:], cfg.savgol_window, cfg.savgol_order)
        at = np.arange(start, len(self.n))  # each entry's 0-based step
        keep = (at >= self.ignore_steps) & ((at - self.ignore_steps) % cfg.fit_stride == 0)
        n, losses = np.array(self.n)[start:][keep], losses[:, keep]
        if len(n) < 3 or np.any(losses <= 0):
            return None
        params = np.stack([fit_scaling_law(n, row) for row in losses])
        return params if np.all(np.isfinite(params)) else None

    def policy(self, step: int) -> np.ndarray:
        a, e, alpha = self.params[:, 0], self.params[:, 1], self.params[:, 2]
        n = self.n[-1]
        irreducible = np.exp(e)
        predicted = irreducible + np.exp(a) * n ** (-alpha)
        slope = np.maximum(alpha, self.config.exponent_floor) * (predicted - irreducible) / n
        weighted = slope * self.prior * np.sqrt(self.history * (1 - self.history))
        dist = clip_min_probability(weighted / weighted.sum(), self.config.min_probability)
        self.p = 0.9 * self.p_avg + 0.1 * dist
        self.p_avg = (1 - 1 / (step + 1)) * self.p_avg + dist / (step + 1)
        return self.p

    def propose(self, step, signal, current):
        cfg = self.config
        if (step - cfg.warmup_steps) % cfg.refit_every == 0:
            params = self.fit()
            if params is not None:
                self.params = params
        if self.params is None:
            return None
        p = self.policy(step)
        top = int(np.argmax(p))
        return p, (f"ADO: most predicted progress '{self.domains[top]}' (exponent "
                   f"{self.params[top, 2]:.3f}, irreducible {np.exp(self.params[top, 1]):.3f})")

    def extra_state(self):
        return {"n": self.n, "losses": jsonable(self.losses), "history": self.history.tolist(),
                "p_avg": self.p_avg.tolist(), "p": self.p.tolist(),
                "params": None if self.params is None else self.params.tolist(), "ignore_steps": self.ignore_steps,
                "untrained_tokens": self.untrained_tokens}

    def load_extra_state(self, state):
        self.n = list(state["n"])
        self.losses = [[np.nan if v is None else float(v) for v in x] for x in state["losses"]]
        self.history = np.array(state["history"])
        self.p_avg = np.array(state["p_avg"])
        self.p = np.array(state["p"])
        self.params = None if state["params"] is None else np.array(state["params"])
        self.ignore_steps = int(state["ignore_steps"])
        self.untrained_tokens = float(state.get("untrained_tokens", 0.0))  # (a checkpoint from before it: 0)
