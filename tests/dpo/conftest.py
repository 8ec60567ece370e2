"""A tiny checkpoint (fine-tuning's: 2 layers, d=32), literal preference pairs and DPO configs
over them, shared by the DPO tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.finetune.conftest import tiny_checkpoint

WORDS = ["cat", "dog", "sun", "map", "red", "box", "pen", "cup", "hat", "owl", "fig", "jam", "kit", "log", "mud",
         "net", "oak", "pig", "rug", "tin", "van", "wax", "yak", "zip"]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny-ckpt"))


def pair_records() -> list[dict]:
    """48 pairs: reverse a word (chosen: the reversal, rejected: the word), margins 0.1 .. 1."""
    out = []
    for k in range(48):
        w = WORDS[k % len(WORDS)] + WORDS[(k // len(WORDS) + 1 + k) % len(WORDS)]  # 48 distinct
        out.append({"prompt": f"reverse: {w} ->", "chosen": f" {w[::-1]}", "rejected": f" {w}",
                    "task": "reverse", "margin": round(0.1 + 0.9 * (k % 10) / 9, 3)})
    return out


def write_pairs(path: Path, records: list[dict] | None = None) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in (records or pair_records())))
    return path


def dpo_config(model: Path, pairs: Path, steps: int = 8, **curriculum) -> dict:
    small = {"n_train": 40, "n_heldout": 8, "n_test": 8}
    return {
        "seed": 0,
        "model": {"path": str(model)},
        "tasks": [{"name": "reverse", "source": {"kind": "builtin", "skill": "reverse", **small}, "eval_items": 8}],
        "pairs": [{"kind": "jsonl", "path": str(pairs)}],
        "heldout_pairs": 0.25,
        "curriculum": {
            "order": "margin", "bands": ["clear", "subtle"],
            "stages": [{"name": "clear", "tasks": {"clear": 1}, "max_steps": steps // 2},
                       {"name": "subtle", "tasks": {"subtle": 1}, "max_steps": steps - steps // 2}],
            "eval_every": 2, **curriculum,
        },
        "train": {"batch_size": 4, "lr": 1e-3, "checkpoint": {"every": 4}, "log_every": 1, "use_cpu": True,
                  "tensorboard": False, "eval_batch_size": 32, "eval_pairs": 8},
    }


def tiny_judge(out: Path, seed: int = 1, max_positions: int = 512) -> Path:
    """A judge unlike the policy (:func:`tiny_checkpoint`): a 2-layer, d=32 Llama of
    ``max_positions`` positions (the default template alone is ~60 of its tokens) with its own
    tokenizer, a byte-level BPE of 400 tokens trained on English and the judge's template
    (another vocabulary, other ids and other splits of the same text)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from curricle.dpo.config import JUDGE_TEMPLATE

    texts = [JUDGE_TEMPLATE, "The response is polite and answers the question.",
             "The response reverses the word.", "Yes", "No", " Yes", " No"] * 20
    texts += [f"reverse: {a}{b} -> {(a + b)[::-1]}" for a in WORDS for b in WORDS[:6]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>", "<pad>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=max_positions, tie_word_embeddings=True,
                                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                                         pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
