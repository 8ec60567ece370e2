"""``curricle dpo CONFIG --run-dir DIR``: TRL's ``DPOTrainer`` on preference pairs, in a curriculum
from clear to subtle margins.

Wires the parts: the model and tokenizer from ``model:`` (also DPO's frozen reference), the
evaluation tasks and probes, the pairs (files, and the starting model's graded samples:
:mod:`curricle.dpo.pairs`), the margin bands as the tasks of fine-tuning's curriculum, its
sampler and callback (:func:`curricle.finetune.hf.use_curriculum`) with
:class:`~curricle.dpo.evaluate.PairEvaluator` scoring tasks and bands, and ``DPOTrainer`` on
the ``prompt``/``chosen``/``rejected`` dataset. Writes, under ``RUN``: ``pairs.json`` (pairs
read, built and dropped by reason, how each source's samples were scored: ``grader``, or
``judge`` with the judge's checkpoint, principle and template; the bands), ``pairs.jsonl``
(every pair with its band and split; a resumed run reads the pairs back from it rather than
sampling again),
``metrics.jsonl`` (DPO's loss, reward accuracy and margin beside the held-out scores),
``curriculum_log.jsonl``, ``forgetting.json``, ``final_scores.json``,
``checkpoints/checkpoint-N`` (with the curriculum's state), ``final/`` and, with
``train.reference: stage``, ``reference/sync-N.safetensors`` (the reference after its N-th move).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from safetensors.torch import load_file, save_file

from curricle import atomic
from curricle.dpo.config import DPOConfig, PairFile, PairsFromSamples, load_dpo_config
from curricle.dpo.evaluate import PairEvaluator
from curricle.dpo.judge import Judge
from curricle.dpo.pairs import Pair, band_tasks, read_pair_file, sample_pairs
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.finetune.curriculum import Curriculum
from curricle.finetune.hf import CURRICULUM_LOG, ROW_COLUMN, STATE_FILE, CurriculumCallback, use_curriculum
from curricle.posttrain.checkpoints import begin_run, check_resume_tasks, load_start_model, train_and_save
from curricle.posttrain.evaluate import Evaluator, fmt_score, probe_tasks
from curricle.posttrain.ranks import is_main, train_device
from curricle.tasks.load import build_tasks, fingerprints, write_quarantine
from curricle.train.tf32 import use_tf32

log = logging.getLogger(__name__)

PAIRS_SUMMARY = "pairs.json"
PAIRS_FILE = "pairs.jsonl"
REFERENCE_DIR = "reference"  # train.reference: stage


class DPOCallback(CurriculumCallback):
    """Fine-tuning's curriculum callback, logging DPO's reward numbers with the loss, and with
    ``train.reference: stage`` moving DPO's reference to the policy at every stage change (see
    :meth:`use_stage_reference`)."""

    log_keys = (*CurriculumCallback.log_keys, "rewards/accuracies", "rewards/margins", "rewards/chosen",
                "rewards/rejected", "logps/chosen", "logps/rejected")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reference_model = None
        self._unwrap = None
        self.reference_syncs = 0  # how many times the reference became the policy
        self._reference_stage = 0  # the stage the reference was last set at

    def use_stage_reference(self, reference_model, unwrap) -> None:
        """Copy the policy (``unwrap(model)``) into ``reference_model`` whenever the curriculum's
        stage changes; each copy is written to ``OUT/reference/sync-N.safetensors``
        (atomically, main process) and read back on resume."""
        self.reference_model, self._unwrap = reference_model, unwrap

    def on_step_end(self, args, state, control, model=None, **kwargs):
        super().on_step_end(args, state, control, model=model, **kwargs)
        if self.reference_model is not None and self.curriculum.stage != self._reference_stage:
            policy = self._unwrap(model)
            with torch.no_grad():
                for ref, p in zip(self.reference_model.parameters(), policy.parameters(), strict=True):
                    ref.copy_(p)
            self.reference_syncs += 1
            self._reference_stage = self.curriculum.stage
            if self._main:  # replaced atomically (a resumed run rewrites the same weights)
                with atomic.file(self._reference_file(self.reference_syncs)) as tmp:
                    save_file({k: v.detach().cpu().clone() for k, v in self.reference_model.state_dict().items()},
                              str(tmp))
            self._append(CURRICULUM_LOG, {"event": "reference", "step": state.global_step,
                                          "stage": self.curriculum.current.name, "sync": self.reference_syncs})

    def _reference_file(self, sync: int) -> Path:
        return self.out / REFERENCE_DIR / f"sync-{sync}.safetensors"

    def own_state(self) -> dict[str, Any]:
        return {**super().own_state(), "reference_syncs": self.reference_syncs,
                "reference_stage": self._reference_stage}

    def load_own_state(self, saved: dict[str, Any]) -> None:
        super().load_own_state(saved)
        self.reference_syncs = saved.get("reference_syncs", 0)
        self._reference_stage = saved.get("reference_stage", 0)
        if self.reference_model is not None and self.reference_syncs:
            path = self._reference_file(self.reference_syncs)
            if not path.is_file():
                raise CurricleError(f"{path}: missing (the reference this checkpoint trained against); "
                                    f"resume needs the run directory it was written in")
            weights = load_file(str(path))
            with torch.no_grad():
                for name, t in self.reference_model.state_dict().items():
                    t.copy_(weights[name])


def collect_pairs(config: DPOConfig, model, tokenizer, tasks, run_dir: Path, resume: bool
                  ) -> tuple[list[Pair], dict[str, Any], bool]:
    """Every source's pairs (a resumed run: the ones it wrote before), what was read/built, and
    whether they are new (the caller writes new ones to ``PAIRS_FILE`` once the run goes ahead)."""
    saved = run_dir / PAIRS_FILE
    if resume and saved.is_file():
        records = [json.loads(line) for line in saved.read_text().splitlines()]
        return [Pair(**r) for r in records], json.loads((run_dir / PAIRS_SUMMARY).read_text())["sources"], False
    by_name = {t.name: t for t in tasks}
    configs = {t.name: t for t in config.tasks}
    pairs: list[Pair] = []
    sources: list[dict[str, Any]] = []
    for i, src in enumerate(config.pairs):
        if isinstance(src, PairsFromSamples) and src.judge is not None:
            Judge.check(src.judge, f"pairs.{i}.judge")
    if any(isinstance(src, PairsFromSamples) for src in config.pairs):
        model.to(train_device(config.train.use_cpu))  # sample where it will train, not on the CPU first
    for i, src in enumerate(config.pairs):
        if isinstance(src, PairFile):
            got = read_pair_file(src)
            sources.append({"source": i, "kind": src.kind, "path": str(src.path), "read": len(got)})
        else:
            assert isinstance(src, PairsFromSamples)
            # The judge on the policy's device, loaded before sampling so a bad checkpoint fails early.
            judge = Judge.load(src.judge, model.device, f"pairs.{i}.judge") if src.judge is not None else None
            got, summary = sample_pairs(model, tokenizer, src, by_name, configs, config.seed + i, judge)
            sources.append({"source": i, "kind": src.kind, "score": src.score,
                            **({"judge": judge.describe()} if judge is not None else {}),
                            "min_margin": src.min_margin, "built": len(got), "tasks": summary,
                            "dropped": _sum([s["dropped"] for s in summary.values()])})
            del judge  # its memory back before the next source and training
        pairs.extend(got)
    return pairs, sources, True


def _sum(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


def train_dataset(curriculum: Curriculum):
    """The bands' train pairs as an HF ``Dataset`` in DPO's format, with the curriculum's row."""
    import datasets

    rows = curriculum.rows
    return datasets.Dataset.from_dict({
        "prompt": [r.item.prompt for r in rows], "chosen": [r.item.completion for r in rows],
        "rejected": [r.item.meta["rejected"] for r in rows], "task": [r.task for r in rows],
        ROW_COLUMN: list(range(len(rows))),
    })


