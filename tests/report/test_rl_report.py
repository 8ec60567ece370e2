"""The reports of an RL run and of a pipeline, from files with known contents: reward and
held-out metric over rollouts, zero-variance groups, drawn difficulty with the target, drawn
categories, grader reasons, flags; the checkpoint table across stages."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from curricle.report.command import report_command
from curricle.report.kit import td
from curricle.report.rl import LOG_ROWS, _grader_rows, collect_rl, is_rl_run
from curricle.selection.command import select_run
from curricle.selection.config import SelectRule
from tests.report.conftest import embedded, figures
from tests.report.test_browser import close, open_page
from tests.report.test_finetune_report import write_finetune_run

STEPS = 8  # 2 prompts x 4 completions a step: 8 rollouts a step
# Held-out test exact match per evaluation (step: add1, add2).
TEST = {0: (0.5, 0.0), 4: (0.75, 0.25), 8: (0.5, 0.125)}


def write_rl_run(root: Path, log_records: int = STEPS) -> Path:
    run = root / "rl"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"curriculum": {"kind": "target-difficulty"},
                                                     "grpo": {"steps": STEPS, "rollouts": 64, "reward": "grader"}}))
    (run / "tasks.json").write_text(json.dumps({"tasks": [{"task": "add1"}, {"task": "add2"}]}))
    lines = []
    for step in range(0, STEPS + 1):
        if step:
            row = {"step": step, "rollouts": 8 * step, "reward": step / 10, "zero_variance_groups": 0.5 if step < 5
                   else 0.0, "completion_length": 3.0, "drawn/difficulty": 10.0 * step,
                   "drawn/add1": 2 if step <= 4 else 0, "drawn/add2": 0 if step <= 4 else 2}
            if step == 3:
                row["ungraded/timeout"] = 2
            if step in (3, 6):
                row["ungraded/no number in the completion"] = 1
            if step == 4:
                row["format/no number"] = 3  # graded 0, not ungraded
            if step == 5:
                row["ungraded/no match"] = 1  # a format failure as runs before format/ logged it
            lines.append(row)
        if step in TEST:
            a, b = TEST[step]
            lines.append({"step": step, "rollouts": 8 * step, "eval/add1/exact_match": a, "eval/add1/exact_match_se": 0.1,
                          "eval/add2/exact_match": b, "eval/add2/exact_match_se": 0.1,
                          "eval/mean": (a + b) / 2, "eval/worst": min(a, b)})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    log = [{"event": "start", "step": 0, "curriculum": "target-difficulty", "prompts": 40, "prompts_per_step": 2,
            "num_generations": 4}]
    log += [{"event": "target", "step": s, "reward": 0.5, "target": 10.0 * (s + 1), "previous": 10.0 * s}
            for s in range(log_records)]
    (run / "curriculum_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    events = [{"step": 8, "event": "reward-hacking", "reward": [0.4, 0.8], "metric": [0.5, 0.3125], "since_step": 4},
              {"step": 8, "event": "budget", "rollouts": 64}]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    history = [{"step": s, "rollouts": 8 * s, "metric": {"add1": a, "add2": b}, "mean": (a + b) / 2,
                "worst": min(a, b), "reward": None if s == 0 else s / 10, "length": None if s == 0 else 3.0,
                "format": None if s == 0 else 0.02} for s, (a, b) in TEST.items()]
    (run / "final_scores.json").write_text(json.dumps({"step": 8, "rollouts": 64, "history": history,
                                                       "flags": events[:1], "pass_rates": {"seen": 12}}))
    for step in (4, 8):
        d = run / "checkpoints" / f"checkpoint-{step}"
        d.mkdir(parents=True)
        (d / "trainer_state.json").write_text("{}")
    return run


def test_the_data_behind_every_rl_panel(tmp_path):
    run = write_rl_run(tmp_path)
    assert is_rl_run(run) and not is_rl_run(write_finetune_run(tmp_path))
    rl = collect_rl(run)
    assert rl["curriculum"] == "target-difficulty" and rl["tasks"] == ["add1", "add2"]
    assert rl["series"]["rollouts"] == [8 * s for s in range(1, 9)]
    assert rl["series"]["drawn"] == {"add1": [2, 2, 2, 2, 0, 0, 0, 0], "add2": [0, 0, 0, 0, 2, 2, 2, 2]}
    assert rl["ungraded"] == {"no number in the completion": 2, "timeout": 2} and rl["completions"] == 64
    assert rl["format"] == {"no match": 1, "no number": 3}
    assert _grader_rows(rl)[:3] == ["<tr>" + td("graded (a score in [0, 1])", "text") + td(60) + td(60 / 64) + "</tr>",
                                    "<tr>" + td("graded 0: no number", "text") + td(3) + td(3 / 64, digits=4) + "</tr>",
                                    "<tr>" + td("graded 0: no match", "text") + td(1) + td(1 / 64, digits=4) + "</tr>"]
    assert rl["eval"]["rollouts"] == [0, 32, 64] and rl["eval"]["score"]["add2"] == [0.0, 0.25, 0.125]
    assert [f["event"] for f in rl["flags"]] == ["reward-hacking"]  # the budget's end is an event, not a flag
    assert rl["targets"][:2] == [(0, 10.0), (1, 20.0)]
    assert [(r["step"], r["reward"], r["mean"]) for r in rl["evaluations"]] == [(0, None, 0.25), (4, 0.4, 0.5),
                                                                                 (8, 0.8, 0.3125)]
    assert rl["checkpoints_on_disk"] == [4, 8] and rl["progress"]["finished"]


def test_report_command_writes_the_rl_page(tmp_path):
    out = report_command(write_rl_run(tmp_path), tmp_path / "r.html")
    text = out.read_text()
    assert embedded(text)["kind"] == "rl"
    figs = figures(text)
    assert len(figs) == 2
    progress = next(f for f in figs.values() if f["layout"]["title"]["text"].startswith("RL with"))
    named = {t["name"]: t for t in progress["data"] if t.get("name")}
    assert named["add1"]["y"] == [0.5, 0.75, 0.5] and named["add1"]["x"] == [0, 32, 64]
    assert named["mean over tasks"]["y"] == [0.25, 0.5, 0.3125]
    assert named["zero-variance share"]["y"][0] == 0.5
    assert [s["x0"] for s in progress["layout"]["shapes"]] == [64, 64]  # the flag, on both panels
    sampling = next(f for f in figs.values() if f["layout"]["title"]["text"] == "What the curriculum drew")
    named = {t["name"]: t for t in sampling["data"] if t.get("name")}
    assert named["mean drawn difficulty"]["y"] == [10.0 * s for s in range(1, 9)]
    # The target after step k (0-based) is what step k + 2 draws by; it is drawn at step k + 1's rollouts.
    assert named["target T"]["x"][:2] == [8, 16] and named["target T"]["y"][:2] == [10.0, 20.0]
    assert named["add1"]["y"][0] == 1.0 and named["add2"]["stackgroup"] == "drawn"
    assert "Zero-variance groups (all 4 completions scored alike" in text and "25% of groups" in text
    assert "Completions graded: 64" in text and "1 flag(s)" in text
    assert 'data-panel="rl_graders"' in text and ">timeout<" in text
    assert '<tr data-step="4" class="best">' in text  # the best test mean


def test_a_long_curriculum_log_is_thinned_evenly(tmp_path):
    rl = collect_rl(write_rl_run(tmp_path, log_records=1000))
    out = report_command(Path(rl["path"]), tmp_path / "r.html")
    text = out.read_text()
    assert f"{LOG_ROWS} of 1000 records, evenly spaced" in text
    section = text.split('data-panel="rl_log"')[1].split("</section>")[0]
    assert section.count("<tr>") == LOG_ROWS + 1  # the header's row too
    # The first and the last records, and every fifth or so between.
    assert "target 10.000;" in section and "target 10000.000;" in section and "target 20.000;" not in section


def write_pipeline_run(root: Path) -> Path:
    run = root / "line"
    run.mkdir(parents=True)
    write_rl_run(run)  # the rl stage's files, under line/rl
    stages = [{"stage": "sft", "kind": "finetune", "from": "/base", "chosen": "/line/sft/final", "step": 12,
               "rule": "best-mean", "tokens": 1000},
              {"stage": "rl", "kind": "rl", "from": "/line/sft/final", "chosen": "/line/rl/final", "step": 8,
               "rule": "best-mean", "tokens": 500}]
    table = [{"stage": "start", "checkpoint": "/base", "tokens": 0, "test": {"add1": 0.1, "add2": 0.0}, "mean": 0.05,
              "worst": 0.0, "length": 4.0, "probes": {"probe:copy": 0.5}, "probe_mean": 0.5, "probe_change": 0.0},
             {"stage": "sft", "checkpoint": "/line/sft/final", "tokens": 1000, "test": {"add1": 0.6, "add2": 0.2},
              "mean": 0.4, "worst": 0.2, "length": 2.0, "probes": {"probe:copy": 0.45}, "probe_mean": 0.45,
              "probe_change": -0.05},
             {"stage": "rl", "checkpoint": "/line/rl/final", "tokens": 1500, "test": {"add1": 0.8, "add2": 0.3},
              "mean": 0.55, "worst": 0.3, "length": 2.0, "probes": {"probe:copy": 0.2}, "probe_mean": 0.2,
              "probe_change": -0.3}]
    (run / "pipeline.json").write_text(json.dumps({"name": "line", "stages": stages, "table": table, "best": "sft",
                                                   "rule": "highest mean test exact match among checkpoints whose "
                                                           "probe mean fell by at most 0.1 from the start"}))
    return run


def test_report_command_writes_the_pipeline_page_and_each_stage_report(tmp_path):
    run = write_pipeline_run(tmp_path)
    out = report_command(run, tmp_path / "line" / "report.html")
    text = out.read_text()
    data = embedded(text)
    assert data["kind"] == "pipeline" and data["best"] == "sft"
    assert data["stage_reports"] == {"rl": "rl/report.html"} and (run / "rl" / "report.html").is_file()
    (fig,) = figures(text).values()
    named = {t["name"]: t for t in fig["data"]}
    assert named["add1"]["x"] == ["start", "sft", "rl"] and named["add1"]["y"] == [0.1, 0.6, 0.8]
    assert named["probes (regression check)"]["y"] == [0.5, 0.45, 0.2]
    assert '<tr class="best"><td data-v="sft"' in text and "fell by at most 0.1" in text
    assert '<a href="rl/report.html">rl</a>' in text


@pytest.mark.slow
def test_the_rl_and_pipeline_reports_open_offline_without_errors(chromium, tmp_path):
    for run, n in ((write_rl_run(tmp_path / "a"), 2), (add_reward_components(write_rl_run(tmp_path / "c")), 3),
                   (write_pipeline_run(tmp_path / "b"), 1)):
        out = report_command(run, run / "report.html")
        requests, errors, drawn, handles = open_page(chromium, out, tmp_path / "r.png")
        try:
            assert requests == [out.as_uri()] and errors == [] and drawn == n
        finally:
            close(handles)


def test_a_run_in_progress_gets_the_panels_it_has(tmp_path):
    run = write_rl_run(tmp_path)
    for name in ("final_scores.json", "events.jsonl"):
        (run / name).unlink()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(lines[:3]) + '\n{"step": 3, "rollo')  # killed mid-line
    rl = collect_rl(run)
    assert rl["progress"] == {"step": 2, "steps": STEPS, "rollouts": 16, "budget": 64, "finished": False,
                              "unreadable_lines": {"metrics.jsonl": 1, "curriculum_log.jsonl": 0, "events.jsonl": 0}}
    text = report_command(run, tmp_path / "r.html").read_text()
    assert "not finished: step 2 of 8" in text and "No flag" in text
    assert [r["step"] for r in rl["evaluations"]] == [0] and rl["evaluations"][0]["reward"] is None


def test_a_run_with_sampled_pass1_plots_it_and_keeps_greedy_in_the_table(tmp_path):
    run = write_rl_run(tmp_path)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        if "eval/mean" in r:
            r.update({"eval/add1/pass1_sampled": r["eval/add1/exact_match"] / 2, "eval/add2/pass1_sampled": 0.0,
                      "eval/pass1_sampled_mean": r["eval/add1/exact_match"] / 4, "eval/pass1_sampled_worst": 0.0})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = report_command(run, tmp_path / "r.html").read_text()
    progress = next(f for f in figures(text).values() if f["layout"]["title"]["text"].startswith("RL with"))
    assert any(a["text"] == "held-out: test sampled pass@1" for a in progress["layout"]["annotations"])
    named = {t["name"]: t for t in progress["data"] if t.get("name")}
    assert named["add1"]["y"] == [0.25, 0.375, 0.25] and named["mean over tasks"]["y"] == [0.125, 0.1875, 0.125]
    assert '<tr data-step="4" class="best">' in text  # the table: greedy exact match, as before


def test_a_run_with_diversity_draws_it_and_marks_a_mode_collapse(tmp_path):
    run = write_rl_run(tmp_path)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    edits = iter([0.6, 0.4, 0.25])
    for r in rows:
        if "eval/mean" in r:
            r.update({"diversity/edit_distance": next(edits), "diversity/answer_entropy": 1.0})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    evals = [r["step"] for r in rows if "eval/mean" in r]
    with (run / "events.jsonl").open("a") as f:
        f.write(json.dumps({"step": evals[-1], "event": "mode-collapse", "metric": "edit_distance", "first": 0.6,
                            "now": 0.25, "since_step": 0, "score": [0.1, 0.3], "reward": None}) + "\n")
    rl = collect_rl(run)
    assert rl["eval"]["diversity"] == {"edit_distance": [0.6, 0.4, 0.25], "answer_entropy": [1.0, 1.0, 1.0]}
    text = report_command(run, tmp_path / "r.html").read_text()
    fig = next(f for f in figures(text).values() if f["layout"]["title"]["text"].startswith("Diversity"))
    assert {t["name"]: t["y"] for t in fig["data"]} == {"pairwise edit distance": [0.6, 0.4, 0.25],
                                                       "answer entropy (bits)": [1.0, 1.0, 1.0]}
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["mode-collapse"]
    assert "edit_distance fell from 0.600 to 0.250" in text


def add_reward_components(run: Path) -> Path:
    """A composite reward in the run's config (exact, and a length penalty annealed to 0) and
    its components' per-step scores in its metrics: exact step / 8, length 1."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        if "reward" in r:
            r.update({"reward/exact": r["step"] / 8, "reward/length": 1.0})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["tasks"] = [{"name": "add1", "reward": [
        {"name": "exact", "grader": {"kind": "exact"}, "weight": 1.0},
        {"name": "length", "grader": {"kind": "length", "max_chars": 8}, "weight": -0.5,
         "anneal": {"to": 0.0, "steps": 100}}]}]
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    return run


