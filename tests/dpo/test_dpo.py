"""``curricle dpo`` end to end on a tiny checkpoint: TRL's DPOTrainer on the pair curriculum,
the logs and checkpoints, the report, a SIGKILL resume to the same pairs and losses, and pairs
built from the checkpoint's samples scored by a judge checkpoint."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.dpo.conftest import dpo_config, tiny_judge, write_pairs

pytestmark = pytest.mark.slow


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "dpo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "curricle.cli", "dpo", *map(str, args)], env=env,
                          capture_output=True, text=True)


def test_dpo_end_to_end(tmp_path, checkpoint):
    cfg = dpo_config(checkpoint, write_pairs(tmp_path / "pairs.jsonl"), steps=8)
    cfg["train"]["trace"] = True
    r = cli(write(tmp_path, cfg), "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "run"
    assert "DPO: step 8 (stage subtle)" in r.stdout and "pairs: 48 kept of 48 (margin order)" in r.stdout
    assert json.loads((run / "run.json").read_text())["kind"] == "dpo"
    pairs = json.loads((run / "pairs.json").read_text())
    assert pairs["kept"] == 48 and pairs["sources"] == [{"source": 0, "kind": "jsonl", "path": str(tmp_path / "pairs.jsonl"),
                                                         "read": 48}]
    assert len(rows(run / "pairs.jsonl")) == 48
    log = rows(run / "curriculum_log.jsonl")
    assert log[1] == {**log[1], "event": "stage", "step": 4, "from": "clear", "to": "subtle", "reason": "max_steps"}
    # the clear band's pairs until the stage's change applies (from step 4 + 2), then the subtle band's
    trace = rows(run / "trace/examples.jsonl")  # curriculum rows: the clear band's train pairs first
    n_clear = pairs["bands"]["clear"]["train"]
    assert [t["step"] for t in trace] == list(range(1, 9))
    assert [all(r < n_clear for r in t["rows"]) for t in trace] == [True] * 5 + [False] * 3
    assert all(r >= n_clear for t in trace[5:] for r in t["rows"])
    metrics = rows(run / "metrics.jsonl")
    evals = [m for m in metrics if "eval/mean" in m]
    assert [m["step"] for m in evals] == [0, 2, 4, 6, 8]
    for m in evals:
        assert 0 <= m["eval/clear/pref_acc"] <= 1 and "eval/subtle/margin_se" in m and m["eval/reverse/n"] == 8
    steps = [m for m in metrics if "train/loss" in m]
    assert len(steps) == 8 and all("train/rewards/accuracies" in m and "train/rewards/margins" in m for m in steps)
    assert steps[0]["train/loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: the policy is the reference
    assert evals[-1]["served/clear"] + evals[-1]["served/subtle"] == 32
    f = json.loads((run / "forgetting.json").read_text())
    assert f["final"] and f["stages"] == ["clear", "subtle"] and f["tasks"] == ["clear", "subtle", "reverse"]
    assert f["learned_at"] == {"clear": 0, "subtle": 1, "reverse": None} and "reverse" in f["change_from_baseline"]
    assert f["metrics"] == {"clear": "pref_acc", "subtle": "pref_acc", "reverse": "exact_match"}
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    assert (run / "final" / "config.json").is_file()
    from curricle.report.command import report_command
    from tests.report.conftest import embedded

    data = embedded(report_command(run).read_text())
    assert data["kind"] == "dpo" and data["eval"]["step"] == [0, 2, 4, 6, 8]
    assert data["pairs"]["kept"] == 48


def test_a_killed_dpo_run_resumes_to_the_same_pairs_order_and_losses(tmp_path, checkpoint):
    """Leitner review of the clear band's pairs after its stage ends at step 6, tested on held-out
    pairs; killed after the step-8 checkpoint, resumed: the same pairs, order, decisions, losses."""
    cfg = dpo_config(checkpoint, write_pairs(tmp_path / "pairs.jsonl"), steps=20,
                     review={"kind": "leitner", "items_per_task": 4})
    cfg["curriculum"]["eval_every"] = 3
    cfg["curriculum"]["stages"][0]["max_steps"] = 6
    cfg["train"].update(trace=True, checkpoint={"every": 8}, max_steps=20)
    config = write(tmp_path, cfg)
    r = cli(config, "--run-dir", tmp_path / "full")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "curricle.cli", "dpo", str(config), "--run-dir", str(run)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (run / "checkpoints" / "checkpoint-8" / "curricle_curriculum.json").is_file():
        assert proc.poll() is None, "the run ended before its step-8 checkpoint"
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "final").exists()
    assert cli(config, "--run-dir", run).returncode == 2  # it has checkpoints: --resume is needed
    r = cli(config, "--run-dir", run, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    full, resumed = tmp_path / "full", run
    assert rows(resumed / "pairs.jsonl") == rows(full / "pairs.jsonl")
    assert rows(resumed / "trace/examples.jsonl") == rows(full / "trace/examples.jsonl")
    assert len(rows(full / "trace/examples.jsonl")) == 20
    assert rows(resumed / "curriculum_log.jsonl") == rows(full / "curriculum_log.jsonl")
    events = [e["event"] for e in rows(full / "curriculum_log.jsonl")]
    assert events[:3] == ["start", "stage", "review-added"] and "review" in events
    a, b = rows(full / "metrics.jsonl"), rows(resumed / "metrics.jsonl")
    assert [m["step"] for m in a] == [m["step"] for m in b]
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            want = x[k] if isinstance(x[k], str) else pytest.approx(x[k], rel=1e-5, abs=1e-6)
            assert y[k] == want, (x["step"], k)


def test_a_pipeline_dpo_stage_starts_from_the_previous_chosen_checkpoint(tmp_path, checkpoint):
    cfg = dpo_config(tmp_path / "ignored", write_pairs(tmp_path / "pairs.jsonl"), steps=4)
    (tmp_path / "dpo.yaml").write_text(yaml.safe_dump(cfg))
    line = {"name": "line", "model": {"path": str(checkpoint)},
            "stages": [{"name": "pref", "kind": "dpo", "config": str(tmp_path / "dpo.yaml")}],
            "evaluate": {"tasks": cfg["tasks"]}}
    (tmp_path / "line.yaml").write_text(yaml.safe_dump(line))
    r = subprocess.run([sys.executable, "-m", "curricle.cli", "pipeline", str(tmp_path / "line.yaml"), "--run-dir",
                        str(tmp_path / "run")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    (stage,) = out["stages"]
    assert stage["kind"] == "dpo" and stage["from"] == str(checkpoint) and stage["rule"] == "best-mean"
    assert yaml.safe_load((tmp_path / "run" / "pref" / "config.yaml").read_text())["model"]["path"] == str(checkpoint)
    assert [row["stage"] for row in out["table"]] == ["start", "pref"]
    from curricle.report.command import report_command
    from tests.report.conftest import embedded

    assert embedded(report_command(tmp_path / "run").read_text())["stage_reports"] == {"pref": "pref/report.html"}
    assert embedded((tmp_path / "run" / "pref" / "report.html").read_text())["kind"] == "dpo"


def test_nll_weight_adds_the_chosen_answers_nll_to_the_first_step_loss(tmp_path, checkpoint):
    """With ``nll_weight: w`` the first step's loss is log 2 (the policy is the reference) plus w x
    the mean NLL of the batch's chosen answer tokens (EOS included) under the start model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curricle.dpo.command import loss_args
    from curricle.dpo.config import DPOTrainConfig

    assert loss_args(DPOTrainConfig()) == {"loss_type": ["sigmoid"], "label_smoothing": 0.0}
    assert loss_args(DPOTrainConfig(nll_weight=0.5)) == {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, 0.5],
                                                         "label_smoothing": 0.0}
    cfg = dpo_config(checkpoint, write_pairs(tmp_path / "pairs.jsonl"), steps=2)
    cfg["train"].update(trace=True, nll_weight=0.5)
    r = cli(write(tmp_path, cfg), "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "run"
    first = rows(run / "trace/examples.jsonl")[0]["rows"]
    from curricle.dpo.command import train_dataset
    from curricle.dpo.config import DPOConfig
    from curricle.dpo.pairs import Pair, band_tasks
    from curricle.finetune.curriculum import Curriculum
    from curricle.tasks.load import build_tasks

    config = DPOConfig.model_validate(cfg)
    tok = AutoTokenizer.from_pretrained(checkpoint)
    bands, _ = band_tasks([Pair(**p) for p in rows(run / "pairs.jsonl")], config, build_tasks(config.tasks, tok))
    data = train_dataset(Curriculum(config.curriculum, bands, seed=config.seed))
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    nll, n = 0.0, 0
    with torch.no_grad():
        for k in first:
            p = data[k]
            prompt = tok(p["prompt"])["input_ids"]
            ids = tok(p["prompt"] + p["chosen"] + tok.eos_token)["input_ids"]
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1], -1)
            for t in range(len(prompt), len(ids)):
                nll -= logp[t - 1, ids[t]].item()
                n += 1
    loss = [m["train/loss"] for m in rows(run / "metrics.jsonl") if "train/loss" in m][0]
    assert loss == pytest.approx(math.log(2) + 0.5 * nll / n, abs=2e-3)


