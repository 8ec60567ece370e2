"""Emergence, saturation and instability on hand-made curves with known answers."""

import math

import numpy as np
import pytest

from curricle.emergence.curves import (
    CurveSettings,
    analyze,
    at_index,
    chaoticness,
    elbow_point,
    fixed_crossing,
    forgettability,
    smooth,
    stable_crossing,
)

TOKENS = np.array([1e3, 2e3, 4e3, 8e3, 16e3, 32e3, 64e3])
X = np.log(TOKENS)
EXACT = CurveSettings(sigma=0.0)  # no smoothing: answers by hand


def test_step_curve_emerges_and_saturates_where_interpolation_says():
    y = np.array([0.25, 0.25, 0.25, 0.75, 1.0, 1.0, 1.0])
    r = analyze(X, y, chance=0.25, settings=EXACT)
    assert r.emerged and r.best == 1.0 and r.gain == 0.75
    # threshold 0.25 + 0.5 * 0.75 = 0.625: 75% of the way from point 2 (0.25) to point 3 (0.75)
    assert r.crossings["fixed"] == pytest.approx(2.75)
    assert at_index(TOKENS, r.crossings["fixed"]) == pytest.approx(math.exp(X[2] + 0.75 * (X[3] - X[2])))
    assert at_index(TOKENS, 2.75) == pytest.approx(4e3 * 2**0.75)  # interpolated in log-tokens
    # saturation at 0.25 + 0.9 * 0.75 = 0.925: 70% of the way from 0.75 to 1.0
    assert r.saturation == pytest.approx(3.7)
    assert r.crossings["stable"] == pytest.approx(2.75)
    assert r.chaoticness == 0.0 and r.forgettability == 0.0


def test_never_emerging_curve_is_censored():
    y = np.array([0.25, 0.27, 0.24, 0.28, 0.26, 0.27, 0.25])
    r = analyze(X, y, chance=0.25, settings=EXACT)
    assert not r.emerged
    assert r.crossings == {"fixed": None, "stable": None, "elbow": None} and r.saturation is None


def test_gain_must_beat_the_standard_error():
    y = np.array([0.25, 0.25, 0.3, 0.4, 0.4, 0.4, 0.4])
    assert analyze(X, y, 0.25, EXACT, se=np.full(7, 0.04)).emerged       # 0.15 >= 3 * 0.04
    assert not analyze(X, y, 0.25, EXACT, se=np.full(7, 0.1)).emerged    # 0.15 < 3 * 0.1


def test_a_noisy_best_near_chance_is_not_learned():
    """The demo's old false emergences: a best of 0.38 against 0.25 chance, 100 items (SE
    0.049), on a curve that returns to chance. 2.7 standard errors: over the minimum gain and
    2 SE, but within 3, the default z."""
    y = np.array([0.25, 0.27, 0.24, 0.38, 0.25, 0.26, 0.27])
    se = np.sqrt(y * (1 - y) / 100)
    r = analyze(X, y, 0.25, EXACT, se=se)
    assert not r.emerged and r.gain == pytest.approx(0.13) and r.best_se == pytest.approx(se[3])
    assert analyze(X, y, 0.25, CurveSettings(sigma=0.0, z=2.0), se=se).emerged  # the old bar passes it
    # Exact match, chance 0: 2 of 100 right is within 3 SE (0.014 each) of nothing.
    em = np.array([0.0, 0.0, 0.01, 0.02, 0.0, 0.01, 0.02])
    assert not analyze(X, em, 0.0, CurveSettings(sigma=0.0, min_gain=0.0), se=np.sqrt(em * (1 - em) / 100)).emerged


def test_rise_then_fall():
    y = np.array([0.25, 0.5, 0.9, 0.5, 0.3])
    r = analyze(X[:5], y, chance=0.25, settings=EXACT)
    assert r.emerged and r.best_index == 2
    # threshold 0.25 + 0.5 * 0.65 = 0.575, between 0.5 and 0.9
    assert r.crossings["fixed"] == pytest.approx(1 + 0.075 / 0.4)
    assert r.chaoticness == pytest.approx(1 - 0.05 / 1.25)  # |0.3 - 0.25| over 0.25 + 0.4 + 0.4 + 0.2
    assert r.forgettability == pytest.approx(0.6)          # 0.4 + 0.2 after the best point


def test_stable_skips_a_transient_spike():
    y = np.array([0.25, 0.8, 0.25, 0.25, 0.8, 0.85, 0.9])
    assert fixed_crossing(y, 0.575) == pytest.approx(0 + 0.325 / 0.55)
    assert stable_crossing(y, 0.575, k=3) == pytest.approx(3 + 0.325 / 0.55)
    assert stable_crossing(y, 0.575, k=1) == fixed_crossing(y, 0.575)
    assert stable_crossing(np.array([0.1, 0.2, 0.9]), 0.5, k=3) == pytest.approx(1 + 3 / 7)  # stays to the end


def test_elbow_is_where_the_rise_starts():
    assert elbow_point(np.array([0.0, 0.0, 0.05, 0.1, 0.6, 1.0])) == 3
    assert elbow_point(np.array([0.0, 1.0, 1.0])) == 0


def test_left_censored_when_already_there():
    y = np.array([0.8, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95])
    r = analyze(X, y, chance=0.25, settings=EXACT)
    assert r.emerged and r.crossings["fixed"] == 0.0


def test_no_chance_level_uses_the_first_point():
    y = np.array([-6.0, -5.5, -4.0, -3.0, -3.0, -3.0, -3.0])  # a log-probability curve
    r = analyze(X, y, chance=None, settings=EXACT)
    assert r.base == -6.0 and r.emerged  # threshold -4.5: 2/3 of the way from -5.5 to -4.0
    assert r.crossings["fixed"] == pytest.approx(1 + (-4.5 + 5.5) / 1.5)


def test_smoothing_is_a_kernel_average_in_log_tokens():
    y = np.array([0.0, 1.0, 0.0])
    x = np.log([1e3, 2e3, 4e3])
    s = smooth(x, y, sigma=math.log(2))  # neighbours one sigma away weigh exp(-1/2)
    w = math.exp(-0.5)
    assert s[1] == pytest.approx(1 / (1 + 2 * w))
    assert s[0] == pytest.approx(w / (1 + w + math.exp(-2)))
    assert (smooth(x, y, 0.0) == y).all()
    noisy = np.array([0.25, 0.3, 0.27, 0.5, 0.45, 0.7, 0.66, 0.9, 0.85, 0.95])
    xs = np.log(np.geomspace(1e3, 1e5, 10))
    assert chaoticness(smooth(xs, noisy, 0.5)) < chaoticness(noisy)


def test_instability_measures():
    assert chaoticness(np.array([0.0, 0.5, 1.0])) == 0.0
    assert chaoticness(np.array([0.0, 1.0, 0.0])) == 1.0
    assert chaoticness(np.array([0.3, 0.3])) == 0.0
    assert forgettability(np.array([0.0, 1.0, 0.5, 0.7, 0.2])) == pytest.approx(1.0)
    assert forgettability(np.array([0.0, 0.5, 1.0])) == 0.0
