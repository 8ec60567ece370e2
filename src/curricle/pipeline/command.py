"""``curricle pipeline PIPELINE.yaml --run-dir DIR``: run the stages in order, then compare the
checkpoints they chose.

Each stage runs under ``DIR/<stage>`` from the previous stage's chosen checkpoint (its own
config's model replaced) and writes ``DIR/<stage>/stage.json`` when done; a rerun skips the
stages that are done, so an interrupted pipeline continues where it stopped (a stage that was
killed midway continues from its own newest checkpoint). An ``evaluate`` task with no test
items is refused before the first stage trains. At the end every chosen checkpoint,
and the starting model, is scored on ``evaluate.tasks``' test items and the probes, and
``DIR/pipeline.json`` holds the checkpoint table: per-task test scores, their mean and worst,
the mean greedy completion length, the probes' mean and its change from the start, the
training tokens spent to get there, the stage's RL flags; the best is marked by ``select``
(:mod:`curricle.selection`; the shorthands: highest mean test score among checkpoints whose
probe mean fell by no more than ``max_probe_drop``, ties: fewer tokens), with the Pareto front
of its objective against tokens and completion length. When no checkpoint meets every
constraint, the ones breaking the fewest are ranked by the objective, and ``pipeline.json``
says so (``feasible: false``, ``reason``; logged as a warning). ``curricle report DIR`` draws it.
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
from curricle.selection.config import SelectRule, SelectSpec
from curricle.selection.rule import choose, pareto_front
from curricle.selection.tables import pipeline_rows, pipeline_rule, stage_flags
from curricle.rft.config import load_rft_config
from curricle.rl.command import rl_run
from curricle.rl.config import STATE_FILE as RL_STATE
from curricle.rl.config import RLConfig
from curricle.runinfo import write_run_info
from curricle.tasks.config import TASK_SOURCES, ScoringConfig, TaskConfig
from curricle.tasks.load import build_tasks
from curricle.train.checkpoint import latest_complete
from curricle.train.command import train_run

log = logging.getLogger(__name__)


def stage_rule(rule: SelectRule, columns: list[str]) -> SelectRule:
    """``rule`` as far as a stage's own evaluations can judge it: constraints on the ``columns``
    they have, its objective if they have it (else the highest ``mean``), its tie-break likewise."""
    objective = rule.objective if rule.objective in columns else None
    return SelectRule(**({rule.sense + "imize": objective} if objective else {"maximize": "mean"}),
                      subject_to={c: t for c, t in rule.subject_to.items() if c in columns},
                      tie=rule.tie if rule.tie in columns else None)


def choose_checkpoint(stage_dir: Path, rule: SelectSpec, checkpoints: list[tuple[int, Path]],
                      tasks_mean: bool = False) -> tuple[Path, int | None]:
    """The checkpoint the next stage starts from: ``final/`` (at the last step) or, under
    ``best-mean``, whichever on-disk checkpoint had the best ``eval/mean`` at its step, or under
    a rule, the best by it (:func:`stage_rule`) among them (ties: the earlier).

    ``tasks_mean`` (a ``dpo`` stage): ``mean`` is the mean of the tasks' held-out scores
    (``exact_match`` or ``score``; the probes' are columns, not in it) where the evaluations
    have any, not ``eval/mean``, which for DPO is its pair bands' preference accuracy: a
    checkpoint that prefers the held-out chosen answers best can be one whose own answers are
    worst (plain DPO lowers the chosen answers' likelihood too)."""
    final = stage_dir / "final"
    rows, _ = read_jsonl(stage_dir / "metrics.jsonl")
    evals = {r["step"]: r for r in rows if "eval/mean" in r}
    last = max(evals) if evals else None
    if rule == "last" or not evals:
        return final, last
    candidates = [(s, p) for s, p in sorted(checkpoints) if s in evals and s != last] + [(last, final)]
    table = []
    for s, _ in candidates:
        r = evals[s]
        row = {k.split("/")[1]: v for k, v in r.items()
               if k.startswith("eval/") and k.count("/") == 2 and k.rsplit("/", 1)[1] in ("exact_match", "score")}
        mean, worst = r["eval/mean"], r.get("eval/worst")
        tasks = [v for k, v in row.items() if not k.startswith("probe:")]  # the probes stay columns, not in mean
        if tasks_mean and tasks:
            mean, worst = sum(tasks) / len(tasks), min(tasks)
        table.append({**row, "mean": mean, "worst": worst, "step": s})
    columns = list(dict.fromkeys(c for r in table for c in r))
    choice = choose(table, stage_rule(pipeline_rule(rule, 0.0), columns), columns)
    if choice["chosen"] is None:
        return final, last
    step, path = candidates[choice["chosen"]]
    return path, step


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


#: kind -> (config class, run function, checkpoint state file) of the stages that train a model
#: from the previous stage's chosen checkpoint.
TRAINED = {"finetune": (FinetuneConfig, finetune_run, FINETUNE_STATE), "rl": (RLConfig, rl_run, RL_STATE),
           "dpo": (DPOConfig, dpo_run, FINETUNE_STATE)}


def run_stage(spec: StageSpec, model: Path | None, run_dir: Path, select: SelectSpec,
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
    elif spec.kind == "finetune" and spec.tasks_from is not None and not _rft_train_records(run_dir / spec.tasks_from):
        # An RFT stage that kept no passing completion leaves nothing to fine-tune on: the stage
        # is skipped, said so, and the model goes on unchanged (the table has no row for it).
        reason = f"skipped: {spec.tasks_from} kept no passing completion to train on"
        log.warning("pipeline stage %s %s", spec.name, reason)
        stage_dir.mkdir(parents=True, exist_ok=True)
        result = {"stage": spec.name, "kind": spec.kind, "from": str(model) if model else None, "chosen": str(model),
                  "step": None, "rule": None, "tokens": 0, "skipped": reason}
        atomic.write_text(done, json.dumps(result, indent=1) + "\n")
        return result
    elif spec.kind in TRAINED:
        config_class, run, state = TRAINED[spec.kind]
        data = read_yaml(spec.config, f"{spec.kind} config") or {}
        data["model"] = start_from(data.get("model"), model)  # a dpo stage's from_samples sample it too
        if spec.tasks_from is not None:
            data.setdefault("tasks", []).append({"name": spec.tasks_from, "source": {
                "kind": "jsonl", "path": str(run_dir / spec.tasks_from / "rft.jsonl"), "split_field": "split"}})
        cfg = parse_model(data, config_class, str(spec.config))
        saved = stage_dir / "checkpoints"
        run(cfg, stage_dir, resume=bool(complete_checkpoints(saved, state)))
        chosen, step = choose_checkpoint(stage_dir, select, complete_checkpoints(saved, state),
                                         tasks_mean=spec.kind == "dpo")
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
              "step": step, "rule": (select if isinstance(select, str) else select.describe())
              if spec.kind in ("finetune", "rl", "dpo") else None, "tokens": tokens}
    atomic.write_text(done, json.dumps(result, indent=1) + "\n")
    return result


def _rft_train_records(stage_dir: Path) -> int:
    """How many train records an RFT stage wrote to its ``rft.jsonl``."""
    path = stage_dir / "rft.jsonl"
    if not path.is_file():
        return 0
    return sum(json.loads(line).get("split") == "train" for line in path.read_text().splitlines() if line.strip())


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


def check_evaluate_tasks(tasks: list[TaskConfig]) -> None:
    """Refuse, in one line naming it and before any stage trains, an ``evaluate`` task with no
    test items: the checkpoint table scores every checkpoint on them."""
    for i, t in enumerate(tasks):
        items, _ = TASK_SOURCES[t.source.kind](t.source, t.name)
        if not any(item.split == "test" for item in items):
            raise CurricleError(f"evaluate.tasks.{i}: task {t.name} has no test items (the checkpoint table scores "
                                f"test items; give it some: test_share, n_test or its split field)")


def pipeline_run(config: PipelineConfig, run_dir: Path | str) -> dict[str, Any]:
    run_dir = Path(run_dir)
    check_evaluate_tasks(config.evaluate.tasks)
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
    for name, path, tokens in start + [(s["stage"], s["chosen"], s["tokens"]) for s in stages
                                         if s["kind"] != "rft" and not s.get("skipped")]:
        spent += tokens or 0
        rows.append({"stage": name, "checkpoint": path, "tokens": spent, **score_checkpoint(Path(path), config)})
    base = rows[0]["probe_mean"] if rows else None
    for r in rows:
        r["probe_change"] = (r["probe_mean"] - base) if r["probe_mean"] is not None and base is not None else None
    rule = pipeline_rule(config.select if not isinstance(config.select, str) else "best-mean",
                         config.evaluate.max_probe_drop)
    table, known = pipeline_rows(rows, stage_flags(run_dir, [r["stage"] for r in rows]))
    choice = choose(table, rule, known, where="select")
    if not choice["feasible"] and choice.get("reason"):
        log.warning("pipeline %s: %s", config.name, choice["reason"])
    best = rows[choice["chosen"]]["stage"] if choice["chosen"] is not None else None
    out = {"name": config.name, "stages": stages, "table": rows, "best": best, "rule": choice["rule"],
           "feasible": choice["feasible"], "reason": choice.get("reason"),
           "broken": {rows[i]["stage"]: b for i, b in choice["broken"].items()},
           "pareto": {cost: [rows[i]["stage"] for i in pareto_front(table, rule.objective, cost, rule.sense == "max")]
                      for cost in ("tokens", "length")},
           "objective": rule.objective, "max_probe_drop": config.evaluate.max_probe_drop}
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
    for s in result["stages"]:
        if s.get("skipped"):
            console.print(f"stage {s['stage']}: {s['skipped']}")


def pipeline_command(config_path: Path, run_dir: Path, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    result = pipeline_run(load_pipeline_config(config_path), run_dir)
    print_pipeline(result, console)
    console.print(f"pipeline: {run_dir / 'pipeline.json'}; report: curricle report {run_dir}")
    return result
