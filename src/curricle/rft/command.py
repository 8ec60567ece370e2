"""``curricle rft [CHECKPOINT] CONFIG --out FILE``: sample ``samples`` completions per train
prompt of each task, grade them with the task's grader, keep the passing ones (duplicates
removed, the shortest first by default, ``keep`` per prompt) and write them as a fine-tuning
task: JSON Lines records ``{id, prompt, completion, difficulty, task, split: train}``, followed by
the task's own held-out and test items (``split: heldout`` / ``test``, their reference
completions), so ``curricle finetune`` reads the file as one task with
``source: {kind: jsonl, path: FILE, split_field: split}``. Every sample with its grade goes to
``FILE`` with ``.samples.jsonl`` for its suffix; the pass rate and the ungraded reasons per
task are printed and written to ``.summary.json``. With ``teacher:`` (distillation) the teacher
is sampled, with its own tokenizer, and the file is written as text for the student.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from transformers import AutoTokenizer
from rich.table import Table

from curricle import atomic
from curricle.errors import CurricleError
from curricle.graders.config import GRADERS
from curricle.graders.runner import GraderRunner
from curricle.model.pretrained import checkpoint_dir
from curricle.posttrain.checkpoints import check_checkpoint, load_model
from curricle.posttrain.sampling import sample_completions
from curricle.rft.config import RFTConfig, load_rft_config
from curricle.tasks.items import unit_hash
from curricle.tasks.load import build_tasks


def select(completions: list[str], scores: list[float | None], keep: int, order: str) -> list[str]:
    """The passing completions (score 1) kept for one prompt: duplicates removed, then the
    shortest first (ties in sampling order) or in sampling order, at most ``keep``."""
    passing = list(dict.fromkeys(c for c, s in zip(completions, scores) if s == 1.0))
    if order == "shortest":
        passing.sort(key=len)  # stable: ties keep sampling order
    return passing[:keep]


def rft_run(checkpoint: Path | None, config: RFTConfig, out: Path) -> dict[str, Any]:
    """Sample ``checkpoint`` (None: the config's ``model:``), or the config's ``teacher:``, into
    the task file ``out``."""
    if checkpoint is not None and config.model is not None:
        raise CurricleError("model: give the checkpoint to sample either on the command line (CHECKPOINT) "
                            "or as model: in the config, not both")
    if checkpoint is None and config.model is None and config.teacher is None:
        raise CurricleError("model: give the checkpoint to sample on the command line (CHECKPOINT), as model: "
                            "or as teacher: in the config")
    student = Path(checkpoint) if checkpoint is not None else (
        checkpoint_dir(config.model) if config.model is not None else None)
    mine = None  # a distilling run's student tokenizer, read before the teacher loads
    if student is not None:
        named = "CHECKPOINT" if checkpoint is not None else "model.path"
        check_checkpoint(student, named)
        if config.teacher is not None:
            try:
                mine = AutoTokenizer.from_pretrained(str(student), local_files_only=True)
            except (OSError, ValueError) as err:
                raise CurricleError(f"{named}: cannot load a tokenizer from {student} "
                                    f"({str(err).splitlines()[0]})") from None
    sampled = checkpoint_dir(config.teacher) if config.teacher is not None else student
    model, tokenizer = load_model(sampled)
    model.to(config.device).eval()
    tasks = build_tasks(config.tasks, tokenizer)  # the prompts as the sampled model reads them
    prompt_of = {}  # (task, item id) -> the prompt written, where it is not the one sampled
    if config.teacher is not None:
        # The written file is the student's: chat prompts rendered with its own template (a
        # plain prompt is the same text for both; chat items need the student's tokenizer).
        prompt_of = {(t.name, i.id): i.prompt for t in build_tasks(config.tasks, mine)
                     for i in (*t.train, *t.heldout, *t.test)}
    records, samples, summary = [], [], {}
    for t, tc in zip(tasks, config.tasks):
        items = sorted(t.train, key=lambda i: unit_hash(t.name, i.id))
        if config.max_prompts is not None:
            items = items[: config.max_prompts]
        gcfg = tc.grader_config()
        runner = GraderRunner(GRADERS.configs[gcfg["kind"]].model_validate(gcfg), config.grader_timeout_s)
        try:
            groups = sample_completions(model, tokenizer, [i.prompt for i in items], config.samples,
                                        config.temperature, config.top_p, config.max_new_tokens, t.scoring.until,
                                        config.seed, config.batch_size)
            flat_items = [i for i, g in zip(items, groups) for _ in g]
            grades, reasons = runner.grade(flat_items, [c for g in groups for c in g])
        finally:
            runner.close()
        k = 0
        passed = kept = 0
        for item, group in zip(items, groups):
            scores = [g.score for g in grades[k:k + len(group)]]
            for j, (c, g) in enumerate(zip(group, grades[k:k + len(group)])):
                samples.append({"task": t.name, "item": item.id, "sample": j, "completion": c, "score": g.score,
                                "reason": g.reason})
            k += len(group)
            passed += sum(s == 1.0 for s in scores)
            for j, c in enumerate(select(group, scores, config.keep, config.order)):
                kept += 1
                records.append({"id": f"{t.name}:{item.id}:{j}", "prompt": prompt_of.get((t.name, item.id), item.prompt),
                                "completion": c,
                                "difficulty": item.difficulty, "task": t.name, "split": "train"})
        for split, held in (("heldout", t.heldout), ("test", t.test)):
            for item in held:
                records.append({"id": f"{t.name}:{item.id}", "prompt": prompt_of.get((t.name, item.id), item.prompt),
                                "completion": item.completion,
                                "difficulty": item.difficulty, "task": t.name, "split": split})
        n = len(items) * config.samples
        summary[t.name] = {"prompts": len(items), "samples": n, "passed": passed, "pass_rate": passed / n if n else None,
                           "kept": kept, "prompts_with_a_pass": len({r["id"].rsplit(":", 1)[0] for r in records
                                                                      if r["task"] == t.name and r["split"] == "train"}),
                           "ungraded": dict(reasons)}
    atomic.write_text(out, "".join(json.dumps(r) + "\n" for r in records))
    atomic.write_text(out.with_suffix(".samples.jsonl"), "".join(json.dumps(s) + "\n" for s in samples))
    result = {"checkpoint": str(sampled), "teacher": str(sampled) if config.teacher is not None else None,
              "student": str(student) if student is not None else None, "out": str(out), "tasks": summary,
              "settings": config.model_dump(mode="json", exclude={"tasks"})}
    atomic.write_text(out.with_suffix(".summary.json"), json.dumps(result, indent=1) + "\n")
    return result


def rft_command(checkpoint: Path | None, config_path: Path, out: Path, console: Console | None = None
                ) -> dict[str, Any]:
    console = console or Console()
    result = rft_run(checkpoint, load_rft_config(config_path), Path(out))
    table = Table(title=f"RFT from {result['checkpoint']}" + (" (teacher)" if result["teacher"] else ""))
    for col in ("task", "prompts", "samples", "pass rate", "kept", "ungraded"):
        table.add_column(col, justify="left" if col in ("task", "ungraded") else "right")
    for task, s in result["tasks"].items():
        table.add_row(task, str(s["prompts"]), str(s["samples"]),
                      "-" if s["pass_rate"] is None else f"{s['pass_rate']:.3f}", str(s["kept"]),
                      ", ".join(f"{k} {v}" for k, v in s["ungraded"].items()) or "-")
    console.print(table)
    console.print(f"fine-tuning task: {out} (source: {{kind: jsonl, path: {out}, split_field: split}}); "
                  f"every sample and its grade: {Path(out).with_suffix('.samples.jsonl')}")
    return result