def test_dpo_on_pairs_a_judge_scored(tmp_path, checkpoint):
    """The checkpoint's samples of reverse prompts scored by a judge with its own tokenizer:
    pairs.json records the judge and counts every prompt (the random judge's margins are 0.005 to
    0.05 nats: a min_margin of 0.015 drops some), and each pair's margin is the judge's score of
    chosen minus rejected."""
    from curricle.dpo.config import JUDGE_TEMPLATE, JudgeConfig
    from curricle.dpo.judge import Judge

    judge = {"model": {"path": str(tiny_judge(tmp_path / "judge"))}, "principle": "The response reverses the word."}
    cfg = dpo_config(checkpoint, tmp_path / "unused.jsonl", steps=4)
    cfg["pairs"] = [{"kind": "from_samples", "tasks": ["reverse"], "samples": 4, "max_prompts": 32,
                     "max_new_tokens": 6, "score": "judge", "judge": judge, "min_margin": 0.015}]
    r = cli(write(tmp_path, cfg), "--run-dir", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "run"
    (src,) = json.loads((run / "pairs.json").read_text())["sources"]
    assert src["score"] == "judge" and src["min_margin"] == 0.015
    assert src["judge"] == {"model": judge["model"]["path"], "principle": judge["principle"],
                            "template": JUDGE_TEMPLATE, "yes": " Yes", "no": " No",
                            "score": "log P(yes | template) - log P(no | template)"}
    t = src["tasks"]["reverse"]
    assert t["prompts"] == 32 and t["samples"] == 128 and t["built"] == src["built"] >= 8
    assert t["built"] + t["dropped"]["no_margin"] == 32 and src["dropped"] == t["dropped"]
    assert t["ungraded_samples"] == {}
    pairs = rows(run / "pairs.jsonl")
    assert len(pairs) == src["built"] and all(p["margin"] >= 0.015 for p in pairs)
    scorer = Judge.load(JudgeConfig.model_validate(judge), "cpu")
    scores, _ = scorer.score([p["prompt"] for p in pairs for _ in (0, 1)],
                             [x for p in pairs for x in (p["chosen"], p["rejected"])])
    assert [a - b for a, b in zip(scores[::2], scores[1::2])] == pytest.approx([p["margin"] for p in pairs],
                                                                                abs=1e-4)
    assert "DPO: step 4 (stage subtle)" in r.stdout


def test_a_stage_reference_is_the_policy_at_the_stage_change_and_a_resumed_run_trains_against_it(tmp_path, checkpoint):
    """``train.reference: stage``: the clear stage ends at step 4, so the reference becomes the
    policy after step 4's update: step 5's loss is log 2 and its rewards 0 (policy = reference),
    as at step 1, while step 4's is not. Resumed from the step-6 checkpoint (after the move),
    the run reads that reference back and repeats the uninterrupted run's losses."""
    import shutil

    cfg = dpo_config(checkpoint, write_pairs(tmp_path / "pairs.jsonl"), steps=12)
    cfg["curriculum"]["stages"][0]["max_steps"] = 4
    cfg["train"].update(reference="stage", checkpoint={"every": 6}, max_steps=12)
    config = write(tmp_path, cfg)
    full = tmp_path / "full"
    r = cli(config, "--run-dir", full)
    assert r.returncode == 0, r.stderr[-3000:]
    steps = {m["step"]: m for m in rows(full / "metrics.jsonl") if "train/loss" in m}
    for s in (1, 5):
        assert steps[s]["train/loss"] == pytest.approx(math.log(2), abs=1e-6), s
        assert steps[s]["train/rewards/chosen"] == pytest.approx(0, abs=1e-6)
    for s in (4, 6):
        assert abs(steps[s]["train/loss"] - math.log(2)) > 1e-3, s
    moves = [e for e in rows(full / "curriculum_log.jsonl") if e["event"] == "reference"]
    assert moves == [{"event": "reference", "step": 4, "stage": "subtle", "sync": 1}]
    assert sorted(p.name for p in (full / "reference").iterdir()) == ["sync-1.safetensors"]
    # killed after the step-6 checkpoint: what is on disk then, less what came later
    run = tmp_path / "killed"
    shutil.copytree(full, run)
    shutil.rmtree(run / "final")
    shutil.rmtree(run / "checkpoints" / "checkpoint-12")
    r = cli(config, "--run-dir", run, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert rows(run / "curriculum_log.jsonl") == rows(full / "curriculum_log.jsonl")
    a, b = rows(full / "metrics.jsonl"), rows(run / "metrics.jsonl")
    assert [m["step"] for m in a] == [m["step"] for m in b]
    for x, y in zip(a, b):
        for k in x:
            want = x[k] if isinstance(x[k], str) else pytest.approx(x[k], rel=1e-5, abs=1e-6)
            assert y[k] == want, (x["step"], k)
    # without the reference file the resume refuses in one line
    shutil.rmtree(run / "final")
    shutil.rmtree(run / "checkpoints" / "checkpoint-12")
    (run / "reference" / "sync-1.safetensors").unlink()
    r = cli(config, "--run-dir", run, "--resume")
    assert r.returncode == 2 and "sync-1.safetensors: missing" in r.stderr, r.stderr[-2000:]
