"""Continued pretraining of a user's HF checkpoint, with its own tokenizer, on the user's JSONL."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from curricle.config import parse_config
from curricle.errors import CurricleError
from curricle.store import TokenStore
from curricle.train.command import train_run

WORDS = "the a cat dog sat ran on under mat log red big small quickly slowly and then".split()


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))) + "." for _ in range(n)]


def make_tokenizer(eos: str, bos: str | None = None, vocab: int = 290) -> PreTrainedTokenizerFast:
    """A small byte-level BPE with the special tokens a model family uses."""
    specials = [t for t in (eos, bos) if t]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences(200, 0), trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, bos_token=bos)


def make_checkpoint(family: str, path, positions: int = 128):
    """A tiny model of ``family`` and its own tokenizer, saved as a user would have them."""
    eos, bos = ("</s>", "<s>") if family == "llama" else ("<|endoftext|>", None)
    tok = make_tokenizer(eos, bos)
    ids = {"vocab_size": len(tok), "eos_token_id": tok.eos_token_id, "bos_token_id": tok.bos_token_id}
    torch.manual_seed(0)
    if family == "llama":
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                             intermediate_size=64, max_position_embeddings=positions, **ids))
    elif family == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                             num_key_value_heads=2, intermediate_size=64,
                                             max_position_embeddings=positions, **ids))
    elif family == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=positions, resid_pdrop=0.0,
                                           embd_pdrop=0.0, attn_pdrop=0.0, **ids))
    else:
        model = GPTNeoXForCausalLM(GPTNeoXConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                                 intermediate_size=64, max_position_embeddings=positions, **ids))
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return model, tok


def user_jsonl(path) -> None:
    """The user's corpus, with its own field names: text in ``body``, ids in ``uid``, the
    domain in ``src``."""
    with open(path, "w") as f:
        for i, text in enumerate(sentences(120, 1)):
            f.write(json.dumps({"body": text, "uid": f"doc-{i}", "src": "news" if i % 3 else "forum"}) + "\n")


def run_config(tmp_path, ckpt, **extra) -> dict:
    user_jsonl(tmp_path / "corpus.jsonl")
    return {
        "data_dir": str(tmp_path / "data"),
        "sources": [{"kind": "jsonl", "path": str(tmp_path / "corpus.jsonl"), "domain": "web", "text_field": "body",
                     "id_field": "uid", "use_record_domain": True, "domain_field": "src"}],
        "model": {"path": str(ckpt)},
        "mixture": {"batch_rows": 4, "seq_len": 32},
        "train": {"steps": 6, "lr": 1e-2, "eval_every": 6, "eval_rows_per_domain": 2,
                  "checkpoint": {"every": 3}, "telemetry": {"tensorboard": False}},
        **extra,
    }


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2", "gpt_neox"])
def test_continued_pretraining_of_a_users_checkpoint(tmp_path, family):
    original, tok = make_checkpoint(family, tmp_path / "ckpt")
    config = parse_config(run_config(tmp_path, tmp_path / "ckpt"))
    assert config.tokenizer.kind == "pretrained" and config.tokenizer.path == tmp_path / "ckpt"
    result = train_run(config, tmp_path / "run", progress=False)

    store = TokenStore(tmp_path / "data")
    assert store.domains == ["forum", "news"]  # from the records' own field
    assert store.load_tokenizer().get_vocab() == tok.get_vocab() and store.eos_id == tok.eos_token_id
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(1, 7))
    assert metrics[-1]["loss"] < metrics[0]["loss"] and {"eval/loss/forum", "eval/loss/news"} <= set(metrics[-1])
    # The checkpoints are the user's model family, and load back in transformers.
    ckpt = tmp_path / "run" / "checkpoints" / "step_6"
    loaded = AutoModelForCausalLM.from_pretrained(str(ckpt))
    assert type(loaded) is type(original) and loaded.config.model_type == original.config.model_type
    assert AutoTokenizer.from_pretrained(str(ckpt)).get_vocab() == tok.get_vocab()
    trained = result["trainer"].model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in loaded.state_dict().items())
    assert not torch.equal(loaded.get_input_embeddings().weight, original.get_input_embeddings().weight)
    # Killed after its step-3 checkpoint, resumed: the same steps.
    shutil.copytree(tmp_path / "run", tmp_path / "cut")
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_6")
    train_run(config, tmp_path / "cut", resume=True, progress=False)
    resumed = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["loss"]) for m in resumed] == [(m["step"], m["loss"]) for m in metrics]


def test_another_tokenizer_for_a_checkpoint_is_a_one_line_error_before_any_work(tmp_path):
    make_checkpoint("gpt2", tmp_path / "ckpt")
    other = make_tokenizer("<|endoftext|>", vocab=300)
    other.save_pretrained(str(tmp_path / "other-tok"))
    config = parse_config(run_config(tmp_path, tmp_path / "ckpt",
                                     tokenizer={"kind": "pretrained", "path": str(tmp_path / "other-tok")}))
    with pytest.raises(CurricleError) as err:
        train_run(config, tmp_path / "run", progress=False)
    assert str(err.value).startswith(f"tokenizer.path: {tmp_path / 'other-tok'} has 300 tokens, more than the "
                                     f"vocabulary of model.path (290)")
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()

    # A smaller tokenizer fits the embedding table, but it is not the model's own.
    smaller = make_tokenizer("<|endoftext|>", vocab=280)
    smaller.save_pretrained(str(tmp_path / "tok-280"))
    config = parse_config(run_config(tmp_path, tmp_path / "ckpt",
                                     tokenizer={"kind": "pretrained", "path": str(tmp_path / "tok-280")}))
    with pytest.raises(CurricleError, match=r"^tokenizer\.path: .*tok-280 is not the tokenizer of model\.path "
                                            r"\(\d+ vocabulary entries differ\); use the checkpoint's own$"):
        train_run(config, tmp_path / "run", progress=False)

    with pytest.raises(CurricleError, match=r"tokenizer\.kind: 'bpe' trains a new vocabulary, but model\.path"):
        parse_config(run_config(tmp_path, tmp_path / "ckpt", tokenizer={"kind": "bpe"}))


def test_rows_longer_than_the_checkpoints_positions_are_a_one_line_error(tmp_path):
    make_checkpoint("gpt2", tmp_path / "ckpt", positions=24)
    config = parse_config(run_config(tmp_path, tmp_path / "ckpt"))  # rows of 32 tokens
    with pytest.raises(CurricleError) as err:
        train_run(config, tmp_path / "run", progress=False)
    assert str(err.value) == (f"model.path: {tmp_path / 'ckpt'} takes at most 24 positions, shorter than the "
                              f"longest row (32 tokens); lower mixture.seq_len or train.eval_seq_len")
    assert not (tmp_path / "data").exists()


def test_bf16_weights_and_activation_checkpointing(tmp_path, make_config):
    plain = train_run(make_config(steps=3), tmp_path / "plain", progress=False)["trainer"]
    recomputed = make_config(steps=3)
    recomputed = recomputed.model_copy(update={"model": recomputed.model.model_copy(
        update={"activation_checkpointing": True})})
    ckpt = train_run(recomputed, tmp_path / "ckpt", progress=False)["trainer"]
    assert ckpt.model.is_activation_checkpointing and not plain.model.is_activation_checkpointing
    losses = [[json.loads(line)["loss"] for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
              for d in ("plain", "ckpt")]
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)  # recomputing changes the memory, not the numbers

    bf16 = make_config(steps=3)
    bf16 = bf16.model_copy(update={"model": bf16.model.model_copy(update={"dtype": "bfloat16"})})
    trainer = train_run(bf16, tmp_path / "bf16", progress=False)["trainer"]
    assert {p.dtype for p in trainer.model.parameters()} == {torch.bfloat16}
    saved = AutoModelForCausalLM.from_pretrained(str(tmp_path / "bf16" / "checkpoints" / "step_3"), dtype="auto")
    assert saved.dtype == torch.bfloat16


@pytest.mark.slow
def test_train_compile_trains_the_same_steps(tmp_path, make_config):
    eager = train_run(make_config(steps=3), tmp_path / "eager", progress=False)["trainer"]
    compiled = train_run(make_config(steps=3, compile=True), tmp_path / "compiled", progress=False)["trainer"]
    assert type(compiled.train_model).__name__ == "OptimizedModule" and type(eager.train_model).__name__ == "TokenLoss"
    losses = [[json.loads(line)["loss"] for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
              for d in ("eager", "compiled")]
    assert losses[1] == pytest.approx(losses[0], abs=1e-4)
