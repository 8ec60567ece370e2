"""drift-aware in a real (micro) training run: the signal's metrics and alarms, a window's
start and end in the audit log, and SIGKILL resume."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from curricle.config import parse_config
from curricle.train.command import train_run

#: A hair-trigger detector (k 0, h 0.001, window 4): the micro run's losses raise alarms in a
#: row within its 40 steps whatever it learns.
TRIGGER = {"window": 4, "k": 0.0, "h": 0.001, "min_spread": 1e-6}


def read(run_dir, name):
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def drift_config(prepared_dir, inner):
    from tests.train.conftest import run_config_dict

    data = run_config_dict(prepared_dir)
    data["controller"] = {"kind": "drift-aware", "inner": inner, "drift": TRIGGER, "warmup_steps": 0,
                          "hold_steps": 5, "max_change": 0.2}
    return data


def test_a_drift_aware_run_raises_a_domain_for_hold_steps_and_returns(tmp_path, prepared_dir):
    train_run(parse_config(drift_config(prepared_dir, {"kind": "schedule"})), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    metrics = {m["step"]: m for m in read(run, "metrics.jsonl")}
    alarms = [e for e in read(run, "events.jsonl") if e["event"] == "drift-alarm"]
    assert alarms and all(e["cusum"] > 0.001 and metrics[e["step"]][f"drift/cusum/{e['domain']}"] == e["cusum"]
                          for e in alarms)
    log = [e for e in read(run, "mixture_log.jsonl") if e["controller"] == "drift-aware"]
    starts = [e for e in log if "window" in e]
    ends = [e for e in log if "window_end" in e]
    assert starts and len(ends) >= len(starts) - 1
    first = starts[0]
    assert first["window"]["until_step"] == first["step"] + 5 and first["reason"].startswith("drift: '")
    drifting = first["reason"].split("'")[1]
    assert first["new"][drifting] > first["old"][drifting]
    assert max(abs(first["new"][d] - first["old"][d]) for d in first["new"]) <= 0.2 + 1e-12
    for s in range(first["step"] + 1, first["step"] + 6):  # the raised mixture is trained on
        assert {d: metrics[s][f"weight/{d}"] for d in first["new"]} == pytest.approx(first["new"])
    end = ends[0]
    assert end["step"] == first["step"] + 5 and end["window_end"]["returned_to"] == "schedule"
    # Back to the schedule, unless a new window opens at the same step (its start follows the end).
    after = next((e["new"] for e in starts if e["step"] == end["step"]), end["new"])
    assert {d: metrics[end["step"] + 1][f"weight/{d}"] for d in after} == pytest.approx(after)


@pytest.mark.slow
def test_a_drift_aware_odm_run_killed_mid_training_resumes_exactly(tmp_path, prepared_dir):
    from tests.train.conftest import PYTHON, run_killed_then_resumed

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(drift_config(prepared_dir, {"kind": "odm"})))

    def cmd(run):
        return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run)]

    subprocess.run(cmd(tmp_path / "full"), check=True, capture_output=True)
    r = run_killed_then_resumed(cmd(tmp_path / "killed"), tmp_path / "killed")
    assert r.returncode == 0, r.stderr[-3000:]

    def trained(run):
        return [(m["step"], m["loss"], {k: v for k, v in m.items() if k.startswith(("weight/", "drift/"))})
                for m in read(tmp_path / run, "metrics.jsonl")]

    assert len(trained("full")) == 40 and trained("killed") == trained("full")
    assert read(tmp_path / "killed", "mixture_log.jsonl") == read(tmp_path / "full", "mixture_log.jsonl")
    assert [e for e in read(tmp_path / "killed", "events.jsonl") if e["event"] != "resume"] == \
        read(tmp_path / "full", "events.jsonl")
    assert any("window" in e for e in read(tmp_path / "full", "mixture_log.jsonl"))
