"""``curricle finetune CONFIG --run-dir DIR``: TRL's ``SFTTrainer`` with curricle's curriculum.

Wires the parts: the model and tokenizer from ``model:``, the tasks (their items split and
checked for leaks; skipped records in ``RUN/tasks_quarantine.jsonl``, a summary in
``RUN/tasks.json``), the pretraining probes as evaluation-only tasks, the curriculum, its
sampler and callback (:mod:`curricle.finetune.hf`), and ``SFTTrainer`` on the prompt-completion
dataset (the loss on completions only). Writes, under ``RUN``: ``metrics.jsonl`` and ``tb/``,
``curriculum_log.jsonl``, ``forgetting.json``, ``final_scores.json`` (held-out and test scores
at the end), ``checkpoints/checkpoint-N`` (HF checkpoints with the curriculum's state) and
``final/`` (the fine-tuned model and its tokenizer, loadable with ``from_pretrained``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.extras import require
from curricle.finetune.config import FinetuneConfig, load_finetune_config
from curricle.finetune.curriculum import Curriculum
from curricle.finetune.hf import STATE_FILE, train_dataset, use_curriculum
from curricle.posttrain.checkpoints import begin_run, check_resume_tasks, load_start_model, train_and_save
from curricle.posttrain.evaluate import Evaluator, fmt_score, probe_tasks
from curricle.posttrain.ranks import is_main, train_device
from curricle.probes.contamination import check_contamination
from curricle.tasks.load import build_tasks, fingerprints, write_quarantine
from curricle.train.tf32 import use_tf32

log = logging.getLogger(__name__)


def build_finetune(config: FinetuneConfig, run_dir: Path, max_steps: int | None = None,
                   resume_from: str | None = None):
    """The trainer, the callback and the tasks of a fine-tuning run, ready to train; a resume
    from ``resume_from`` onto other task items is refused before any file is written."""
    require("trl", "curricle finetune")
    from trl import SFTConfig, SFTTrainer

    use_tf32(train_device(config.train.use_cpu), config.train.tf32)  # before the first matrix product
    model, tokenizer = load_start_model(config.model)
    tasks = build_tasks(config.tasks, tokenizer)
    check_resume_tasks(resume_from, STATE_FILE, fingerprints(tasks), part="curriculum")
    probes = probe_tasks(config.probes)
    summary = {"tasks": [t.summary() for t in tasks], "probes": [p.name for p in probes]}
    if probes:
        report = check_contamination([i.text for t in tasks for i in t.train], probes)
        summary["probe_items_in_training"] = report.by_task()
        if not report.clean:
            log.warning("probes: %d probe items occur in the fine-tuning data (%s)", len(report.hits),
                        ", ".join(f"{k}: {v}" for k, v in report.by_task().items()))
    if is_main():
        atomic.write_text(run_dir / "tasks.json", json.dumps(summary, indent=1) + "\n")
        write_quarantine(tasks, run_dir / "tasks_quarantine.jsonl")

    curriculum = Curriculum(config.curriculum, tasks, seed=config.seed)
    t = config.train
    steps = max_steps or config.steps
    args = SFTConfig(
        output_dir=str(run_dir / "checkpoints"), max_steps=steps, per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum, learning_rate=t.lr, lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_steps, weight_decay=t.weight_decay, logging_steps=t.log_every,
        save_steps=t.checkpoint.every, save_total_limit=t.checkpoint.keep_last, seed=config.seed,
        data_seed=config.seed, report_to=[], ignore_data_skip=True, dataloader_num_workers=0, max_length=t.max_length,
        completion_only_loss=True, shuffle_dataset=False, packing=False, use_cpu=t.use_cpu,
        bf16=config.model.dtype == "bfloat16", save_only_model=False,
        activation_checkpointing=t.activation_checkpointing,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    evaluator = Evaluator(tasks, tokenizer, batch_size=t.eval_batch_size, probe_tasks=probes)
    callback = use_curriculum(trainer, curriculum, out=run_dir, evaluator=evaluator, tensorboard=t.tensorboard,
                              trace=t.trace)
    return trainer, callback, tasks


def finetune_run(config: FinetuneConfig, run_dir: Path | str, resume: bool = False,
                 max_steps: int | None = None) -> dict[str, Any]:
    """Fine-tune as ``config`` says; returns the final scores and the forgetting report."""
    run_dir = Path(run_dir)
    start, (trainer, callback, _) = begin_run(
        run_dir, resume, config, "finetune", STATE_FILE,
        lambda checkpoint: build_finetune(config, run_dir, max_steps, resume_from=checkpoint))
    train_and_save(trainer, start, run_dir, [callback.evaluator])  # the files below are the main process's
    return {"final": json.loads((run_dir / "final_scores.json").read_text()),
            "forgetting": json.loads((run_dir / "forgetting.json").read_text())}


def print_finetune(result: dict[str, Any], console: Console) -> None:
    final, forgetting = result["final"], result["forgetting"]
    metrics = forgetting.get("metrics", {})
    table = Table(title=f"fine-tuned: step {final['step']} (stage {final['stage']})")
    for col in ("task", "metric", "baseline", "held-out", "test", "forgetting"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    base = dict(zip(forgetting["tasks"], forgetting.get("baseline") or []))
    for task in forgetting["tasks"]:
        m = metrics.get(task, "")
        held = (final.get("heldout") or {}).get(task, {}).get(m)
        test = (final.get("test") or {}).get(task, {}).get(m)
        f = forgetting.get("forgetting", {}).get(task)
        table.add_row(task, m, fmt_score(base.get(task)), fmt_score(held), fmt_score(test), fmt_score(f))
    console.print(table)
    stats = {k: forgetting.get(k) for k in ("acc", "bwt", "fwt", "mean_forgetting")}
    console.print("  ".join(f"{k.upper() if k != 'mean_forgetting' else 'forgetting'} {fmt_score(v)}"
                            for k, v in stats.items()))


def finetune_command(config_path: Path, run_dir: Path, resume: bool = False, max_steps: int | None = None,
                     console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    config = load_finetune_config(config_path)
    result = finetune_run(config, run_dir, resume=resume, max_steps=max_steps)
    if is_main():
        print_finetune(result, console)
        console.print(f"run: {run_dir} (metrics.jsonl, curriculum_log.jsonl, forgetting.json, final/)")
    return result
