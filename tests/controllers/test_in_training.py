"""Controllers inside the training loop: audit log, resume, reference runs."""

import json

import pytest

from curricle.train.command import train_run


def read(run_dir, name):
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


ODM = {"kind": "odm", "update_every": 3, "warmup_steps": 6, "max_change": 0.2}


def test_audit_log_reconciles_with_the_weights_the_sampler_used(tmp_path, make_config):
    cfg = make_config(steps=30).model_copy(update={"controller": _ctrl(ODM)})
    train_run(cfg, tmp_path / "run", progress=False)
    metrics = {m["step"]: m for m in read(tmp_path / "run", "metrics.jsonl")}
    log = read(tmp_path / "run", "mixture_log.jsonl")
    assert [e["step"] for e in log] == list(range(6, 31, 3))
    for e in log[:-1]:  # the last one takes effect after the run's last step
        used_next = {d: metrics[e["effective_from_step"]][f"weight/{d}"] for d in e["new"]}
        assert used_next == pytest.approx(e["new"])
        used_now = {d: metrics[e["step"]][f"weight/{d}"] for d in e["old"]}
        assert used_now == pytest.approx(e["old"])
        assert e["controller"] == "odm" and e["reason"].startswith("EXP3")
        assert set(e["signal"]) == {"agreement", "arithmetic", "copy"}


def test_resume_with_a_controller_is_exact(tmp_path, make_config):
    cfg = make_config(steps=30).model_copy(update={"controller": _ctrl(ODM)})
    train_run(cfg, tmp_path / "full", progress=False)
    short = make_config(steps=30).model_copy(update={"controller": _ctrl(ODM)})
    train_run(short, tmp_path / "cut", progress=False)
    # Cut the second run back to its step-20 checkpoint and resume it.
    import shutil

    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_30")
    train_run(short, tmp_path / "cut", resume=True, progress=False)
    def losses(run):
        return [(m["step"], m["loss"], [m[k] for k in sorted(m) if k.startswith("weight/")])
                for m in read(tmp_path / run, "metrics.jsonl")]

    assert losses("cut") == losses("full")
    assert read(tmp_path / "cut", "mixture_log.jsonl") == read(tmp_path / "full", "mixture_log.jsonl")


def test_doremi_trains_its_own_uniform_reference_first(tmp_path, make_config):
    ctrl = {"kind": "doremi", "reference": {"steps": 10}, "warmup_steps": 4, "update_every": 2}
    cfg = make_config(steps=12).model_copy(update={"controller": _ctrl(ctrl)})
    train_run(cfg, tmp_path / "run", progress=False)
    ref = read(tmp_path / "run" / "reference", "metrics.jsonl")
    assert len(ref) == 10 and ref[0]["weight/copy"] == pytest.approx(1 / 3)
    events = read(tmp_path / "run", "events.jsonl")
    assert events[0]["event"] == "reference"
    assert events[0]["losses"]["copy"] == pytest.approx(ref[-1]["eval/loss/copy"])
    log = read(tmp_path / "run", "mixture_log.jsonl")
    assert log and all(e["controller"] == "doremi" for e in log)


def _ctrl(data):
    from pydantic import TypeAdapter

    from curricle.controllers.config import ControllerSpec

    return TypeAdapter(ControllerSpec).validate_python(data)
