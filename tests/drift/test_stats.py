"""Each drift statistic on literal distributions with known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curricle.drift.stats import effective_number, js_distance, ks, quantile_shift, roc_auc, scaled_wasserstein, top_moved


def test_js_distance_known_values():
    assert js_distance([1, 0], [0, 1]) == 1.0
    assert js_distance([3, 1], [6, 2]) == 0.0  # counts are normalized first
    # m = (0.75, 0.25): H(m) = 0.811278 bits, H(p) = 1, H(q) = 0 -> JSD = 0.311278
    assert js_distance([0.5, 0.5], [1, 0]) == pytest.approx(math.sqrt(0.3112781244591328), abs=1e-12)
    assert js_distance([1, 2, 3], [3, 2, 1]) == js_distance([3, 2, 1], [1, 2, 3])


def test_js_distance_refuses_bad_vectors():
    with pytest.raises(ValueError, match="length 2 and 3"):
        js_distance([1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="all counts are zero"):
        js_distance([0, 0], [1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        js_distance([-1, 2], [1, 1])


def test_effective_number():
    assert effective_number([1, 1, 1, 1]) == pytest.approx(4.0)
    assert effective_number([5, 0, 0]) == pytest.approx(1.0)
    # H(0.5, 0.25, 0.25) = 1.5 ln 2 -> exp = 2 ** 1.5
    assert effective_number([2, 1, 1]) == pytest.approx(2 ** 1.5)


def test_scaled_wasserstein():
    old = np.array([0.0, 1.0, 2.0, 3.0])
    # every value moved by 1; OLD's population sd is sqrt(1.25)
    assert scaled_wasserstein(old, old + 1) == pytest.approx(1 / math.sqrt(1.25))
    assert scaled_wasserstein(old, old) == 0.0
    assert scaled_wasserstein(np.ones(3), np.ones(3)) == 0.0
    assert scaled_wasserstein(np.ones(3), np.array([1.0, 2.0])) == math.inf
    assert math.isnan(scaled_wasserstein(np.zeros(0), old))


def test_ks():
    assert ks([1, 2, 3], [4, 5, 6])[0] == 1.0
    stat, p = ks([1, 2, 3, 4], [3, 4, 5, 6])
    assert stat == 0.5
    assert 0 < p <= 1
    assert ks([1, 2, 3], [1, 2, 3])[0] == 0.0


def test_quantile_shift():
    old = np.arange(11.0)
    assert quantile_shift(old, old + 1) == {"q10": 1.0, "q25": 1.0, "q50": 1.0, "q75": 1.0, "q90": 1.0}
    assert quantile_shift(old, 2 * old)["q50"] == 5.0


def test_roc_auc():
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert roc_auc([0.5, 0.5], [0, 1]) == 0.5  # a tie counts a half
    assert roc_auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert math.isnan(roc_auc([1, 2], [1, 1]))


def test_top_moved():
    moved = top_moved(np.array([10, 10, 0, 0]), np.array([10, 0, 5, 5]), k=3)
    # shares (0.5, 0.5, 0, 0) -> (0.5, 0, 0.25, 0.25): token 1 moved most, then 2 and 3 (by index)
    assert moved == [(1, 0.5, 0.0), (2, 0.0, 0.25), (3, 0.0, 0.25)]
    assert top_moved(np.array([1, 1]), np.array([2, 2])) == []
