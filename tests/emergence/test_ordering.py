"""Ordering statistics on known permutations."""

import math

import numpy as np
import pytest

from curricle.emergence.ordering import CENSORED, censored_ranks, consistency, kendall, spearman

INF = CENSORED


def test_identical_and_reversed_orders():
    a = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert spearman(a, a) == pytest.approx(1.0) and kendall(a, a) == pytest.approx(1.0)
    assert spearman(a, a[::-1]) == pytest.approx(-1.0) and kendall(a, a[::-1]) == pytest.approx(-1.0)
    # Only the order matters, not the positions.
    assert kendall(a, [10.0, 200.0, 3000.0, 4e4, 5e6]) == pytest.approx(1.0)


def test_literal_example():
    # Two neighbouring swaps: 4 concordant and 2 discordant of 6 pairs.
    a, b = [1, 2, 3, 4], [2, 1, 4, 3]
    assert kendall(a, b) == pytest.approx((4 - 2) / 6)
    assert spearman(a, b) == pytest.approx(1 - 6 * 4 / (4 * (16 - 1)))  # sum d^2 = 4: 0.6


def test_censored_skills_tie_after_the_emerged_ones():
    assert censored_ranks([3.0, INF, 1.0, INF]).tolist() == [2.0, 3.5, 1.0, 3.5]
    assert censored_ranks([2.0, 2.0, 1.0]).tolist() == [2.5, 2.5, 1.0]
    # tau-b by hand: C = 8, D = 1 of 10 pairs; one pair tied in a (both censored), none in b.
    a, b = [1, 2, 3, INF, INF], [1, 3, 2, 4, INF]
    assert kendall(a, b) == pytest.approx(7 / math.sqrt(9 * 10))
    assert math.isnan(kendall([INF, INF], [1.0, 2.0]))  # no variation: undefined


def test_consistency_of_identical_runs_is_one_and_significant():
    order = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    c = consistency(np.vstack([order, order * 3, order + 1]), ["a", "b", "c"], "kendall",
                    bootstrap=200, permutations=500, seed=1)
    assert c.value == pytest.approx(1.0)
    assert c.ci_low == pytest.approx(1.0) and c.ci_high == pytest.approx(1.0)
    assert c.p_value == pytest.approx(1 / 501)  # no shuffle is as consistent
    assert [p["kendall"] for p in c.pairs] == pytest.approx([1.0, 1.0, 1.0])


def test_consistency_of_unrelated_runs_is_not_significant():
    rng = np.random.default_rng(0)
    m = np.vstack([rng.permutation(12).astype(float) for _ in range(3)])
    c = consistency(m, ["a", "b", "c"], "spearman", bootstrap=200, permutations=300, seed=0)
    assert abs(c.value) < 0.5 and c.p_value > 0.05
    assert c.ci_low <= c.value <= c.ci_high
    again = consistency(m, ["a", "b", "c"], "spearman", bootstrap=200, permutations=300, seed=0)
    assert (again.value, again.ci_low, again.p_value) == (c.value, c.ci_low, c.p_value)  # deterministic
