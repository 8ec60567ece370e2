"""The plateau detector: has a series of evaluations stopped improving beyond noise?

A series is a sequence of evaluations ``(step, value, stderr)`` of one thing (a domain's
held-out loss, a probe task's accuracy, a fine-tuning stage's milestone score), lower or
higher being better. After each evaluation the detector judges the last ``patience`` of them,
*the window*, against every evaluation before it:

    best_before = the best value before the window        (se_b: its standard error)
    best_window = the best value in the window            (se_w: its standard error)
    improvement = best_before - best_window   (lower is better; the other way round if higher)
    threshold   = max(z * sqrt(se_b**2 + se_w**2), min_delta)
    plateau     <=> improvement <= threshold

So a plateau is ``patience`` evaluations in a row none of which beats the best so far by more
than ``z`` standard errors of the difference: what noise alone makes likely. A series that
keeps improving by more than that over every ``patience`` evaluations is never on one. A
value without a standard error (NaN) counts as exact, so ``min_delta`` alone judges such a
series (with ``min_delta: 0``: any improvement at all is progress).

Defaults (:class:`~curricle.controllers.config.PlateauDetectorConfig`): ``patience`` 3, ``z``
2, ``min_delta`` 0. The best before the window is the best of many noisy values, so a flat
series is judged a plateau at nearly every judgment, while a series that gains a few standard
errors per evaluation clears the threshold (its ``sqrt(2)`` comes from both ends being noisy).
Measured on seeded series of 20 evaluations with Gaussian noise of the stated standard error
(``tests/controllers/test_plateau.py``): flat, 200 of 200 are judged a plateau, 189 at the
first verdict (the 4th evaluation); improving by 3 standard errors an evaluation, none ever is.

The first verdict needs ``patience + 1`` evaluations (a window and one before it). After
:meth:`PlateauDetector.reset` (a policy was taken) the next needs ``patience`` new ones, so
one plateau is not acted on twice. The state is a few numbers (the best before the window and
the window itself), JSON-able.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

#: One evaluation: (step, value, stderr).
Point = tuple[int, float, float]


@dataclass(frozen=True)
class Plateau:
    """A plateau verdict: what the window did against the best before it."""

    step: int
    """The step of the evaluation that closed the window."""
    value: float
    """The latest value."""
    window: tuple[int, int]
    """The first and last step of the window."""
    best_window: float
    best_window_se: float
    best_before: float
    best_before_se: float
    best_before_step: int
    improvement: float
    """How much the window's best beat the best before it (positive: better; the direction
    the series improves in)."""
    threshold: float
    """What it had to beat: ``max(z * sqrt(se_b**2 + se_w**2), min_delta)``."""

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else _finite(v)) for k, v in asdict(self).items()}


def _finite(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _se(x: float | None) -> float:
    return 0.0 if x is None or not math.isfinite(x) else float(x)


class PlateauDetector:
    """Judges one series (see the module doc). ``higher_is_better``: accuracy-like (else
    loss-like)."""

    def __init__(self, patience: int = 3, z: float = 2.0, min_delta: float = 0.0, higher_is_better: bool = False):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if z < 0 or min_delta < 0:
            raise ValueError(f"z and min_delta must be >= 0, got {z} and {min_delta}")
        self.patience = patience
        self.z = z
        self.min_delta = min_delta
        self.higher_is_better = higher_is_better
        self.best: Point | None = None
        """The best evaluation before the window."""
        self.window: list[Point] = []
        """The last ``patience`` evaluations, oldest first."""
        self.fresh = 0
        """Evaluations since the start or the last :meth:`reset`."""
        self.last: Plateau | None = None
        """The latest verdict (None: the latest evaluation was not on a plateau)."""

    def _better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b``."""
        return a > b if self.higher_is_better else a < b

    def observe(self, step: int, value: float, stderr: float | None = None) -> Plateau | None:
        """Add one evaluation; the verdict (see the module doc), or None: not a plateau, or
        too few evaluations to say. A non-finite value is skipped (no verdict)."""
        if not math.isfinite(value):
            return None
        self.window.append((int(step), float(value), _se(stderr)))
        self.fresh += 1
        if len(self.window) > self.patience:
            old = self.window.pop(0)
            if self.best is None or self._better(old[1], self.best[1]):
                self.best = old
        self.last = self.judge() if self.fresh >= self.patience else None
        return self.last

    def judge(self) -> Plateau | None:
        """The verdict on the current window, whatever was reset (None: not a plateau, or no
        evaluation before the window yet)."""
        if self.best is None or len(self.window) < self.patience:
            return None
        best_w = self.window[0]
        for p in self.window[1:]:
            if self._better(p[1], best_w[1]):
                best_w = p
        sign = 1.0 if self.higher_is_better else -1.0
        improvement = sign * (best_w[1] - self.best[1])
        threshold = max(self.z * math.hypot(self.best[2], best_w[2]), self.min_delta)
        if improvement > threshold:
            return None
        step, value, _ = self.window[-1]
        return Plateau(step=step, value=value, window=(self.window[0][0], step), best_window=best_w[1],
                       best_window_se=best_w[2], best_before=self.best[1], best_before_se=self.best[2],
                       best_before_step=self.best[0], improvement=improvement, threshold=threshold)

    def reset(self) -> None:
        """A policy was taken: the next verdict needs ``patience`` new evaluations (the best
        before them is kept)."""
        self.fresh = 0
        self.last = None

    # -- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"best": list(self.best) if self.best is not None else None,
                "window": [list(p) for p in self.window], "fresh": self.fresh,
                "last": self.last.to_json() if self.last is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        def point(p: list) -> Point:
            return int(p[0]), float(p[1]), float(p[2])

        self.best = point(state["best"]) if state["best"] is not None else None
        self.window = [point(p) for p in state["window"]]
        self.fresh = int(state["fresh"])
        last = state["last"]
        self.last = None if last is None else Plateau(**{
            **{k: (float("nan") if v is None else v) for k, v in last.items()}, "window": tuple(last["window"]),
            "step": int(last["step"]), "best_before_step": int(last["best_before_step"])})