def test_a_composite_reward_draws_each_component_with_its_configured_weight(tmp_path):
    run = add_reward_components(write_rl_run(tmp_path))
    rl = collect_rl(run)
    assert rl["series"]["components"] == {"exact": [s / 8 for s in range(1, 9)], "length": [1.0] * 8}
    assert rl["reward_terms"] == [
        {"task": "add1", "name": "exact", "grader": "exact", "weight": 1.0, "anneal_to": None, "anneal_steps": None},
        {"task": "add1", "name": "length", "grader": "length", "weight": -0.5, "anneal_to": 0.0, "anneal_steps": 100}]
    text = report_command(run, tmp_path / "r.html").read_text()
    fig = next(f for f in figures(text).values() if f["layout"]["title"]["text"].startswith("Reward components"))
    named = {t["name"]: t for t in fig["data"]}
    assert named["length"]["y"] == [1.0] * 8 and named["exact"]["x"] == [8 * s for s in range(1, 9)]
    assert named["exact"]["y"][0] == 0.125 and named["exact"]["y"][-1] < 1.0  # EMA 0.9 of s / 8
    assert 'data-panel="rl_components"' in text and "to 0 by step 100" in text
    # a run with one grader has no such panel
    assert 'data-panel="rl_components"' not in report_command(write_rl_run(tmp_path / "plain"),
                                                               tmp_path / "p.html").read_text()


