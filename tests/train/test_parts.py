"""The Trainer is handed its parts; stateful parts are checkpointed by protocol."""

from __future__ import annotations

import json
import shutil
import os
import subprocess
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from curricle.controllers.config import ODMConfig
from curricle.mixture.config import MixtureConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore
from curricle.train.command import build_trainer
from curricle.train.config import TrainConfig
from curricle.train.hooks import Hook
from curricle.train.loop import Trainer
from tests.train.conftest import PYTHON, run_killed_then_resumed
from tests.train.tally import TALLY_LOG, TokenTally

ROOT = Path(__file__).resolve().parents[2]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def losses(run_dir: Path) -> list[tuple]:
    return [(m["step"], m["loss"], m.get("eval/loss")) for m in read(run_dir / "metrics.jsonl")]


def own_parts(store: TokenStore):
    """A model, optimizer and sampler built here, not by curricle's command."""
    torch.manual_seed(7)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=store.vocab_size, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=4, intermediate_size=64,
                                         max_position_embeddings=64, tie_word_embeddings=True))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    sampler = MixtureSampler(store, MixtureConfig(batch_rows=8, seq_len=32, schedule=StaticConfig(temperature=1.0)),
                             seed=3)
    return model, optimizer, sampler


def test_a_trainer_trains_the_model_and_optimizer_it_is_given(tmp_path, prepared_dir):
    store = TokenStore(prepared_dir)
    tokenizer = store.load_tokenizer()
    cfg = TrainConfig(steps=12, lr=0.5, eval_every=100, checkpoint={"every": 6}, telemetry={"tensorboard": False},
                      lr_schedule={"kind": "constant", "warmup_steps": 0})
    model, optimizer, sampler = own_parts(store)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, optimizer, sampler, cfg, tmp_path / "full", tokenizer=tokenizer, progress=False)
    trainer.fit()
    assert trainer.model is model and trainer.optimizer is optimizer
    assert all(not torch.equal(before[k], v) for k, v in model.state_dict().items() if "norm" not in k)
    assert len(optimizer.state) == len(list(model.parameters()))  # SGD's momentum, one buffer each
    steps = read(tmp_path / "full" / "metrics.jsonl")
    assert [m["step"] for m in steps] == list(range(1, 13)) and all(m["lr"] == 0.5 for m in steps)
    assert not any(k.startswith("eval/") for m in steps for k in m)  # no held-out rows given
    reloaded = AutoModelForCausalLM.from_pretrained(str(tmp_path / "full" / "checkpoints" / "step_12"))
    assert torch.equal(reloaded.model.embed_tokens.weight, model.model.embed_tokens.weight)

    # Killed after its step-6 checkpoint and resumed with freshly built parts: the same losses,
    # step for step (so the momentum buffers came back with the weights).
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_12")
    model, optimizer, sampler = own_parts(store)
    Trainer(model, optimizer, sampler, cfg, tmp_path / "cut", tokenizer=tokenizer, resume=True, progress=False).fit()
    assert losses(tmp_path / "cut") == losses(tmp_path / "full")


def tally_cmd(config: Path, run_dir: Path, *extra: str) -> list[str]:
    return [PYTHON, "-m", "tests.train.tally", str(config), str(run_dir), *extra]


@pytest.mark.slow
def test_a_stateful_hook_survives_a_kill_and_resume(tmp_path, write_config):
    """TokenTally lives in the tests: its state reaches every checkpoint, and comes back on
    resume, through the hook protocol alone."""
    config = write_config()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full = tmp_path / "full"
    subprocess.run(tally_cmd(config, full), check=True, env=env, capture_output=True, cwd=ROOT)

    killed = tmp_path / "killed"
    r = run_killed_then_resumed(tally_cmd(config, killed), killed, cwd=ROOT)
    assert r.returncode == 0, r.stderr

    assert read(killed / TALLY_LOG) == read(full / TALLY_LOG)
    assert len(read(full / TALLY_LOG)) == 40
    saved = json.loads((full / "checkpoints" / "step_20" / "trainer_state.json").read_text())["tally"]
    assert saved == {k: read(full / TALLY_LOG)[19][k] for k in ("digest", "tokens")}
    assert losses(killed) == losses(full)


class ControllerSpy(Hook):
    """Records the controller's state when the run rolls back."""

    def __init__(self):
        self.controller = None
        self.at_rollback: list[dict] = []

    def on_rollback(self, state, checkpoint):
        self.at_rollback.append(json.loads(json.dumps(self.controller.state_dict())))


def test_a_rollback_restores_the_controller_and_stateful_hooks(tmp_path, make_config):
    cfg = make_config(steps=20, guard={"inject": {12: "spike", 13: "spike", 14: "spike"}})
    cfg = cfg.model_copy(update={"controller": ODMConfig(update_every=1, warmup_steps=0)})
    tally, spy = TokenTally(), ControllerSpy()
    trainer = build_trainer(cfg, tmp_path / "run", hooks=[tally, spy], progress=False)
    spy.controller = trainer.hooks[0].controller
    trainer.fit()
    events = read(tmp_path / "run" / "events.jsonl")
    assert [(e["step"], e["event"]) for e in events][-1] == (14, "rollback") and events[-1]["to_step"] == 10
    at_10 = json.loads((tmp_path / "run" / "checkpoints" / "step_10" / "trainer_state.json").read_text())
    # The controller forgot what it saw at steps 11-14 (the weights it came from are gone)...
    assert spy.at_rollback == [at_10["controller"]]
    assert at_10["controller"]["rewards"] != trainer.hooks[0].controller.state_dict()["rewards"]
    # ...and so did the hook, while the data after the bad window was not replayed.
    assert tally.rolled_back == [{"checkpoint": "step_10", **at_10["tally"]}]
    assert at_10["sampler"]["step"] == 10 and trainer.sampler.step == 20
