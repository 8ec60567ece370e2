"""``curricle pipeline PIPELINE.yaml --run-dir DIR``: run the stages in order, then compare the
checkpoints they chose.

Each stage runs under ``DIR/<stage>`` from the previous stage's chosen checkpoint (its own
config's model replaced) and writes ``DIR/<stage>/stage.json`` when done; a rerun skips the
stages that are done, so an interrupted pipeline continues where it stopped (a stage that was
killed midway continues from its own newest checkpoint). At the end every chosen checkpoint,
and the starting model, is scored on ``evaluate.tasks``' test items and the probes, and
``DIR/pipeline.json`` holds the checkpoint table: per-task test scores, their mean and worst,
the mean greedy completion length, the probes' mean and its change from the start, the
training tokens spent to get there; the best is marked by the stated rule (highest mean test
score among checkpoints whose probe mean fell by no more than ``max_probe_drop``; ties: fewer
tokens). ``curricle report DIR`` draws it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.config import load_config, parse_model, read_yaml
from curricle.dpo.command import dpo_run
from curricle.dpo.config import DPOConfig
from curricle.errors import CurricleError
from curricle.finetune.command import finetune_run
from curricle.finetune.config import FinetuneConfig
from curricle.finetune.hf import STATE_FILE as FINETUNE_STATE
from curricle.pipeline.config import PipelineConfig, StageSpec, load_pipeline_config
from curricle.hf.checkpoints import complete_checkpoints
from curricle.model.config import ModelSource
from curricle.model.pretrained import checkpoint_dir
from curricle.posttrain.evaluate import Evaluator, probe_tasks
from curricle.probes.lm import ProbeLM
from curricle.report.data import read_jsonl
from curricle.rft.command import rft_run
from curricle.rft.config import load_rft_config
from curricle.rl.command import rl_run
from curricle.rl.config import STATE_FILE as RL_STATE
from curricle.rl.config import RLConfig
from curricle.runinfo import write_run_info
from curricle.tasks.config import ScoringConfig
from curricle.tasks.load import build_tasks
from curricle.train.checkpoint import latest_complete
from curricle.train.command import train_run

log = logging.getLogger(__name__)


def choose_checkpoint(stage_dir: Path, rule: str, checkpoints: list[tuple[int, Path]]) -> tuple[Path, int | None]:
    """The checkpoint the next stage starts from: ``final/`` (at the last step) or, under
    ``best-mean``, whichever on-disk checkpoint had the best ``eval/mean`` at its step (ties: the
    earlier)."""
    final = stage_dir / "final"
    rows, _ = read_jsonl(stage_dir / "metrics.jsonl")
    mean_at = {r["step"]: r["eval/mean"] for r in rows if "eval/mean" in r}
    last = max(mean_at) if mean_at else None
    if rule == "last" or not mean_at:
        return final, last
    candidates = [(mean_at[s], -s, p) for s, p in checkpoints if s in mean_at]
    if last is not None:
        candidates.append((mean_at[last], -last, final))
    best = max(candidates, key=lambda c: (c[0], c[1]))
    return best[2], -best[1]


def _tokens(stage_dir: Path) -> int | None:
    """Training tokens a finetune or rl stage saw (TRL's ``num_tokens``, from its last checkpoint)."""
    ck = sorted(stage_dir.glob("checkpoints/checkpoint-*/trainer_state.json"),
                key=lambda p: int(p.parent.name.split("-")[1]))
    if not ck:
        return None
    hist = json.loads(ck[-1].read_text()).get("log_history", [])
    seen = [h["num_tokens"] for h in hist if "num_tokens" in h]
    return int(float(seen[-1])) if seen else None


def start_from(model: dict | None, checkpoint: Path) -> dict:
    """A stage config's ``model:`` section pointed at the checkpoint the stage starts from (its
    own ``path``, ``preset`` or ``gguf`` replaced; its ``dtype`` kept)."""
    kept = {k: v for k, v in (model or {}).items() if k not in ("path", "preset", "gguf")}
    return {**kept, "path": str(checkpoint)}


def run_stage(spec: StageSpec, model: Path | None, run_dir: Path, select: str,
              chosen_by_stage: dict[str, str] | None = None) -> dict[str, Any]:
    stage_dir = run_dir / spec.name
    done = stage_dir / "stage.json"
    if done.is_file():
        return json.loads(done.read_text())
    tokens = None
    if spec.kind == "pretrain":
        cfg = load_config(spec.config)
        train_run(cfg, stage_dir, resume=latest_complete(stage_dir / "checkpoints") is not None)
        chosen, step = latest_complete(stage_dir / "checkpoints")[1], None
        rows, _ = read_jsonl(stage_dir / "metrics.jsonl")
        tokens = next((r.get("tokens") for r in reversed(rows) if r.get("tokens")), None)
    elif spec.kind == "finetune":
        data = read_yaml(spec.config, "finetune config") or {}
        data["model"] = start_from(data.get("model"), model)
        if spec.tasks_from is not None:
            data.setdefault("tasks", []).append({"name": spec.tasks_from, "source": {
                "kind": "jsonl", "path": str(run_dir / spec.tasks_from / "rft.jsonl"), "split_field": "split"}})
        cfg = parse_model(data, FinetuneConfig, str(spec.config))
        saved = stage_dir / "checkpoints"
        finetune_run(cfg, stage_dir, resume=bool(complete_checkpoints(saved, FINETUNE_STATE)))
        chosen, step = choose_checkpoint(stage_dir, select, complete_checkpoints(saved, FINETUNE_STATE))
        tokens = _tokens(stage_dir)
    elif spec.kind == "rl":
        data = read_yaml(spec.config, "rl config") or {}
        data["model"] = start_from(data.get("model"), model)
        cfg = parse_model(data, RLConfig, str(spec.config))
        saved = stage_dir / "checkpoints"
        rl_run(cfg, stage_dir, resume=bool(complete_checkpoints(saved, RL_STATE)))
        chosen, step = choose_checkpoint(stage_dir, select, complete_checkpoints(saved, RL_STATE))
        tokens = _tokens(stage_dir)
    elif spec.kind == "dpo":  # its pairs' from_samples sample this starting model too
        data = read_yaml(spec.config, "dpo config") or {}
        data["model"] = start_from(data.get("model"), model)
        cfg = parse_model(data, DPOConfig, str(spec.config))
        saved = stage_dir / "checkpoints"
        dpo_run(cfg, stage_dir, resume=bool(complete_checkpoints(saved, FINETUNE_STATE)))
        chosen, step = choose_checkpoint(stage_dir, select, complete_checkpoints(saved, FINETUNE_STATE))
        tokens = _tokens(stage_dir)
    else:  # rft: a task file; the model goes on unchanged
        stage_dir.mkdir(parents=True, exist_ok=True)
        rft = load_rft_config(spec.config)
        update: dict[str, Any] = {"model": None}
        if spec.teacher is not None:  # an earlier stage's chosen checkpoint, or a path
            path = Path((chosen_by_stage or {}).get(spec.teacher, spec.teacher))
            if not path.is_dir():
                raise CurricleError(f"stages.{spec.name}.teacher: '{spec.teacher}' is neither an earlier stage "
                                    f"nor a checkpoint directory")
            update["teacher"] = ModelSource(path=path)
        rft_run(model, rft.model_copy(update=update), stage_dir / "rft.jsonl")  # the stage's start
        chosen, step = model, None
    result = {"stage": spec.name, "kind": spec.kind, "from": str(model) if model else None, "chosen": str(chosen),
              "step": step, "rule": select if spec.kind in ("finetune", "rl", "dpo") else None, "tokens": tokens}
    atomic.write_text(done, json.dumps(result, indent=1) + "\n")
    return result


def score_checkpoint(path: Path, config: PipelineConfig) -> dict[str, Any]:
    """Test scores, completion length and probes of one checkpoint."""
    lm = ProbeLM.load(path, batch_size=config.evaluate.batch_size)
    tasks = build_tasks(config.evaluate.tasks, lm.tokenizer)
    for t in tasks:
        t.scoring = ScoringConfig(metric="exact_match", until=t.scoring.until, max_new_tokens=t.scoring.max_new_tokens)
    probes = probe_tasks(config.evaluate.probes)
    ev = Evaluator(tasks, lm.tokenizer, batch_size=config.evaluate.batch_size, probe_tasks=probes)
    scores = ev.evaluate(lm.model, split="test")
    test = {t.name: scores[t.name]["exact_match"] for t in tasks if t.name in scores}
    probe = {p.name: scores[p.name][ev.discrete_metrics[p.name]] for p in probes}
    lengths = []
    for t in tasks:
        texts = lm.generate([i.prompt for i in t.test], t.scoring.until, max(len(i.completion) for i in t.test) + 8)
        lengths += [len(lm.encode(x)) for x in texts]
    return {"test": test, "mean": float(np.mean(list(test.values()))) if test else None,
            "worst": float(min(test.values())) if test else None,
            "length": float(np.mean(lengths)) if lengths else None,
            "probes": probe, "probe_mean": float(np.mean(list(probe.values()))) if probe else None}


def pipeline_run(config: PipelineConfig, run_dir: Path | str) -> dict[str, Any]:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_info(run_dir, "pipeline", config)
    model = model_start = checkpoint_dir(config.model) if config.model is not None else None
    stages = []
    for spec in config.stages:
        result = run_stage(spec, model, run_dir, config.select, {s["stage"]: s["chosen"] for s in stages})
        stages.append(result)
        model = Path(result["chosen"])
    rows = []
    spent = 0
    start = [("start", str(model_start), None)] if config.model is not None else []
    for name, path, tokens in start + [(s["stage"], s["chosen"], s["tokens"]) for s in stages if s["kind"] != "rft"]:
        spent += tokens or 0
        rows.append({"stage": name, "checkpoint": path, "tokens": spent, **score_checkpoint(Path(path), config)})
    base = rows[0]["probe_mean"] if rows else None
    for r in rows:
        r["probe_change"] = (r["probe_mean"] - base) if r["probe_mean"] is not None and base is not None else None
    eligible = [r for r in rows if r["mean"] is not None
                and (r["probe_change"] is None or r["probe_change"] >= -config.evaluate.max_probe_drop)]
    best = max(eligible, key=lambda r: (r["mean"], -r["tokens"]))["stage"] if eligible else None
    out = {"name": config.name, "stages": stages, "table": rows, "best": best,
           "rule": f"highest mean test exact match among checkpoints whose probe mean fell by at most "
                   f"{config.evaluate.max_probe_drop} from the start; ties: fewer tokens"}
    atomic.write_text(run_dir / "pipeline.json", json.dumps(out, indent=1) + "\n")
    return out


def print_pipeline(result: dict[str, Any], console: Console) -> None:
    tasks = list(result["table"][0]["test"]) if result["table"] else []
    table = Table(title=f"pipeline {result['name']}: best = {result['best']}")
    for col in ("stage", *tasks, "mean", "worst", "length", "probes", "Δ probes", "tokens"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in result["table"]:
        f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        table.add_row(r["stage"] + (" *" if r["stage"] == result["best"] else ""), *[f(r["test"].get(t)) for t in tasks],
                      f(r["mean"]), f(r["worst"]), f(r["length"]), f(r["probe_mean"]), f(r["probe_change"]),
                      f"{r['tokens']:,}")
    # Wide enough for every column's header, even where the terminal (or a pipe's 80) is narrower.
    width = 4 + sum(max(len(c), 11) + 3 for c in ("stage", *tasks, "mean", "worst", "length", "probes", "Δ probes",
                                                  "tokens"))
    before = console.width
    console.width = max(before, width)
    console.print(table)
    console.width = before
    console.print(f"rule: {result['rule']}")


def pipeline_command(config_path: Path, run_dir: Path, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    result = pipeline_run(load_pipeline_config(config_path), run_dir)
    print_pipeline(result, console)
    console.print(f"pipeline: {run_dir / 'pipeline.json'}; report: curricle report {run_dir}")
    return result
