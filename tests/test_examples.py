"""The example scripts the README points to run as written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_hf_trainer_example_runs(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "hf_trainer.py"), "--max-steps", "6", "--out",
                        str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [json.loads(line) for line in (tmp_path / "trainer" / "domain_losses.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == list(range(1, 7))
    assert "step 6: " in r.stdout and "loss/copy" in steps[-1]


@pytest.mark.slow
def test_the_sft_curriculum_example_runs(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "sft_curriculum.py"), "--max-steps", "10", "--out",
                        str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals if "eval/mean" in e] == list(range(0, 11))
    assert "step 10: reverse" in r.stdout and "forgetting matrix after" in r.stdout
    log = [json.loads(line) for line in (tmp_path / "curriculum_log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log][:2] == ["start", "stage"]


@pytest.mark.slow
def test_the_grpo_curriculum_example_runs(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "grpo_curriculum.py"), "--max-steps", "6", "--out",
                        str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "6 steps; last: " in r.stdout
    trace = [json.loads(line) for line in (tmp_path / "trace" / "prompts.rank0.jsonl").read_text().splitlines()]
    assert [t["step"] for t in trace] == list(range(1, 7)) and all(len(t["rows"]) == 2 for t in trace)
    log = [json.loads(line) for line in (tmp_path / "curriculum_log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log] == ["start"] + ["learnability"] * 6
