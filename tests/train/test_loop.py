import json
import shutil

import pytest
import torch

from curricle.errors import CurricleError
from curricle.runinfo import code_record
from curricle.train.command import build_trainer, train_run
from curricle.train.hooks import Hook
from tests.telemetry import fake_trackers
from tests.train.kill import KillAt, Killed


def read(run_dir, name):
    path = run_dir / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_metrics_have_per_domain_loss_eval_and_mixture(tmp_path, make_config):
    result = train_run(make_config(steps=20), tmp_path / "run", progress=False)
    metrics = read(tmp_path / "run", "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(1, 21))
    first, tenth, last = metrics[0], metrics[9], metrics[-1]
    # Warm-up is copy only: only copy rows, so only a copy loss, equal to the overall loss.
    assert first["phase"] == "warmup" and first["weight/copy"] == 1.0
    assert "loss/arithmetic" not in first and first["loss/copy"] == first["loss"]
    assert {"loss/arithmetic", "loss/copy", "loss/agreement"} <= set(last)
    assert first["tokens"] == 8 * 32 and last["tokens"] == 20 * 8 * 32
    for m in (tenth, last):
        for d in ("arithmetic", "copy", "agreement"):
            assert m[f"eval/ppl/{d}"] == pytest.approx(torch.tensor(m[f"eval/loss/{d}"]).exp().item(), rel=1e-6)
            assert 0 <= m[f"eval/ece/{d}"] <= 1
    assert "eval/loss/copy" not in metrics[4]
    assert all(m["lr"] > 0 and m["grad_norm"] > 0 and m["tokens_per_s"] > 0 for m in metrics)
    assert last["loss"] < first["loss"]
    assert result["trainer"].step == 20


def test_trace_writes_each_ranks_row_hashes_under_run_trace(tmp_path, make_config):
    train_run(make_config(steps=3, trace=True), tmp_path / "run", progress=False)
    trace = read(tmp_path / "run", "trace/rows.rank0.jsonl")
    assert [t["step"] for t in trace] == [1, 2, 3] and all(len(t["rows"]) == 8 for t in trace)
    assert not list((tmp_path / "run").glob("data_trace*"))


def test_train_loss_per_domain_is_exact(make_config, tmp_path):
    """The logged per-domain loss equals a direct computation on the same rows."""
    from curricle.train.command import build_trainer

    trainer = build_trainer(make_config(steps=12), tmp_path / "run", progress=False)
    trainer.fit()
    batch = trainer.sampler.next_batch()
    model = trainer.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # Direct: mean token loss over the rows of each domain, with the pre-step weights.
    with torch.no_grad():
        logits = model(input_ids=batch.tokens[:, :-1]).logits
        tl = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.tokens[:, 1:].flatten(), reduction="none")
        tl = tl.view(batch.tokens.size(0), -1)
    metrics = trainer.train_step(batch)
    for i, d in enumerate(trainer.domains):
        rows = batch.domain_ids == i
        if rows.any():
            assert metrics[f"loss/{d}"] == pytest.approx(tl[rows].mean().item(), rel=1e-5)
    assert metrics["loss"] == pytest.approx(tl.mean().item(), rel=1e-5)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_checkpoint_loads_with_transformers_auto_classes(tmp_path, make_config):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train_run(make_config(steps=10), tmp_path / "run", progress=False)
    ckpt = tmp_path / "run" / "checkpoints" / "step_10"
    model = AutoModelForCausalLM.from_pretrained(str(ckpt))
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    ids = tok("12+34=", return_tensors="pt").input_ids
    out = model(input_ids=ids)
    assert out.logits.shape == (1, ids.size(1), model.config.vocab_size)
    assert tok.eos_token == "<|endoftext|>"
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["step"] == 10 and state["sampler"]["step"] == 10 and state["log_lines"]["metrics.jsonl"] == 10


def test_guard_skips_nan_and_spikes_then_rolls_back(tmp_path, make_config):
    cfg = make_config(steps=20, guard={"inject": {5: "nan", 12: "spike", 13: "spike", 14: "spike"}})
    train_run(cfg, tmp_path / "run", progress=False)
    events = read(tmp_path / "run", "events.jsonl")
    summary = [(e["step"], e["event"], e.get("reason")) for e in events]
    assert summary == [(5, "skip", "nan"), (12, "skip", "spike"), (13, "skip", "spike"),
                       (14, "skip", "spike"), (14, "rollback", "repeated spikes")]
    assert events[1]["z"] > 6
    assert events[-1]["to_step"] == 10 and events[-1]["skipped_window"] == [11, 14]
    metrics = read(tmp_path / "run", "metrics.jsonl")
    assert metrics[4]["skipped"] == "nan" and metrics[4]["loss"] is None
    assert all(m.get("skipped") is None for m in metrics[14:])
    assert len(metrics) == 20


