"""``curricle rl`` end to end on a tiny checkpoint: TRL's GRPOTrainer drawing prompts from
curricle's curricula, a SIGKILL resume, rank identity under torchrun, the guards' flags and
counted grader failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from curricle.errors import CurricleError
from tests.finetune.conftest import tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("rl-ckpt"))


def rl_config(model: Path, kind: str = "learnability", steps: int = 12, **grpo) -> dict:
    return {
        "seed": 0, "model": {"path": str(model)},
        "tasks": [{"name": "rev", "source": {"kind": "builtin", "skill": "reverse", "n_train": 40, "n_heldout": 8,
                                             "n_test": 8, "levels": [{"min_len": 2, "max_len": 2},
                                                                     {"min_len": 3, "max_len": 4}]}}],
        "curriculum": {"kind": kind},
        "grpo": {"steps": steps, "num_generations": 4, "prompts_per_step": 2, "max_completion_length": 5,
                 "lr": 1e-3, "reward": "random", **grpo},
        "eval": {"every": 4},
        "train": {"checkpoint": {"every": 4}, "log_every": 1, "use_cpu": True, "tensorboard": False, "trace": True},
    }


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def cli(*args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "curricle.cli", "rl", *map(str, args)], env=env,
                          capture_output=True, text=True, **kw)


def killed_at(config: Path, run: Path, step: int) -> Path:
    """``curricle rl`` into ``run``, killed with SIGKILL once its step-``step`` checkpoint is written."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "curricle.cli", "rl", str(config), "--run-dir", str(run)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (run / "checkpoints" / f"checkpoint-{step}" / "curricle_rl.json").is_file():
        assert proc.poll() is None, f"the run ended before its step-{step} checkpoint"
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return run


pytestmark = pytest.mark.slow


