"""The arithmetic behind ``benchmarks/rl_curriculum.py``: plateaus, rollouts to a target, the
speedup's edge cases and the headline (loaded by path: the benchmark is a program)."""

from __future__ import annotations

import pytest

from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("rl_curriculum.py", "bench_rl") as module:
        yield module


def curve(*means, worst=None):
    return [{"rollouts": 100 * i, "mean": m, "worst": (worst or [0.0] * len(means))[i]} for i, m in enumerate(means)]


def test_plateau_and_first_reaching_use_three_evaluations(bench):
    c = curve(0.1, 0.5, 0.2, 0.3, 0.4)
    assert bench.plateau(c) == pytest.approx(0.3)
    # Trailing means: 0.1, 0.3, 0.267, 0.333, 0.3: the single 0.5 at 100 does not count alone.
    assert bench.first_reaching(c, 0.3) == 100 and bench.first_reaching(c, 0.31) == 300
    assert bench.first_reaching(c, 0.34) is None


def test_speedup_edge_cases(bench):
    uniform = curve(0.1, 0.1, 0.2, 0.3, 0.3, 0.3)  # plateau 0.3, reached (trailing) at 500
    fast = curve(0.1, 0.4, 0.4, 0.4, 0.4, 0.4)  # trailing 0.1, 0.25, 0.3 at 200
    assert bench.speedup(uniform, fast) == (2.5, 200)
    assert bench.speedup(uniform, curve(0.1, 0.1, 0.1, 0.1, 0.1, 0.1)) == (0.0, None)
    flat = curve(0.3, 0.2, 0.2, 0.2)  # uniform no better than the base: nothing to be faster at
    assert bench.speedup(flat, curve(0.3, 0.3, 0.3, 0.3)) == (1.0, 0)


def test_the_headline(bench):
    def run(c):
        return {"curve": c, "zero_variance_share": 0.5, "flags": []}

    results = {
        "uniform": {0: run(curve(0.1, 0.1, 0.2, 0.3, 0.3, 0.3, worst=[0, 0, 0, 0.1, 0.1, 0.1]))},
        "learnability": {0: run(curve(0.1, 0.4, 0.4, 0.4, 0.4, 0.4, worst=[0, 0, 0, 0, 0, 0]))},
        "target-difficulty": {0: run(curve(0.1, 0.1, 0.3, 0.3, 0.3, 0.3, worst=[0, 0, 0, 0.1, 0.2, 0.1]))},
        "random-reward": {0: run(curve(0.1, 0.1, 0.1, 0.2, 0.1, 0.0))},
    }
    out = bench.summarize(results, [0])
    assert out["methods"]["learnability"]["speedup"] == 2.5  # faster, but its worst task is lower than uniform's
    assert out["methods"]["target-difficulty"]["speedup"] == pytest.approx(500 / 400)
    assert out["best_strategy"] == "target-difficulty" and out["best_speedup"] == pytest.approx(1.25)
    assert out["random_reward_gain"] == pytest.approx(0.0) and out["random_reward_gain_se"] is None


def test_the_methods_share_a_budget_and_validate(bench, tmp_path):
    from curricle.rl.config import RLConfig

    cfgs = {m: RLConfig.model_validate(bench.method_config(m, tmp_path, 0, 600, 9600, 25)) for m in bench.METHODS}
    assert {c.grpo.rollouts for c in cfgs.values()} == {9600}
    assert {(c.grpo.num_generations, c.grpo.prompts_per_step, c.grpo.lr) for c in cfgs.values()} == {(8, 4, 3e-4)}
    assert cfgs["random-reward"].grpo.reward == "random" and cfgs["random-reward"].curriculum.kind == "uniform"
    assert cfgs["category-bandit"].curriculum.categories == "level"  # SEC's default: each task's levels
    assert {c.tasks[1].source.n_train for c in cfgs.values()} == {bench.RL_PROMPTS}
    assert [t.name for t in cfgs["uniform"].tasks] == ["reverse", "uppercase", "reverse+uppercase"]

