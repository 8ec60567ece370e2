"""The report of a fine-tuning run: per-task curves with stage marks, the forgetting matrix,
the curriculum log and the checkpoint table, from files with known contents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curricle.report.command import report_command
from curricle.report.finetune import collect_finetune
from tests.report.conftest import embedded, figures
from tests.report.test_browser import close, open_page

# Held-out exact match per evaluation (step: reverse, uppercase, composite, probe).
SCORES = {0: (0.0, 0.0, 0.0, 0.5), 10: (0.5, 0.75, 0.0, 0.5), 20: (0.25, 0.5, 0.5, 0.25), 30: (0.5, 1.0, 0.75, 0.25)}


def write_finetune_run(root: Path) -> Path:
    run = root / "ft"
    run.mkdir(parents=True)
    lines = []
    for step, vals in SCORES.items():
        row = {"step": step, "stage": "components" if step < 10 else "composite", "examples": step * 4}
        for task, v in zip(("reverse", "uppercase", "composite", "probe:copy"), vals):
            metric = "acc" if task.startswith("probe") else "exact_match"
            row[f"eval/{task}/{metric}"], row[f"eval/{task}/{metric}_se"] = v, 0.05
        row["eval/mean"], row["eval/worst"] = sum(vals[:3]) / 3, min(vals[:3])
        if step:
            lines.append({"step": step, "train/loss": 3.0 - step / 20, "examples": step * 4})
        lines.append(row)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    log = [{"event": "start", "step": 0, "stage": "components", "weights": {"reverse": 0.5, "uppercase": 0.5},
            "examples_per_step": 4, "steps": 30},
           {"event": "stage", "step": 10, "from": "components", "to": "composite", "reason": "milestone",
            "steps_in_stage": 10, "effective_from_step": 12, "metric": "exact_match",
            "values": {"reverse": 0.5, "uppercase": 0.75}, "at_least": 0.5, "hits": 1, "patience": 1},
           {"event": "review-floor", "step": 15, "evaluation": 3, "share": 0.1, "items": 8, "decks": [0, 8],
            "floor_intervals": 1, "effective_from_step": 17},
           {"event": "revisit", "step": 20, "task": "uppercase", "score": 0.5, "reference": 0.75, "drop": 0.25,
            "se": 0.0625, "margin_se": 2.0, "limit": 0.125, "effective_from_step": 22}]
    (run / "curriculum_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    (run / "forgetting.json").write_text(json.dumps({
        "tasks": ["reverse", "uppercase", "composite", "probe:copy"], "stages": ["components", "composite"],
        "steps": [10, 30], "R": [[0.5, 0.75, 0.0, 0.5], [0.5, 1.0, 0.75, 0.25]], "baseline": [0, 0, 0, 0.5],
        "learned_at": {"reverse": 0, "uppercase": 0, "composite": 1, "probe:copy": None}, "acc": 0.75,
        "bwt": 0.125, "fwt": 0.0, "forgetting": {"reverse": 0.0, "uppercase": -0.25}, "mean_forgetting": -0.125,
        "change_from_baseline": {"probe:copy": -0.25}, "final": True,
        "metrics": {"reverse": "exact_match", "uppercase": "exact_match", "composite": "exact_match",
                    "probe:copy": "acc"}}))
    (run / "final_scores.json").write_text(json.dumps({"step": 30}))
    for step in (20, 30):
        d = run / "checkpoints" / f"checkpoint-{step}"
        d.mkdir(parents=True)
        (d / "curricle_curriculum.json").write_text("{}")
    (run / "checkpoints" / "checkpoint-10").mkdir()  # killed before the curriculum's state: not complete
    return run


def test_the_data_behind_every_panel(tmp_path):
    ft = collect_finetune(write_finetune_run(tmp_path))
    assert ft["tasks"] == ["reverse", "uppercase", "composite", "probe:copy"] and ft["eval_only"] == ["probe:copy"]
    assert ft["eval"]["step"] == [0, 10, 20, 30] and ft["eval"]["examples"] == [0, 40, 80, 120]
    assert ft["eval"]["score"]["uppercase"] == [0.0, 0.75, 0.5, 1.0]
    assert ft["eval"]["score"]["probe:copy"] == [0.5, 0.5, 0.25, 0.25]
    assert ft["train"]["loss"] == [2.5, 2.0, 1.5]
    table = {r["step"]: r for r in ft["checkpoints"]}
    assert [r["on_disk"] for r in ft["checkpoints"]] == [False, False, True, True]
    assert table[20]["mean"] == pytest.approx((0.25 + 0.5 + 0.5) / 3) and table[20]["worst"] == 0.25
    # Forgetting at step 20: reverse 0.5 -> 0.25, uppercase 0.75 -> 0.5, composite at its best (0.5).
    assert table[20]["forgetting"] == pytest.approx((0.25 + 0.25 + 0.0) / 3)
    assert table[30]["forgetting"] == pytest.approx(0.0) and ft["best_checkpoint"] == 30


def test_report_command_writes_the_finetune_page(tmp_path):
    run = write_finetune_run(tmp_path)
    out = report_command(run, tmp_path / "r.html")
    text = out.read_text()
    data = embedded(text)
    assert data["kind"] == "finetune" and data["forgetting"]["bwt"] == 0.125
    figs = figures(text)
    assert len(figs) == 3
    heat = next(f for f in figs.values() if f["data"][0]["type"] == "heatmap")
    assert heat["data"][0]["z"] == [[0, 0, 0, 0.5], [0.5, 0.75, 0.0, 0.5], [0.5, 1.0, 0.75, 0.25]]
    assert heat["data"][0]["y"] == ["before fine-tuning", "after components (step 10)", "after composite (step 30)"]
    curves = next(f for f in figs.values() if f["layout"]["title"]["text"].startswith("Held-out score"))
    named = {t["name"]: t for t in curves["data"] if t.get("name")}
    assert named["uppercase (exact_match)"]["y"] == [0.0, 0.75, 0.5, 1.0]
    assert named["probe:copy (acc)"]["line"]["dash"] == "dot"
    stars = [t for t in curves["data"] if t.get("marker", {}).get("symbol") == "star"]
    assert sorted((t["x"][0], t["y"][0]) for t in stars) == [(40, 0.5), (40, 0.75)]
    lines = [s for s in curves["layout"]["shapes"]]
    assert sorted(s["x0"] for s in lines) == [44, 80]  # the stage from step 12 (x of step 11), the revisit at 20
    assert 'data-panel="ft_log"' in text and "components → composite (milestone; from step 12)" in text
    assert "no deck due: 0.10 of each step from the 8 queued items (floor interval 1)" in text
    assert "uppercase: 0.500 (at its stage&#x27;s end 0.750); drop 0.250, limit 2 x s.e. 0.062 = 0.125" in text
    assert 'class="best"' in text and "BWT 0.125" in text


def test_plateau_decisions_read_as_sentences_in_the_log(tmp_path):
    run = write_finetune_run(tmp_path)
    plateau = {"event": "plateau", "step": 25, "stage": "composite", "task": "composite", "metric": "exact_match",
               "at_least": 0.9, "value": 0.5, "window": [15, 25], "best_window": 0.5, "best_window_se": 0.05,
               "best_before": 0.5, "best_before_se": 0.05, "best_before_step": 10, "improvement": 0.0,
               "threshold": 0.1414, "policy": "reinstate", "action": "reinstate", "reinstated": "components",
               "tasks": ["reverse", "uppercase"], "weight": 0.3, "until_step": 35, "effective_from_step": 27}
    extra = [plateau, {"event": "reinstate-end", "step": 30, "reinstated": "components", "since": 25,
                       "why": "the run ended", "effective_from_step": 32},
             {"event": "stop", "step": 30, "reason": "every milestone holds and nothing improves"}]
    with (run / "curriculum_log.jsonl").open("a") as f:
        f.write("".join(json.dumps(e) + "\n" for e in extra))
    text = report_command(run, tmp_path / "r.html").read_text()
    assert ("composite: composite exact_match on a plateau at 0.500 (steps 15-25: best 0.500 vs 0.500 before, "
            "improvement +0.000 &lt; 0.141), milestone 0.9; reinstate: reinstate components at 0.3 of each step "
            "until step 35") in text
    assert "components reinstated since step 25 ends: the run ended" in text
    assert "the run ends: every milestone holds and nothing improves" in text


@pytest.mark.slow
def test_the_finetune_report_opens_offline_without_errors(chromium, tmp_path):
    out = report_command(write_finetune_run(tmp_path), tmp_path / "r.html")
    requests, errors, drawn, handles = open_page(chromium, out, tmp_path / "r.png")
    try:
        assert requests == [out.as_uri()] and errors == [] and drawn == 3
    finally:
        close(handles)


def test_a_revisit_ended_by_a_stage_reads_as_a_sentence_and_is_marked(tmp_path):
    run = write_finetune_run(tmp_path)
    end = {"event": "revisit-end", "step": 30, "task": "uppercase", "score": 1.0, "reference": 0.75,
           "why": "stage review trains it", "effective_from_step": 32}
    with (run / "curriculum_log.jsonl").open("a") as f:
        f.write(json.dumps(end) + "\n")
    text = report_command(run, tmp_path / "r.html").read_text()
    assert "uppercase: revisit ends, stage review trains it" in text
    curves = next(f for f in figures(text).values() if f["layout"]["title"]["text"].startswith("Held-out score"))
    assert sorted(s["x0"] for s in curves["layout"]["shapes"]) == [44, 80, 120]  # the revisit's end at step 30


def test_a_run_in_progress_is_at_the_last_step_it_logged_not_its_last_evaluation(tmp_path):
    run = write_finetune_run(tmp_path)
    (run / "final_scores.json").unlink()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["step"] <= 20] + [{"step": s, "train/loss": 1.0, "examples": s * 4} for s in (21, 22)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ft = collect_finetune(run)
    assert ft["eval"]["step"] == [0, 10, 20]
    assert ft["progress"] == {"step": 22, "steps": 30, "finished": False,
                              "unreadable_lines": {"metrics.jsonl": 0, "curriculum_log.jsonl": 0}}
