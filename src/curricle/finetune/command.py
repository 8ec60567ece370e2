"""``curricle finetune CONFIG --run-dir DIR``: TRL's ``SFTTrainer`` with curricle's curriculum.

Wires the parts: the model and tokenizer from ``model.path``, the tasks (their items split and
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
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.table import Table
from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle import atomic
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.finetune.config import FinetuneConfig, ProbeTasksConfig, load_finetune_config
from curricle.finetune.curriculum import Curriculum
from curricle.finetune.evaluate import Evaluator
from curricle.finetune.hf import STATE_FILE, train_dataset, use_curriculum
from curricle.probes.builtin import builtin_tasks
from curricle.probes.contamination import check_contamination
from curricle.probes.task import check_unique, load_tasks
from curricle.tasks.load import build_tasks, write_quarantine

log = logging.getLogger(__name__)


def _is_main() -> bool:
    """Whether this is the main process (rank 0, or no torchrun at all)."""
    return int(os.environ.get("RANK", "0")) == 0


def complete_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """``checkpoint-N`` directories holding the trainer's and the curriculum's state, newest first
    (one a kill interrupted lacks the curriculum's file, written last, and is passed over)."""
    out = []
    for p in root.glob("checkpoint-*") if root.is_dir() else []:
        step = p.name.removeprefix("checkpoint-")
        if step.isdigit() and (p / "trainer_state.json").is_file() and (p / STATE_FILE).is_file():
            out.append((int(step), p))
        elif step.isdigit():
            log.warning("checkpoint %s is incomplete; passed over", p)
    return sorted(out, reverse=True)


def probe_tasks(config: ProbeTasksConfig | None):
    """The pretraining probes to score beside the tasks, named ``probe:<task>`` (a task's name
    cannot hold a colon, so the two never clash)."""
    if config is None:
        return []
    tasks = builtin_tasks(config.suite) if config.suite is not None else []
    for f in config.task_files:
        tasks.extend(load_tasks(f))
    return [replace(t, name=f"probe:{t.name}") for t in check_unique(tasks)]


def load_model(path: Path, dtype: str = "float32"):
    """A local HF causal LM and its tokenizer (pad token: EOS where it has none), or a one-line
    error naming ``model.path``. Fine-tuning, RL and RFT load their checkpoints with it."""
    if not (path / "config.json").is_file():
        raise CurricleError(f"model.path: {path} is not an HF checkpoint directory (no config.json)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype={"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype])
    except (OSError, ValueError) as err:
        raise CurricleError(f"model.path: cannot load a causal LM and tokenizer from {path} ({err})") from None
    if tokenizer.eos_token is None:
        raise CurricleError(f"model.path: {path}'s tokenizer has no EOS token (completions end with it)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def build_finetune(config: FinetuneConfig, run_dir: Path, max_steps: int | None = None):
    """The trainer, the callback and the tasks of a fine-tuning run, ready to train."""
    require("trl", "curricle finetune")
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_model(config.model.path, config.model.dtype)
    tasks = build_tasks(config.tasks, tokenizer)
    probes = probe_tasks(config.probes)
    summary = {"tasks": [t.summary() for t in tasks], "probes": [p.name for p in probes]}
    if probes:
        report = check_contamination([i.text for t in tasks for i in t.train], probes)
        summary["probe_items_in_training"] = report.by_task()
        if not report.clean:
            log.warning("probes: %d probe items occur in the fine-tuning data (%s)", len(report.hits),
                        ", ".join(f"{k}: {v}" for k, v in report.by_task().items()))
    if _is_main():
        atomic.write_text(run_dir / "tasks.json", json.dumps(summary, indent=1) + "\n")
        write_quarantine(tasks, run_dir / "tasks_quarantine.jsonl")

    curriculum = Curriculum(config.curriculum, tasks, seed=config.seed)
    t = config.train
    steps = max_steps or config.steps
    args = SFTConfig(
        output_dir=str(run_dir / "checkpoints"), max_steps=steps, per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum, learning_rate=t.lr, lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_steps, weight_decay=t.weight_decay, logging_steps=t.log_every,
        save_steps=t.save_every, save_total_limit=t.keep_checkpoints, seed=config.seed, data_seed=config.seed,
        report_to=[], ignore_data_skip=True, dataloader_num_workers=0, max_length=t.max_length,
        completion_only_loss=True, shuffle_dataset=False, packing=False, use_cpu=t.use_cpu,
        bf16=config.model.dtype == "bfloat16", save_only_model=False,
        activation_checkpointing=t.activation_checkpointing,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    evaluator = Evaluator(tasks, tokenizer, batch_size=t.eval_batch_size, probe_tasks=probes)
    callback = use_curriculum(trainer, curriculum, out=run_dir, evaluator=evaluator, tensorboard=t.tensorboard,
                              trace_data=t.trace_data)
    return trainer, callback, tasks


def finetune_run(config: FinetuneConfig, run_dir: Path | str, resume: bool = False,
                 max_steps: int | None = None) -> dict[str, Any]:
    """Fine-tune as ``config`` says; returns the final scores and the forgetting report."""
    run_dir = Path(run_dir)
    found = complete_checkpoints(run_dir / "checkpoints")
    if resume and not found:
        raise CurricleError(f"--resume: no complete checkpoint under {run_dir / 'checkpoints'}")
    if not resume and found:
        raise CurricleError(f"{run_dir} already has checkpoints: pass --resume to continue it, "
                            f"or choose another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    if _is_main():
        atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    trainer, callback, _ = build_finetune(config, run_dir, max_steps)
    trainer.train(resume_from_checkpoint=str(found[0][1]) if resume else None)
    if trainer.is_world_process_zero():
        save_final(trainer, run_dir / "final")
    trainer.accelerator.wait_for_everyone()  # the files below are the main process's
    return {"final": json.loads((run_dir / "final_scores.json").read_text()),
            "forgetting": json.loads((run_dir / "forgetting.json").read_text())}


def save_final(trainer, out: Path) -> None:
    """The model and tokenizer to ``out``, written beside it first and renamed (atomic)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    trainer.processing_class.save_pretrained(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


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
        table.add_row(task, m, _fmt(base.get(task)), _fmt(held), _fmt(test), _fmt(f))
    console.print(table)
    stats = {k: forgetting.get(k) for k in ("acc", "bwt", "fwt", "mean_forgetting")}
    console.print("  ".join(f"{k.upper() if k != 'mean_forgetting' else 'forgetting'} {_fmt(v)}"
                            for k, v in stats.items()))


def _fmt(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.3f}"


def finetune_command(config_path: Path, run_dir: Path, resume: bool = False, max_steps: int | None = None,
                     console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    config = load_finetune_config(config_path)
    result = finetune_run(config, run_dir, resume=resume, max_steps=max_steps)
    if _is_main():
        print_finetune(result, console)
        console.print(f"run: {run_dir} (metrics.jsonl, curriculum_log.jsonl, forgetting.json, final/)")
    return result
