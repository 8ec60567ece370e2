"""Sampled completions pad their prompts on the left without changing the tokenizer, which a
run saves with its model (a fresh run's saved tokenizer must be a resumed run's)."""

from __future__ import annotations

from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle.posttrain.sampling import sample_completions
from tests.finetune.conftest import tiny_checkpoint


def test_sampling_pads_on_the_left_and_leaves_the_tokenizers_side(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    model = AutoModelForCausalLM.from_pretrained(str(ckpt)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(ckpt))
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    prompts = ["reverse: cat ->", "reverse: catdogsunmap ->"]  # of different lengths: one is padded
    args = (prompts, 3, 1.0, 1.0, 6, ["\n"], 0, 2)
    assert tokenizer.padding_side == "right"
    got = sample_completions(model, tokenizer, *args)
    assert tokenizer.padding_side == "right"
    tokenizer.padding_side = "left"  # what sampling used to leave set: the same samples
    assert sample_completions(model, tokenizer, *args) == got
    assert [len(g) for g in got] == [3, 3]
