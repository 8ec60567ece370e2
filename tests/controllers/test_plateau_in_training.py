"""Plateaus in a real (micro) training run: reinstatement, stop, and SIGKILL resume."""

from __future__ import annotations

import json

import pytest
import yaml

from curricle.controllers.config import PlateauConfig
from curricle.train.command import train_run

#: Every evaluation is a plateau once there is one before it (a threshold of 10 nats): the
#: verdicts fall at known steps whatever the micro model learns.
ALWAYS = {"patience": 1, "min_delta": 10.0}


def read(run_dir, name):
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def with_plateau(cfg, **plateau):
    return cfg.model_copy(update={"plateau": PlateauConfig.model_validate({**ALWAYS, **plateau})})


def test_a_plateau_reinstates_the_warmup_phase_for_its_steps(tmp_path, make_config):
    """Warm-up is steps 1-10 (copy only), then main (ramped over 5 steps to a third each).
    Evaluations every 5 steps; the verdicts at 10, 20 and 30 (the one at 15 falls in the window,
    25 in the next) bring copy-only back for steps 11-15 and 21-25."""
    cfg = with_plateau(make_config(steps=30, eval_every=5), reinstate={"phase": "warmup", "steps": 5})
    train_run(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    copy = {m["step"]: m["weight/copy"] for m in read(run, "metrics.jsonl")}
    reinstated = set(range(1, 16)) | set(range(21, 26))
    assert [s for s in copy if copy[s] == 1.0] == sorted(reinstated)
    assert all(copy[s] == pytest.approx(1 / 3) for s in set(range(16, 31)) - reinstated)
    events = read(run, "events.jsonl")
    assert [(e["step"], e["event"], e.get("series")) for e in events] == [
        *[(10, "plateau", f"eval/loss/{d}") for d in ("agreement", "arithmetic", "copy")],
        (15, "reinstate-end", None),
        *[(20, "plateau", f"eval/loss/{d}") for d in ("agreement", "arithmetic", "copy")],
        (25, "reinstate-end", None),
        *[(30, "plateau", f"eval/loss/{d}") for d in ("agreement", "arithmetic", "copy")]]
    metrics = {m["step"]: m for m in read(run, "metrics.jsonl")}
    p = events[0]
    assert p["value"] == metrics[10]["eval/loss/agreement"] and p["best_before"] == metrics[5]["eval/loss/agreement"]
    assert p["threshold"] == 10.0 and p["window"] == [10, 10] and (p["action"], p["until_step"]) == ("reinstate", 15)
    assert events[3] == {"step": 15, "event": "reinstate-end", "since": 10, "phase": "warmup", "pacing_start": False,
                         "returned_to": "schedule", "controller_updates_held": 0}
    assert all(f"eval/loss_se/{d}" in metrics[5] for d in ("agreement", "arithmetic", "copy"))


def test_stop_ends_the_run_when_every_watched_loss_plateaus(tmp_path, make_config):
    cfg = with_plateau(make_config(steps=30, eval_every=5), policy="stop", domains=["copy", "arithmetic"])
    result = train_run(cfg, tmp_path / "run", progress=False)
    assert result["trainer"].step == 10
    events = read(tmp_path / "run", "events.jsonl")
    assert [(e["event"], e.get("series"), e.get("action")) for e in events] == [
        ("plateau", "eval/loss/copy", "stop"), ("plateau", "eval/loss/arithmetic", "stop"),
        ("stop", ["eval/loss/arithmetic", "eval/loss/copy"], None)]
    assert {e["step"] for e in events} == {10}


@pytest.mark.slow
def test_a_run_killed_mid_reinstatement_resumes_exactly(tmp_path, prepared_dir):
    """ODM sets the weights every step; copy is paced; each plateau (at 10, 20, 30, 40)
    reinstates the warm-up's mixture over ODM's updates and restarts the pacing for 5 steps.
    Killed at its step-20 checkpoint (a window just begun), the resumed run trains on the same
    weights and documents as one that never stopped: the same losses, events and audit log."""
    from tests.train.conftest import PYTHON, run_config_dict, run_killed_then_resumed

    data = run_config_dict(prepared_dir, eval_every=5)
    data["mixture"]["pacing"] = {"copy": {"column": "n_tokens", "steps": 20, "start": 0.2}}
    data["controller"] = {"kind": "odm"}
    data["plateau"] = {**ALWAYS, "reinstate": {"phase": "warmup", "pacing_start": True, "steps": 5}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data))

    def cmd(run):
        return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run)]

    import subprocess

    subprocess.run(cmd(tmp_path / "full"), check=True, capture_output=True)
    r = run_killed_then_resumed(cmd(tmp_path / "killed"), tmp_path / "killed")
    assert r.returncode == 0, r.stderr[-3000:]

    def trained(run):
        return [(m["step"], m["loss"], [m[k] for k in sorted(m) if k.startswith("weight/")])
                for m in read(tmp_path / run, "metrics.jsonl")]

    full = trained("full")
    assert len(full) == 40 and trained("killed") == full
    assert read(tmp_path / "killed", "mixture_log.jsonl") == read(tmp_path / "full", "mixture_log.jsonl")
    events = read(tmp_path / "full", "events.jsonl")
    assert [e for e in read(tmp_path / "killed", "events.jsonl") if e["event"] != "resume"] == events
    assert [(e["step"], e["event"]) for e in events if e["event"] == "reinstate-end"] == [
        (15, "reinstate-end"), (25, "reinstate-end"), (35, "reinstate-end")]
    end = events[3]
    assert (end["returned_to"], end["controller_updates_held"], end["pacing_start"]) == ("controller weights", 5, True)
    copy = {s: w for s, _, w in full}
    assert all(copy[s][2] == 1.0 for s in (*range(21, 26), *range(31, 36)))  # weight/copy, over ODM's updates
    assert copy[26][2] != 1.0
