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
