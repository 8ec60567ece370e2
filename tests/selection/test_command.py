"""``curricle select RUN --rule FILE`` on a tiny pretraining run and on a pipeline's table, and
the reports marking its choice."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from curricle.cli import app
from curricle.config import parse_config
from tests.selection.test_rule import FLAGS, TABLE
from tests.train.conftest import prepared_dir, run_config_dict  # noqa: F401  (the fixture)

runner = CliRunner()


@pytest.fixture(scope="module")
def pretrain_run(tmp_path_factory, prepared_dir):  # noqa: F811
    from curricle.train.command import train_run

    run = tmp_path_factory.mktemp("select") / "run"
    cfg = run_config_dict(prepared_dir, steps=20, eval_every=5, checkpoint={"every": 5, "keep_last": 3})
    train_run(parse_config(cfg), run, progress=False)
    return run


def test_select_marks_the_rules_choice_and_writes_selection_json(pretrain_run, tmp_path):
    rule = tmp_path / "rule.yaml"
    # The latest checkpoint on disk at step 10 or before: step 10 (steps 5 was removed by keep_last 3).
    rule.write_text("maximize: step\nsubject_to: {step: '<= 10', on_disk: '== 1'}\n")
    r = runner.invoke(app, ["select", str(pretrain_run), "--rule", str(rule)])
    assert r.exit_code == 0, r.output
    out = json.loads((pretrain_run / "selection.json").read_text())
    assert out["kind"] == "pretrain" and out["feasible"] is True
    assert out["chosen"]["step"] == 10 and out["chosen"]["checkpoint"].endswith("step_10")
    assert [r["step"] for r in out["rows"]] == [5, 10, 15, 20] and [r["on_disk"] for r in out["rows"]] == [0, 1, 1, 1]
    assert out["broken"] == {"0": ["on_disk"], "2": ["step"], "3": ["step"]}
    assert out["columns"][:9] == ["step", "tokens", "on_disk", "loss_mean", "loss_worst", "loss_all", "ece",
                                  "probe_mean", "row"]
    assert {"loss:copy", "loss:arithmetic", "loss:agreement"} <= set(out["columns"])
    assert "highest step subject to step <= 10, on_disk == 1" in r.output and 'chosen: {"step": 10' in r.output
    # The front of the objective (step) against tokens: each later step costs more tokens and is "better".
    assert out["pareto"]["tokens"] == [0, 1, 2, 3]
    # The report marks the same choice, by the given rule, and draws the front.
    from curricle.report.data import collect_run

    data = collect_run(pretrain_run)
    assert data["best_checkpoint"] == 10 and data["selection"]["given"] is True
    # Without a rule: best-mean, the lowest mean held-out loss among checkpoints on disk.
    r = runner.invoke(app, ["select", str(pretrain_run)])
    assert r.exit_code == 0, r.output
    out = json.loads((pretrain_run / "selection.json").read_text())
    on_disk = [x for x in out["rows"] if x["on_disk"]]
    assert out["chosen"]["step"] == min(on_disk, key=lambda x: x["loss_mean"])["step"]
    assert out["shorthand"] == "best-mean" and collect_run(pretrain_run)["selection"]["given"] is False


def test_select_refuses_an_unknown_column_in_one_line(pretrain_run, tmp_path):
    rule = tmp_path / "rule.yaml"
    rule.write_text("minimize: loss\n")
    r = runner.invoke(app, ["select", str(pretrain_run), "--rule", str(rule)])
    assert r.exit_code == 2
    line = r.output.strip()
    assert line.startswith("error: ") and "select: unknown column 'loss' (known: step, tokens, on_disk" in line
    assert "\n" not in line


def test_select_on_a_pipeline_rechooses_from_its_table(tmp_path):
    run = tmp_path / "line"
    run.mkdir()
    (run / "pipeline.json").write_text(json.dumps({"name": "line", "stages": [], "table": TABLE, "best": "dpo",
                                                   "max_probe_drop": 0.05}))
    for stage, n in FLAGS.items():
        (run / stage).mkdir()
        (run / stage / "events.jsonl").write_text(json.dumps({"step": 3, "event": "mode-collapse"}) * n + "\n")
    rule = tmp_path / "rule.yaml"
    rule.write_text("maximize: mean\nsubject_to: {probe_drop: '<= 0.05', flags: none}\ntie: tokens\n")
    r = runner.invoke(app, ["select", str(run), "--rule", str(rule)])
    assert r.exit_code == 0, r.output
    out = json.loads((run / "selection.json").read_text())
    assert out["chosen"] == {"row": 2, "stage": "grpo", "checkpoint": "b"}
    assert out["pareto"] == {"tokens": [0, 1, 3, 4], "length": [3, 4]}


def test_select_on_an_unfinished_or_unreadable_pipeline_is_one_line(tmp_path):
    run = tmp_path / "line"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"kind": "pipeline", "schema": 1}))  # started, not finished
    r = runner.invoke(app, ["select", str(run)])
    assert r.exit_code == 2
    assert r.output.strip() == (f"error: {run / 'pipeline.json'}: no such file: the pipeline has not finished (it "
                                f"writes its checkpoint table at the end), so there is nothing to choose from yet")
    for text, why in (('{"table": [', "Expecting value: line 1 column 12 (char 11)"), ("[]", "not a JSON object")):
        (run / "pipeline.json").write_text(text)
        r = runner.invoke(app, ["select", str(run)])
        assert r.exit_code == 2
        assert r.output.strip() == f"error: {run / 'pipeline.json'}: cannot read the pipeline's table ({why})"


def test_the_pipeline_report_draws_the_front_and_says_when_nothing_was_feasible(tmp_path):
    from curricle.report.pipeline import collect_pipeline, render_pipeline
    from tests.report.conftest import embedded

    run = tmp_path / "line"
    run.mkdir()
    pl = {"name": "line", "stages": [], "table": TABLE, "best": "dpo", "rule": "highest mean", "feasible": False,
          "reason": "no checkpoint meets every constraint", "objective": "mean",
          "pareto": {"tokens": ["start", "sft", "dpo", "sft2"], "length": ["dpo", "sft2"]}}
    (run / "pipeline.json").write_text(json.dumps(pl))
    html = render_pipeline(collect_pipeline(run))
    assert "No checkpoint met every constraint</b>: no checkpoint meets every constraint" in html
    figs = [f for f in embedded_figures(html) if f["layout"]["title"]["text"].endswith("the Pareto front")]
    assert [f["layout"]["xaxis"]["title"]["text"] for f in figs] == ["training tokens spent",
                                                                     "mean completion length (tokens)"]
    front = next(t for t in figs[0]["data"] if t["name"] == "Pareto front")
    assert front["x"] == [0, 500, 650, 900] and front["y"] == [0.0, 0.7, 0.8, 0.9]
    assert next(t for t in figs[0]["data"] if t["name"].startswith("chosen"))["name"] == "chosen: dpo"
    assert embedded(html)["kind"] == "pipeline"


def embedded_figures(html: str) -> list[dict]:
    from tests.report.conftest import figures

    return list(figures(html).values())