def test_the_pipeline_page_marks_the_choice_curricle_select_wrote(tmp_path):
    run = write_pipeline_run(tmp_path)  # pipeline.json's best: sft
    select_run(run, SelectRule(maximize="mean"))
    out = report_command(run, tmp_path / "line" / "report.html", console=Console(file=io.StringIO()))
    text = out.read_text()
    data = embedded(text)
    assert (data["best"], data["rule"], data["chosen_by"], data["objective"]) == (
        "rl", "highest mean; ties after that: the earlier row", "selection.json", "mean")
    assert data["pareto"] == {"tokens": ["start", "sft", "rl"], "length": ["rl"]}
    assert '<tr class="best"><td data-v="rl"' in text and "(from selection.json, which <code>curricle select" in text
    # A saved rule naming a column the table no longer has: the pipeline's own choice stands.
    (run / "selection.json").write_text(json.dumps({"kind": "pipeline", "spec": {"maximize": "probe:gone"}}))
    data = embedded(report_command(run, tmp_path / "r2.html", console=Console(file=io.StringIO())).read_text())
    assert (data["best"], data["chosen_by"]) == ("sft", "pipeline.json")


def test_a_running_pipeline_gets_a_page_with_the_stages_done_so_far(tmp_path):
    run = tmp_path / "line"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"kind": "pipeline", "schema": 1}))  # written at the start
    write_finetune_run(run)  # stage ft, done first
    ft = {"stage": "ft", "kind": "finetune", "from": "/base", "chosen": "/line/ft/final", "step": 20,
          "rule": "best-mean", "tokens": 1000}
    (run / "ft" / "stage.json").write_text(json.dumps(ft))
    (run / "data").mkdir()  # an rft stage, done after it
    data_stage = {"stage": "data", "kind": "rft", "from": "/line/ft/final", "chosen": "/line/ft/final", "step": None,
                  "rule": None, "tokens": None}
    (run / "data" / "stage.json").write_text(json.dumps(data_stage))
    os.utime(run / "ft" / "stage.json", ns=(1_000_000_000, 1_000_000_000))
    os.utime(run / "data" / "stage.json", ns=(2_000_000_000, 2_000_000_000))
    write_rl_run(run)  # stage rl, started: no stage.json yet
    (run / "rl" / "run.json").write_text(json.dumps({"kind": "rl", "schema": 1}))
    console = Console(file=io.StringIO(), width=300)
    out = report_command(run, run / "report.html", console=console)
    text = out.read_text()
    data = embedded(text)
    assert data["finished"] is False and data["table"] == [] and data["best"] is None
    assert data["stages"] == [ft, data_stage, {"stage": "rl", "kind": "rl", "running": True}]
    why = ("the pipeline has not finished (still running, or stopped): 2 stage(s) done so far; pipeline.json, the "
           "table of every chosen checkpoint's scores, is written when every stage is done")
    assert data["missing"] == {"pl_table": why}
    assert data["stage_reports"] == {"ft": "ft/report.html", "rl": "rl/report.html"}
    assert '<span class="badge running">not finished</span> 2 stage(s) done' in text
    assert "<td data-v=\"not finished (no stage.json yet)\"" in text
    assert console.file.getvalue().splitlines()[0].endswith("pipeline not finished, 2 stage(s) done)")
