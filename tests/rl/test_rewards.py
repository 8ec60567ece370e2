"""Composite RL rewards: weighted, annealed graders equal their formula on literal completions;
a failing component is counted under its reason, never scored 0; the grader-failure guard
flags and stops a tiny run whose grader always raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from curricle.config import parse_model
from curricle.errors import CurricleError
from curricle.rl.config import RLConfig, RLTaskConfig
from curricle.rl.rewards import CompositeReward
from curricle.tasks.items import TaskItem

SOURCE = {"kind": "builtin", "skill": "reverse", "n_train": 12, "n_heldout": 4, "n_test": 4}


def composite(reward: list[dict]) -> CompositeReward:
    task = RLTaskConfig.model_validate({"name": "t", "source": SOURCE, "reward": reward})
    return CompositeReward.from_config("t", task.reward, timeout_s=None)


def raise_on_x(item, completion):
    if "x" in completion:
        raise ValueError("no x here")
    return 1.0


def always_raises(item, completion):
    raise ValueError("broken grader")


ITEM = TaskItem("a", "q", "a;b", meta={"steps": ["a", "b"]})
REWARD = [{"grader": {"kind": "exact"}, "weight": 1},
          {"name": "steps", "grader": {"kind": "process", "reward": "steps"}, "weight": 0.5,
           "anneal": {"to": 0, "steps": 200}},
          {"grader": {"kind": "length", "budget": 4}, "weight": -0.1}]


def test_a_composite_reward_is_its_weighted_annealed_sum():
    reward = composite(REWARD)
    completions = ["a;b", "a;c", "a;bbbbb"]
    # exact: 1, 0, 0; steps (share right): 1, 0.5, 0.5; length over 4 chars / 4: 0, 0, 0.75.
    # w_steps(t) = 0.5 - 0.5 min(t / 200, 1): 0.5, 0.25, 0, 0 at t = 0, 100, 200, 300.
    want = {0: [1.5, 0.25, 0.25 - 0.075], 100: [1.25, 0.125, 0.125 - 0.075], 200: [1.0, 0.0, -0.075],
            300: [1.0, 0.0, -0.075]}
    for step, totals in want.items():
        got = reward.score([ITEM] * 3, completions, step)
        assert got.totals == pytest.approx(totals, abs=1e-12)
        assert got.components == {"exact": [1.0, 0.0, 0.0], "steps": [1.0, 0.5, 0.5], "length": [0.0, 0.0, 0.75]}
        assert got.reasons == Counter() and got.failures == Counter()
    assert reward.weights_at(100) == {"exact": 1.0, "steps": 0.25, "length": -0.1}


def test_a_failing_component_is_counted_and_leaves_the_completion_ungraded():
    reward = composite([{"grader": {"kind": "exact"}}, {"name": "boom", "weight": 0.5,
                        "grader": {"kind": "python", "function": f"{__name__}:raise_on_x"}},
                        {"grader": {"kind": "format", "pattern": "a;.*"}, "weight": 0.25}])
    got = reward.score([ITEM] * 3, ["a;b", "a;x", "b"], 0)
    assert got.totals == [1.75, None, 0.5]  # never 0 for "a;x": no total at all
    assert got.components == {"exact": [1.0, 0.0, 0.0], "boom": [1.0, None, 1.0], "format": [1.0, 1.0, 0.0]}
    assert got.reasons == Counter({"boom: error: ValueError": 1})  # ungraded
    assert got.formats == Counter({"no match": 1})  # graded (0.5): a format failure, counted apart
    assert got.failures == Counter({("t's reward component boom (python tests.rl.test_rewards:raise_on_x)",
                                     "error: ValueError"): 1})


def test_the_reward_function_logs_components_and_anneals_by_the_trainer_step():
    from curricle.rl.hf import GradedReward
    from curricle.tasks.config import ScoringConfig
    from curricle.tasks.load import Task

    task = Task("t", "t", ScoringConfig(), [ITEM], [], [])
    reward = GradedReward([(task, ITEM)] * 4, {"t": composite(REWARD)}, num_generations=2)
    scores = reward(prompts=["q"] * 4, completions=["a;b", "a;c", "a;b", "a;bbbbb"], curricle_row=[0, 1, 2, 3],
                    trainer_state=SimpleNamespace(global_step=100))
    assert scores == pytest.approx([1.25, 0.125, 1.25, 0.05])
    _, stats = reward.take()
    assert stats["components"] == {"exact": [1.0, 0.0, 1.0, 0.0], "steps": [1.0, 0.5, 1.0, 0.5],
                                   "length": [0.0, 0.0, 0.0, 0.75]}
    assert stats["ungraded"] == 0


def test_format_failures_are_graded_0_and_logged_apart_from_the_ungraded():
    from curricle.rl.config import GuardSettings, PassRateConfig, UniformCurriculum
    from curricle.rl.curricula import Prompt, build_policy
    from curricle.rl.hf import GradedReward, HeldOutCheck, PolicyFeed, PromptSampler, RLCallback
    from curricle.rl.rewards import GraderReward, build_runner
    from curricle.tasks.config import ScoringConfig
    from curricle.tasks.load import Task

    item = TaskItem("n", "2+2=", "4")
    task = Task("t", "t", ScoringConfig(), [item], [], [])
    reward = GradedReward([(task, item)] * 4, {"t": GraderReward(build_runner({"kind": "numeric"}, None))}, 2)
    sampler = PromptSampler(build_policy(UniformCurriculum(), [Prompt(r, "t", 0.0, "t") for r in range(4)], 0,
                                         PassRateConfig()), steps=2, prompts_per_step=2, num_generations=2)
    it = iter(sampler)
    [next(it) for _ in range(4)]  # step 0 drawn
    assert reward(prompts=["2+2="] * 4, completions=["4", "abc", "5", "x"], curricle_row=[0, 1, 2, 3]) == [
        1.0, 0.0, 0.0, 0.0]
    _, row, _, stats = PolicyFeed(sampler, reward).step(1)
    assert stats["ungraded"] == 0 and stats["reasons"] == Counter() and stats["format"] == Counter({"no number": 2})
    assert row["format/no number"] == 2 and not [k for k in row if k.startswith("ungraded/")]
    # The format-drift guard reads them: 2 of 4 completions unreadable.
    check = HeldOutCheck(SimpleNamespace(evaluate=lambda model, split: {"t": {"exact_match": 1.0}}), GuardSettings())
    check.evaluate(1, None, 4, {"rewards": stats["rewards"], "lengths": stats["lengths"], "format": stats["format"],
                                "n": 4})
    assert check.history[-1]["format"] == 0.5
    # A checkpoint from before they were counted apart: its window's format failures were grader reasons.
    cb = RLCallback.__new__(RLCallback)
    cb.reward, cb.feed, cb.check = SimpleNamespace(rollouts=0, calls=0), SimpleNamespace(trainer=None), check
    cb.load_own_state({"rollouts": 4, "calls": 1, "history": [], "flags": [], "last_eval": 1, "replaced": 0,
                       "window": {"rewards": [1.0], "lengths": [3], "reasons": {"no number": 2, "timeout": 1}, "n": 4}})
    assert cb._window == {"rewards": [1.0], "lengths": [3], "format": Counter({"no number": 2}), "n": 4}


def test_reward_config_shape_and_errors():
    with pytest.raises(ValidationError, match="either grader or reward"):
        RLTaskConfig.model_validate({"name": "t", "source": SOURCE, "grader": {"kind": "exact"},
                                     "reward": [{"grader": {"kind": "exact"}}]})
    with pytest.raises(ValidationError, match="two components are named 'exact'"):
        RLTaskConfig.model_validate({"name": "t", "source": SOURCE, "reward": [{"grader": {"kind": "exact"}},
                                                                               {"grader": {"kind": "exact"}}]})
    with pytest.raises(ValidationError, match="steps"):
        RLTaskConfig.model_validate({"name": "t", "source": SOURCE, "reward": [
            {"grader": {"kind": "exact"}, "anneal": {"to": 0, "steps": 0}}]})


def test_a_reward_that_can_leave_0_1_is_refused_by_what_reads_pass_rates():
    task = {"name": "t", "source": SOURCE, "reward": REWARD}
    assert RLTaskConfig.model_validate(task).reward_range() == (-0.1, 1.5)  # 1 + 0.5 at step 0; -0.1
    # Two weights trading places as they anneal: never above 1 at any step.
    swap = [{"grader": {"kind": "exact"}, "anneal": {"to": 0, "steps": 10}},
            {"name": "b", "grader": {"kind": "exact"}, "weight": 0, "anneal": {"to": 1, "steps": 10}}]
    assert RLTaskConfig.model_validate({**task, "reward": swap}).reward_range() == (0.0, 1.0)
    assert RLTaskConfig.model_validate({"name": "t", "source": SOURCE}).reward_range() == (0.0, 1.0)
    base = {"model": {"path": "m"}, "tasks": [task]}
    with pytest.raises(CurricleError) as err:
        parse_model({**base, "curriculum": {"kind": "learnability"}}, RLConfig, "rl.yaml")
    assert str(err.value) == (
        "rl.yaml: curriculum.kind: learnability reads each prompt's mean reward as a pass rate in [0, 1], but "
        "tasks.0.reward ('t') can be -0.1 to 1.5: scale its weights so that the reward stays within [0, 1], or a "
        "policy and gates that read no pass rates (uniform, dynamic-filter, target-difficulty, category-bandit; "
        "zero-variance)")
    for curriculum, where in [({"kind": "lilo"}, "curriculum.kind: lilo"),
                              ({"kind": "uniform", "gates": [{"kind": "zero-variance"}, {"kind": "greso"}]},
                               "curriculum.gates.1: greso"),
                              ({"kind": "uniform", "gates": [{"kind": "gaussian"}]}, "curriculum.gates.0: gaussian"),
                              ({"kind": "uniform", "gates": [{"kind": "pass-rate-band"}]},
                               "curriculum.gates.0: pass-rate-band")]:
        with pytest.raises(CurricleError, match=f"^rl.yaml: {where} reads each prompt's mean reward as a pass rate"):
            parse_model({**base, "curriculum": curriculum}, RLConfig, "rl.yaml")
    for curriculum in ({"kind": "uniform"}, {"kind": "dynamic-filter"}, {"kind": "category-bandit"},
                       {"kind": "target-difficulty", "difficulty": "heuristic"}):
        parse_model({**base, "curriculum": curriculum}, RLConfig, "rl.yaml")
    parse_model({**base, "curriculum": {"kind": "learnability"}, "grpo": {"reward": "random"}}, RLConfig, "rl.yaml")
    parse_model({"model": {"path": "m"}, "tasks": [{**task, "reward": swap}], "curriculum": {"kind": "learnability"}},
                RLConfig, "rl.yaml")


@pytest.mark.slow
def test_an_always_raising_grader_is_flagged_and_stops_the_run(tmp_path):
    from tests.finetune.conftest import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    cfg = {"seed": 0, "model": {"path": str(ckpt)},
           "tasks": [{"name": "rev", "source": SOURCE,
                      "grader": {"kind": "python", "function": f"{__name__}:always_raises"}}],
           "grpo": {"steps": 6, "num_generations": 2, "prompts_per_step": 2, "max_completion_length": 3},
           "eval": {"every": 10}, "guards": {"grader_failure": {"max_ungraded_share": 0.5, "stop_after": 2}},
           "train": {"checkpoint": {"every": 10}, "log_every": 1, "use_cpu": True, "tensorboard": False,
                     "grader_timeout_s": None}}
    (tmp_path / "rl.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "curricle.cli", "rl", str(tmp_path / "rl.yaml"), "--run-dir",
                        str(tmp_path / "run")], env=env, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-3000:]
    # One line, though the progress bar may precede it on its line: what follows "error: ".
    err = [line[line.index("error: "):] for line in r.stderr.replace("\r", "\n").splitlines() if "error: " in line]
    assert err == ["error: grader-failure: rev's grader python tests.rl.test_rewards:always_raises left 100% of the "
                   "completions ungraded in each of the last 2 steps (step 2; guards.grader_failure.max_ungraded_share "
                   "0.5); top reason: 'error: ValueError' (4 of 4 at step 2)"]
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [(e["event"], e["step"], e["steps_in_a_row"], e["stopped"]) for e in events] == \
        [("grader-failure", 1, 1, False), ("grader-failure", 2, 2, True)]
    assert events[0]["share"] == 1.0 and events[0]["reason"] == "error: ValueError" and events[0]["count"] == 4
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["ungraded/error: ValueError"] for m in steps if "ungraded/error: ValueError" in m] == [4, 4]
    assert not (tmp_path / "run" / "final").exists()
