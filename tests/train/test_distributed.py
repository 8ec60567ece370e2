"""The same command under torchrun: 2 processes, gloo on CPU, disjoint data."""

import json
import os
import signal
import subprocess

import pytest

from tests.train.conftest import PYTHON


@pytest.mark.slow
def test_two_process_ddp_run_sees_disjoint_data(tmp_path, write_config):
    config = write_config(steps=8, telemetry={"tensorboard": False}, trace=True,
                          checkpoint={"every": 4})
    run = tmp_path / "run"
    # --standalone: a local rendezvous on a free loopback port.
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "curricle.cli", "train", str(config), "--run-dir", str(run)]
    # A session of its own, so a hang kills torchrun's workers too, not only torchrun.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    traces = []
    for rank in (0, 1):
        lines = [json.loads(line) for line in (run / "trace" / f"rows.rank{rank}.jsonl").read_text().splitlines()]
        assert [t["step"] for t in lines] == list(range(1, 9))
        assert all(len(t["rows"]) == 4 for t in lines)  # 8 global rows over 2 ranks
        traces.append({(t["step"], h) for t in lines for h in t["rows"]})
    assert not traces[0] & traces[1]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, 9))
    assert metrics[-1]["tokens"] == 8 * 8 * 32
    assert (run / "checkpoints" / "step_8" / "model.safetensors").is_file()