def test_with_no_checkpoint_to_roll_back_to_the_guard_forgets_its_history(tmp_path, make_config):
    # Without forgetting, a loss level that moved for good would be a spike at every later step:
    # the run would skip the rest of its steps. After forgetting, step 16's 100x loss is not
    # judged (no domain has min_history good steps again yet).
    cfg = make_config(steps=20, checkpoint={"every": 20, "keep_last": 1},
                      guard={"inject": {12: "spike", 13: "spike", 14: "spike", 16: "spike"}})
    train_run(cfg, tmp_path / "run", progress=False)
    events = read(tmp_path / "run", "events.jsonl")
    assert [(e["step"], e["event"], e.get("done")) for e in events] == [
        (12, "skip", None), (13, "skip", None), (14, "skip", None), (14, "rollback", False)]
    assert events[-1]["detail"] == "no checkpoint to roll back to yet; the guard forgets its history and continues"
    metrics = read(tmp_path / "run", "metrics.jsonl")
    assert [m["step"] for m in metrics if m.get("skipped")] == [12, 13, 14]
    assert metrics[15]["loss"] > 50 * metrics[10]["loss"]  # step 16, injected 100x, went through (step 11: normal)


def test_resume_without_checkpoint_and_existing_run_errors(tmp_path, make_config):
    with pytest.raises(CurricleError, match="--resume: no complete checkpoint under"):
        train_run(make_config(steps=5), tmp_path / "run", resume=True, progress=False)
    train_run(make_config(steps=10), tmp_path / "run2", progress=False)
    with pytest.raises(CurricleError, match="already has checkpoints: pass --resume"):
        train_run(make_config(steps=10), tmp_path / "run2", progress=False)


def test_half_written_checkpoint_falls_back_to_the_previous_one(tmp_path, make_config, caplog):
    run = tmp_path / "run"
    train_run(make_config(steps=20), run, progress=False)
    weights = run / "checkpoints" / "step_20" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # as if the write had been cut short
    result = train_run(make_config(steps=30), run, resume=True, max_steps=30, progress=False)
    assert "checkpoint" in caplog.text and "step_20 is incomplete (model.safetensors has 100 bytes" in caplog.text
    events = read(run, "events.jsonl")
    assert [e["event"] for e in events[-3:]] == ["resume", "run-length", "config-changed"]  # (steps: 20 -> 30)
    assert events[-3]["checkpoint"].endswith("step_10")
    assert result["trainer"].step == 30
    assert [m["step"] for m in read(run, "metrics.jsonl")] == list(range(1, 31))


def test_resume_puts_back_a_checkpoint_a_save_killed_between_its_two_renames(tmp_path, make_config, caplog):
    run = tmp_path / "run"
    train_run(make_config(steps=20), run, progress=False)
    ckpts = run / "checkpoints"
    # What swap_in's rename-aside path leaves when killed between its renames: step_20 aside,
    # the new copy still temporary.
    (ckpts / "step_20").rename(ckpts / ".step_20.q7x2a.old")
    shutil.copytree(ckpts / ".step_20.q7x2a.old", ckpts / ".step_20.b3k1.tmp")
    result = train_run(make_config(steps=30), run, resume=True, max_steps=30, progress=False)
    assert "finished a checkpoint swap a killed save left (.step_20.q7x2a.old)" in caplog.text
    assert read(run, "events.jsonl")[0] == {"step": 20, "event": "resume", "checkpoint": str(ckpts / "step_20")}
    assert result["trainer"].step == 30
    assert sorted(p.name for p in ckpts.iterdir()) == ["step_10", "step_20", "step_30"]  # nothing left aside


def test_retention_keeps_last_and_every(tmp_path, make_config):
    train_run(make_config(steps=40, checkpoint={"every": 5, "keep_last": 2, "keep_every": 20}),
              tmp_path / "run", progress=False)
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step_20", "step_35", "step_40"]


def test_grad_accumulation_matches_one_big_batch(tmp_path, make_config):
    a = train_run(make_config(steps=3, grad_accum=1), tmp_path / "a", progress=False)["trainer"]
    b = train_run(make_config(steps=3, grad_accum=4), tmp_path / "b", progress=False)["trainer"]
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-5), k


