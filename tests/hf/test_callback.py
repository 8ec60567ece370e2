"""The callback base: its logs cleared on a fresh run and cut back on resume, its parts and its
own numbers saved in the trainer's checkpoint, sealed, and read back."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from curricle.errors import CurricleError
from curricle.hf.callback import StatefulCallback
from curricle.hf.checkpoints import complete_checkpoints


class Sampler:
    """A sampler the loader has drawn ahead of: its state is asked for at the checkpoint's step."""

    def __init__(self):
        self.asked: list[int] = []
        self.loaded = None

    def state_at(self, step):
        self.asked.append(step)
        return {"position": 10 * step}

    def load_state(self, state):
        self.loaded = state


class Counter:
    def __init__(self, n=0):
        self.n = n

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


class Weights:
    """A part holding tensors: saved beside the state file, not in it."""

    def __init__(self):
        self.w = torch.zeros(3)

    def state_dict(self):
        return {"w": self.w}

    def load_state_dict(self, state):
        self.w = state["w"]


class Logged(StatefulCallback):
    state_file = "curricle_test.json"
    logs = ("events.jsonl",)
    rank_logs = ("trace.rank{rank}.jsonl",)
    outputs = ("final.json",)
    metrics = True

    def __init__(self, out):
        super().__init__(out)
        self.sampler, self.counter, self.weights = Sampler(), Counter(), Weights()
        self.history: list[int] = []
        self.register("sampler", self.sampler, at_step=True)
        self.register("counter", self.counter)
        self.register("weights", self.weights)

    def own_state(self):
        return {"history": self.history}

    def load_own_state(self, saved):
        self.history = saved["history"]


def args(out: Path, rank: int = 0):
    return SimpleNamespace(output_dir=str(out / "checkpoints"), process_index=rank)


def state(step: int, main: bool = True):
    return SimpleNamespace(global_step=step, is_world_process_zero=main)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def trainer_checkpoint(out: Path, step: int) -> Path:
    """What the trainer writes before ``on_save``."""
    folder = out / "checkpoints" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (folder / "model.safetensors").write_bytes(b"w" * 32)
    return folder


def run_until(out: Path, steps: int, save_at: int) -> Logged:
    cb = Logged(out)
    cb.on_train_begin(args(out), state(0), None)
    for step in range(1, steps + 1):
        cb._write(step, {"loss": 1.0 / step})
        cb._append("events.jsonl", {"step": step})
        cb._append("trace.rank{rank}.jsonl", {"step": step, "rows": [step]})
        cb.history.append(step)
        cb.counter.n += 1
        cb.weights.w = torch.full((3,), float(step))
        if step == save_at:
            trainer_checkpoint(out, step)
            cb.on_save(args(out), state(step), None)
    return cb


def test_a_fresh_run_clears_its_logs_and_outputs(tmp_path):
    for name in ("metrics.jsonl", "events.jsonl", "trace.rank0.jsonl", "final.json", "other.jsonl"):
        (tmp_path / name).write_text('{"old": 1}\n')
    cb = Logged(tmp_path)
    cb.on_train_begin(args(tmp_path), state(0), None)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["metrics.jsonl", "other.jsonl"]  # metrics.jsonl: the new sink's, empty
    assert (tmp_path / "metrics.jsonl").read_text() == ""
    cb.on_train_end(args(tmp_path), state(0), None)


