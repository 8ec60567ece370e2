"""The arithmetic behind ``benchmarks/rl_curriculum.py``: final scores, interpolated rollouts to a
target, areas under the curve, bootstrap intervals, the headline, the configs and the
disjointness of RL prompts from the cold start's items (loaded by path: the benchmark is a
program)."""

from __future__ import annotations

import pytest

from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("rl_curriculum.py", "bench_rl") as module:
        yield module


def curve(*pass1, worst=None, per_step=32):
    return [{"step": 10 * i, "rollouts": 10 * i * per_step, "pass1": p, "greedy": p,
             "worst": (worst or [0.0] * len(pass1))[i], "rungs": {"a": p}} for i, p in enumerate(pass1)]


def test_final_score_reach_and_auc(bench):
    c = curve(0.1, 0.3, 0.5, 0.4, 0.6)
    assert bench.final_score(c) == pytest.approx(0.5)
    # 0.4 is crossed between 320 (0.3) and 640 (0.5) rollouts: interpolated at 480.
    assert bench.reach(c, 0.4) == pytest.approx(480.0) and bench.reach(c, 0.4, "step") == pytest.approx(15.0)
    assert bench.reach(c, 0.1) == 0.0 and bench.reach(c, 0.7) is None
    # Trapezoids over [0, 1280], the last value carried to a budget of 1600.
    area = (320 * 0.2 + 320 * 0.4 + 320 * 0.45 + 320 * 0.5 + 320 * 0.6) / 1600
    assert bench.auc(c, 1600) == pytest.approx(area)


def test_bootstrap_interval(bench):
    out = bench.interval([1.0, 2.0, 3.0])
    assert out["mean"] == 2.0 and 1.0 <= out["ci"][0] <= 2.0 <= out["ci"][1] <= 3.0 and out["n"] == 3
    assert bench.interval([0.5, 0.5])["ci"] == [0.5, 0.5]
    assert bench.interval([1.0, 2.0, 3.0]) == out  # seeded


def test_the_headline(bench):
    def run(c, zv=0.8):
        return {"curve": c, "zero_variance_share": zv, "trained_zero_variance_share": zv, "wall_s": 100.0,
                "profile_rollouts": 0, "skipped": {}, "flags": []}

    results = {
        "uniform": {0: run(curve(0.1, 0.2, 0.3, 0.4, 0.4, worst=[0, 0, 0.1, 0.1, 0.1])),
                    1: run(curve(0.1, 0.2, 0.3, 0.4, 0.4, worst=[0, 0, 0.1, 0.1, 0.1]))},
        # Twice as fast as uniform to 0.4, but its worst rung lower: not the best.
        "lilo": {0: run(curve(0.1, 0.4, 0.5, 0.5, 0.5)), 1: run(curve(0.1, 0.4, 0.5, 0.5, 0.5))},
        "greso": {0: run(curve(0.1, 0.3, 0.4, 0.4, 0.4, worst=[0, 0, 0.1, 0.1, 0.1])),
                  1: run(curve(0.1, 0.1, 0.1, 0.1, 0.1, worst=[0, 0, 0.1, 0.1, 0.1]))},
        "random-reward": {0: run(curve(0.1, 0.1, 0.1, 0.1, 0.1)), 1: run(curve(0.1, 0.1, 0.1, 0.0, 0.0))},
    }
    out = bench.summarize(results, [0, 1], 1600)
    assert out["uniform_zero_variance_share"] == 0.8 and out["ceiling"] == 5.0
    # Uniform reaches its final 0.4 at 960 rollouts; lilo at 320 (3x), greso at 640 (1.5x) in
    # seed 0 and never in seed 1 (counted 0 in the mean).
    assert out["methods"]["lilo"]["speedup"]["mean"] == pytest.approx(3.0)
    assert out["methods"]["greso"]["speedup_per_seed"] == [1.5, "never"]
    assert out["methods"]["greso"]["speedup"]["mean"] == pytest.approx(0.75)
    assert out["best"] == "greso"  # lilo's worst rung (0.0) is below uniform's (0.1)
    assert out["random_reward_gap"]["mean"] == pytest.approx(0.4 - 0.05)
    assert out["methods"]["lilo"]["gain"]["mean"] == pytest.approx(0.4)
    # At equal steps: lilo's last 0.5 at step 40 against uniform's 0.4 there.
    assert out["methods"]["lilo"]["equal_steps_gain"]["mean"] == pytest.approx(0.1)
    assert bench.at(curve(0.1, 0.3), 5) == pytest.approx(0.2) and bench.at(curve(0.1, 0.3), 99) == 0.3


