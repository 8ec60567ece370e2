"""Keep your Trainer, add curricle's mixture: an HF ``Trainer`` on curricle's phased mixture,
with exact per-domain loss and an ODM controller adapting the weights.

    .venv/bin/python examples/hf_trainer.py                     # a tiny Llama from scratch
    .venv/bin/python examples/hf_trainer.py --model PATH        # your own local checkpoint
    .venv/bin/python examples/hf_trainer.py --max-steps 8 --out runs/hf-example

It prepares ``configs/tiny.yaml``'s token store (built-in sources, offline; with ``--model``
the store is encoded with that checkpoint's tokenizer), trains, and prints the per-domain
losses it logged to ``OUT/domain_losses.jsonl`` (the controller's changes are in
``OUT/mixture_log.jsonl``). Everything else is the plain HF API.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments

from curricle.config import parse_config
from curricle.controllers.config import ODMConfig
from curricle.integrations.hf import CurricleCallback, MixtureDataset
from curricle.prepare.command import prepare_run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="A local HF causal-LM checkpoint (default: a tiny Llama).")
    ap.add_argument("--out", type=Path, default=Path("runs/hf-example"))
    ap.add_argument("--max-steps", type=int, default=40)
    a = ap.parse_args()

    run = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text())
    run["data_dir"] = str(a.out / "data")
    if a.model is not None:
        run["model"] = {"path": str(a.model)}
        del run["tokenizer"]  # the checkpoint's own tokenizer
    config = parse_config(run, "configs/tiny.yaml")
    prepare_run(config)

    # One sampler step per optimizer step: batch_rows = 4 rows x 2 accumulation steps (1 process).
    mixture = config.mixture.model_copy(update={"batch_rows": 8})
    dataset = MixtureDataset(config.data_dir, mixture, seed=config.seed)
    if a.model is not None:
        model = AutoModelForCausalLM.from_pretrained(str(a.model))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=dataset.store.vocab_size, hidden_size=128,
                                             num_hidden_layers=4, num_attention_heads=4, intermediate_size=384,
                                             max_position_embeddings=256, tie_word_embeddings=True))
    args = TrainingArguments(
        output_dir=str(a.out / "trainer"), max_steps=a.max_steps, per_device_train_batch_size=4,
        gradient_accumulation_steps=2, learning_rate=3e-3, lr_scheduler_type="cosine", save_steps=20,
        logging_steps=10, report_to=[], use_cpu=True,
        remove_unused_columns=False, ignore_data_skip=True, dataloader_num_workers=0,  # what MixtureDataset needs
    )
    callback = CurricleCallback(dataset, ODMConfig(update_every=1, warmup_steps=5))
    Trainer(model=model, args=args, train_dataset=dataset, callbacks=[callback]).train()

    steps = [json.loads(line) for line in (a.out / "trainer" / "domain_losses.jsonl").read_text().splitlines()]
    last = steps[-1]
    print(f"step {last['step']}: " + ", ".join(f"{d} {last[f'loss/{d}']:.3f} (weight {last[f'weight/{d}']:.2f})"
                                               for d in dataset.domains if f"loss/{d}" in last))
    print(f"per-domain losses: {a.out / 'trainer' / 'domain_losses.jsonl'}; "
          f"controller audit log: {a.out / 'trainer' / 'mixture_log.jsonl'}")


if __name__ == "__main__":
    main()