def test_a_resumed_run_cuts_its_logs_back_and_restores_its_parts(tmp_path):
    killed = run_until(tmp_path, steps=5, save_at=3)  # then killed: steps 4 and 5 were written after the save
    killed.on_train_end(args(tmp_path), state(5), None)
    assert killed.sampler.asked == [3]
    folder = tmp_path / "checkpoints" / "checkpoint-3"
    saved = json.loads((folder / "curricle_test.json").read_text())
    assert saved["sampler"] == {"position": 30} and saved["counter"] == {"n": 3} and saved["history"] == [1, 2, 3]
    assert saved["log_lines"] == {"metrics.jsonl": 3, "events.jsonl": 3, "trace.rank{rank}.jsonl": 3}
    assert "weights" not in saved and (folder / "weights.pt").is_file()
    assert set(saved["files"]) == {"trainer_state.json", "model.safetensors", "weights.pt"}
    assert complete_checkpoints(tmp_path / "checkpoints", "curricle_test.json") == [(3, folder)]

    resumed = Logged(tmp_path)
    resumed.on_train_begin(args(tmp_path), state(3), None)
    assert resumed.sampler.loaded == {"position": 30} and resumed.counter.n == 3 and resumed.history == [1, 2, 3]
    assert resumed.weights.w.tolist() == [3.0, 3.0, 3.0]
    assert [r["step"] for r in lines(tmp_path / "metrics.jsonl")] == [1, 2, 3]
    assert [r["step"] for r in lines(tmp_path / "events.jsonl")] == [1, 2, 3]
    assert [r["step"] for r in lines(tmp_path / "trace.rank0.jsonl")] == [1, 2, 3]
    resumed._write(4, {"loss": 0.25})
    resumed.on_train_end(args(tmp_path), state(4), None)
    assert [r["step"] for r in lines(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4]


class Plotted(Logged):
    def __init__(self, out):
        super().__init__(out)
        self.tensorboard = True


def scalars(out: Path, tag: str = "loss") -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tensorboard_keeps_the_checkpoint_step_on_resume_and_starts_anew_on_a_fresh_run(tmp_path):
    killed = Plotted(tmp_path)
    killed.on_train_begin(args(tmp_path), state(0), None)
    for step in range(1, 6):
        killed._write(step, {"loss": float(step)})
        if step == 3:
            trainer_checkpoint(tmp_path, step)
            killed.on_save(args(tmp_path), state(step), None)
    killed.on_train_end(args(tmp_path), state(5), None)  # steps 4 and 5 reached the event file after the save
    resumed = Plotted(tmp_path)
    resumed.on_train_begin(args(tmp_path), state(3), None)
    resumed._write(4, {"loss": 40.0})
    resumed.on_train_end(args(tmp_path), state(4), None)
    # Step 3 (the checkpoint's) stays; the killed run's 4 and 5 are dropped.
    assert scalars(tmp_path) == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)]

    for p in (tmp_path / "checkpoints").iterdir():  # a new attempt from scratch, without --resume
        p.rename(tmp_path / f"old-{p.name}")
    fresh = Plotted(tmp_path)
    fresh.on_train_begin(args(tmp_path), state(0), None)
    fresh._write(1, {"loss": 7.0})
    fresh.on_train_end(args(tmp_path), state(1), None)
    assert scalars(tmp_path) == [(1, 7.0)]


def test_every_process_keeps_its_own_rank_log_the_main_one_the_rest(tmp_path):
    main, other = Logged(tmp_path), Logged(tmp_path)
    main.on_train_begin(args(tmp_path, 0), state(0), None)
    other.on_train_begin(args(tmp_path, 1), state(0, main=False), None)
    for cb in (main, other):
        cb._append("events.jsonl", {"step": 1})
        cb._append("trace.rank{rank}.jsonl", {"step": 1})
        cb._write(1, {"loss": 1.0})
    assert len(lines(tmp_path / "events.jsonl")) == len(lines(tmp_path / "metrics.jsonl")) == 1
    assert len(lines(tmp_path / "trace.rank0.jsonl")) == len(lines(tmp_path / "trace.rank1.jsonl")) == 1
    main.on_train_end(args(tmp_path), state(1), None)


def test_resuming_from_an_incomplete_or_foreign_checkpoint_is_a_one_line_error(tmp_path):
    run_until(tmp_path, steps=3, save_at=3).on_train_end(args(tmp_path), state(3), None)
    folder = tmp_path / "checkpoints" / "checkpoint-3"
    with open(folder / "model.safetensors", "ab") as f:
        f.write(b"!")
    with pytest.raises(CurricleError) as err:
        Logged(tmp_path).on_train_begin(args(tmp_path), state(3), None)
    assert str(err.value) == (f"{folder / 'curricle_test.json'}: the checkpoint is incomplete "
                              f"(model.safetensors has 33 bytes, expected 32)")
    trainer_checkpoint(tmp_path, 6)
    with pytest.raises(CurricleError) as err:
        Logged(tmp_path).on_train_begin(args(tmp_path), state(6), None)
    assert str(err.value) == (f"{tmp_path / 'checkpoints' / 'checkpoint-6'}: no curricle_test.json: the checkpoint "
                              f"was not saved with Logged")


def test_a_part_the_checkpoint_lacks_is_a_one_line_error_naming_the_file(tmp_path):
    run_until(tmp_path, steps=3, save_at=3).on_train_end(args(tmp_path), state(3), None)
    path = tmp_path / "checkpoints" / "checkpoint-3" / "curricle_test.json"
    cb = Logged(tmp_path)
    cb.register("controller", Counter())
    with pytest.raises(CurricleError) as err:
        cb.on_train_begin(args(tmp_path), state(3), None)
    assert str(err.value) == (f"{path}: the checkpoint has no state of 'controller' (saved by another "
                              f"configuration?)")


def test_a_name_is_taken_once():
    cb = Logged(None)
    for name in ("sampler", "log_lines", "files"):
        with pytest.raises(ValueError, match=f"checkpoint part '{name}': the name is taken"):
            cb.register(name, Counter())
