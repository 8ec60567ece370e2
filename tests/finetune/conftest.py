"""A tiny HF checkpoint (2 layers, d=32, a byte-level BPE trained on the built-in tasks' text)
and fine-tuning configs over built-in tasks, shared by the fine-tuning tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def tiny_checkpoint(out: Path, seed: int = 0, vocab_size: int = 320) -> Path:
    """A 2-layer, d=32 Llama and its tokenizer (a BPE of ``vocab_size``), saved with
    ``save_pretrained`` to ``out``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from curricle.synthetic import make_generator

    texts = []
    for skill in ("reverse", "uppercase", "reverse+uppercase", "arithmetic", "copy"):
        texts += [i.text for i in make_generator(skill, 0).items("train", 200)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|pad|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                        pad_token="<|pad|>")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=128, tie_word_embeddings=True,
                                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                                         pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny-ckpt"))


def finetune_config(model: Path, steps: int = 12, **curriculum) -> dict:
    """Two stages over built-in tasks: reverse and uppercase, then their composite."""
    small = {"n_train": 200, "n_heldout": 16, "n_test": 8}
    return {
        "seed": 0,
        "model": {"path": str(model)},
        "tasks": [
            {"name": "reverse", "source": {"kind": "builtin", "skill": "reverse", **small}, "eval_items": 8},
            {"name": "uppercase", "source": {"kind": "builtin", "skill": "uppercase", **small}, "eval_items": 8},
            {"name": "rev-upper", "source": {"kind": "builtin", "skill": "reverse+uppercase", **small},
             "eval_items": 8},
        ],
        "curriculum": {
            "stages": [
                {"name": "components", "tasks": {"reverse": 1, "uppercase": 1}, "max_steps": steps // 2},
                {"name": "composite", "tasks": {"rev-upper": 1}, "max_steps": steps - steps // 2},
            ],
            "eval_every": 2,
            **curriculum,
        },
        "train": {"batch_size": 4, "lr": 3e-3, "checkpoint": {"every": 4}, "log_every": 1, "use_cpu": True,
                  "tensorboard": False, "eval_batch_size": 32},
    }