def test_tensorboard_events_are_written(tmp_path, make_config):
    train_run(make_config(steps=3, telemetry={"tensorboard": True}), tmp_path / "run", progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "run" / "tb"))
    acc.Reload()
    assert {"loss", "loss/copy", "lr", "eval/loss"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("loss")] == [1, 2, 3]


def tensorboard_scalars(run_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tensorboard_after_a_resume_has_every_step_once_the_checkpoints_too(tmp_path, make_config):
    run = tmp_path / "run"
    config = make_config(steps=8, eval_every=4, checkpoint={"every": 4}, telemetry={"tensorboard": True})
    train_run(config, run, progress=False)
    shutil.rmtree(run / "checkpoints" / "step_8")  # killed after its step-4 checkpoint, steps 5-8 logged
    train_run(config, run, resume=True, progress=False)
    metrics = read(run, "metrics.jsonl")
    loss = tensorboard_scalars(run, "loss")
    assert [s for s, _ in loss] == list(range(1, 9))
    assert loss == [(m["step"], pytest.approx(m["loss"])) for m in metrics]
    assert [s for s, _ in tensorboard_scalars(run, "eval/loss")] == [4, 8]


def test_a_fresh_restart_replaces_the_killed_attempts_tensorboard(tmp_path, make_config):
    run = tmp_path / "run"
    train_run(make_config(steps=5, telemetry={"tensorboard": True}), run, progress=False)
    shutil.rmtree(run / "checkpoints")  # killed before its first checkpoint: started again without --resume
    train_run(make_config(steps=3, lr=1e-2, telemetry={"tensorboard": True}), run, progress=False)
    loss = tensorboard_scalars(run, "loss")
    assert loss == [(m["step"], pytest.approx(m["loss"])) for m in read(run, "metrics.jsonl")]
    assert [s for s, _ in loss] == [1, 2, 3]


def test_wandb_and_mlflow_continue_their_runs_on_resume_and_start_new_ones_on_a_fresh_start(
        tmp_path, make_config, monkeypatch):
    wandb, mlflow = fake_trackers.install(monkeypatch)
    run = tmp_path / "run"
    own = (run / "mlruns").resolve().as_uri()
    config = make_config(steps=8, eval_every=4, checkpoint={"every": 4},
                         telemetry={"tensorboard": False, "wandb": True, "mlflow": True})
    with pytest.raises(Killed):  # after its step-4 checkpoint, steps 1-5 logged
        train_run(config, run, progress=False, hooks=[KillAt(6)])
    ids = {"wandb": {"id": "wandb-1", "project": "curricle"},
           "mlflow": {"run_id": "mlflow-1", "experiment": "curricle", "tracking_uri": None}}
    assert json.loads((run / "trackers.json").read_text()) == ids
    assert sorted(wandb.runs["wandb-1"]) == [1, 2, 3, 4, 5]

    train_run(config, run, resume=True, progress=False)
    assert json.loads((run / "trackers.json").read_text()) == ids
    first = {"project": "curricle", "name": "run", "dir": str(run), "mode": "offline"}
    assert wandb.inits == [first, {**first, "id": "wandb-1", "resume": "must"}]
    assert mlflow.started == [{"run_name": "run", "uri": own}, {"run_id": "mlflow-1", "uri": own}]
    # One run in each, every step once, with the values metrics.jsonl has (step 5 as the killed
    # run logged it: a resumed run trains it again to the same loss).
    loss = {m["step"]: m["loss"] for m in read(run, "metrics.jsonl")}
    assert list(loss) == list(range(1, 9))
    assert [s for _, s in wandb.sent] == list(range(1, 9))
    assert {s: m["loss"] for s, m in wandb.runs["wandb-1"].items()} == pytest.approx(loss)
    assert mlflow.steps(own, "mlflow-1") == list(range(1, 9))
    assert mlflow.values(own, "mlflow-1") == pytest.approx(loss)

    shutil.rmtree(run / "checkpoints")  # started again without --resume: new runs, the ids replaced
    train_run(config, run, progress=False)
    assert wandb.inits[2] == first and mlflow.started[2] == {"run_name": "run", "uri": own}
    assert json.loads((run / "trackers.json").read_text()) == {
        "wandb": {"id": "wandb-2", "project": "curricle"},
        "mlflow": {"run_id": "mlflow-2", "experiment": "curricle", "tracking_uri": None}}
    assert sorted(wandb.runs["wandb-2"]) == list(range(1, 9)) and sorted(wandb.runs["wandb-1"]) == list(range(1, 9))


def test_a_fresh_start_forgets_the_tracker_runs_of_a_killed_attempt_that_logged_to_them(tmp_path, make_config,
                                                                                        monkeypatch):
    wandb, _ = fake_trackers.install(monkeypatch)
    run = tmp_path / "run"
    with pytest.raises(Killed):  # before its first checkpoint
        train_run(make_config(steps=4, telemetry={"tensorboard": False, "wandb": True}), run, progress=False,
                  hooks=[KillAt(2)])
    assert (run / "trackers.json").exists()
    train_run(make_config(steps=4), run, progress=False)  # started again, W&B off
    assert not (run / "trackers.json").exists()  # a later resume with W&B on starts a W&B run of its own


def test_a_resumed_run_keeps_its_length_unless_told(tmp_path, make_config):
    run = tmp_path / "run"
    train_run(make_config(steps=20), run, progress=False)
    shutil.rmtree(run / "checkpoints" / "step_20")  # killed after its step-10 checkpoint
    # The config now says 30 steps: the run keeps the 20 it started with (and its LR schedule).
    result = train_run(make_config(steps=30), run, resume=True, progress=False)
    assert result["trainer"].step == 20 and result["trainer"].total_steps == 20
    assert [m["step"] for m in read(run, "metrics.jsonl")] == list(range(1, 21))
    # The config changed since the run started: on record in the events and run.json.
    assert read(run, "events.jsonl") == [
        {"step": 10, "event": "resume", "checkpoint": str(run / "checkpoints" / "step_10")},
        {"step": 10, "event": "config-changed", "fields": ["train.steps"]}]
    assert json.loads((run / "run.json").read_text())["resumes"] == [
        {"checkpoint": "step_10", "config_changed": ["train.steps"], "code": code_record()}]
    # --max-steps lengthens it, and the event log says so (the config is the one it resumed with).
    result = train_run(make_config(steps=30), run, resume=True, max_steps=40, progress=False)
    assert result["trainer"].step == 40
    assert read(run, "events.jsonl")[-1] == {"step": 20, "event": "run-length", "reason": "--max-steps",
                                             "old": 20, "new": 40}
    assert json.loads((run / "run.json").read_text())["resumes"] == [
        {"checkpoint": "step_10", "config_changed": ["train.steps"], "code": code_record()},
        {"checkpoint": "step_20", "config_changed": [], "code": code_record()}]


def test_a_hook_can_end_the_run_and_it_stays_ended_on_resume(tmp_path, make_config):
    class StopAt(Hook):
        def on_step_end(self, state, batch, metrics):
            if state.step == 7:
                state.stop(state.step, "targets-met", detail="test")

    run = tmp_path / "run"
    trainer = build_trainer(make_config(), run, hooks=[StopAt()], progress=False)
    trainer.fit()
    assert trainer.step == 7
    assert sorted(p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("step_"))[-1] == "step_7"
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events == [{"step": 7, "event": "stop", "reason": "targets-met", "detail": "test"}]
    resumed = build_trainer(make_config(), run, resume=True, progress=False)
    resumed.fit()
    assert resumed.step == 7 and resumed.total_steps == 7
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, 8))


