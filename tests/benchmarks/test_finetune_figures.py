"""The arithmetic behind ``benchmarks/finetune_curriculum.py``: examples to a target, spreads,
and the three methods' curricula (loaded by path: the benchmark is a program)."""

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


def test_the_methods_have_the_same_budget_and_valid_configs(bench, tmp_path):
    from curricle.finetune.config import FinetuneConfig

    cfgs = {m: FinetuneConfig.model_validate(bench.method_config(m, tmp_path, 0, 800, 50, 32, 3e-3, 2000, 48))
            for m in bench.METHODS}
    assert {c.steps for c in cfgs.values()} == {800} and {c.train.batch_size for c in cfgs.values()} == {32}
    assert [s.name for s in cfgs["sequential"].curriculum.stages] == ["components", "compositions"]
    assert cfgs["sequential"].curriculum.review is None and cfgs["mixed"].curriculum.stages[0].tasks == {
        t: 1 for t in bench.TASKS}
    c = cfgs["curriculum"].curriculum
    assert c.review.kind == "leitner" and c.stages[0].advance_when.at_least == bench.MILESTONE
