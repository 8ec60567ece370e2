"""A run killed with SIGKILL and resumed equals a run that never stopped."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.train.conftest import PYTHON


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
    # Slow the run down a little after step 20 so the kill lands mid-run, not after it.
    proc = subprocess.Popen(train_cmd(config, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "step_20").is_dir():
        assert proc.poll() is None, "run ended before its step-20 checkpoint"
        assert time.time() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "checkpoints" / "step_40").exists()

    r = subprocess.run(train_cmd(config, killed, "--resume"), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert losses(killed) == losses(full)
    assert len(losses(full)) == 40
    events = [json.loads(line) for line in (killed / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["resume"]
    assert events[0]["step"] >= 20
