"""benchmarks/quality_filter.py's figures: tokens to a target loss, never a number when not reached."""

from __future__ import annotations

import pytest

from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("quality_filter.py", "bench_quality_filter") as m:
        yield m


def test_tokens_to_reach_interpolates_between_the_bracketing_checkpoints(bench):
    curve = [[10, 5.0], [20, 4.0], [30, 3.0]]
    assert bench.tokens_to_reach(curve, 3.5, 100) == (2500.0, "reached")
    assert bench.tokens_to_reach(curve, 4.0, 100) == (2000.0, "reached")
    assert bench.tokens_to_reach(curve, 5.5, 100) == (1000, "at-first")
    assert bench.tokens_to_reach(curve, 2.9, 100) == (None, "not-reached")


def test_a_seed_that_never_reaches_makes_the_headline_null(bench):
    mode = bench.Mode("t", "micro", batch_rows=1, seq_len=10, steps=30, lr=1e-3, tokenizer_vocab=300)
    curves = {("everything", 0): {"curve": [[10, 5.0], [20, 4.5], [30, 4.0]]},
              ("everything", 1): {"curve": [[10, 5.0], [20, 4.5], [30, 4.0]]},
              ("f", 0): {"curve": [[10, 4.5], [20, 4.0], [30, 3.5]]},
              ("f", 1): {"curve": [[10, 5.0], [20, 4.8], [30, 4.1]]}}
    out = bench.speedups(curves, "f", [0, 1], mode)
    assert out["per_seed"] == [1.5, None] and out["status"] == ["reached", "not-reached"]
    assert out["reached"] == "1/2" and out["geomean"] is None
    curves[("f", 1)] = {"curve": [[10, 4.0], [20, 3.0], [30, 2.0]]}
    out = bench.speedups(curves, "f", [0, 1], mode)
    assert out["per_seed"] == [1.5, 3.0] and out["lower_bound_only"] is True
    assert out["geomean"] == pytest.approx((1.5 * 3.0) ** 0.5, abs=1e-4)


def test_the_data_splits_are_disjoint_and_stable(bench):
    assert bench.split_of("a") == bench.split_of("a")
    shares = [bench.split_of(f"doc{i}") for i in range(4000)]
    assert abs(shares.count("positive") / 4000 - 0.2) < 0.03 and abs(shares.count("eval") / 4000 - 0.1) < 0.03
