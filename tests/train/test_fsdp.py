"""FSDP2 under torchrun, 2 processes on CPU (gloo): the same numbers as 1 process, exact
resume after SIGKILL, and a consolidated HF export (sharded safetensors when large)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from curricle.train.command import train_run
from tests.train.conftest import PYTHON, finish

FSDP = {"parallelism": {"kind": "fsdp"}, "telemetry": {"tensorboard": False}, "checkpoint": {"every": 5, "keep_last": 10}}


def torchrun(config, run_dir, *extra, nproc=2, timeout=240, wait=True):
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "curricle.cli",
           "train", str(config), "--run-dir", str(run_dir), *extra]
    # A session of its own, so a hang (or the test's SIGKILL) takes torchrun's workers too.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    if not wait:
        return proc
    finish(proc, timeout, tail=4000)
    return proc


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it (torchrun's workers run in sessions of their
    own, so a process-group kill would miss them)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_process_fsdp_matches_one_process_and_resumes_exactly(tmp_path, write_config, make_config):
    config = write_config(steps=20, **FSDP)
    fsdp = tmp_path / "fsdp"
    torchrun(config, fsdp)
    plain = tmp_path / "plain"
    train_run(make_config(steps=20, **FSDP), plain, progress=False)  # one process: nothing to shard

    a, b = metrics(fsdp), metrics(plain)
    assert [m["step"] for m in a] == list(range(1, 21))
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], abs=1e-5), x["step"]
        for d in ("arithmetic", "copy", "agreement"):
            if f"loss/{d}" in y:
                assert x[f"loss/{d}"] == pytest.approx(y[f"loss/{d}"], abs=1e-5)
    assert a[-1]["eval/loss"] == pytest.approx(b[-1]["eval/loss"], abs=1e-5)

    # The sharded checkpoint holds every rank's shards; the consolidated export is a plain HF model.
    ckpt = fsdp / "checkpoints" / "step_20"
    assert (ckpt / "sharded" / ".metadata").is_file() and not (ckpt / "optimizer.pt").exists()
    exported = AutoModelForCausalLM.from_pretrained(str(ckpt))
    reference = AutoModelForCausalLM.from_pretrained(str(plain / "checkpoints" / "step_20"))
    for (k, v), w in zip(exported.state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(v, w, atol=1e-4), k

    # SIGKILL after the step-10 checkpoint, resume: exactly the uninterrupted run's numbers.
    killed = tmp_path / "killed"
    proc = torchrun(config, killed, wait=False)
    deadline = time.time() + 180
    while not (killed / "checkpoints" / "step_10").is_dir():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.01)
    kill_tree(proc.pid)
    proc.communicate()
    assert not (killed / "checkpoints" / "step_20").exists()
    torchrun(config, killed, "--resume")
    assert [(m["step"], m["loss"], m.get("eval/loss")) for m in metrics(killed)] == \
           [(m["step"], m["loss"], m.get("eval/loss")) for m in a]
    events = [json.loads(line) for line in (killed / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["resume"]


def test_a_large_export_is_sharded_with_an_index_and_resumes(tmp_path, make_config):
    cfg = make_config(steps=10, checkpoint={"every": 5, "max_shard_size": "20KB"})
    train_run(cfg, tmp_path / "full", progress=False)
    ckpt = tmp_path / "full" / "checkpoints" / "step_10"
    index = json.loads((ckpt / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and not (ckpt / "model.safetensors").exists()
    assert AutoModelForCausalLM.from_pretrained(str(ckpt)) is not None
    # A resume reads the sharded export back.
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_10")
    train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    assert [m["loss"] for m in metrics(tmp_path / "cut")] == [m["loss"] for m in metrics(tmp_path / "full")]
