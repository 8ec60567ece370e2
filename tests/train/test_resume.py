"""A run killed with SIGKILL and resumed equals a run that never stopped."""

import json
import os
import subprocess

import pytest

from tests.train.conftest import PYTHON, run_killed_then_resumed


def losses(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(m["step"], m["loss"], m.get("eval/loss")) for m in lines]


def train_cmd(config, run_dir, *extra):
    return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run_dir), *extra]


@pytest.mark.slow
def test_sigkill_at_step_20_then_resume_equals_uninterrupted(tmp_path, write_config):
    config = write_config()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full = tmp_path / "full"
    subprocess.run(train_cmd(config, full), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    r = run_killed_then_resumed(train_cmd(config, killed), killed)
    assert r.returncode == 0, r.stderr
    assert losses(killed) == losses(full)
    assert len(losses(full)) == 40
    events = [json.loads(line) for line in (killed / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["resume"]
    assert events[0]["step"] >= 20
