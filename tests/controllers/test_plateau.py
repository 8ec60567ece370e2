"""The plateau detector on literal and seeded series."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from curricle.controllers.plateau import PlateauDetector

SE = 0.01


def series(slope_se: float, seed: int, n: int = 20) -> list[tuple[int, float, float]]:
    """``n`` evaluations, every 100 steps, of a loss of 3.0 falling by ``slope_se`` standard
    errors an evaluation, with Gaussian noise of one standard error (``SE``)."""
    rng = np.random.default_rng(seed)
    return [(100 * (i + 1), 3.0 - slope_se * SE * i + float(rng.normal(0, SE)), SE) for i in range(n)]


def verdict_steps(points, **kw) -> list[int]:
    d = PlateauDetector(**kw)
    return [s for s, v, se in points if d.observe(s, v, se) is not None]


def test_the_verdict_on_literal_values_is_the_formula():
    d = PlateauDetector(patience=2, z=2.0)
    assert d.observe(10, 3.0, 0.1) is None and d.observe(20, 2.5, 0.1) is None  # no evaluation before a window
    # Window {20: 2.5, 30: 2.6} against the best before it, 3.0: 0.5 > 2 * sqrt(0.1**2 + 0.1**2) = 0.283.
    assert d.observe(30, 2.6, 0.1) is None
    # Window {30: 2.6, 40: 2.4} against 2.5 (step 20): 0.1 <= 0.283, a plateau.
    p = d.observe(40, 2.4, 0.1)
    assert p is not None and p.step == 40 and p.value == 2.4 and p.window == (30, 40)
    assert (p.best_window, p.best_before, p.best_before_step) == (2.4, 2.5, 20)
    assert p.improvement == pytest.approx(0.1) and p.threshold == pytest.approx(2 * math.hypot(0.1, 0.1))
    # Higher is better: an accuracy going down never improves.
    up = PlateauDetector(patience=1, z=1.0, higher_is_better=True)
    assert up.observe(1, 0.5, 0.05) is None
    assert up.observe(2, 0.7, 0.05) is None  # +0.2 > 0.0707
    p = up.observe(3, 0.6, 0.05)
    assert p is not None and p.improvement == pytest.approx(-0.1) and p.best_before == 0.7


def test_without_standard_errors_min_delta_alone_judges():
    d = PlateauDetector(patience=1, min_delta=0.05)
    assert [d.observe(s, v) for s, v in ((1, 1.0), (2, 0.9))] == [None, None]
    p = d.observe(3, 0.87)  # 0.03 below the best before, not more than 0.05
    assert p is not None and p.threshold == 0.05 and p.improvement == pytest.approx(0.03)
    assert d.observe(4, float("nan")) is None and d.window == [(3, 0.87, 0.0)]  # a missing value is skipped


def test_a_flat_noisy_series_plateaus_and_a_slowly_improving_one_does_not():
    """Seed 0: the flat series is judged a plateau at its first verdict (step 400, the 4th
    evaluation) and every one after; falling by 3 standard errors an evaluation (0.03 a time on
    a loss near 3, 1%), never. Over 200 seeds: every flat series plateaus, 189 at the first
    verdict and all by the 6th evaluation; no improving one ever does."""
    assert verdict_steps(series(0, 0)) == list(range(400, 2001, 100))
    assert verdict_steps(series(3, 0)) == []
    flat = [verdict_steps(series(0, seed)) for seed in range(200)]
    assert all(flat) and sum(f[0] == 400 for f in flat) == 189 and max(f[0] for f in flat) == 600
    assert [seed for seed in range(200) if verdict_steps(series(3, seed))] == []


def test_reset_needs_patience_new_evaluations_and_the_state_round_trips():
    points = series(0, 0)
    d = PlateauDetector()
    for s, v, se in points[:4]:
        last = d.observe(s, v, se)
    assert last is not None and last.step == 400
    d.reset()
    assert [d.observe(s, v, se) is None for s, v, se in points[4:6]] == [True, True]
    state = json.loads(json.dumps(d.state_dict()))
    again = PlateauDetector()
    again.load_state_dict(state)
    assert again.state_dict() == d.state_dict()
    a, b = d.observe(*points[6]), again.observe(*points[6])  # the third new evaluation: a verdict again
    assert a is not None and a == b and a.window == (500, 700)
    assert json.loads(json.dumps(d.state_dict())) == again.state_dict()
    assert again.last == a  # the latest verdict is state too
    restored = PlateauDetector()
    restored.load_state_dict(json.loads(json.dumps(again.state_dict())))
    assert restored.last == a
