"""A small prepared store and a micro-model run config shared by the training tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from curricle.config import parse_config
from curricle.prepare.command import prepare_run


def run_config_dict(data_dir, **train) -> dict:
    return {
        "name": "t",
        "data_dir": str(data_dir),
        "sources": [
            {"kind": "synthetic", "skill": "arithmetic", "domain": "arithmetic", "n_docs": 60},
            {"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 60},
            {"kind": "synthetic", "skill": "agreement", "domain": "agreement", "n_docs": 40},
        ],
        "tokenizer": {"vocab_size": 300, "sample_docs_per_source": 40},
        "mixture": {"batch_rows": 8, "seq_len": 32, "schedule": {"kind": "phases", "phases": [
            {"name": "warmup", "steps": 10, "weights": {"copy": 1}},
            {"name": "main", "ramp": 5, "weights": {"arithmetic": 1, "copy": 1, "agreement": 1}},
        ]}},
        "model": {"preset": "micro", "max_position_embeddings": 64},
        "train": {"steps": 40, "eval_every": 10, "eval_rows_per_domain": 4,
                  "checkpoint": {"every": 10, "keep_last": 5}, "telemetry": {"tensorboard": False}, **train},
    }


@pytest.fixture(scope="session")
def prepared_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("train-data") / "data"
    prepare_run(parse_config(run_config_dict(data_dir)), progress=False)
    return data_dir


@pytest.fixture
def write_config(tmp_path, prepared_dir):
    def _write(name="run.yaml", **train):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(run_config_dict(prepared_dir, **train)))
        return path

    return _write


@pytest.fixture
def make_config(prepared_dir):
    def _make(**train):
        return parse_config(run_config_dict(prepared_dir, **train))

    return _make


PYTHON = sys.executable


def finish(proc: subprocess.Popen, timeout: float = 240, tail: int = 3000) -> None:
    """Wait for ``proc`` (started with ``start_new_session=True``); on a timeout kill its whole
    session (torchrun and its workers) and re-raise; fail on a non-zero exit with stderr's tail."""
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-tail:]


def run_killed_then_resumed(cmd: list[str], run_dir, resume_flag: str = "--resume", at_step: int = 20,
                            cwd=None) -> subprocess.CompletedProcess:
    """Run ``cmd`` (a 40-step training run into ``run_dir``), SIGKILL it once its ``at_step``
    checkpoint exists, then rerun it with ``resume_flag``; returns the resumed run's process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run_dir / "checkpoints" / f"step_{at_step}").is_dir():
        assert proc.poll() is None, f"run ended before its step-{at_step} checkpoint"
        assert time.time() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "checkpoints" / "step_40").exists()
    return subprocess.run([*cmd, resume_flag], env=env, cwd=cwd, capture_output=True, text=True)

