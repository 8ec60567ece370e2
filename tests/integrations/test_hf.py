"""An HF Trainer on curricle's mixture: per-domain losses, a controller, and an exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments

from curricle.config import parse_config
from curricle.controllers.base import ControllerContext
from curricle.controllers.config import CONTROLLERS, DoReMiConfig, ODMConfig
from curricle.errors import CurricleError
from curricle.hf.checkpoints import complete_checkpoints
from curricle.integrations.hf import STATE_FILE, CurricleCallback, MixtureDataset
from curricle.mixture.sampler import MixtureSampler
from curricle.prepare.command import prepare_run
from tests.train.conftest import run_config_dict

MIXTURE = {"batch_rows": 8, "seq_len": 32, "schedule": {"kind": "static", "weights": {"arithmetic": 1, "copy": 1,
                                                                                       "agreement": 1}}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hf-data") / "data"
    prepare_run(parse_config(run_config_dict(data_dir)), progress=False)
    return data_dir


def model(vocab: int, positions: int = 64):
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=64, max_position_embeddings=positions))


def args(out, **kw):
    base = dict(output_dir=str(out), max_steps=6, per_device_train_batch_size=4, gradient_accumulation_steps=2,
                learning_rate=3e-3, lr_scheduler_type="constant", save_steps=3, logging_steps=1, report_to=[],
                use_cpu=True, remove_unused_columns=False, ignore_data_skip=True, dataloader_num_workers=0, seed=0)
    return TrainingArguments(**{**base, **kw})


class StopAt(TrainerCallback):
    """Ends training after ``step`` (as if killed just after that checkpoint)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def train(store, out, stop=None, resume=None):
    dataset = MixtureDataset(store, MIXTURE, seed=0)
    net = model(dataset.store.vocab_size)
    callback = CurricleCallback(dataset, ODMConfig(update_every=1, warmup_steps=0, max_change=0.3))
    trainer = Trainer(model=net, args=args(out), train_dataset=dataset,
                      callbacks=[callback] + ([StopAt(stop)] if stop else []))
    trainer.train(resume_from_checkpoint=resume)
    return [json.loads(line) for line in (out / "domain_losses.jsonl").read_text().splitlines()]


def test_an_hf_trainer_logs_exact_domain_losses_and_a_controller_moves_the_weights(tmp_path, store):
    steps = train(store, tmp_path / "out")
    assert [s["step"] for s in steps] == list(range(1, 7))
    # Step 1 trained on the sampler's first batch with the initial weights: the logged
    # per-domain losses are that batch's, computed directly.
    batch = MixtureSampler(MixtureDataset(store, MIXTURE).store, MixtureDataset(store, MIXTURE).mixture, seed=0).next_batch()
    net = model(MixtureDataset(store, MIXTURE).store.vocab_size)
    with torch.no_grad():
        logits = net(input_ids=batch.tokens).logits[:, :-1]
        tl = F.cross_entropy(logits.flatten(0, 1), batch.tokens[:, 1:].flatten(), reduction="none").view(8, -1)
    domains = MixtureDataset(store, MIXTURE).domains
    for i, d in enumerate(domains):
        rows = batch.domain_ids == i
        assert steps[0][f"loss/{d}"] == pytest.approx(tl[rows].mean().item(), rel=1e-5)
    assert steps[0]["loss"] == pytest.approx(tl.mean().item(), rel=1e-5)
    # The controller changed the weights; each change applies from the step its log names.
    audit = [json.loads(line) for line in (tmp_path / "out" / "mixture_log.jsonl").read_text().splitlines()]
    assert audit and all(e["controller"] == "odm" and e["effective_from_step"] == e["step"] + 2 for e in audit)
    assert audit[0]["step"] == 2  # ODM explores uniformly while its exploration rate is 1/3: step 1 only
    for entry in audit:
        at = steps[entry["effective_from_step"] - 1] if entry["effective_from_step"] <= 6 else None
        if at is not None:
            assert [at[f"weight/{d}"] for d in domains] == pytest.approx([entry["new"][d] for d in domains])
    assert [steps[1][f"weight/{d}"] for d in domains] == pytest.approx([1 / 3] * 3)


