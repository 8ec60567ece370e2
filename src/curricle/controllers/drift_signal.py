"""The in-training drift signal: is a domain's loss leaving its own recent trend?

Per domain, one :class:`DriftDetector` reads one number a step: the domain's mean training
loss over the step's rows (``series: train``; a step without rows of the domain is skipped), or
its held-out loss at each evaluation (``series: eval``). It judges each new value ``y`` against the
domain's own recent trend, then accumulates the evidence with a one-sided CUSUM:

1. **Residual against the trend.** The *baseline* is the domain's last ``window`` values
   (before this one), at positions ``0..n-1``; a least-squares line through them predicts the
   new value at position ``n``::

       r   = y - (a + b * n)                                 the residual
       s   = max(1.4826 * MAD(baseline residuals) * sqrt(n / (n - 2)), min_spread)
       se  = s * sqrt(1 + 1/n + (n - mean(x))**2 / Sxx)      a prediction's standard error
       z   = r / se

   ``1.4826 * MAD`` is the robust estimate of a Gaussian's standard deviation (a loss spike
   in the baseline does not inflate it); ``sqrt(n / (n - 2))`` undoes the shrinkage of
   in-sample residuals (a line fitted through ``n`` points leaves residuals of variance
   ``sigma**2 (n - 2) / n`` on average), and the last factor is the textbook prediction
   interval's. ``min_spread`` (in loss units) keeps a perfectly smooth baseline from turning
   a rounding error into an alarm. Nothing is judged before the baseline holds ``window``
   values; every value joins it after being judged.

2. **CUSUM** (Page, 1954), one-sided upward: a loss rising above its trend is the drift that
   matters (data the model finds harder, a corrupted shard); a loss falling faster than its
   trend is not::

       S_t = max(0, S_{t-1} + z_t - k);   alarm when S_t > h, and then S_t = 0

   Defaults ``k = 0.5``, ``h = 5``: the standard design for a sustained shift of one standard
   deviation (``k`` half the shift to detect, ``h`` 4 or 5 sd: Montgomery, *Introduction to
   Statistical Quality Control*, the tabular CUSUM). For independent N(0, 1) inputs its
   in-control average run length is about 930 values between false alarms (Siegmund's
   approximation gives 938; Montgomery's table for the two-sided chart with k = 1/2, h = 5
   lists 465, half of it), and a sustained 2-sd shift is caught after about 4 values (3.9 by
   Siegmund's approximation). ``tests/controllers/test_drift_signal.py`` checks both on
   simulated inputs.

   The z of step 1 is no independent N(0, 1) value: its spread is estimated from ``window``
   values and the line's from the same few, so its tails are heavier. Measured on stationary
   N(0, 1) series with the default ``window`` of 20 (same test file), false alarms come about
   once every 250 to 300 values per domain, three to four times as often as the table's 930;
   a larger ``window`` lowers the rate. And the baseline follows the series: a level shift
   enters the fitted line within a few values, so the residual detects a *sudden* departure
   (a jump of 4 sd or more is caught at once) or a *lasting rise* above the trend (a loss that
   keeps climbing), not a small step that the trend absorbs.

``consecutive`` counts alarms since the CUSUM last ended a step at 0 without one: 1 for an
isolated excursion, 2 and more while the loss keeps rising above its trend. The drift-aware
controller acts after ``after_alarms`` of them (default 2, so one spike does nothing).

The state (baseline, S, counts) is a few lists of floats, JSON-able, and part
of the controller hook's checkpoint, so a resumed run raises the alarms an uninterrupted one
does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from curricle.controllers.base import DomainStats, DriftSignal
from curricle.controllers.config import DriftSignalConfig

#: The constant that makes the median absolute deviation a consistent estimate of a Gaussian's
#: standard deviation (1 / Phi^-1(3/4)).
MAD_TO_SD = 1.4826


def trend_residual(baseline: list[float], value: float, min_spread: float) -> tuple[float, float, float]:
    """``(residual, prediction, z)`` of ``value`` against the least-squares line through
    ``baseline`` (at positions ``0..n-1``), predicted at position ``n`` (the module doc, step 1)."""
    y = np.asarray(baseline, dtype=np.float64)
    n = len(y)
    x = np.arange(n, dtype=np.float64)
    xm = x.mean()
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (y - y.mean()))) / sxx
    intercept = float(y.mean()) - slope * xm
    res = y - (intercept + slope * x)
    mad = float(np.median(np.abs(res - np.median(res))))
    spread = max(MAD_TO_SD * mad * math.sqrt(n / (n - 2)), min_spread)
    x0 = n
    prediction = intercept + slope * x0
    se = spread * math.sqrt(1 + 1 / n + (x0 - xm) ** 2 / sxx)
    residual = value - prediction
    return residual, prediction, residual / se


def cusum_step(s: float, z: float, k: float, h: float) -> tuple[float, bool]:
    """One step of the upward CUSUM: ``(S_t, alarm)`` from ``S_{t-1}`` and ``z_t``. After an
    alarm the caller restarts the sum at 0."""
    s = max(0.0, s + z - k)
    return s, s > h


class DriftDetector:
    """One domain's trend residual and upward CUSUM (see the module doc)."""

    def __init__(self, window: int = 20, k: float = 0.5, h: float = 5.0, min_spread: float = 0.01):
        self.window, self.k, self.h, self.min_spread = window, k, h, min_spread
        self.baseline: list[float] = []
        """The last ``window`` values, oldest first."""
        self.cusum = 0.0
        self.consecutive = 0
        self.alarms = 0
        """Alarms since the start of the run."""

    def observe(self, value: float) -> tuple[float, float, bool] | None:
        """Take one value: ``(z, S_t, alarm)`` (``S_t`` before the restart an alarm makes), or
        None while the baseline is filling or for a NaN value (skipped: nothing changes)."""
        if not math.isfinite(value):
            return None
        judged = len(self.baseline) == self.window
        if judged:
            _, _, z = trend_residual(self.baseline, value, self.min_spread)
            s, alarm = cusum_step(self.cusum, z, self.k, self.h)
            self.cusum = 0.0 if alarm else s
            if alarm:
                self.consecutive += 1
                self.alarms += 1
            elif s == 0.0:
                self.consecutive = 0
        self.baseline = (self.baseline + [value])[-self.window:]
        return (z, s, alarm) if judged else None

    def state_dict(self) -> dict[str, Any]:
        return {"baseline": list(self.baseline), "cusum": self.cusum, "consecutive": self.consecutive,
                "alarms": self.alarms}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baseline = [float(x) for x in state["baseline"]]
        self.cusum = float(state["cusum"])
        self.consecutive = int(state["consecutive"])
        self.alarms = int(state["alarms"])