def test_rl_end_to_end_and_a_sigkill_resume(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, steps=40)
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli(path, "--run-dir", tmp_path / "full")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RL: step 40, 320 rollouts" in r.stdout
    full = tmp_path / "full"
    steps = [m for m in rows(full / "metrics.jsonl") if "reward" in m]
    assert [m["step"] for m in steps] == list(range(1, 41)) and steps[-1]["rollouts"] == 320
    assert all(0 <= m["zero_variance_groups"] <= 1 for m in steps)
    evals = [m for m in rows(full / "metrics.jsonl") if "eval/mean" in m]
    assert [m["step"] for m in evals] == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    log = rows(full / "curriculum_log.jsonl")
    assert log[0]["event"] == "start" and [e["event"] for e in log[1:]] == ["learnability"] * 40
    assert (full / "final" / "config.json").is_file()

    run = killed_at(path, tmp_path / "killed", 8)
    assert not (run / "final").exists()
    r = cli(path, "--run-dir", run, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert rows(run / "trace/prompts.rank0.jsonl") == rows(full / "trace/prompts.rank0.jsonl")
    assert rows(run / "curriculum_log.jsonl") == rows(full / "curriculum_log.jsonl")
    a = [m for m in rows(full / "metrics.jsonl") if "reward" in m]
    b = [m for m in rows(run / "metrics.jsonl") if "reward" in m]
    assert [(m["step"], m["rollouts"], m["reward"]) for m in a] == [(m["step"], m["rollouts"], m["reward"]) for m in b]


def torchrun_rl(cfg: dict, tmp_path: Path) -> Path:
    """``cfg`` written to ``tmp_path/rl.yaml`` and run by ``curricle rl`` on two processes into
    ``tmp_path/ddp``; returns the config's path."""
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([str(torchrun), "--nproc_per_node=2", "-m", "curricle.cli", "rl", str(path), "--run-dir",
                        str(tmp_path / "ddp")], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    return path


def test_every_process_draws_the_same_prompts(tmp_path, checkpoint):
    path = torchrun_rl(rl_config(checkpoint, kind="category-bandit", steps=6), tmp_path)
    assert cli(path, "--run-dir", tmp_path / "one").returncode == 0
    zero, one = rows(tmp_path / "ddp" / "trace/prompts.rank0.jsonl"), rows(tmp_path / "ddp" / "trace/prompts.rank1.jsonl")
    assert zero == one == rows(tmp_path / "one" / "trace/prompts.rank0.jsonl") and len(zero) == 6
    # The policy saw every process's groups: the same bandit values as one process.
    assert rows(tmp_path / "ddp" / "curriculum_log.jsonl") == rows(tmp_path / "one" / "curriculum_log.jsonl")


def test_lilo_under_torchrun_keeps_the_top_of_every_pool(tmp_path, checkpoint):
    """LILO on two processes: each step's pool (its 2 prompts and 2 fresh ones, none twice) is
    generated whole, its groups' tensors sent where the top of every pool together is trained."""
    cfg = rl_config(checkpoint, kind="lilo", steps=6)
    cfg["curriculum"]["pool_factor"] = 2
    torchrun_rl(cfg, tmp_path)
    steps = [m for m in rows(tmp_path / "ddp" / "metrics.jsonl") if "reward" in m]
    assert [m["rollouts"] for m in steps] == [16 * k for k in range(1, 7)]  # the pool: 2 x 2 prompts x 4
    assert all(m["generated/groups"] == 4 and m["zero_variance_groups"] <= m["generated/zero_variance_groups"]
               for m in steps)
    assert rows(tmp_path / "ddp" / "trace/prompts.rank0.jsonl") == rows(tmp_path / "ddp" / "trace/prompts.rank1.jsonl")


def test_dynamic_filter_under_torchrun_refills_with_no_prompt_twice_in_a_step(tmp_path, checkpoint):
    """DAPO on two processes, a narrow band after its zero-variance gate so that most steps
    refill: each step's prompts, its own and every refill round's on both processes (read off
    the policy's group counts in a checkpoint after every step), are all different."""
    cfg = rl_config(checkpoint, kind="dynamic-filter", steps=6)
    cfg["curriculum"].update(gates=[{"kind": "pass-rate-band", "low": 0.4, "high": 0.6}], max_resamples=4)
    cfg["train"]["checkpoint"] = {"every": 1, "keep_last": 6}
    torchrun_rl(cfg, tmp_path)
    ddp = tmp_path / "ddp"
    counts = [{}] + [json.loads((ddp / "checkpoints" / f"checkpoint-{k}" / "curricle_rl.json").read_text())
                     ["sampler"]["policy"]["pass_rates"]["n"] for k in range(1, 7)]
    steps = [m for m in rows(ddp / "metrics.jsonl") if "reward" in m]
    groups = [Counter({r: n - before.get(r, 0) for r, n in after.items()}) for before, after in zip(counts, counts[1:])]
    assert [sum(g.values()) for g in groups] == [m["generated/groups"] for m in steps]
    assert sum(m["generated/groups"] > 2 for m in steps) >= 3  # (refill rounds of 3 prompts a process)
    assert all(max(g.values()) == 1 for g in groups)
    assert rows(ddp / "trace/prompts.rank0.jsonl") == rows(ddp / "trace/prompts.rank1.jsonl")


def test_the_guards_flag_hacking_and_drift():
    from curricle.rl.config import GuardSettings
    from curricle.rl.hf import HeldOutCheck

    cb = HeldOutCheck(evaluator=None, guards=GuardSettings(window=3))
    for step, (reward, metric, length, fmt) in enumerate([(0.2, 0.5, 4.0, 0.0), (0.3, 0.45, 5.0, 0.05),
                                                          (0.4, 0.40, 7.0, 0.3)]):
        cb.history.append({"step": step, "reward": reward, "mean": metric, "length": length, "format": fmt})
        cb._flags(step)
    assert [(f["event"], f["step"]) for f in cb.flags] == [("reward-hacking", 2), ("length-drift", 2),
                                                            ("format-drift", 2)]
    assert cb.flags[0]["reward"] == [0.2, 0.4] and cb.flags[0]["metric"] == [0.5, 0.4]
    assert cb.flags[1]["ratio"] == pytest.approx(1.75)
    # With standard errors: the same 0.1 fall is 1.41 standard errors of the difference at se 0.05
    # (not a flag under the default 2), and 2.83 at se 0.025 (a flag).
    for se, flagged in ((0.05, False), (0.025, True)):
        cb.flags, cb.history = [], []
        for step, (reward, metric) in enumerate([(0.2, 0.5), (0.3, 0.45), (0.4, 0.40)]):
            cb.history.append({"step": step, "reward": reward, "mean": metric, "mean_se": se, "length": 4.0,
                               "format": 0.0})
            cb._flags(step)
        assert [f["event"] for f in cb.flags] == (["reward-hacking"] if flagged else [])
        if flagged:
            assert cb.flags[0]["fall_se"] == pytest.approx(0.1 / (0.025 * 2 ** 0.5), abs=0.01)


def test_a_checkpoint_from_before_the_seam_kit_keeps_its_trace_count():
    from types import SimpleNamespace

    from curricle.rl.hf import TRACE, HeldOutCheck, RLCallback

    cb = RLCallback.__new__(RLCallback)
    cb.reward, cb.feed, cb.check = SimpleNamespace(rollouts=0, calls=0), SimpleNamespace(trainer=None), HeldOutCheck(None, None)
    saved = {"rollouts": 64, "calls": 8, "history": [], "flags": [], "last_eval": 8, "replaced": 0,
             "window": {"rewards": [], "lengths": [], "reasons": {}, "n": 0},
             "log_lines": {"metrics.jsonl": 9, "curriculum_log.jsonl": 9, "events.jsonl": 0}, "trace_lines": 8}
    cb.load_own_state(saved)
    assert saved["log_lines"][TRACE] == 8 and "trace_lines" not in saved
    assert (cb.reward.rollouts, cb.reward.calls, cb.check.last_eval) == (64, 8, 8)


def hang_on_x(item, completion):
    if "x" in completion:
        time.sleep(30)
    return 1.0


def test_the_reward_counts_ungraded_completions(tmp_path):
    from curricle.graders.config import PythonGraderConfig
    from curricle.graders.runner import GraderRunner
    from curricle.rl.hf import GradedReward
    from curricle.tasks.config import ScoringConfig
    from curricle.tasks.items import TaskItem
    from curricle.tasks.load import Task

    task = Task("t", "t", ScoringConfig(), [TaskItem("a", "p", "c")], [], [])
    runner = GraderRunner(PythonGraderConfig(function=f"{__name__}:hang_on_x"), timeout_s=1.0)
    try:
        reward = GradedReward([(task, task.train[0])] * 4, {"t": runner}, num_generations=2)
        scores = reward(prompts=["p"] * 4, completions=["ok", "x", "ok", "ok"], curricle_row=[0, 1, 2, 3])
        assert scores == [1.0, None, 1.0, 1.0]
        groups, stats = reward.take()
        assert groups == [(0, [1.0, None]), (2, [1.0, 1.0])] and stats["reasons"] == Counter({"timeout": 1})
        assert stats["zero_var"] == 2 and reward.rollouts == 4  # one graded value, or all equal: no variance
    finally:
        runner.close()


def test_the_base_profile_reads_pass_rates_as_the_tracked_rate_does(tmp_path, monkeypatch):
    """An ungraded sample (the grader raised or timed out) is left out of a prompt's base rate,
    not counted a failure, and a partial score counts as its part, as the policies' tracked rate
    reads a group; a prompt with none graded has no rate (unknown)."""
    from types import SimpleNamespace

    import curricle.rl.hf as hf
    from curricle.graders.base import Grade
    from curricle.rl.config import PassRateConfig, ProfileConfig, UniformCurriculum
    from curricle.rl.curricula import Prompt, build_policy
    from curricle.tasks.config import ScoringConfig
    from curricle.tasks.items import TaskItem
    from curricle.tasks.load import Task

    scores = {"a": [1.0, None, 0.0, None], "b": [0.5, 0.5, 1.0, 0.0], "c": [None, None, None, None]}
    task = Task("t", "t", ScoringConfig(), [TaskItem(k, k, "x") for k in scores], [], [])
    items = [(task, i) for i in task.train]
    monkeypatch.setattr(hf, "sample_apart", lambda model, tok, prompts, k, *a: [[p] * k for p in prompts])
    grader = SimpleNamespace(grade=lambda its, done: ([Grade(s, "" if s is not None else "timeout")
                                                        for s in scores[done[0]]], {}))
    found = hf.base_profile(None, None, items, {"t": grader}, ProfileConfig(samples=4), 1.0, 4, 0, tmp_path / "p.json")
    assert found["pass_rates"] == [0.5, 0.5, None] and found["rollouts"] == 12
    assert json.loads((tmp_path / "p.json").read_text())["pass_rates"] == [0.5, 0.5, None]
    # The same groups observed in training: the same rates; the ungraded prompt is unknown to both.
    policy = build_policy(UniformCurriculum(), [Prompt(r, "t", 0.0, "t") for r in range(3)], seed=0,
                          pass_rate=PassRateConfig(ema=1.0), profile=dict(enumerate(found["pass_rates"])))
    assert policy.profile == {0: 0.5, 1: 0.5} and policy.prior(2) is None
    policy.observe(0, [(r, scores[k]) for r, k in enumerate(scores)])
    assert policy.pass_rates.p == {0: 0.5, 1: 0.5}


def test_the_base_profile_samples_on_the_device_the_run_trains_on(tmp_path, monkeypatch, checkpoint):
    """The base sampling pass runs after the model is moved where the trainer will put it (a
    GPU), not on the CPU it was loaded on; a profile read from a file moves nothing."""
    import curricle.rl.command as command
    import curricle.rl.hf as hf
    from curricle.rl.config import RLConfig

    events = []
    load = command.load_start_model

    def loaded(config):
        model, tokenizer = load(config)
        to = model.to
        model.to = lambda *a, **k: events.append(("to", *a)) or to(*a, **k)
        return model, tokenizer

    profile = hf.base_profile
    monkeypatch.setattr(command, "load_start_model", loaded)
    monkeypatch.setattr(command, "train_device", lambda use_cpu: events.append(("device", use_cpu)) or "cpu")
    monkeypatch.setattr(hf, "base_profile", lambda *a, **k: events.append(("profile",)) or profile(*a, **k))
    cfg = rl_config(checkpoint, kind="target-difficulty", steps=2)
    _, _, graders = command.build_rl(RLConfig.model_validate(cfg), tmp_path / "run")
    for g in graders.values():
        g.close()
    assert events[:3] == [("device", True), ("to", "cpu"), ("profile",)]
    events.clear()
    cfg["profile"] = {"from": str(tmp_path / "run" / "profile.json")}
    _, _, graders = command.build_rl(RLConfig.model_validate(cfg), tmp_path / "again")
    for g in graders.values():
        g.close()
    assert events[:2] == [("device", True), ("profile",)]  # the device for train.tf32, then no move


def test_dynamic_filter_splices_replacement_groups_into_the_batch():
    import torch

    from curricle.rl.hf import CurricleGRPOTrainer

    class Tok:
        pad_token_id = 9

    t = CurricleGRPOTrainer.__new__(CurricleGRPOTrainer)
    t.processing_class = Tok()
    out = {"prompt_ids": torch.tensor([[1, 2], [1, 2], [3, 4], [3, 4]]),
           "prompt_mask": torch.ones(4, 2, dtype=torch.long),
           "completion_ids": torch.tensor([[5], [5], [6], [6]]), "completion_mask": torch.ones(4, 1, dtype=torch.long),
           "advantages": torch.tensor([0.0, 0.0, 1.0, -1.0]), "num_items_in_batch": torch.tensor(4)}
    repl = {"prompt_ids": torch.tensor([[7, 7, 7], [7, 7, 7]]), "prompt_mask": torch.ones(2, 3, dtype=torch.long),
            "completion_ids": torch.tensor([[8, 8], [8, 9]]), "completion_mask": torch.tensor([[1, 1], [1, 0]]),
            "advantages": torch.tensor([0.7, -0.7]), "num_items_in_batch": torch.tensor(3)}
    got = t._splice(out, [0], repl, [0], g=2)
    # Group 0 (zero variance) replaced; prompts left-padded, completions right-padded to the new widths.
    assert got["prompt_ids"].tolist() == [[7, 7, 7], [7, 7, 7], [9, 3, 4], [9, 3, 4]]
    assert got["prompt_mask"].tolist() == [[1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 1, 1]]
    assert got["completion_ids"].tolist() == [[8, 8], [8, 9], [6, 9], [6, 9]]
    assert got["completion_mask"].tolist() == [[1, 1], [1, 0], [1, 0], [1, 0]]
    assert got["advantages"].tolist() == pytest.approx([0.7, -0.7, 1.0, -1.0])


def test_dynamic_filter_replaces_dead_groups_and_counts_their_rollouts(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, kind="dynamic-filter", steps=8)
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli(path, "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [m for m in rows(tmp_path / "run" / "metrics.jsonl") if "reward" in m]
    # Coin rewards: a group of 4 is dead with probability 1/8, so some steps generate again.
    assert steps[-1]["replaced_groups"] > 0 and steps[-1]["rollouts"] > 8 * 2 * 4


def test_learnability_with_the_zero_variance_gate_counts_rejections_and_charges_their_rollouts(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, kind="learnability", steps=8)
    cfg["curriculum"]["gates"] = [{"kind": "zero-variance"}]
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli(path, "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [m for m in rows(tmp_path / "run" / "metrics.jsonl") if "reward" in m]
    last = steps[-1]
    rejected = last.get("gate/zero-variance/rejected/zero-variance", 0)
    # Coin rewards: a group of 4 is dead with probability 1/8: some are rejected and replaced.
    assert rejected > 0 and last["replaced_groups"] > 0
    # Every group generated was judged: the step's 2 groups, and each replacement round's.
    generated_groups = last["rollouts"] // 4
    assert last["gate/zero-variance/admitted"] + rejected == generated_groups
    # Every rollout generated is charged: more than the 8 x 2 x 4 of the trained groups.
    assert last["rollouts"] == 4 * generated_groups > 8 * 2 * 4


def test_a_killed_and_resumed_run_with_a_gate_draws_the_same_prompts(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, kind="learnability", steps=12)
    cfg["curriculum"]["gates"] = [{"kind": "zero-variance"}]
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli(path, "--run-dir", tmp_path / "full").returncode == 0
    run = killed_at(path, tmp_path / "killed", 4)
    r = cli(path, "--run-dir", run, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert rows(run / "trace" / "prompts.rank0.jsonl") == rows(tmp_path / "full" / "trace" / "prompts.rank0.jsonl")
    gate = [{k: v for k, v in m.items() if k.startswith(("gate/", "replaced", "rollouts"))}
            for m in rows(run / "metrics.jsonl") if "reward" in m]
    assert gate == [{k: v for k, v in m.items() if k.startswith(("gate/", "replaced", "rollouts"))}
                    for m in rows(tmp_path / "full" / "metrics.jsonl") if "reward" in m]


def test_groups_split_across_processes_are_joined_before_the_policy_sees_them(monkeypatch):
    """One prompt's 4 completions over 2 processes (2 each): the policy gets one group of 4."""
    from types import SimpleNamespace

    import curricle.rl.hf as hf

    reward = hf.GradedReward(items=[], graders={}, num_generations=4, random_reward=True, seed=0,
                             accelerator=SimpleNamespace(num_processes=2, process_index=0))
    other = ([7, 7], [1.0, 1.0], [3, 3], {}, {}, {}, {})  # process 1's half of the group
    monkeypatch.setattr(hf, "gather_object", lambda mine: [*mine, other])
    mine = reward(prompts=["p", "p"], completions=["ab", "ba"], curricle_row=[7, 7])
    groups, stats = reward.take()
    assert groups == [(7, [*mine, 1.0, 1.0])]
    assert (stats["groups"], reward.rollouts) == (1, 4)


def test_replaced_and_unfilled_groups_are_counted_over_every_process(monkeypatch):
    """Two processes, each replacing one group (then, in a second step, leaving one unfilled):
    every process counts both processes' (as the gates' verdicts), not its own."""
    from types import SimpleNamespace

    import torch
    from trl import GRPOTrainer

    import curricle.rl.hf as hf
    from curricle.rl.config import ZeroVarianceGate
    from curricle.rl.curricula import build_gates

    t = hf.CurricleGRPOTrainer.__new__(hf.CurricleGRPOTrainer)
    t.gates = build_gates(SimpleNamespace(all_gates=lambda: [ZeroVarianceGate()]))
    t.max_resamples, t.oversample, t.pool_factor, t.num_generations = 1, 1, 1, 2
    t.replaced = t.unfilled = 0
    t.trained = []
    t.state, t.model = SimpleNamespace(global_step=3), SimpleNamespace(training=True)
    t.processing_class = SimpleNamespace(pad_token_id=0)
    t.accelerator = SimpleNamespace(num_processes=2, process_index=0, gather=lambda x: x)
    t._global_max = lambda n: n  # (both processes short by the same)
    monkeypatch.setattr(hf, "gather_object", lambda mine: [*mine, *mine])  # process 1 did the same

    def batch(v):
        return {"completion_ids": torch.full((4, 1), v), "completion_mask": torch.ones(4, 1, dtype=torch.long)}

    def generate(self, inputs):
        self.graded.last_local = [1.0, 1.0, 1.0, 0.0]  # group 0: zero variance
        return batch(1)
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", generate)
    for extra, replaced, unfilled in (([0.0, 1.0], 2, 0), ([0.0, 0.0], 2, 2)):
        t.graded = SimpleNamespace(last_local=[])

        def more(step, attempt, n, extra=extra):
            t.graded.last_local = extra
            return {"completion_ids": torch.full((2, 1), 2), "completion_mask": torch.ones(2, 1, dtype=torch.long)}, [
                extra]
        t._generate_more = more
        t._generate_and_score_completions([{}] * 4)
        assert (t.replaced, t.unfilled) == (replaced, unfilled)


def test_the_trainers_fresh_prompts_pass_the_gates_before_generation(monkeypatch):
    """A refill or pool (``_generate_more``) generates only the prompts the gates before
    generation admit, at their dataset positions, and every process's skips join the step's
    (each process draws every process's share, so no gather is needed)."""
    from types import SimpleNamespace

    from trl import GRPOTrainer

    import curricle.rl.hf as hf
    from curricle.rl.config import PassRateBandGate, PassRateConfig, UniformCurriculum
    from curricle.rl.curricula import Prompt, build_policy

    below = "pass-rate-band/below-band"
    prompts = [Prompt(r, "t", float(r), "A") for r in range(10)]
    policy = build_policy(UniformCurriculum(gates=[PassRateBandGate(low=0.2, high=0.8, before_rollout=True)]),
                          prompts, seed=0, pass_rate=PassRateConfig(), profile={r: 0.0 if r < 5 else 0.5
                                                                                for r in range(10)}, batch=2)
    sampler = hf.PromptSampler(policy, steps=3, prompts_per_step=2, num_generations=2)
    sampler.positions = {r: 9 - r for r in range(10)}
    sampler.snapshots.record(0, policy.snapshot())  # (step 2 draws from step 0's)
    sampler.next_step = 2
    it = iter(sampler)
    assert [next(it) for _ in range(4)] == [4, 4, 3, 3] and sampler.drawn[2] == [5, 6]
    t = hf.CurricleGRPOTrainer.__new__(hf.CurricleGRPOTrainer)
    t.prompt_sampler, t.num_generations = sampler, 2
    t.train_dataset = [{"prompt": f"p{9 - i}", hf.ROW_COLUMN: 9 - i} for i in range(10)]
    t.accelerator = SimpleNamespace(process_index=1, num_processes=2)
    t.graded = SimpleNamespace(last_local=[])
    monkeypatch.setattr(hf, "gather_object", None)  # (none called)
    generated = []

    def generate(self, inputs):
        generated.extend(x[hf.ROW_COLUMN] for x in inputs)
        self.graded.last_local = [1.0, 0.0] * (len(inputs) // 2)
        return {}
    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", generate)
    _, groups = t._generate_more(step=2, attempt=0, n=1)
    # One draw for both processes, the step's 5 and 6 left out: [3, 7], then [9, 2]: process 0
    # gets 7, process 1 gets 9; row 3 (drawn for process 0) is skipped, never generated.
    assert generated == [9, 9] and groups == [[1.0, 0.0]]
    assert sampler.refills[2] == [([[7], [9]], [(3, below)])]
    assert sampler.skipped[2] == [(0, below), (4, below), (3, below)]
    sampler.observe(2, [(r, [1.0, 0.0]) for r in (5, 6, 7, 9)])
    assert policy.skips == {below: 3}


@pytest.mark.parametrize("processes", [1, 2])
def test_dapo_refill_rounds_repeat_no_prompt_of_the_step_nor_of_another_process(monkeypatch, processes):
    """DAPO's refill rounds as each process's trainer runs them (every group of zero variance, so
    all 3 rounds run; with two processes each has its own sampler, the other's part of each
    gather scripted as its own): the step's rows and every round's fresh rows, over every
    process, are all different (each process used to draw its own, uniformly over every prompt,
    and repeated the step's rows, an earlier round's and the other process's)."""
    from types import SimpleNamespace

    import torch
    from trl import GRPOTrainer

    import curricle.rl.hf as hf
    from curricle.rl.config import DynamicFilterCurriculum, PassRateConfig
    from curricle.rl.curricula import Prompt, build_gates, build_policy

    cfg = DynamicFilterCurriculum(oversample=1, max_resamples=3)
    prompts = [Prompt(r, "t", float(r), "A") for r in range(20)]
    monkeypatch.setattr(hf, "gather_object", lambda mine: list(mine) * processes)

    def run(me: int) -> tuple[list[int], list[list[int]]]:
        """Process ``me``'s step 0: ``(the step's rows, each generation's rows on this process)``."""
        policy = build_policy(cfg, prompts, seed=0, pass_rate=PassRateConfig(), batch=2 * processes)
        sampler = hf.PromptSampler(policy, steps=1, prompts_per_step=2 * processes, num_generations=2)
        step = list(sampler)[::2]
        t = hf.CurricleGRPOTrainer.__new__(hf.CurricleGRPOTrainer)
        t.gates, t.prompt_sampler = build_gates(cfg), sampler
        t.max_resamples, t.oversample, t.pool_factor, t.num_generations = 3, 1, 1, 2
        t.replaced = t.unfilled = 0
        t.trained = []
        t.state, t.model = SimpleNamespace(global_step=0), SimpleNamespace(training=True)
        t.processing_class = SimpleNamespace(pad_token_id=0)
        t.accelerator = SimpleNamespace(num_processes=processes, process_index=me, gather=lambda x: x)
        t._global_max = lambda n: n  # (every process short by the same)
        t.train_dataset = [{hf.ROW_COLUMN: r} for r in range(20)]
        t.graded = SimpleNamespace(last_local=[])
        generated = []

        def generate(self, inputs):
            rows = [x[hf.ROW_COLUMN] for x in inputs][::2]
            generated.append(rows)
            self.graded.last_local = [1.0, 1.0] * len(rows)  # zero variance: rejected
            return {"completion_ids": torch.tensor([[r] for r in rows for _ in range(2)]),
                    "completion_mask": torch.ones(2 * len(rows), 1, dtype=torch.long)}
        monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", generate)
        t._generate_and_score_completions([{hf.ROW_COLUMN: r} for r in step[2 * me:2 * me + 2] for _ in range(2)])
        assert t.unfilled == 2 * processes and len(generated) == 4  # the step's, then 3 rounds
        return step, generated

    runs = [run(me) for me in range(processes)]
    step = runs[0][0]
    assert all(s == step for s, _ in runs) and [g[0] for _, g in runs] == [step[2 * me:2 * me + 2]
                                                                          for me in range(processes)]
    fresh = [r for _, generated in runs for rows in generated[1:] for r in rows]
    assert len(fresh) == 3 * 2 * processes and len(set(step + fresh)) == len(step + fresh)


def test_lilo_over_two_processes_trains_the_top_of_both_pools(monkeypatch):
    """Two processes, each with a pool of 4 groups (its step's 2, then 2 fresh): process 0 has
    three of the four most learnable, process 1 one. Process 0 trains its first two and sends its
    third to process 1, which trains it beside its own (not its own group of p (1 - p) 0, as a
    top of its own pool would); the kept groups are the same top 4 on both."""
    from types import SimpleNamespace

    import torch
    from trl import GRPOTrainer

    import curricle.rl.hf as hf

    pools = [[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]],  # p (1 - p): .25, .25, .25, 0
             [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]]  # 0, 0, 0, .25

    def generation(ids, width):  # groups of 2 completions, each group's tokens its id
        return {"completion_ids": torch.tensor([[i] * width for i in ids for _ in range(2)]),
                "completion_mask": torch.ones(2 * len(ids), width, dtype=torch.long),
                "advantages": torch.tensor([1.0, -1.0] * len(ids))}

    def run(me: int, theirs: list) -> tuple[dict, list, object]:
        """Process ``me``'s step, the other process's part of each gather scripted in ``theirs``."""
        t = hf.CurricleGRPOTrainer.__new__(hf.CurricleGRPOTrainer)
        t.gates, t.pool_factor, t.num_generations = [], 2, 2
        t.replaced = t.unfilled = 0
        t.trained = []
        t.state, t.model = SimpleNamespace(global_step=3), SimpleNamespace(training=True)
        t.processing_class = SimpleNamespace(pad_token_id=0)
        t.accelerator = SimpleNamespace(num_processes=2, process_index=me, gather=lambda x: x)
        t.graded = SimpleNamespace(last_local=[r for g in pools[me][:2] for r in g])
        sent = []

        def gather(mine):
            sent.append(mine)
            other = theirs.pop(0)
            return [*mine, *other] if me == 0 else [*other, *mine]
        monkeypatch.setattr(hf, "gather_object", gather)
        monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions",
                            lambda self, inputs: generation([10 * me, 10 * me + 1], 1))
        t._generate_more = lambda step, attempt, n, pool=False: (generation([10 * me + 2, 10 * me + 3], 2),
                                                                 pools[me][2:])
        return t._generate_and_score_completions([{}] * 4), sent, t

    # Process 0: keeps its step's groups 0 and 1 in place, sends group 2 (its tensors) to process 1.
    out, sent, t = run(0, [[pools[1]], [], [[1.0, 0.0], [1.0, 0.0]], [(2, 0)]])
    assert out["completion_ids"].tolist() == [[0], [0], [1], [1]] and t.replaced == 2
    assert sent[0] == [pools[0]] and [m for m, _ in sent[1]] == [0]
    assert sent[1][0][1]["completion_ids"].tolist() == [[2, 2], [2, 2]]
    assert t.trained == [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]  # the top 4: all .25
    # Process 1: its fresh group 3 and process 0's group 2 take its step's groups' places.
    group_2 = sent[1]
    out, _, t = run(1, [[pools[0]], group_2, [[1.0, 0.0], [1.0, 0.0]], [(0, 0)]])
    assert out["completion_ids"].tolist() == [[13, 13], [13, 13], [2, 2], [2, 2]]
    assert out["completion_mask"].tolist() == [[1, 1]] * 4 and out["advantages"].tolist() == [1.0, -1.0] * 2
    assert t.replaced == 2 and t.trained == [[1.0, 0.0]] * 4


def test_lilo_trains_the_top_groups_of_its_pool_and_charges_the_whole_pool(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, kind="lilo", steps=4)
    cfg["grpo"]["reward"] = "grader"
    cfg["eval"] = {"every": 1000, "every_rollouts": 64, "samples": 2}  # scored at the same budgets, sampled
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli(path, "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    evals = [m for m in rows(tmp_path / "run" / "metrics.jsonl") if "eval/mean" in m]
    assert [m["rollouts"] for m in evals] == [0, 64, 128]
    assert all(0 <= m["eval/pass1_sampled_mean"] <= 1 and "eval/rev/pass1_sampled" in m for m in evals)
    # The sampled completions' diversity is logged beside them (the measures: tests/rl/test_diversity.py).
    assert all(0 <= m["diversity/edit_distance"] <= 1 and 0 <= m["diversity/answer_entropy"] <= 1 for m in evals)
    steps = [m for m in rows(tmp_path / "run" / "metrics.jsonl") if "reward" in m]
    # Each step generates a pool of 4 x 2 prompts x 4 completions and trains 2 groups of it.
    assert [m["rollouts"] for m in steps] == [32, 64, 96, 128]
    assert all(m["generated/groups"] == 8 for m in steps)
    # The kept groups are the pool's most learnable: never more zero-variance than the pool.
    assert all(m["zero_variance_groups"] <= m["generated/zero_variance_groups"] for m in steps)


def test_dynamic_filter_over_generates_and_reports_trained_and_generated_shares(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, kind="dynamic-filter", steps=6)
    cfg["grpo"]["num_generations"] = 2  # coin rewards: half of all groups of 2 are dead
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli(path, "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [m for m in rows(tmp_path / "run" / "metrics.jsonl") if "reward" in m]
    # A round is the step's 2 prompts, then rounds of 3 x 2 fresh ones: rollouts are 2 x (2 + 6k).
    assert all((m["rollouts"] - prev) % 2 == 0 and ((m["rollouts"] - prev) // 2 - 2) % 6 == 0
               for m, prev in zip(steps, [0] + [s["rollouts"] for s in steps]))
    # The trained batch: the first 2 admitted groups (no zero-variance one unless a step ran out).
    assert all(m["zero_variance_groups"] == 0 for m in steps if m["unfilled_groups"] == 0)
    assert any(m["generated/zero_variance_groups"] > 0 for m in steps)


def test_greso_skips_prompts_before_generation_at_no_rollout_cost(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, kind="uniform", steps=12)
    cfg["curriculum"]["gates"] = [{"kind": "greso", "p_easy": 0.05, "p_hard": 0.05}]
    cfg["grpo"]["reward"] = "grader"
    cfg["tasks"][0]["source"]["n_train"] = 8  # an epoch is 4 steps: prompts come back with a history
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli(path, "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [m for m in rows(tmp_path / "run" / "metrics.jsonl") if "reward" in m]
    # A tiny model fails nearly everything: prompts seen failing are skipped, yet every step
    # generates exactly its 2 prompts x 4 completions.
    assert [m["rollouts"] for m in steps] == [8 * k for k in range(1, 13)]
    assert sum(m["skipped_prompts"] for m in steps) > 0
    final = json.loads((tmp_path / "run" / "final_scores.json").read_text())
    assert sum(v for k, v in final["skipped_prompts"].items() if k.startswith("greso/")) == \
        sum(m["skipped_prompts"] for m in steps)


def test_lilo_with_greso_gates_its_whole_pool_at_no_rollout_cost(tmp_path, checkpoint):
    cfg = rl_config(checkpoint, kind="lilo", steps=8)
    cfg["curriculum"].update(pool_factor=2, gates=[{"kind": "greso", "p_easy": 0.05, "p_hard": 0.05}])
    cfg["grpo"]["reward"] = "grader"
    cfg["tasks"][0]["source"]["n_train"] = 8
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = cli(path, "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [m for m in rows(tmp_path / "run" / "metrics.jsonl") if "reward" in m]
    # Every step generates exactly its pool, 2 x 2 prompts x 4 completions: skipped prompts cost nothing.
    assert [m["rollouts"] for m in steps] == [16 * k for k in range(1, 9)]
    assert all(m["generated/groups"] == 4 for m in steps)
    final = json.loads((tmp_path / "run" / "final_scores.json").read_text())
    assert sum(m["skipped_prompts"] for m in steps) > 0
    assert sum(v for k, v in final["skipped_prompts"].items() if k != "forced") == \
        sum(m["skipped_prompts"] for m in steps)


def test_a_resume_on_other_task_items_is_refused_in_one_line(tmp_path, checkpoint):
    """Every checkpoint records its tasks' fingerprints: resumed with more training items of
    the task, the run refuses in one line naming it (the checkpoint's prompt draws index the
    items it had); with the same tasks, it resumes."""
    from curricle.config import parse_model
    from curricle.rl.command import rl_run
    from curricle.rl.config import RLConfig

    cfg = rl_config(checkpoint, steps=4)
    rl_run(parse_model(cfg, RLConfig, "rl"), tmp_path / "run")  # a checkpoint at step 4
    state = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-4" / "curricle_rl.json").read_text())
    assert list(state["tasks"]) == ["rev"] and len(state["tasks"]["rev"]) == 64
    other = json.loads(json.dumps(cfg))
    other["tasks"][0]["source"]["n_train"] = 41
    files = {name: (tmp_path / "run" / name).read_bytes() for name in ("config.yaml", "run.json", "tasks.json")}
    with pytest.raises(CurricleError) as err:
        rl_run(parse_model(other, RLConfig, "rl"), tmp_path / "run", resume=True)
    assert str(err.value).startswith("--resume: task 'rev' has other items (its file or generator changed) since "
                                     "the checkpoint was saved") and "\n" not in str(err.value)
    assert {name: (tmp_path / "run" / name).read_bytes() for name in files} == files  # nothing rewritten
    assert rl_run(parse_model(cfg, RLConfig, "rl"), tmp_path / "run", resume=True)["step"] == 4
