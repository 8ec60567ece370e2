"""The same command under torchrun: 2 processes, gloo on CPU, disjoint data."""

import json
import os
import subprocess

import pytest
import torch

from curricle.errors import CurricleError
from curricle.train.distributed import init_distributed
from tests.train.conftest import PYTHON, finish


def torchrun_train(config, run, *launcher: str, resume: bool = False, **env: str) -> None:
    """``curricle train`` under torchrun, 2 processes on this machine; fails on a non-zero exit."""
    # --standalone: a local rendezvous on a free loopback port.
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *launcher, "-m", "curricle.cli",
           "train", str(config), "--run-dir", str(run), *(["--resume"] if resume else [])]
    # A session of its own, so a hang kills torchrun's workers too, not only torchrun.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    finish(proc)


def test_cuda_without_a_cuda_device_is_one_line_naming_train_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(CurricleError) as err:
        init_distributed("cuda")
    assert str(err.value) == ("train.device: cuda, but torch sees no CUDA device (a CPU-only build of torch, or no "
                              "GPU visible); use auto or cpu")
    assert init_distributed("auto").device == torch.device("cpu")


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_a_local_rank_past_the_last_cuda_device_is_one_line(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: pytest.fail("set_device reached"))
    monkeypatch.setenv("LOCAL_RANK", "2")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(CurricleError) as err:
        init_distributed(device)
    assert str(err.value) == (f"train.device: {device}: LOCAL_RANK 2 has no CUDA device (torch sees 2); start at "
                              f"most that many processes a machine")


@pytest.mark.slow
def test_two_process_ddp_run_sees_disjoint_data(tmp_path, write_config):
    config = write_config(steps=8, telemetry={"tensorboard": False}, trace=True,
                          checkpoint={"every": 4})
    run = tmp_path / "run"
    torchrun_train(config, run)
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


@pytest.mark.slow
def test_each_ranks_row_trace_is_cut_back_to_its_own_count_on_resume(tmp_path, write_config):
    config = write_config(steps=8, telemetry={"tensorboard": False}, trace=True, checkpoint={"every": 4})
    run = tmp_path / "run"
    torchrun_train(config, run)
    paths = [run / "trace" / f"rows.rank{rank}.jsonl" for rank in (0, 1)]
    traces = [p.read_text() for p in paths]
    state = json.loads((run / "checkpoints" / "step_4" / "trainer_state.json").read_text())
    assert {k: v for k, v in state["log_lines"].items() if k.startswith("trace/")} == {
        "trace/rows.rank0.jsonl": 4, "trace/rows.rank1.jsonl": 4}
    (run / "checkpoints" / "step_8").rename(tmp_path / "step_8")  # killed after step 8's lines, before its checkpoint
    torchrun_train(config, run, resume=True)
    assert [p.read_text() for p in paths] == traces  # steps 5-8 once on each rank, the same rows


@pytest.mark.slow
def test_a_spike_in_one_ranks_rows_is_skipped_and_rolled_back_by_both_ranks(tmp_path, write_config):
    """The guard judges the global step: a 100x loss injected into rank 1's rows only makes both
    ranks skip steps 13 and 14 and roll back together to step_10 (each rank logs it)."""
    config = write_config(steps=16, checkpoint={"every": 10, "keep_last": 5},
                          guard={"max_spikes": 2, "inject": {13: "spike", 14: "spike"}, "inject_rank": 1})
    run, logs = tmp_path / "run", tmp_path / "logs"
    torchrun_train(config, run, "--redirects", "3", "--log-dir", str(logs), COLUMNS="400")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if m.get("skipped")] == [13, 14]
    assert all(m["skipped"] == "spike" and m["loss"] is None for m in metrics if m.get("skipped"))
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [(e["step"], e["event"]) for e in events] == [(13, "skip"), (14, "skip"), (14, "rollback")]
    assert events[-1]["to_step"] == 10 and events[-1]["skipped_window"] == [11, 14]
    # Rank 0's rows were never injected, yet rank 0 skipped too (its events above); each rank says
    # it rolled back, in its own log (the console handler writes to stdout).
    for rank in (0, 1):
        text = "".join(p.read_text() for p in logs.rglob(f"attempt_0/{rank}/std*.log"))
        assert "step 14: 2 consecutive bad steps; rolled back to step_10" in text, rank


@pytest.mark.slow
def test_hard_examples_signals_and_group_losses_gather_over_ranks(tmp_path, write_config):
    import yaml

    config = write_config(steps=10, telemetry={"tensorboard": False}, checkpoint={"every": 10})
    raw = yaml.safe_load(config.read_text())
    raw["controller"] = {"kind": "hard-examples", "domains": ["copy"], "score": "margin", "warmup_steps": 5,
                         "update_every": 5, "groups": {"column": "source", "gamma": 0.5}}
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    torchrun_train(config, run)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = metrics[-1]
    assert last["group/share/copy/synthetic copy"] == 1.0
    # One group: its held-out loss is the domain's, summed over both ranks' rows.
    assert last["eval/group_loss/copy/synthetic copy"] == pytest.approx(last["eval/loss/copy"], rel=1e-9)
    assert last["eval/worst_group"] == "copy/synthetic copy"
    from curricle.controllers.hard_examples import document_signals, load_document_state

    _, arrays = load_document_state(run)
    s = document_signals(arrays, "copy")
    # Every visit of both ranks' rows was recorded: 10 steps of 8 rows of copy (the warm-up
    # phase is copy alone), each row at least one document piece.
    assert s["served"].sum() >= 10 * 8 and (s["served"] > 0).sum() > 1
    assert abs(s["margin"][s["served"] > 0]).max() < 1e3
