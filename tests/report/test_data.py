"""collect_run: what the report shows, read exactly from a run directory."""

import json

import pytest

from curricle.errors import CurricleError
from curricle.report import collect_run, write_report
from curricle.report.data import read_jsonl
from tests.report.conftest import DOMAINS, ROWS_TOKENS, eval_loss, write_fake_run


def test_series_phases_and_progress(fake_run):
    run = collect_run(fake_run)
    assert run["name"] == "fake" and run["domains"] == DOMAINS and run["controller"] == "odm"
    s = run["series"]
    assert s["step"] == list(range(1, 21)) and s["tokens"] == [i * ROWS_TOKENS for i in range(1, 21)]
    assert s["weights"]["code"][:10] == [0.0] * 10 and s["weights"]["code"][15] == 0.7
    # A domain absent from a step's batch has no loss that step.
    assert s["loss_by_domain"]["code"][:10] == [None] * 10 and s["loss_by_domain"]["code"][10] == pytest.approx(5.4)
    assert s["seq_len"][9:11] == [32, 64]
    assert run["phases"] == [{"name": "warmup", "start_step": 0, "end_step": 10, "start_tokens": 0},
                             {"name": "main", "start_step": 10, "end_step": 20, "start_tokens": 1000}]
    assert run["progress"] | {} == {"step": 20, "steps": 20, "tokens": 2000, "eval_tokens": 120, "fraction": 1.0,
                                    "finished": True, "stopped": None, "latest_checkpoint": 20,
                                    "unreadable_lines": {"metrics.jsonl": 0, "mixture_log.jsonl": 0,
                                                         "events.jsonl": 0, "probes.jsonl": 0}}
    assert run["missing"] == {}


def test_eval_checkpoints_and_best(fake_run):
    run = collect_run(fake_run)
    assert run["eval"]["step"] == [10, 20]
    assert run["eval"]["loss_by_domain"]["code"] == [eval_loss(10, "code"), eval_loss(20, "code")]
    table = {r["step"]: r for r in run["checkpoints"]}
    # Checkpoints on disk (10, 20) and probed steps (2, 4, ..., 20) are rows.
    assert sorted(table) == list(range(2, 21, 2))
    assert table[20]["on_disk"] and not table[18]["on_disk"]
    assert table[20]["eval_loss"] == {"code": 3.5, "prose": 3.0}
    assert table[20]["eval_loss_mean"] == pytest.approx(3.25) and table[20]["eval_loss_worst"] == 3.5
    assert table[20]["ece"] == 0.04
    assert table[8]["probes"] == {"copy": 0.0, "facts": 0.25} and table[10]["probes"]["copy"] == 1.0
    assert run["best_checkpoint"] == 20


def test_audit_events_skills_and_funnel(fake_run):
    run = collect_run(fake_run)
    assert [a["step"] for a in run["audit"]] == [15] and run["audit"][0]["new"] == {"code": 0.7, "prose": 0.3}
    assert [(e["step"], e["event"]) for e in run["events"]] == [(12, "skip"), (13, "rollback")]
    sk = run["skills"]
    assert sk["emerged"] == ["copy"] and sk["censored"] == ["facts"] and sk["order"] == ["copy", "facts"]
    copy = sk["skills"]["copy"]
    assert copy["scores"] == [0.0] * 4 + [1.0] * 6
    assert 8 <= copy["emergence"]["step"] <= 10 and copy["phase"] in ("warmup", "main")
    assert run["funnel"]["domains"]["code"]["out"] == {"docs": 6, "tokens": 600}


def test_a_run_in_progress_says_how_far_it_got(tmp_path):
    run_dir = write_fake_run(tmp_path, steps=13, total=40, checkpoints=(10,))
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"step": 14, "tok')  # the trainer is writing this line right now
    run = collect_run(run_dir)
    p = run["progress"]
    assert (p["step"], p["steps"], p["finished"], p["latest_checkpoint"]) == (13, 40, False, 10)
    assert p["fraction"] == pytest.approx(13 / 40) and p["unreadable_lines"]["metrics.jsonl"] == 1
    assert run["phases"][-1] == {"name": "main", "start_step": 10, "end_step": 40, "start_tokens": 1000}