def loss_args(t) -> dict[str, Any]:
    """TRL's loss settings: ``loss_type`` alone, or with the chosen answers' NLL beside it, and
    ``label_smoothing`` (``robust``'s flip rate; 0 for the others)."""
    smoothing = {"label_smoothing": t.label_smoothing}
    if not t.nll_weight:
        return {"loss_type": [t.loss_type], **smoothing}
    return {"loss_type": [t.loss_type, "sft"], "loss_weights": [1.0, t.nll_weight], **smoothing}


def build_dpo(config: DPOConfig, run_dir: Path, resume: bool = False, max_steps: int | None = None,
              resume_from: str | None = None):
    """The trainer and callback of a DPO run, ready to train; a resume from ``resume_from``
    onto other bands than it was saved with is refused before the summaries are rewritten."""
    require("trl", "curricle dpo")
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    use_tf32(train_device(config.train.use_cpu), config.train.tf32)  # before the first matrix product (sampling)
    model, tokenizer = load_start_model(config.model)
    tasks = build_tasks(config.tasks, tokenizer)
    probes = probe_tasks(config.probes)
    pairs, sources, new = collect_pairs(config, model, tokenizer, tasks, run_dir, resume)
    bands, summary = band_tasks(pairs, config, tasks)
    check_resume_tasks(resume_from, STATE_FILE, fingerprints(bands), part="curriculum")
    if is_main():
        if new:
            atomic.write_text(run_dir / PAIRS_FILE, "".join(json.dumps(p.__dict__) + "\n" for p in pairs))
        atomic.write_text(run_dir / PAIRS_SUMMARY, json.dumps({"sources": sources, **summary}, indent=1) + "\n")
        atomic.write_text(run_dir / "tasks.json", json.dumps({"tasks": [t.summary() for t in tasks],
                                                               "probes": [p.name for p in probes]}, indent=1) + "\n")
        write_quarantine(tasks, run_dir / "tasks_quarantine.jsonl")

    curriculum = Curriculum(config.curriculum, bands, seed=config.seed)
    t = config.train
    args = TRLDPOConfig(
        output_dir=str(run_dir / "checkpoints"), max_steps=max_steps or config.steps,
        per_device_train_batch_size=t.batch_size, gradient_accumulation_steps=t.grad_accum, learning_rate=t.lr,
        lr_scheduler_type=t.lr_scheduler, warmup_steps=t.warmup_steps, weight_decay=t.weight_decay,
        logging_steps=t.log_every, save_steps=t.checkpoint.every, save_total_limit=t.checkpoint.keep_last,
        seed=config.seed, data_seed=config.seed, report_to=[], ignore_data_skip=True, dataloader_num_workers=0,
        max_length=t.max_length, beta=t.beta, use_cpu=t.use_cpu, **loss_args(t),
        bf16=config.model.dtype == "bfloat16", save_only_model=False,
        gradient_checkpointing=t.activation_checkpointing,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    evaluator = PairEvaluator(Evaluator(tasks, tokenizer, batch_size=t.eval_batch_size, probe_tasks=probes), bands)
    callback = use_curriculum(trainer, curriculum, out=run_dir, evaluator=evaluator, tensorboard=t.tensorboard,
                              trace=t.trace, callback_class=DPOCallback)
    if t.reference == "stage":
        if trainer.ref_model is None:
            raise CurricleError("train.reference: stage needs a reference model in memory (TRL built none)")
        callback.use_stage_reference(trainer.ref_model, trainer.accelerator.unwrap_model)
    return trainer, callback


def dpo_run(config: DPOConfig, run_dir: Path | str, resume: bool = False,
            max_steps: int | None = None) -> dict[str, Any]:
    """Train as ``config`` says; returns the final scores, the forgetting report and the pairs."""
    run_dir = Path(run_dir)
    start, (trainer, callback) = begin_run(
        run_dir, resume, config, "dpo", STATE_FILE,
        lambda checkpoint: build_dpo(config, run_dir, resume, max_steps, resume_from=checkpoint))
    train_and_save(trainer, start, run_dir, [callback.evaluator])
    return {"final": json.loads((run_dir / "final_scores.json").read_text()),
            "forgetting": json.loads((run_dir / "forgetting.json").read_text()),
            "pairs": json.loads((run_dir / PAIRS_SUMMARY).read_text())}


def print_dpo(result: dict[str, Any], console: Console) -> None:
    pairs = result["pairs"]
    table = Table(title=f"pairs: {pairs['kept']} kept of {pairs['pairs']} ({pairs['order']} order)")
    for col in ("band", "train", "held-out", "margin"):
        table.add_column(col, justify="left" if col == "band" else "right")
    for band, c in pairs["bands"].items():
        m = c["margin"]
        table.add_row(band, str(c["train"]), str(c["heldout"]), "-" if m is None else f"{m[0]:g}..{m[1]:g}")
    console.print(table)
    dropped = _sum([pairs["dropped"], *[s.get("dropped", {}) for s in pairs["sources"]]])
    if dropped:
        console.print("dropped: " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    final, forgetting = result["final"], result["forgetting"]
    metrics = forgetting.get("metrics", {})
    table = Table(title=f"DPO: step {final['step']} (stage {final['stage']})")
    for col in ("band or task", "metric", "baseline", "held-out", "test"):
        table.add_column(col, justify="left" if col in ("band or task", "metric") else "right")
    base = dict(zip(forgetting["tasks"], forgetting.get("baseline") or []))
    for name in forgetting["tasks"]:
        m = metrics.get(name, "")
        held = (final.get("heldout") or {}).get(name, {}).get(m)
        test = (final.get("test") or {}).get(name, {}).get(m)
        table.add_row(name, m, fmt_score(base.get(name)), fmt_score(held), fmt_score(test))
    console.print(table)


def dpo_command(config_path: Path, run_dir: Path, resume: bool = False, max_steps: int | None = None,
                console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    config = load_dpo_config(config_path)
    result = dpo_run(config, run_dir, resume=resume, max_steps=max_steps)
    if is_main():
        print_dpo(result, console)
        console.print(f"run: {run_dir} (pairs.json, metrics.jsonl, curriculum_log.jsonl, forgetting.json, final/)")
    return result
