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
        assert e["controller"] == "odm" and e["reason"].startswith("smoothed mean")
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


def uniform(cfg):
    from curricle.mixture.config import StaticConfig

    schedule = StaticConfig(weights={"arithmetic": 1.0, "copy": 1.0, "agreement": 1.0})
    return cfg.model_copy(update={"mixture": cfg.mixture.model_copy(update={"schedule": schedule})})


def test_doremi_proxy_averages_its_weights_and_a_fresh_run_trains_on_them(tmp_path, make_config):
    ctrl = {"kind": "doremi", "reference": {"steps": 10}}
    cfg = uniform(make_config(steps=12)).model_copy(update={"controller": _ctrl(ctrl)})
    train_run(cfg, tmp_path / "proxy", progress=False)
    ref = read(tmp_path / "proxy" / "reference", "metrics.jsonl")
    assert len(ref) == 10 and ref[0]["weight/copy"] == pytest.approx(1 / 3)
    log = read(tmp_path / "proxy", "mixture_log.jsonl")
    assert [e["step"] for e in log] == list(range(1, 13)) and all(e["controller"] == "doremi" for e in log)
    metrics = read(tmp_path / "proxy", "metrics.jsonl")
    assert all(m["weight/copy"] == pytest.approx(1 / 3) for m in metrics)  # it samples from a fixed mixture
    out = json.loads((tmp_path / "proxy" / "doremi_weights.json").read_text())
    for d, w in out["weights"].items():
        assert w == pytest.approx(sum(e["alpha"][d] for e in log) / len(log), abs=1e-12)
    assert out["last"] == pytest.approx(log[-1]["alpha"]) and out["steps"] == 12
    assert sum(out["weights"].values()) == pytest.approx(1.0)

    from curricle.mixture.config import StaticConfig

    main = make_config(steps=5).model_copy(update={"mixture": make_config(steps=5).mixture.model_copy(
        update={"schedule": StaticConfig(weights_from=tmp_path / "proxy" / "doremi_weights.json")})})
    train_run(main, tmp_path / "main", progress=False)
    used = read(tmp_path / "main", "metrics.jsonl")[0]
    assert {d: used[f"weight/{d}"] for d in out["weights"]} == pytest.approx(out["weights"])


def test_a_step_the_guard_skips_moves_no_controller(tmp_path, make_config):
    # DoReMi computes a step's weights before the guard judges the step: step 5's are dropped.
    ctrl = {"kind": "doremi", "reference": {"steps": 4}}
    cfg = uniform(make_config(steps=8, guard={"inject": {5: "nan"}})).model_copy(update={"controller": _ctrl(ctrl)})
    train_run(cfg, tmp_path / "proxy", progress=False)
    assert read(tmp_path / "proxy", "metrics.jsonl")[4]["skipped"] == "nan"
    log = read(tmp_path / "proxy", "mixture_log.jsonl")
    assert [e["step"] for e in log] == [1, 2, 3, 4, 6, 7, 8]
    out = json.loads((tmp_path / "proxy" / "doremi_weights.json").read_text())
    assert out["steps"] == 7
    for d, w in out["weights"].items():
        assert w == pytest.approx(sum(e["alpha"][d] for e in log) / 7, abs=1e-12)
    # ODM, due to update at step 6, which is skipped: the update waits for step 9.
    odm = {"kind": "odm", "update_every": 3, "warmup_steps": 3}
    cfg = make_config(steps=9, guard={"inject": {6: "nan"}}).model_copy(update={"controller": _ctrl(odm)})
    train_run(cfg, tmp_path / "odm", progress=False)
    assert [e["step"] for e in read(tmp_path / "odm", "mixture_log.jsonl")] == [3, 9]


def test_doremi_proxy_resumes_exactly(tmp_path, make_config):
    import shutil

    ctrl = {"kind": "doremi", "reference": {"steps": 6}}
    cfg = uniform(make_config(steps=30)).model_copy(update={"controller": _ctrl(ctrl)})
    train_run(cfg, tmp_path / "full", progress=False)
    train_run(cfg, tmp_path / "cut", progress=False)
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_30")
    (tmp_path / "cut" / "doremi_weights.json").unlink()
    train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    assert read(tmp_path / "cut", "mixture_log.jsonl") == read(tmp_path / "full", "mixture_log.jsonl")
    cut, full = (json.loads((tmp_path / r / "doremi_weights.json").read_text()) for r in ("cut", "full"))
    assert cut["weights"] == full["weights"] and cut["last"] == full["last"] and cut["steps"] == full["steps"] == 30


def test_iterated_doremi_trains_each_rounds_reference_on_the_last_rounds_weights(tmp_path, make_config):
    ctrl = {"kind": "doremi", "reference": {"steps": 6}, "rounds": 2}
    cfg = uniform(make_config(steps=8)).model_copy(update={"controller": _ctrl(ctrl)})
    train_run(cfg, tmp_path / "run", progress=False)
    round1 = json.loads((tmp_path / "run" / "round-2" / "doremi_weights.json").read_text())
    ref_metrics = read(tmp_path / "run" / "round-2" / "reference", "metrics.jsonl")
    out = json.loads((tmp_path / "run" / "doremi_weights.json").read_text())
    assert len(out["rounds"]) == 2 and out["weights"] == round1["weights"]
    assert {d: ref_metrics[0][f"weight/{d}"] for d in out["rounds"][0]} == pytest.approx(out["rounds"][0])


def test_doremi_proxy_needs_a_static_mixture(tmp_path, make_config):
    from curricle.errors import CurricleError
    from curricle.mixture.config import PhasesConfig

    base = make_config(steps=4)
    phases = PhasesConfig(phases=[{"name": "all", "weights": {"copy": 1.0, "arithmetic": 1.0, "agreement": 1.0}}])
    cfg = base.model_copy(update={"controller": _ctrl({"kind": "doremi", "reference": {"steps": 2}}),
                                  "mixture": base.mixture.model_copy(update={"schedule": phases})})
    with pytest.raises(CurricleError, match="mixture.schedule must be kind 'static'"):
        train_run(cfg, tmp_path / "run", progress=False)


def test_ado_in_a_run_leaves_the_lr_warmup_out_of_its_fits(tmp_path, make_config):
    from curricle.controllers.hook import ControllerHook
    from curricle.train.command import build_trainer

    cfg = make_config(steps=30).model_copy(update={"controller": _ctrl({"kind": "ado"})})
    trainer = build_trainer(cfg, tmp_path / "run", progress=False)
    hook = next(h for h in trainer.hooks if isinstance(h, ControllerHook))
    assert hook.controller.name == "ado"
    assert hook.controller.ignore_steps == cfg.train.lr_schedule.warmup_steps > 0


def _ctrl(data):
    from pydantic import TypeAdapter

    from curricle.controllers.config import ControllerSpec

    return TypeAdapter(ControllerSpec).validate_python(data)
