"""The in-training drift signal: the trend residual on literal series, the CUSUM on planted
shifts and stationary noise, consecutive alarms, and its state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from curricle.controllers.base import DomainStats
from curricle.controllers.config import DriftSignalConfig
from curricle.controllers.drift_signal import MAD_TO_SD, DriftDetector, DriftTracker, cusum_step, trend_residual


def test_a_value_on_the_baselines_line_has_residual_zero():
    baseline = [5.0 - 0.2 * x for x in range(6)]
    residual, prediction, z = trend_residual(baseline, 5.0 - 0.2 * 6, min_spread=0.01)
    assert prediction == pytest.approx(3.8, abs=1e-12)
    assert residual == pytest.approx(0.0, abs=1e-12) and z == pytest.approx(0.0, abs=1e-9)


def test_a_literal_jump_gives_the_expected_z():
    """Baseline: the line 5 - 0.2x plus +d, -d, -d, +d (uncorrelated with x, so the fit is the
    line itself); residuals +-d, median 0, MAD d; n = 4: sqrt(n / (n - 2)) = sqrt(2), and the
    prediction factor at x0 = 4 is sqrt(1 + 1/4 + 2.5**2 / 5) = sqrt(2.5)."""
    d = 0.1
    baseline = [5.0 + d, 4.8 - d, 4.6 - d, 4.4 + d]
    se = MAD_TO_SD * d * math.sqrt(2) * math.sqrt(2.5)
    residual, prediction, z = trend_residual(baseline, 4.2 + 0.5, min_spread=0.01)
    assert prediction == pytest.approx(4.2, abs=1e-12) and residual == pytest.approx(0.5, abs=1e-12)
    assert z == pytest.approx(0.5 / se, abs=1e-12)
    # A flat baseline (MAD 0) is floored at min_spread: z = r / (0.01 * sqrt(1 + 1/4 + 2.5**2 / 5)).
    assert trend_residual([1.0] * 4, 1.1, min_spread=0.01)[2] == pytest.approx(0.1 / (0.01 * math.sqrt(2.5)))


def test_cusum_on_literal_values():
    s, out = 0.0, []
    for z in [1.0, 2.0, -3.0, 3.0, 3.0]:
        s, alarm = cusum_step(s, z, k=0.5, h=4.0)
        out.append((s, alarm))
        s = 0.0 if alarm else s
    assert out == [(0.5, False), (2.0, False), (0.0, False), (2.5, False), (5.0, True)]


def test_cusum_fires_within_a_few_steps_of_a_planted_2sd_shift():
    """200 N(0, 1) values, then 50 at +2: with k 0.5, h 5 the first alarm after the shift
    comes within 10 values for each of 20 seeds (Siegmund's ARL for a 2-sd shift: 3.9)."""
    delays = []
    for seed in range(20):
        z = np.random.default_rng(seed).normal(size=250)
        z[200:] += 2
        s, alarms = 0.0, []
        for t, x in enumerate(z):
            s, alarm = cusum_step(s, x, 0.5, 5.0)
            if alarm:
                alarms.append(t)
                s = 0.0
        delays.append(next(t for t in alarms if t >= 200) - 199)
    assert max(delays) <= 10 and 3 <= np.mean(delays) <= 5


def test_cusum_in_control_run_length_is_about_930():
    """300,000 N(0, 1) values: the observed average run length between false alarms is within
    15% of the one-sided k 0.5, h 5 figure (Siegmund's approximation 938)."""
    z = np.random.default_rng(0).normal(size=300_000)
    s, alarms = 0.0, 0
    for x in z.tolist():
        s = max(0.0, s + x - 0.5)
        if s > 5.0:
            alarms += 1
            s = 0.0
    assert 930 * 0.85 <= len(z) / alarms <= 930 * 1.15


def test_the_detector_on_stationary_noise_alarms_at_the_documented_rate():
    """20 seeds x 300 values of N(0, 1) after a filled window of 20: false alarms come about
    once every 250-300 values (the module doc), not at the Gaussian table's 930."""
    alarms = 0
    for seed in range(20):
        d = DriftDetector(window=20, min_spread=1e-9)
        for x in np.random.default_rng(seed).normal(size=320).tolist():
            d.observe(x)
        alarms += d.alarms
    assert 6000 / 450 <= alarms <= 6000 / 150


def test_the_detector_fires_on_a_jump_of_a_falling_loss_and_counts_consecutive_alarms():
    """A loss falling 0.01 a step with N(0, 0.02) noise: no alarm over 60 steps; then a jump
    of 0.2 (10 sd) alarms at once, and a loss that keeps climbing alarms again without the sum
    returning to 0: consecutive 2."""
    rng = np.random.default_rng(3)
    d = DriftDetector(window=20, min_spread=1e-6)
    loss = [3.0 - 0.01 * t + rng.normal(0, 0.02) for t in range(80)]
    out = [d.observe(x) for x in loss]
    assert out[:20] == [None] * 20 and not any(a for _, _, a in out[20:])
    z, s, alarm = d.observe(loss[-1] - 0.01 + 0.2)
    assert alarm and z > 5.5 and s > 5 and d.consecutive == 1 and d.cusum == 0.0
    climbing = [loss[-1] + 0.2 + 0.15 * i for i in range(1, 4)]
    results = [d.observe(x) for x in climbing]
    assert any(a for _, _, a in results) and d.consecutive >= 2
    # NaN (a step without the domain's rows) changes nothing.
    before = d.state_dict()
    assert d.observe(float("nan")) is None and d.state_dict() == before


def test_one_alarm_then_a_return_to_the_trend_resets_consecutive():
    d = DriftDetector(window=4, k=0.5, h=5.0, min_spread=0.1)
    for x in [1.0, 1.0, 1.0, 1.0]:
        d.observe(x)
    z, s, alarm = d.observe(2.0)  # z = 1 / (0.1 sqrt(1 + 1/4 + 2.5**2 / 5)) = 6.32
    assert alarm and d.consecutive == 1 and s == pytest.approx(1 / (0.1 * math.sqrt(2.5)) - 0.5)
    d.observe(1.0)  # far below the line the jump tilted up: the sum ends at 0
    assert d.cusum == 0.0 and d.consecutive == 0 and d.alarms == 1


def test_tracker_fills_the_signal_metrics_and_alarms_and_its_state_round_trips():
    cfg = DriftSignalConfig(window=4, h=5.0, min_spread=0.1)
    tracker = DriftTracker(cfg, ["a", "b"])

    def stats(step, a, b):
        return DomainStats(step=step, train_loss=np.array([a, b]), tokens=np.zeros(2), weights=np.full(2, 0.5))

    for step in range(1, 5):
        tracker.observe(stats(step, 1.0, 2.0))
    signal = tracker.observe(stats(5, 2.0, float("nan")))
    assert signal.alarm.tolist() == [True, False] and signal.consecutive.tolist() == [1, 0]
    assert math.isnan(signal.z[1]) and signal.z[0] == pytest.approx(1 / (0.1 * math.sqrt(2.5)))
    metrics = tracker.metrics(signal)
    assert sorted(metrics) == ["drift/cusum/a", "drift/cusum/b", "drift/z/a"]
    assert metrics["drift/cusum/a"] == pytest.approx(signal.z[0] - 0.5) and metrics["drift/cusum/b"] == 0.0
    (alarm,) = tracker.alarms(signal)
    assert (alarm["domain"], alarm["consecutive"], alarm["series"]) == ("a", 1, "train")
    state = json.loads(json.dumps(tracker.state_dict()))
    again = DriftTracker(cfg, ["a", "b"])
    again.load_state_dict(state)
    assert again.state_dict() == tracker.state_dict()
    nxt = stats(6, 1.5, 2.0)
    assert np.array_equal(again.observe(nxt).cusum, tracker.observe(nxt).cusum)


def test_on_eval_reads_held_out_loss_only_on_evaluation_steps():
    tracker = DriftTracker(DriftSignalConfig(series="eval", window=4), ["a"])
    s = DomainStats(step=1, train_loss=np.array([9.0]), tokens=np.zeros(1), weights=np.ones(1))
    tracker.observe(s)
    assert tracker.detectors[0].baseline == []
    s.eval_loss = np.array([2.0])
    tracker.observe(s)
    assert tracker.detectors[0].baseline == [2.0]


def test_the_shift_after_new_data_is_the_largest_metadata_move_of_each_changed_domain():
    from curricle.controllers.config import DriftSignalConfig
    from curricle.controllers.drift_signal import DriftTracker

    tracker = DriftTracker(DriftSignalConfig(), ["a", "b", "c"])
    change = {"domains_changed": ["b", "c"], "metadata": {"b": {
        "n_tokens": {"old": 10.0, "new": 12.0, "shift": 0.5}, "compression_ratio": {"old": 3.0, "new": 2.0, "shift": -1.25}}}}
    shift = tracker.shift(change)
    assert np.isnan(shift[0]) and shift[1:].tolist() == [1.25, 0.0]
    stats = DomainStats(step=1, train_loss=np.array([2.0, 2.0, 2.0]), tokens=np.zeros(3), weights=np.full(3, 1 / 3))
    sig = tracker.observe(stats, change)
    assert tracker.metrics(sig)["drift/shift/b"] == 1.25 and "drift/shift/a" not in tracker.metrics(sig)
    assert tracker.observe(stats).shift is None