def test_the_methods_share_a_budget_and_rl_prompts_are_not_cold_start_items(bench, tmp_path):
    from curricle.rl.config import RLConfig

    cfgs = {m: RLConfig.model_validate(bench.method_config(m, tmp_path, 0, 4800, 800,
                                                           tmp_path / "p.json" if m in bench.PROFILE_METHODS
                                                           else None))
            for m in bench.METHODS}
    assert {c.grpo.rollouts for c in cfgs.values()} == {4800}
    assert {(c.grpo.num_generations, c.grpo.prompts_per_step, c.grpo.lr, c.grpo.temperature)
            for c in cfgs.values()} == {(8, 4, bench.LR, 1.0)}
    assert {(c.eval.every_rollouts, c.eval.samples) for c in cfgs.values()} == {(800, 8)}
    assert cfgs["random-reward"].grpo.reward == "random" and cfgs["random-reward"].curriculum.kind == "uniform"
    band = cfgs["band"].curriculum
    assert band.kind == "uniform" and [(g.kind, g.low, g.high, g.before_rollout) for g in band.gates] == [
        ("pass-rate-band", 0.01, 0.99, True)]
    assert [t.name for t in cfgs["uniform"].tasks] == [f"reverse-L{n}" for n in bench.RUNGS]
    assert {t.source.train_offset for t in cfgs["uniform"].tasks} == {bench.SFT_ITEMS}
    assert bench.check_disjoint() == bench.RL_PROMPTS * len(bench.RUNGS)


def test_the_oracle_gate_is_a_reference_scored_at_uniforms_steps(bench, tmp_path):
    from curricle.rl.config import RLConfig

    uniform = RLConfig.model_validate(bench.method_config("uniform", tmp_path, 0, 3200, 800, None))
    oracle = RLConfig.model_validate(bench.method_config("oracle-gate", tmp_path, 0, 3200, 800, None))
    # DAPO's filter, the same step cap (so the same learning-rate schedule), rollouts past the budget,
    # scored every 25 steps (uniform's 800 rollouts) instead of by rollouts.
    assert oracle.curriculum.kind == "dynamic-filter" and oracle.grpo.steps == uniform.grpo.steps == 400
    assert oracle.grpo.rollouts == 5 * 3200 and (oracle.eval.every, oracle.eval.every_rollouts) == (25, None)
    assert "oracle-gate" not in bench.METHODS and "oracle-gate" in bench.REFERENCES
    # --batch 16: four times the budget and the evaluation interval, so the same steps and schedule.
    big = RLConfig.model_validate(bench.method_config("oracle-gate", tmp_path, 0, 12800, 3200, None, batch=16))
    assert (big.grpo.prompts_per_step, big.grpo.steps, big.eval.every) == (16, 400, 25)

    def run(c):
        return {"curve": c, "zero_variance_share": 0.5, "trained_zero_variance_share": 0.5, "wall_s": 10.0,
                "profile_rollouts": 0, "skipped": {}, "flags": []}

    flat = curve(0.1, 0.2, 0.3, 0.4, 0.4)
    # The oracle is at uniform's final 0.4 by step 20 (2x in steps), then past uniform's last step
    # (40: a budget of 1,280 / 32) at 0.9, which is cut off; a contender at 1.5x.
    fast = curve(0.1, 0.3, 0.4, 0.4, 0.4, 0.9, 0.9, per_step=96)
    results = {"uniform": {0: run(flat)}, "oracle-gate": {0: run(fast)},
               "greso": {0: run(curve(0.1, 0.2, 0.35, 0.4, 0.4))}}
    out = bench.summarize(results, [0], 1280)
    assert out["gate_ceiling"]["mean"] == pytest.approx(30 / 20)
    assert out["methods"]["oracle-gate"]["final_pass1"]["mean"] == pytest.approx(0.4)  # steps 30 and 40
    assert out["best"] == "greso"  # the oracle, faster, is never the best: a reference
    # Its rollouts past the budget are not counted: no figure by rollouts.
    assert not {"speedup", "speedup_per_seed", "auc_gain", "wall_speedup_reached"} & set(out["methods"]["oracle-gate"])
    with pytest.raises(SystemExit, match="oracle-gate: seeds \\[0\\] stopped before uniform's 40 steps"):
        bench.summarize({"uniform": {0: run(flat)}, "oracle-gate": {0: run(curve(0.1, 0.3, 0.4))}}, [0], 1280)
    # With 128 rollouts a step (--batch 16), uniform's steps end at 5,120 / 128 = 40 too.
    assert bench.summarize(results, [0], 5120, per_step=128)["gate_ceiling"] == out["gate_ceiling"]
