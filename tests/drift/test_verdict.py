"""Verdicts against the split-half null: DRIFT above mean + 3 sd, WARN above + 2 sd."""

from __future__ import annotations

import pytest

from curricle.drift.verdict import Measure, judge, worst

NULL = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, sd (ddof 1) sqrt(2.5)
SD = 2.5 ** 0.5


def measure(value: float, n: int = 100) -> Measure:
    return Measure("tokens", "unigram_js", value, "prose", n, n)


@pytest.mark.parametrize("z, verdict", [(1.9, "OK"), (2.1, "WARN"), (2.9, "WARN"), (3.1, "DRIFT")])
def test_levels(z, verdict):
    check = judge(measure(3 + z * SD), NULL)
    assert check.verdict == verdict
    assert check.z == pytest.approx(z)
    assert (check.null_mean, check.null_n) == (3.0, 5)
    assert check.null_sd == pytest.approx(SD)
    assert check.reliable


def test_empirical_p_value():
    assert judge(measure(4.5), NULL).p_value == pytest.approx(2 / 6)  # 5.0 is >= 4.5
    assert judge(measure(9.0), NULL).p_value == pytest.approx(1 / 6)


def test_a_small_sample_can_only_warn():
    check = judge(measure(100.0, n=10), NULL, min_docs=50)
    assert check.verdict == "WARN"
    assert not check.reliable
    assert "only 10 documents on a side" in check.note


def test_a_short_null_is_unreliable():
    check = judge(measure(100.0), [1.0, 1.1])
    assert (check.verdict, check.reliable) == ("WARN", False)


def test_a_null_without_spread():
    assert judge(measure(0.0), [0.0] * 5).verdict == "OK"
    assert judge(measure(0.01), [0.0] * 5).verdict == "DRIFT"


def test_a_fact_is_drift_whatever_the_null_and_the_counts():
    fact = Measure("mixture", "share", 0.01, "web", 100, 0, fact="domain only in OLD: it went")
    check = judge(fact, NULL, min_docs=50)
    assert (check.verdict, check.reliable, check.note) == ("DRIFT", True, "domain only in OLD: it went")
    assert check.z == pytest.approx((0.01 - 3) / SD)  # as judged, for reading
    check = judge(Measure("mixture", "share", 0.5, "web", 0, 100, fact="domain only in NEW: it appeared"), [])
    assert (check.verdict, check.reliable, check.null_n, check.z) == ("DRIFT", True, 0, None)


def test_worst():
    assert worst(["OK", "DRIFT", "WARN"]) == "DRIFT"
    assert worst([]) == "OK"