def test_the_row_trace_is_cut_back_on_resume_and_cleared_for_a_fresh_run(tmp_path, make_config):
    run = tmp_path / "run"
    train_run(make_config(steps=20, trace=True), run, progress=False)
    trace = read(run, "trace/rows.rank0.jsonl")
    state = json.loads((run / "checkpoints" / "step_10" / "trainer_state.json").read_text())
    assert state["log_lines"]["trace/rows.rank0.jsonl"] == 10  # each rank's own count, by file
    shutil.rmtree(run / "checkpoints" / "step_20")  # killed after step 20's lines, before its checkpoint
    train_run(make_config(steps=20, trace=True), run, resume=True, progress=False)
    assert read(run, "trace/rows.rank0.jsonl") == trace  # steps 11-20 once, the same rows
    # A fresh run where a killed one left its trace (before any checkpoint) starts it anew.
    shutil.rmtree(run / "checkpoints")
    train_run(make_config(steps=3, trace=True), run, progress=False)
    assert read(run, "trace/rows.rank0.jsonl") == trace[:3]


@pytest.mark.parametrize("resume", [False, True])
def test_max_steps_below_1_is_refused_in_one_line(tmp_path, make_config, resume):
    run = tmp_path / "run"
    if resume:  # not taken for "absent" (the run's own length) either
        train_run(make_config(steps=10), run, progress=False)
    with pytest.raises(CurricleError) as err:
        build_trainer(make_config(steps=10), run, resume=resume, max_steps=0, progress=False)
    assert str(err.value) == "--max-steps 0: a run trains at least 1 step"
    with pytest.raises(CurricleError) as err:
        build_trainer(make_config(steps=10), run, resume=resume, max_steps=-3, progress=False)
    assert str(err.value) == "--max-steps -3: a run trains at least 1 step"
    assert run.exists() == resume


