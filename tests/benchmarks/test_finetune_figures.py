"""The arithmetic behind ``benchmarks/finetune_curriculum.py``: examples to a target, spreads,
bootstrap intervals over seeds, speedups with "never", the verdicts, and the three methods'
curricula (loaded by path: the benchmark is a program)."""

from __future__ import annotations

import pytest

from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("finetune_curriculum.py", "bench_finetune") as module:
        yield module


def test_examples_to_target_and_spread(bench):
    curve = [{"examples": 0, "mean": 0.0}, {"examples": 100, "mean": 0.4}, {"examples": 200, "mean": 0.6}]
    assert bench.first_reaching(curve, 0.4) == 100 and bench.first_reaching(curve, 0.61) is None
    s = bench.spread([0.5, None, 0.7])
    assert s == {"mean": pytest.approx(0.6), "std": pytest.approx(0.1414213562), "min": 0.5, "max": 0.7, "n": 2}


def test_intervals_are_over_resampled_seeds(bench):
    import numpy as np

    draws = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [0, 1, 2]])
    r = bench.interval([0.1, 0.2, 0.6], draws)
    assert r["mean"] == pytest.approx(0.3)
    # The resampled means are 0.1, 0.2, 0.6 and 0.3: their 2.5th and 97.5th percentiles.
    assert r["ci"] == pytest.approx([float(np.percentile([0.1, 0.2, 0.6, 0.3], 2.5)),
                                     float(np.percentile([0.1, 0.2, 0.6, 0.3], 97.5))])
    assert bench.interval([0.1, None], draws[:, :2] % 2) == {"mean": None, "ci": None}
    d = bench.resamples(5, reps=100)
    assert d.shape == (100, 5) and d.min() >= 0 and d.max() <= 4 and (bench.resamples(5, reps=100) == d).all()


def test_speedups_keep_never_apart(bench):
    assert bench.speedups([3200, 1600, 1600, 0], [1600, None, 3200, 800]) == [2.0, "never", 0.5, None]


def curve(points: list[tuple[int, float]]) -> list[dict]:
    return [{"examples": e, "mean": m, "worst": m} for e, m in points]


def test_summary_and_verdicts_from_per_seed_results(bench):
    def res(points, bwt=None):
        return {"curve": curve(points), "test_mean": points[-1][1], "bwt": bwt, "components_at_stage_end": 0.5,
                "components_final": 0.5 + (bwt or 0),
                "review": {"floor_intervals": 1, "min_review_share": 0.1}}

    results = {
        "mixed": {0: res([(0, 0.0), (100, 0.5), (200, 0.6)]), 1: res([(0, 0.0), (100, 0.6), (200, 0.6)])},
        "sequential": {0: res([(0, 0.0), (100, 0.2), (200, 0.3)], -0.4), 1: res([(0, 0.0), (200, 0.3)], -0.2)},
        "curriculum": {0: res([(0, 0.0), (100, 0.6), (200, 0.7)], 0.0), 1: res([(0, 0.0), (200, 0.5)], -0.02)},
    }
    s = bench.summarize(results, [0, 1], bench.METHODS)
    assert s["examples_to_mixed_final"] == {"mixed": [200, 100], "sequential": ["never", "never"],
                                            "curriculum": [100, "never"]}
    sp = s["curriculum_speedup_vs_mixed"]
    assert sp["per_seed"] == [2.0, "never"] and sp["mean"] == pytest.approx(1.0) and sp["never_counts_as"] == 0.0
    assert s["bwt_curriculum"]["mean"] == pytest.approx(-0.01) and s["bwt_sequential"]["mean"] == pytest.approx(-0.3)
    assert s["bwt_gain_vs_sequential"]["mean"] == pytest.approx(0.29) and s["bwt"]["curriculum"]["per_seed"] == [0.0,
                                                                                                                -0.02]
    assert s["mean_em"]["mixed"]["per_seed"] == [0.6, 0.6] and s["review"]["floor_intervals"] == [1, 1]
    assert s["components"]["sequential"]["final"]["mean"] == pytest.approx(0.2)
    assert bench.components_at({"R": [[0.5, 0.7, 0.0], [0.25, 0.5, 0.5]], "tasks": bench.TASKS}, 0) == 0.6
    assert bench.components_at({"R": [[0.5, 0.7, 0.0]], "tasks": bench.TASKS}, -1) is None
    assert bench.verdicts(s) == {"curriculum_speedup_vs_mixed": False, "bwt_curriculum": True}
    assert bench.verdicts({"curriculum_speedup_vs_mixed": {"mean": 1.5, "ci": [1.1, 2.0]},
                           "bwt_curriculum": {"mean": -0.01, "ci": [-0.06, 0.03]}}) == {
        "curriculum_speedup_vs_mixed": True, "bwt_curriculum": False}


def test_the_methods_have_the_same_budget_and_valid_configs(bench, tmp_path):
    from curricle.finetune.config import FinetuneConfig

    q = bench.SETTINGS["quick"]
    assert q["n_heldout"] >= 256 and len(q["seeds"]) >= 5
    cfgs = {m: FinetuneConfig.model_validate(bench.method_config(m, tmp_path, 0, q["steps"], q["eval_every"],
                                                                 q["batch"], q["lr"], q["n_train"], q["n_heldout"],
                                                                 q["n_test"], q["lr_scheduler"]))
            for m in bench.METHODS}
    assert {c.steps for c in cfgs.values()} == {800} and {c.train.batch_size for c in cfgs.values()} == {32}
    assert {c.train.lr for c in cfgs.values()} == {3e-3}
    assert {(c.train.lr_scheduler, c.train.warmup_steps) for c in cfgs.values()} == {("linear", 40)}
    assert all(s.lr_scale == 1 for c in cfgs.values() for s in c.curriculum.stages)
    assert [s.name for s in cfgs["sequential"].curriculum.stages] == ["components", "compositions"]
    assert cfgs["sequential"].curriculum.review is None and cfgs["mixed"].curriculum.stages[0].tasks == {
        t: 1 for t in bench.TASKS}
    c = cfgs["curriculum"].curriculum
    assert c.review.kind == "leitner" and c.stages[0].advance_when.at_least == bench.MILESTONE
    assert (c.review.fraction, c.review.floor, c.revisit_when.margin_se) == (0.3, 0.1, 2.0)
    task = cfgs["mixed"].tasks[0]
    assert (task.source.n_heldout, task.eval_items, task.source.n_test) == (256, 256, 256)


def test_a_run_at_another_schedule_or_seeds_writes_its_own_results_file(bench):
    q = bench.SETTINGS["quick"]
    assert bench.results_variant(q, "linear", [0, 1, 2, 3, 4]) is None
    assert bench.results_variant(q, "constant_with_warmup", [0, 1, 2, 3, 4]) == "constant-with-warmup"
    assert bench.results_variant(q, "linear", list(range(10))) == "seeds-10"
    assert bench.results_variant(q, "cosine", [0, 1]) == "cosine.seeds-2"
