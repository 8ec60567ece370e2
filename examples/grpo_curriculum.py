"""Keep your GRPOTrainer, add curricle's prompt curriculum: TRL's ``GRPOTrainer`` with your own
reward function and dataset, drawing its prompts by learnability (``p (1 - p)`` of each prompt's
tracked pass rate) instead of uniformly.

    .venv/bin/python examples/grpo_curriculum.py                  # a tiny Llama from scratch
    .venv/bin/python examples/grpo_curriculum.py --model PATH     # your own local checkpoint
    .venv/bin/python examples/grpo_curriculum.py --max-steps 8 --out runs/grpo-example

Without ``--model`` it builds a 2-layer Llama and a byte-level tokenizer (offline, seconds).
Everything but the marked lines is the plain TRL API. The dataset has a ``prompt`` column and
curricle's ``curricle_row`` (a distinct id per prompt; ``task`` and ``difficulty`` are read too
when present). The logs land in ``OUT``: ``curriculum_log.jsonl`` (the pass rates and the
effective number of prompts after every step) and ``trace/prompts.rank0.jsonl`` (each step's
prompt rows), beside TRL's checkpoints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import datasets
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer

from curricle.rl.use import use_prompt_curriculum   # curricle

WORDS = ["ab", "cd", "ef", "gh", "abc", "bcd", "cde", "def", "abcd", "bcde", "cdef", "defg"]


def tiny_model():
    """A 2-layer Llama and a byte-level BPE over the prompts' letters (300 tokens)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([f"reverse {w}: {w[::-1]}" for w in WORDS],
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|pad|>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>")
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=128,
                                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                                         pad_token_id=tokenizer.pad_token_id))
    return model, tokenizer


def starts_right(prompts, completions, answer, **kwargs):
    """Your reward: 1 when the completion starts with the reversed word's first letter."""
    return [float(c.strip()[:1] == a[:1]) for c, a in zip(completions, answer)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="a local HF causal-LM checkpoint (default: a tiny one)")
    ap.add_argument("--max-steps", type=int, default=12)
    ap.add_argument("--out", type=Path, default=Path("runs/grpo-example"))
    a = ap.parse_args(argv)
    if a.model:
        model, tokenizer = AutoModelForCausalLM.from_pretrained(a.model), AutoTokenizer.from_pretrained(a.model)
    else:
        model, tokenizer = tiny_model()
    data = datasets.Dataset.from_dict({
        "prompt": [f"reverse {w}:" for w in WORDS], "answer": [w[::-1] for w in WORDS],
        "difficulty": [len(w) for w in WORDS],
        "curricle_row": list(range(len(WORDS))),                    # curricle: which prompt a completion answers
    })
    args = GRPOConfig(str(a.out), max_steps=a.max_steps, per_device_train_batch_size=8, num_generations=4,
                      max_completion_length=4, learning_rate=1e-3, use_cpu=True, report_to=[], save_steps=4,
                      logging_steps=1, seed=0, dataloader_num_workers=0, ignore_data_skip=True)
    trainer = GRPOTrainer(model=model, reward_funcs=[starts_right], args=args, train_dataset=data,
                          processing_class=tokenizer)
    use_prompt_curriculum(trainer, {"kind": "learnability"}, trace=True)   # curricle
    trainer.train()
    log = [json.loads(line) for line in (a.out / "curriculum_log.jsonl").read_text().splitlines()]
    print(f"{len(log) - 1} steps; last: {json.dumps(log[-1])}")


if __name__ == "__main__":
    main()
