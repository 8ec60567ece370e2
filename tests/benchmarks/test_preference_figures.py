"""The arithmetic behind ``benchmarks/preference.py``: the pairs' partial-credit grader, the
per-arm figures, the paired differences with their standard errors, the targets, the arms'
DPO configs and the disjointness of pair prompts from test items (loaded by path: the
benchmark is a program)."""

from __future__ import annotations

import math

import pytest

from curricle.dpo.config import DPOConfig
from curricle.tasks.items import TaskItem
from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("preference.py", "bench_preference") as module:
        yield module


def test_similarity_gives_partial_credit(bench):
    item = TaskItem(id="a", prompt="reverse: abcd ->", completion=" dcba")
    assert bench.similarity(item, " dcba") == 1.0
    assert bench.similarity(item, " dcbx") == 0.75  # one substitution in 4
    assert bench.similarity(item, " dc") == 0.5  # two deletions in 4
    assert bench.similarity(item, " dcbaa") == pytest.approx(0.8)  # one extra character: 1 edit over 5
    assert bench.similarity(item, " wxyz") == 0.0
    assert bench.levenshtein("kitten", "sitting") == 3 and bench.levenshtein("", "ab") == 2


def tasks(**pass1):
    return {t: {"pass1": p, "greedy": p / 2, "length": 4.0 + p, "n": 64} for t, p in pass1.items()}


def test_arm_figures_and_summary(bench):
    results = {
        "none": {0: {"tasks": tasks(a=0.5, b=0.3)}, 1: {"tasks": tasks(a=0.6, b=0.2)}, 2: {"tasks": tasks(a=0.4, b=0.4)}},
        "random": {0: {"tasks": tasks(a=0.6, b=0.4)}, 1: {"tasks": tasks(a=0.6, b=0.4)}, 2: {"tasks": tasks(a=0.5, b=0.5)}},
        "margin": {0: {"tasks": tasks(a=0.7, b=0.5)}, 1: {"tasks": tasks(a=0.6, b=0.4)}, 2: {"tasks": tasks(a=0.6, b=0.4)}},
    }
    fig = bench.arm_figures(results["none"][0]["tasks"])
    assert fig == {"pass1": pytest.approx(0.4), "worst": 0.3, "worst_task": "b", "greedy": pytest.approx(0.2),
                   "length": pytest.approx(4.4)}
    # A tie for the worst task goes to the first name.
    assert bench.arm_figures(results["none"][2]["tasks"])["worst_task"] == "a"
    out = bench.summarize(results, [0, 1, 2])
    # Means over tasks per seed: none 0.4 0.4 0.4, random 0.5 0.5 0.5, margin 0.6 0.5 0.5.
    assert out["arms"]["none"]["pass1"] == {"mean": 0.4, "stderr": 0.0, "n": 3, "per_seed": [0.4, 0.4, 0.4]}
    assert out["arms"]["margin"]["worst"]["per_seed"] == [0.5, 0.4, 0.4]
    assert out["arms"]["margin"]["worst_task"] == ["b", "b", "b"]
    assert out["arms"]["none"]["per_task_pass1"] == {"a": 0.5, "b": 0.3}
    gain = out["dpo_gain"]  # margin - none: 0.2, 0.1, 0.1
    assert gain["per_seed"] == [0.2, 0.1, 0.1]
    assert gain["mean"] == pytest.approx(0.1333, abs=1e-4)
    assert gain["stderr"] == pytest.approx(round(math.sqrt(1 / 300) / math.sqrt(3), 4))
    assert out["curriculum_vs_random"]["per_seed"] == [0.1, 0.0, 0.0]
    assert out["random_gain"]["per_seed"] == [0.1, 0.1, 0.1]
    assert out["dpo_gain_greedy"]["per_seed"] == [0.1, 0.05, 0.05]
    # 0.1333 > 2 x 0.0333; margin - random's mean 0.0333 >= 0.
    assert out["targets_met"] == {"curriculum_vs_random": True, "dpo_gain": True}
    assert "dpo_nll_gain" not in out  # only arms that ran are compared
    plus = bench.summarize({**results, "margin+nll": results["margin"], "random+nll": results["none"]}, [0, 1, 2])
    assert plus["dpo_nll_gain"] == gain and plus["curriculum_vs_random_nll"]["per_seed"] == [0.2, 0.1, 0.1]
    assert plus["targets_met"] == {"curriculum_vs_random": True, "curriculum_vs_random_nll": True, "dpo_gain": True,
                                   "dpo_nll_gain": True}
    worse = {**results, "margin": results["none"]}
    assert bench.summarize(worse, [0, 1, 2])["targets_met"] == {"curriculum_vs_random": False, "dpo_gain": False}


def test_arm_configs_validate_and_differ_only_in_order(bench, tmp_path):
    s = bench.SETTINGS["quick"]
    configs = {arm: bench.dpo_config(arm, str(tmp_path), str(tmp_path / "pairs.jsonl"), 3, s)
               for arm in ("random", "margin")}
    for arm, cfg in configs.items():
        c = DPOConfig.model_validate(cfg)
        assert c.curriculum.order == arm and c.steps == s["steps"] and c.train.beta == 0.1
        assert c.train.nll_weight == 0
        plus = DPOConfig.model_validate(bench.dpo_config(f"{arm}+nll", str(tmp_path), str(tmp_path / "p.jsonl"), 3, s))
        assert plus.curriculum.order == arm and plus.train.nll_weight == 1.0
        assert plus.train.model_dump(exclude={"nll_weight"}) == c.train.model_dump(exclude={"nll_weight"})
        # two stages ending at the evaluation halfway (a later stage's steps count from the evaluation that began it)
        assert [st.max_steps for st in c.curriculum.stages] == [s["steps"] // 2, s["steps"] // 2]
        assert [st.advance_when for st in c.curriculum.stages] == [None, None]
    strip = [{k: v for k, v in cfg.items() if k != "name"} for cfg in configs.values()]
    strip[0]["curriculum"].pop("order"), strip[1]["curriculum"].pop("order")
    assert strip[0] == strip[1]
    # Curri-DPO's three bands: evaluations every 53 of 160 steps, the stages ending at 53 and 106
    curri = DPOConfig.model_validate(bench.dpo_config("curri", str(tmp_path), str(tmp_path / "p.jsonl"), 3, s))
    assert (curri.curriculum.eval_every, [st.max_steps for st in curri.curriculum.stages]) == (53, [53, 53, 54])
    control = DPOConfig.model_validate(bench.dpo_config("nll", str(tmp_path), str(tmp_path / "p.jsonl"), 3, s))
    assert control.curriculum.order == "random" and control.train.loss_type == "sft" and control.train.nll_weight == 0
    random_train = DPOConfig.model_validate(configs["random"]).train
    assert control.train.model_dump(exclude={"loss_type"}) == random_train.model_dump(exclude={"loss_type"})


def test_pair_prompts_are_apart_from_test_items(bench):
    train = bench.check_disjoint(8, 16)
    assert sorted(train) == [f"reverse-L{n}" for n in bench.RUNGS]
    assert all(len(v) == 8 for v in train.values())