class DriftTracker:
    """A :class:`DriftDetector` per domain, fed from each step's :class:`DomainStats`; what it
    finds is the step's :class:`DriftSignal` (``stats.drift``), its metrics and its alarms."""

    def __init__(self, config: DriftSignalConfig, domains: list[str]):
        self.config = config
        self.domains = list(domains)
        self.detectors = [DriftDetector(config.window, config.k, config.h, config.min_spread) for _ in self.domains]

    def observe(self, stats: DomainStats, snapshot_change: dict[str, Any] | None = None) -> DriftSignal:
        """This step's signal: every domain's detector fed the step's value (training loss, or
        held-out loss on evaluation steps with ``series: eval``; no value: nothing changes);
        with ``snapshot_change`` (the sampler's, at the first step after a resume on another
        snapshot) also each changed domain's metadata ``shift``."""
        k = len(self.domains)
        if self.config.series == "eval":
            values = stats.eval_loss if stats.eval_loss is not None else np.full(k, np.nan)
        else:
            values = stats.train_loss
        z = np.full(k, np.nan)
        cusum = np.array([d.cusum for d in self.detectors])
        alarm = np.zeros(k, dtype=bool)
        for i, d in enumerate(self.detectors):
            out = d.observe(float(values[i]))
            if out is not None:
                z[i], cusum[i], alarm[i] = out
        return DriftSignal(
            z=z, cusum=cusum, alarm=alarm,
            consecutive=np.array([d.consecutive for d in self.detectors], dtype=np.int64),
            shift=None if snapshot_change is None else self.shift(snapshot_change))

    def shift(self, change: dict[str, Any]) -> np.ndarray:
        """Per domain, the largest |shift| of a metadata column's mean in ``change`` (the
        sampler's ``snapshot_change``); NaN for a domain whose documents did not change, 0 for
        one that changed with no column to compare."""
        meta = change.get("metadata", {})
        out = np.full(len(self.domains), np.nan)
        for i, d in enumerate(self.domains):
            if d in change.get("domains_changed", []):
                out[i] = max((abs(c["shift"]) for c in meta.get(d, {}).values()), default=0.0)
        return out

    def metrics(self, signal: DriftSignal) -> dict[str, float]:
        """``drift/z/<d>`` (domains judged this step), ``drift/cusum/<d>`` (every domain) and,
        after a resume on new data, ``drift/shift/<d>`` (each changed domain)."""
        out = {f"drift/z/{d}": float(z) for d, z in zip(self.domains, signal.z) if math.isfinite(z)}
        out.update({f"drift/cusum/{d}": float(s) for d, s in zip(self.domains, signal.cusum)})
        if signal.shift is not None:
            out.update({f"drift/shift/{d}": float(x) for d, x in zip(self.domains, signal.shift) if math.isfinite(x)})
        return out

    def alarms(self, signal: DriftSignal) -> list[dict[str, Any]]:
        """One ``drift-alarm`` event's fields per domain that alarmed this step."""
        return [{"domain": self.domains[i], "z": float(signal.z[i]), "cusum": float(signal.cusum[i]),
                 "consecutive": int(signal.consecutive[i]),
                 "series": self.config.series, "k": self.config.k, "h": self.config.h}
                for i in np.flatnonzero(signal.alarm)]

    def state_dict(self) -> dict[str, Any]:
        return {d: det.state_dict() for d, det in zip(self.domains, self.detectors)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for d, det in zip(self.domains, self.detectors):
            det.load_state_dict(state[d])