def test_a_half_written_last_probe_row_is_skipped_and_counted(tmp_path):
    run_dir = write_fake_run(tmp_path)
    whole = collect_run(run_dir)
    with open(run_dir / "probes.jsonl", "a") as f:
        f.write('{"schema": "curricle.probe/1", "run": "r')  # the probe hook is appending this row right now
    run = collect_run(run_dir)
    assert run["progress"]["unreadable_lines"]["probes.jsonl"] == 1
    assert run["skills"] == whole["skills"] and run["checkpoints"] == whole["checkpoints"]
    assert "unreadable lines skipped: probes.jsonl 1" in write_report(run_dir, tmp_path / "r.html").read_text()


def test_a_bad_probe_row_before_the_last_is_a_one_line_error(tmp_path):
    run_dir = write_fake_run(tmp_path)
    lines = (run_dir / "probes.jsonl").read_text().splitlines()
    (run_dir / "probes.jsonl").write_text("\n".join(["{oops", *lines]) + "\n")
    with pytest.raises(CurricleError, match=r"probes.jsonl:1: not valid JSON"):
        collect_run(run_dir)


def test_missing_parts_are_named_not_errors(tmp_path):
    run_dir = write_fake_run(tmp_path, probes=False, funnel=False, audit=False, events=False, checkpoints=(),
                             hard_examples=False)
    run = collect_run(run_dir)
    assert run["skills"] is None and run["funnel"] is None and run["audit"] == [] and run["events"] == []
    assert set(run["missing"]) == {"skills", "funnel", "audit", "events", "hard_examples"}
    assert run["hard_examples"] is None and "no hard-examples data" in run["missing"]["hard_examples"]
    assert run["controller"] == "schedule (phases)"
    assert "no probe results" in run["missing"]["skills"] and "curate" in run["missing"]["funnel"]
    # Without checkpoints on disk the table lists what was evaluated.
    assert [r["step"] for r in run["checkpoints"]] == [10, 20] and run["best_checkpoint"] == 20


def test_probes_from_another_file_are_matched_by_run(tmp_path):
    run_dir = write_fake_run(tmp_path, probes=True)
    rows = (run_dir / "probes.jsonl").read_text()
    (run_dir / "probes.jsonl").unlink()
    other = tmp_path / "probes.jsonl"
    foreign = json.dumps({**json.loads(rows.splitlines()[0]), "run": str(tmp_path / "elsewhere"), "task": "x",
                          "skill": "x"})
    other.write_text(rows + foreign + "\n")
    run = collect_run(run_dir, probes=[other])
    assert sorted(run["skills"]["skills"]) == ["copy", "facts"] and run["probe_files"] == [str(other)]


def test_long_runs_are_thinned_but_keep_evaluations_and_changes(tmp_path, monkeypatch):
    monkeypatch.setattr("curricle.report.data.MAX_POINTS", 6)
    run = collect_run(write_fake_run(tmp_path))
    steps = run["series"]["step"]
    assert run["series"]["thinned"] and len(steps) < 20
    assert {10, 12, 13, 15, 20} <= set(steps) and steps == sorted(steps)


def test_not_a_run_is_one_clear_error(tmp_path):
    with pytest.raises(CurricleError, match="no such run directory"):
        collect_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurricleError, match="not a curricle run"):
        collect_run(tmp_path / "empty")


def test_read_jsonl_counts_bad_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\nnot json\n[1, 2]\n{"b": 2}\n')
    assert read_jsonl(p) == ([{"a": 1}, {"b": 2}], 2)
    assert read_jsonl(tmp_path / "missing.jsonl") == ([], 0)


def test_probes_too_few_to_map_are_named(tmp_path):
    run_dir = write_fake_run(tmp_path, steps=2, total=20, checkpoints=())  # one probed checkpoint
    run = collect_run(run_dir)
    assert run["skills"] is None and "fewer than 2 probed checkpoints" in run["missing"]["skills"]


def test_long_audit_logs_are_thinned_and_counted(tmp_path, monkeypatch):
    monkeypatch.setattr("curricle.report.data.MAX_ROWS", 4)
    run_dir = write_fake_run(tmp_path)
    entry = json.loads((run_dir / "mixture_log.jsonl").read_text())
    with open(run_dir / "mixture_log.jsonl", "a") as f:
        for step in range(16, 21):
            f.write(json.dumps({**entry, "step": step}) + "\n")
    run = collect_run(run_dir)
    assert run["counts"] == {"audit": 6, "events": 2}
    assert [a["step"] for a in run["audit"]] == [15, 17, 19, 20]
    text = write_report(run_dir).read_text()
    assert "6 changes by the odm controller (showing 4: every k-th and the last" in text
