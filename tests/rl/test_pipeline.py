"""``curricle pipeline``: stages in order, each from the previous one's chosen checkpoint, and
the checkpoint table across stages."""

from __future__ import annotations

import json

import pytest
import yaml

from curricle.pipeline.command import choose_checkpoint
from tests.finetune.conftest import finetune_config, tiny_checkpoint


def test_the_chosen_checkpoint_is_the_best_on_disk(tmp_path):
    run = tmp_path / "s"
    (run / "final").mkdir(parents=True)
    rows = [{"step": s, "eval/mean": m} for s, m in ((0, 0.0), (4, 0.6), (8, 0.4), (12, 0.5))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ck = [(8, run / "checkpoints" / "checkpoint-8"), (4, run / "checkpoints" / "checkpoint-4")]
    assert choose_checkpoint(run, "best-mean", ck) == (ck[1][1], 4)
    assert choose_checkpoint(run, "best-mean", ck[:1]) == (run / "final", 12)  # step 4 is no longer on disk
    assert choose_checkpoint(run, "last", ck) == (run / "final", 12)


def test_a_dpo_stage_hands_on_the_checkpoint_with_the_best_task_scores(tmp_path):
    """A dpo stage's eval/mean is its bands' preference accuracy, which can rise while the
    tasks' own scores fall: with ``tasks_mean`` the tasks' held-out scores decide."""
    run = tmp_path / "s"
    (run / "final").mkdir(parents=True)
    rows = [{"step": s, "eval/mean": m, "eval/clear/pref_acc": m, "eval/reverse/exact_match": r,
             "eval/upper/score": u} for s, m, r, u in ((0, 0.5, 0.6, 0.5), (4, 0.7, 0.7, 0.5), (8, 0.9, 0.3, 0.2))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ck = [(4, run / "checkpoints" / "checkpoint-4")]
    assert choose_checkpoint(run, "best-mean", ck) == (run / "final", 8)  # by preference accuracy
    assert choose_checkpoint(run, "best-mean", ck, tasks_mean=True) == (ck[0][1], 4)  # (0.7 + 0.5) / 2
    # The probes' scores are columns, not tasks: they stay out of the mean and worst.
    rows = [{"step": s, "eval/mean": m, "eval/clear/pref_acc": m, "eval/reverse/exact_match": r,
             "eval/probe:copy/exact_match": p} for s, m, r, p in ((0, 0.5, 0.1, 0.5), (4, 0.9, 0.2, 0.9),
                                                                 (8, 0.5, 0.4, 0.1))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert choose_checkpoint(run, "best-mean", ck, tasks_mean=True) == (run / "final", 8)  # 0.4 > 0.2, not 0.55
    # Without task scores in its evaluations, the stage's eval/mean decides.
    rows = [{"step": s, "eval/mean": m, "eval/clear/pref_acc": m} for s, m in ((0, 0.5), (4, 0.7), (8, 0.9))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert choose_checkpoint(run, "best-mean", ck, tasks_mean=True) == (run / "final", 8)


def test_an_evaluate_task_without_test_items_is_refused_before_any_stage_trains(tmp_path):
    """The checkpoint table scores test items only: such a task used to fail after every stage
    had trained, before pipeline.json was written."""
    from curricle.errors import CurricleError
    from curricle.pipeline.command import pipeline_run
    from curricle.pipeline.config import PipelineConfig

    source = {"kind": "builtin", "skill": "reverse", "n_train": 8, "n_heldout": 4}
    (tmp_path / "add.jsonl").write_text("".join(json.dumps({"prompt": f"{k}+1=", "completion": f"{k + 1}"}) + "\n"
                                                for k in range(20)))
    cfg = PipelineConfig.model_validate({
        "model": {"path": str(tmp_path / "never-loaded")},
        "stages": [{"name": "sft", "kind": "finetune", "config": str(tmp_path / "never-read.yaml")}],
        "evaluate": {"tasks": [{"name": "rev", "source": {**source, "n_test": 2}},
                               {"name": "add", "source": {"kind": "jsonl", "path": str(tmp_path / "add.jsonl"),
                                                          "test_share": 0}},
                               {"name": "rev0", "source": {**source, "n_test": 0}}]}})
    with pytest.raises(CurricleError) as err:
        pipeline_run(cfg, tmp_path / "run")
    assert str(err.value) == ("evaluate.tasks.1: task add has no test items (the checkpoint table scores test items; "
                              "give it some: test_share, n_test or its split field)")
    assert not (tmp_path / "run").exists()
    cfg.evaluate.tasks[1].source.test_share = 0.5
    with pytest.raises(CurricleError, match=r"^evaluate\.tasks\.2: task rev0 has no test items"):
        pipeline_run(cfg, tmp_path / "run")


@pytest.mark.slow
def test_a_two_stage_pipeline_runs_end_to_end(tmp_path):
    import subprocess
    import sys

    from tests.rl.test_rl import rl_config

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    ft = finetune_config(ckpt, steps=8)
    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(ft))
    rl = rl_config(tmp_path / "ignored", kind="target-difficulty", steps=4)
    (tmp_path / "rl.yaml").write_text(yaml.safe_dump(rl))
    line = {"name": "line", "model": {"path": str(ckpt)},
            "stages": [{"name": "sft", "kind": "finetune", "config": str(tmp_path / "sft.yaml")},
                       {"name": "grpo", "kind": "rl", "config": str(tmp_path / "rl.yaml")}],
            "evaluate": {"tasks": ft["tasks"][:2], "probes": {"suite": {"tasks": ["copy"], "n": 8, "text_domains": []}}}}
    (tmp_path / "line.yaml").write_text(yaml.safe_dump(line))
    run = [sys.executable, "-m", "curricle.cli", "pipeline", str(tmp_path / "line.yaml"), "--run-dir", str(tmp_path / "run")]
    r = subprocess.run(run, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    sft, grpo = out["stages"]
    assert sft["from"] == str(ckpt) and grpo["from"] == sft["chosen"]
    cfg = yaml.safe_load((tmp_path / "run" / "grpo" / "config.yaml").read_text())
    assert cfg["model"]["path"] == sft["chosen"]  # the rl stage started from the finetune stage's checkpoint
    assert [r["stage"] for r in out["table"]] == ["start", "sft", "grpo"] and out["best"] in ("start", "sft", "grpo")
    for row in out["table"]:
        assert set(row["test"]) == {"reverse", "uppercase"} and row["probes"].keys() == {"probe:copy"}
        assert row["length"] is not None and row["worst"] <= row["mean"]
    assert out["table"][0]["tokens"] == 0 < out["table"][1]["tokens"] < out["table"][2]["tokens"]
    assert "pipeline line: best =" in r.stdout
    # The report: the table, and each stage's own page from the files the stages wrote.
    from curricle.report.command import report_command
    from tests.report.conftest import embedded

    page = report_command(tmp_path / "run")
    data = embedded(page.read_text())
    assert data["kind"] == "pipeline" and data["best"] == out["best"]
    assert data["stage_reports"] == {"sft": "sft/report.html", "grpo": "grpo/report.html"}
    assert embedded((tmp_path / "run" / "grpo" / "report.html").read_text())["kind"] == "rl"
    assert embedded((tmp_path / "run" / "sft" / "report.html").read_text())["kind"] == "finetune"
    # A rerun skips the finished stages.
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode == 0 and json.loads((tmp_path / "run" / "pipeline.json").read_text())["stages"] == out["stages"]


def test_an_rft_stage_distills_from_an_earlier_stage_named_as_its_teacher(tmp_path):
    from curricle.errors import CurricleError
    from curricle.pipeline.command import run_stage
    from curricle.pipeline.config import PipelineConfig, StageSpec

    student, teacher = tiny_checkpoint(tmp_path / "student"), tiny_checkpoint(tmp_path / "teacher", seed=1,
                                                                               vocab_size=290)
    rft = {"tasks": [{"name": "rev", "source": {"kind": "builtin", "skill": "reverse", "n_train": 6, "n_heldout": 2,
                                                "n_test": 2}}], "samples": 2, "max_new_tokens": 3,
           "grader_timeout_s": None}
    (tmp_path / "rft.yaml").write_text(yaml.safe_dump(rft))
    spec = StageSpec(name="distill", kind="rft", config=tmp_path / "rft.yaml", teacher="big")
    result = run_stage(spec, student, tmp_path / "run", "best-mean", {"big": str(teacher)})
    assert result["chosen"] == str(student)  # the line goes on from the student
    summary = json.loads((tmp_path / "run" / "distill" / "rft.summary.json").read_text())
    assert (summary["teacher"], summary["student"]) == (str(teacher), str(student))
    with pytest.raises(CurricleError, match="stages.nope.teacher: 'gone' is neither an earlier stage"):
        run_stage(StageSpec(name="nope", kind="rft", config=tmp_path / "rft.yaml", teacher="gone"), student,
                  tmp_path / "run", "best-mean", {})
    with pytest.raises(ValueError, match="only an rft stage samples a teacher"):
        PipelineConfig.model_validate({"model": {"path": str(student)}, "evaluate": {"tasks": rft["tasks"]},
                                       "stages": [{"name": "a", "kind": "finetune", "config": "x.yaml",
                                                   "teacher": "b"}]})


def test_a_finetune_stage_on_an_rft_set_that_kept_nothing_is_skipped_and_said(tmp_path):
    """RFT kept no passing completion: the stage that trains on its set is skipped with its
    reason (no run, no table row), and the line goes on from the same model."""
    from rich.console import Console

    from curricle.pipeline.command import print_pipeline, run_stage
    from curricle.pipeline.config import StageSpec

    (tmp_path / "run" / "rft").mkdir(parents=True)
    (tmp_path / "run" / "rft" / "rft.jsonl").write_text(json.dumps({"prompt": "p", "completion": "c",
                                                                      "split": "heldout"}) + "\n")
    spec = StageSpec(name="sft2", kind="finetune", config=tmp_path / "never-read.yaml", tasks_from="rft")
    got = run_stage(spec, tmp_path / "model", tmp_path / "run", "best-mean")
    reason = "skipped: rft kept no passing completion to train on"
    assert got == {"stage": "sft2", "kind": "finetune", "from": str(tmp_path / "model"),
                   "chosen": str(tmp_path / "model"), "step": None, "rule": None, "tokens": 0, "skipped": reason}
    assert json.loads((tmp_path / "run" / "sft2" / "stage.json").read_text()) == got
    assert sorted(p.name for p in (tmp_path / "run" / "sft2").iterdir()) == ["stage.json"]
    console = Console(record=True, width=200)
    print_pipeline({"name": "line", "best": None, "rule": "r", "table": [], "stages": [got]}, console)
    assert f"stage sft2: {reason}" in console.export_text()
