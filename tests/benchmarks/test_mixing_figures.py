"""The arithmetic behind ``benchmarks/mixing.py``'s verdict: tokens to target, speedup (with its
bound for seeds that never get there), the tokens a method spends outside the budget, and the
choice of best method. The benchmark is a program, not part of the package: load it by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def mixing():
    with benchmark_module("mixing.py", "bench_mixing") as module:
        yield module


DOMAINS = ["a", "b"]


def run(mixing, method, seed, curve, final, **kw):
    return mixing.RunResult(method, seed, Path(f"/runs/{method}/{seed}"), curve, final, tokens=curve[-1][0],
                            token_shares={"a": 0.5, "b": 0.5}, last_weights={"a": 0.5, "b": 0.5},
                            mixture_changes=0, priority_updates=0, effective_docs=None, reference_tokens=0,
                            reference_final=None, wall_s=1.0, reused=True, **kw)


def test_tokens_to_reach_interpolates_between_eval_points(mixing):
    curve = [(100, 6.0), (200, 5.0), (300, 4.0)]
    assert mixing.tokens_to_reach(curve, 6.5) == 100.0  # already there at the first eval
    assert mixing.tokens_to_reach(curve, 5.0) == 200.0
    assert mixing.tokens_to_reach(curve, 4.5) == 250.0
    assert mixing.tokens_to_reach(curve, 3.9) is None


def test_speedup_is_uniforms_tokens_over_the_methods_and_bounded_where_never_reached(mixing):
    # Uniform ends at a mean of 5.0 (its final curve point) after 400 tokens.
    u = {s: run(mixing, "uniform", s, [(200, 6.0), (400, 5.0)], {"a": 4.0, "b": 6.0}) for s in (0, 1)}
    fast = run(mixing, "m", 0, [(200, 5.0), (400, 4.5)], {"a": 3.5, "b": 5.5})  # there at 200: 2x
    never = run(mixing, "m", 1, [(200, 6.5), (400, 5.5)], {"a": 4.5, "b": 6.5})  # never: bound 400/400
    row = mixing.summarize("m", [fast, never], u, DOMAINS)
    assert row["tokens_to_target"] == [200, None]
    assert row["speedup_per_seed"] == [2.0, None]
    assert row["speedup"]["mean"] == 1.5 and row["reached"] == "1/2" and row["not_reached_seeds"] == [1]
    assert row["speedup_over_reached_seeds"]["mean"] == 2.0
    assert row["mean_loss_minus_uniform"]["mean"] == pytest.approx(0.0)  # -0.5 and +0.5
    assert row["worst_domain"] == ["b", "b"] and row["worst_domain_loss"]["mean"] == 6.0
    assert "search_tokens" not in row and "reference_tokens" not in row


def test_search_tokens_enter_the_speedup_that_counts_them(mixing):
    u = {0: run(mixing, "uniform", 0, [(200, 6.0), (400, 5.0)], {"a": 4.0, "b": 6.0})}
    searched = run(mixing, "mix-search", 0, [(200, 5.0), (400, 4.5)], {"a": 3.5, "b": 5.5}, search_tokens=600)
    row = mixing.summarize("mix-search", [searched], u, DOMAINS)
    assert row["speedup"]["mean"] == 2.0  # the equal budget only
    assert row["search_tokens"] == 600
    assert row["speedup_counting_search"]["mean"] == 0.5  # 400 / (200 + 600)


def test_best_method_must_keep_the_worst_domain_when_any_method_can(mixing):
    def row(speedup, worst, reached=1, mean=5.0):
        return {"speedup": {"mean": speedup}, "worst_domain_loss": {"mean": worst}, "reached_seeds": reached,
                "mean_loss": {"mean": mean}}

    table = {"uniform": row(1.0, 6.0, 3), "greedy": row(1.4, 6.5), "fair": row(1.1, 5.9), "none": row(2.0, 5.0, 0)}
    best, how = mixing.pick_best(table, uniform_worst=6.0)
    assert best == "fair" and "no higher than uniform's" in how
    del table["fair"]
    best, how = mixing.pick_best(table, uniform_worst=6.0)
    assert best == "greedy" and "largest mean speedup overall" in how
    best, how = mixing.pick_best({"uniform": row(1.0, 6.0, 3), "none": row(2.0, 5.0, 0)}, uniform_worst=6.0)
    assert best is None


def test_mix_search_method_uses_the_searched_weights_as_a_static_schedule(mixing):
    over = mixing.method_overrides("mix-search", 100, DOMAINS, {"a": 0.7, "b": 0.3})
    assert over == {"schedule": {"kind": "static", "weights": {"a": 0.7, "b": 0.3}}, "controller": {"kind": "schedule"}}
    with pytest.raises(ValueError, match="no searched mixture"):
        mixing.method_overrides("mix-search", 100, DOMAINS)
    # Every controller gets the same timing rule, from the run length alone.
    assert mixing.method_overrides("odm", 150, DOMAINS)["controller"] == {"kind": "odm", "warmup_steps": 15,
                                                                         "update_every": 3}