def test_resume_max_steps_below_the_checkpoint_is_refused_and_at_it_ends_the_run_there(tmp_path, make_config):
    run = tmp_path / "run"
    train_run(make_config(steps=20), run, progress=False)
    shutil.rmtree(run / "checkpoints" / "step_20")  # killed after its step-10 checkpoint
    with pytest.raises(CurricleError) as err:
        build_trainer(make_config(steps=20), run, resume=True, max_steps=9, progress=False)
    assert str(err.value) == "--max-steps 9: the checkpoint is at step 10 already"
    assert read(run, "events.jsonl") == []
    # At the checkpoint's step: the run ends there, and the checkpoint says so, as a last step's does.
    result = train_run(make_config(steps=20), run, resume=True, max_steps=10, progress=False)
    assert result["trainer"].step == 10 and result["trainer"].total_steps == 10
    assert json.loads((run / "checkpoints" / "step_10" / "trainer_state.json").read_text())["total_steps"] == 10
    # A plain resume then keeps that length, and the event that changed it.
    result = train_run(make_config(steps=20), run, resume=True, progress=False)
    assert result["trainer"].step == 10 and result["trainer"].total_steps == 10
    resume = {"step": 10, "event": "resume", "checkpoint": str(run / "checkpoints" / "step_10")}
    assert read(run, "events.jsonl") == [
        resume, {"step": 10, "event": "run-length", "reason": "--max-steps", "old": 20, "new": 10}, resume]
    assert [m["step"] for m in read(run, "metrics.jsonl")] == list(range(1, 11))


def test_on_micro_batch_comes_after_backward_and_before_the_guard(tmp_path, make_config):
    class Seen(Hook):
        def __init__(self):
            self.micro, self.ends = [], []

        def on_micro_batch(self, state, batch, rows, token_loss, signals=None):
            backward = all(p.grad is not None for p in state.model.parameters())
            self.micro.append((state.step + 1, rows.start, backward, bool(torch.isfinite(token_loss).all())))

        def on_step_end(self, state, batch, metrics):
            self.ends.append((state.step, metrics.get("skipped")))

    seen = Seen()
    config = make_config(steps=3, grad_accum=2, guard={"inject": {2: "nan"}})
    build_trainer(config, tmp_path / "run", hooks=[seen], progress=False).fit()
    # Step 2's micro-batches reach the hook, NaN and all; the skip shows at on_step_end.
    assert seen.micro == [(1, 0, True, True), (1, 4, True, True), (2, 0, True, False), (2, 4, True, False),
                          (3, 0, True, True), (3, 4, True, True)]
    assert seen.ends == [(1, None), (2, "nan"), (3, None)]


@pytest.mark.parametrize(("stop", "evaluated"), [(3, [2, 3]), (4, [2, 4])])
def test_a_run_a_hook_stops_is_evaluated_once_at_its_last_step(tmp_path, make_config, stop, evaluated):
    class StopAt(Hook):
        def __init__(self):
            self.evals, self.stops = [], []

        def on_eval(self, state, metrics):
            self.evals.append(state.step)

        def on_step_end(self, state, batch, metrics):
            if state.step == stop:
                state.stop(stop, "test")

        def on_stop(self, state, batch, metrics):  # once, after the end's evaluation; its line still to write
            metrics["stopped_at"] = state.step
            self.stops.append((state.step, state.total_steps, list(self.evals)))

    hook, run = StopAt(), tmp_path / "run"
    trainer = build_trainer(make_config(eval_every=2), run, hooks=[hook], progress=False)
    trainer.fit()
    assert trainer.step == trainer.total_steps == stop and hook.evals == evaluated
    assert hook.stops == [(stop, stop, evaluated)] and read(run, "metrics.jsonl")[-1]["stopped_at"] == stop
    metrics = read(run, "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(1, stop + 1))
    assert [m["step"] for m in metrics if "eval/loss" in m] == evaluated
    assert metrics[-1]["eval_tokens"] == 2 * metrics[1]["eval_tokens"]  # two evaluations, counted
    state = json.loads((run / "checkpoints" / f"step_{stop}" / "trainer_state.json").read_text())
    assert state["eval_tokens"] == metrics[-1]["eval_tokens"] and state["total_steps"] == stop
