"""Keep your SFTTrainer, add curricle's curriculum: TRL's ``SFTTrainer`` drawing its examples in
curricle's order (components first, then their composition, the components in Leitner
review), with per-task held-out scores, the curriculum log and the forgetting matrix.

    .venv/bin/python examples/sft_curriculum.py                  # a tiny Llama from scratch
    .venv/bin/python examples/sft_curriculum.py --model PATH     # your own local checkpoint
    .venv/bin/python examples/sft_curriculum.py --max-steps 40 --out runs/sft-example

Without ``--model`` it builds a 4-layer Llama and a byte-level tokenizer on the tasks' text
(offline, seconds). Everything but the three marked lines is the plain TRL API; the logs land
in ``OUT``: ``metrics.jsonl`` (per-task held-out exact match at every evaluation),
``curriculum_log.jsonl`` and ``forgetting.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from trl import SFTConfig, SFTTrainer

from curricle.finetune.config import CurriculumConfig
from curricle.finetune.curriculum import Curriculum
from curricle.finetune.hf import train_dataset, use_curriculum
from curricle.tasks.config import TaskConfig
from curricle.tasks.load import build_tasks

TASKS = [{"name": skill, "source": {"kind": "builtin", "skill": skill, "params": {"min_len": 2, "max_len": 4},
                                    "n_train": 2000, "n_heldout": 32, "n_test": 32}, "eval_items": 32}
         for skill in ("reverse", "uppercase", "reverse+uppercase")]


def curriculum_config(steps: int) -> dict:
    half = steps // 2
    return {"stages": [
        {"name": "components", "tasks": {"reverse": 1, "uppercase": 1}, "max_steps": half,
         "advance_when": {"metric": "exact_match", "at_least": 0.8, "patience": 2}},
        {"name": "composition", "tasks": {"reverse+uppercase": 1}, "max_steps": steps - half}],
        "review": {"kind": "leitner", "decks": 3, "fraction": 0.3, "items_per_task": 32},
        "eval_every": max(1, steps // 10)}


def tiny_model(out: Path):
    """A 4-layer Llama and a byte-level BPE that keeps letters apart (300 tokens)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    text = [f"{t['name']}: abcdefghijklmnopqrstuvwxyz -> ABCDEFGHIJKLMNOPQRSTUVWXYZ" for t in TASKS]
    tok.train_from_iterator(text, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|pad|>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>")
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=384,
                                         num_hidden_layers=4, num_attention_heads=4, max_position_embeddings=128,
                                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                                         pad_token_id=tokenizer.pad_token_id))
    return model, tokenizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="A local HF causal-LM checkpoint (default: a tiny Llama).")
    ap.add_argument("--out", type=Path, default=Path("runs/sft-example"))
    ap.add_argument("--max-steps", type=int, default=600)
    a = ap.parse_args()

    if a.model is not None:
        model, tokenizer = AutoModelForCausalLM.from_pretrained(a.model), AutoTokenizer.from_pretrained(a.model)
        tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    else:
        model, tokenizer = tiny_model(a.out)
    # 1. The tasks and the curriculum.
    tasks = build_tasks([TaskConfig.model_validate(t) for t in TASKS], tokenizer)
    curriculum = Curriculum(CurriculumConfig.model_validate(curriculum_config(a.max_steps)), tasks, seed=0)
    args = SFTConfig(
        output_dir=str(a.out), max_steps=a.max_steps, per_device_train_batch_size=16, gradient_accumulation_steps=2,
        learning_rate=3e-3, lr_scheduler_type="constant_with_warmup", warmup_steps=20, logging_steps=20,
        save_steps=max(1, a.max_steps // 2), report_to=[], use_cpu=True, activation_checkpointing=False,
        ignore_data_skip=True,  # the curriculum's sampler resumes itself
    )
    # 2. Its training items as the trainer's dataset (prompt / completion: the loss on completions).
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    # 3. Its sampler and callback in the trainer.
    use_curriculum(trainer, curriculum, tensorboard=False)
    trainer.train()

    evals = [json.loads(line) for line in (a.out / "metrics.jsonl").read_text().splitlines()]
    last = [e for e in evals if "eval/mean" in e][-1]
    names = [t["name"] for t in TASKS]
    print(f"step {last['step']}: " + ", ".join(f"{n} {last['eval/' + n + '/exact_match']:.2f}" for n in names)
          + " held-out exact match")
    f = json.loads((a.out / "forgetting.json").read_text())
    print(f"forgetting matrix after {', '.join(f['stages'])}: ACC {f.get('acc')}, BWT {f.get('bwt')}")
    print(f"curriculum log: {a.out / 'curriculum_log.jsonl'}")


if __name__ == "__main__":
    main()