def test_a_resumed_hf_trainer_continues_the_same_stream(tmp_path, store):
    full = train(store, tmp_path / "full")
    train(store, tmp_path / "cut", stop=3)
    resumed = train(store, tmp_path / "cut", resume=str(tmp_path / "cut" / "checkpoint-3"))
    assert [s["step"] for s in resumed] == list(range(1, 7))
    for a, b in zip(full, resumed):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9), (a["step"], k)
    mix_full = (tmp_path / "full" / "mixture_log.jsonl").read_text()
    assert (tmp_path / "cut" / "mixture_log.jsonl").read_text() == mix_full
    # The resume is on record; the uninterrupted run has no event.
    assert not (tmp_path / "full" / "events.jsonl").exists()
    assert [json.loads(line) for line in (tmp_path / "cut" / "events.jsonl").read_text().splitlines()] == [
        {"step": 3, "event": "resume", "checkpoint": "checkpoint-3"}]


def test_a_resume_on_another_snapshot_of_the_store_logs_which_domains_changed(tmp_path, store, caplog):
    train(store, tmp_path / "cut", stop=3)
    # As if copy's documents had changed since the checkpoint: another snapshot id and stream.
    state_file = tmp_path / "cut" / "checkpoint-3" / STATE_FILE
    saved = json.loads(state_file.read_text())
    snap = saved["dataset"]["sampler"]["snapshot"]
    now = snap["id"]
    snap["id"], snap["streams"]["copy"] = "0" * 64, ["0" * 16, 50]
    state_file.write_text(json.dumps(saved))
    train(store, tmp_path / "cut", resume=str(tmp_path / "cut" / "checkpoint-3"))
    events = [json.loads(line) for line in (tmp_path / "cut" / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["resume", "snapshot-changed"]
    assert {k: events[1][k] for k in ("step", "old", "new", "domains_changed", "docs")} == {
        "step": 3, "old": "0" * 64, "new": now, "domains_changed": ["copy"], "docs": {"copy": {"old": 50, "new": 56}}}
    assert "copy start fresh streams" in caplog.text


def test_checkpoints_are_sealed_by_the_seam_kit_and_old_ones_still_resume(tmp_path, store):
    full = train(store, tmp_path / "full")
    train(store, tmp_path / "cut", stop=3)
    ck = tmp_path / "cut" / "checkpoint-3"
    assert complete_checkpoints(tmp_path / "cut", STATE_FILE) == [(3, ck)]
    saved = json.loads((ck / STATE_FILE).read_text())
    assert {"dataset", "controller", "log_lines"} <= saved.keys()
    assert {"model.safetensors", "optimizer.pt", "trainer_state.json"} <= saved["files"].keys()
    # As the callback wrote it before the seam kit: the same keys, no file sizes.
    del saved["files"]
    (ck / STATE_FILE).write_text(json.dumps(saved))
    resumed = train(store, tmp_path / "cut", resume=str(ck))
    assert [s["step"] for s in resumed] == list(range(1, 7))
    for a, b in zip(full, resumed):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9), (a["step"], k)


def test_an_old_checkpoint_of_a_run_without_a_controller_resumed_with_one_is_a_one_line_error(tmp_path, store):
    dataset = MixtureDataset(store, MIXTURE)
    callback = CurricleCallback(dataset, ODMConfig(update_every=1))
    saved = {"dataset": dataset.state_at(0), "controller": None, "log_lines": {}}  # as written before the seam kit
    callback.load_own_state(saved)
    with pytest.raises(CurricleError) as err:
        callback.parts.load(tmp_path, saved, {}, source=tmp_path / STATE_FILE)
    assert str(err.value) == (f"{tmp_path / STATE_FILE}: the checkpoint has no state of 'controller' (saved by "
                              f"another configuration?)")


def test_misconfigured_training_arguments_are_one_clear_error(tmp_path, store):
    dataset = MixtureDataset(store, MIXTURE)
    with pytest.raises(CurricleError, match=r"MixtureDataset needs remove_unused_columns=False, .* \(got "
                                            r"remove_unused_columns=True\)"):
        Trainer(model=model(dataset.store.vocab_size), args=args(tmp_path, remove_unused_columns=True),
                train_dataset=dataset, callbacks=[CurricleCallback(dataset)])
    with pytest.raises(CurricleError, match=r"mixture.batch_rows: 8, but the trainer takes 16 rows"):
        Trainer(model=model(dataset.store.vocab_size), args=args(tmp_path, gradient_accumulation_steps=4),
                train_dataset=dataset, callbacks=[CurricleCallback(dataset)])


DOREMI_REFUSAL = ("controller.kind: doremi's proxy weighs its loss by domain with a reference model beside it, "
                  "which needs curricle's own loop: train the proxy with `curricle train`, then give the HF run "
                  "its doremi_weights.json as a static mixture")


def test_doremi_is_refused_in_one_line_as_a_config_a_dict_or_a_built_controller(store):
    dataset = MixtureDataset(store, MIXTURE)
    config = DoReMiConfig(reference={"steps": 40})
    built = CONTROLLERS.build(config, ControllerContext(dataset.domains, dataset.store.natural_tokens(),
                                                        fixed_mixture=np.full(len(dataset.domains), 0.5),
                                                        reference=Path("x"), build_model=lambda path: None))
    for controller in (config, {"kind": "doremi", "reference": {"steps": 40}}, {"kind": "doremi"}, built):
        with pytest.raises(CurricleError) as err:
            CurricleCallback(dataset, controller)
        assert str(err.value) == DOREMI_REFUSAL


def test_a_controller_dict_is_validated_and_built(store):
    dataset = MixtureDataset(store, MIXTURE)
    callback = CurricleCallback(dataset, {"kind": "odm", "update_every": 2})
    assert callback.controller.name == "odm" and callback.controller.config == ODMConfig(update_every=2)
    with pytest.raises(CurricleError) as err:
        CurricleCallback(dataset, {"kind": "odm", "update_every": 0})
    assert str(err.value) == "controller: update_every: Input should be greater than or equal to 1"
    with pytest.raises(CurricleError) as err:
        CurricleCallback(dataset, {"kind": "odn"})
    assert str(err.value) == "controller.kind: expected one of schedule, odm, ado, hard-examples, jtt, targets, group-dro, frontier, aioli, drift-aware, got 'odn'"


def test_each_example_is_a_whole_row_of_seq_len_plus_one_tokens_as_the_sampler_draws_it(store):
    # input_ids = labels = the row: the model predicts its last 32 tokens (curricle train's
    # targets), and consecutive rows of a domain continue its stream with no token left out.
    dataset = MixtureDataset(store, MIXTURE, seed=0)
    sampler = MixtureSampler(dataset.store, dataset.mixture, seed=0)
    examples = iter(dataset)
    for _ in range(2):
        batch = sampler.next_batch()
        for row, domain in zip(batch.tokens, batch.domain_ids):
            ex = next(examples)
            assert ex["input_ids"].shape == (33,) and ex["input_ids"] is ex["labels"]
            assert torch.equal(ex["input_ids"], row) and int(ex["domain_ids"]) == int(domain)


def test_a_model_with_fewer_positions_than_a_row_is_a_one_line_error_when_training_begins(tmp_path, store):
    dataset = MixtureDataset(store, {**MIXTURE, "seq_len": {"points": [[0, 16], [4, 32]]}})
    trainer = Trainer(model=model(dataset.store.vocab_size, positions=32), args=args(tmp_path), train_dataset=dataset,
                      callbacks=[CurricleCallback(dataset)])
    with pytest.raises(CurricleError) as err:
        trainer.train()
    assert str(err.value) == ("mixture.seq_len: 32 gives rows of 33 tokens (input_ids and labels alike: the model "
                              "shifts the labels), but the model takes at most 32 positions (max_position_embeddings); "
                              "use a seq_len of at most 31")
    assert not (tmp_path / "domain_losses.jsonl").exists()
    fits = Trainer(model=model(dataset.store.vocab_size, positions=33), args=args(tmp_path / "ok", max_steps=1),
                   train_dataset=dataset, callbacks=[CurricleCallback(dataset)])
    fits.train()
    assert len((tmp_path / "ok" / "domain_losses.jsonl").read_text().splitlines()) == 1


def test_a_bad_mixture_is_a_one_line_error(store):
    for mixture, message in (({**MIXTURE, "seq_len": 0}, "mixture: seq_len: expected at least 2 tokens per row, got 0"),
                             ({"batch_rowz": 8}, "mixture: batch_rowz: unknown key")):
        with pytest.raises(CurricleError) as err:
            MixtureDataset(store, mixture)
        assert str(err.value) == message
