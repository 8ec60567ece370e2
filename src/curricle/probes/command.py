"""``curricle probe RUN_OR_CHECKPOINT_DIRS... --out FILE``: score checkpoints on probe tasks.

Also ``--export-lm-eval DIR`` (write the tasks for lm-evaluation-harness; with no
checkpoints, that is all it does). Settings beyond the command line go in a small YAML file
(``--config``, a :class:`ProbeConfig`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.table import Table

from curricle.config import load_model_file
from curricle.errors import CurricleError
from curricle.model.pretrained import checkpoint_dir
from curricle.probes.builtin import builtin_tasks
from curricle.probes.checkpoints import find_checkpoints, run_data_dir
from curricle.probes.config import ProbeConfig
from curricle.probes.console import wide_console
from curricle.probes.contamination import check_contamination
from curricle.probes.lm_eval_export import export_lm_eval as export
from curricle.probes.runner import probe_checkpoints
from curricle.probes.task import check_unique, load_tasks

log = logging.getLogger(__name__)

BUILTIN = "builtin"


def load_probe_config(path: Path | None) -> ProbeConfig:
    return ProbeConfig() if path is None else load_model_file(path, ProbeConfig, "probe config")


def resolve_tasks(config: ProbeConfig, task_paths: list[Path], data_dir: Path | None):
    """The tasks to run: ``task_paths`` (or the config's), else the built-in suite."""
    paths = [Path(p) for p in task_paths] or list(config.task_files) or [Path(BUILTIN)]
    tasks = []
    for p in paths:
        if str(p) == BUILTIN:
            tasks += builtin_tasks(config.suite, data_dir=data_dir)
        else:
            tasks += load_tasks(p, data_dir=data_dir)
    return check_unique(tasks)


def probe_command(paths: list[Path], out: Path | None = None, task_paths: list[Path] | None = None,
                  config_path: Path | None = None, export_lm_eval: Path | None = None,
                  cache_dir: Path | None = None, data_dir: Path | None = None,
                  device: str | None = None, config: ProbeConfig | None = None) -> dict[str, Any]:
    """Probe ``paths`` (runs, checkpoint series, checkpoints) into ``out``; see the module doc.
    ``config`` (a :class:`ProbeConfig`) stands in for ``config_path``."""
    console = wide_console()
    config = config or load_probe_config(config_path)
    if device is not None:
        config = config.model_copy(update={"device": device})
    if config.model is not None:  # probed beside the command line's checkpoints
        paths = [*paths, checkpoint_dir(config.model)]
    if not paths and export_lm_eval is None:
        raise CurricleError("give checkpoint or run directories to probe (or model: in --config), "
                            "or --export-lm-eval DIR")
    if paths and out is None:
        raise CurricleError("--out FILE: where the probe results go (.jsonl or .json)")
    refs = find_checkpoints(paths) if paths else []
    if paths and not refs:
        raise CurricleError(f"no checkpoints under {', '.join(map(str, paths))}")
    if data_dir is None:
        data_dir = next((d for d in (run_data_dir(r) for r in dict.fromkeys(ref.run for ref in refs)) if d), None)
    tasks = resolve_tasks(config, task_paths or [], data_dir)
    result: dict[str, Any] = {"tasks": [t.name for t in tasks]}

    if export_lm_eval is not None:
        manifest = export(export_lm_eval, tasks)
        console.print(f"wrote {len(manifest)} lm-eval tasks to {export_lm_eval} (tag 'curricle'); run them with:")
        console.print(f"  lm_eval --model hf --model_args pretrained=CHECKPOINT,dtype=float32 "
                      f"--include_path {export_lm_eval} --tasks curricle --device cpu --batch_size 64",
                      markup=False)
        result["lm_eval_tasks"] = manifest
    if not refs:
        return result

    if config.check_contamination and data_dir is not None:
        report = check_contamination(data_dir, tasks)
        found = report.by_task()
        result["contamination"] = found
        # Each task carries its count into the result rows, so the map can report it.
        tasks = [replace(t, contaminated=found.get(t.name, 0)) for t in tasks]
        held_out = report.items_checked - sum(len(t.items) for t in tasks if t.in_sample)
        if report.clean:
            console.print(f"contamination: none of {held_out:,} held-out probe items occurs in the "
                          f"training data ({data_dir})")
        else:
            counts = ", ".join(f"{t} {n}" for t, n in found.items() if t not in report.in_sample)
            console.print(f"[yellow]contamination[/]: probe items found verbatim in the training data "
                          f"({data_dir}): {counts}")
        if report.in_sample:
            counts = ", ".join(f"{t} ({found.get(t, 0)} found)" for t in sorted(report.in_sample))
            console.print(f"[yellow]in-sample probes[/] (item space too small to hold items out): {counts}")

    cache_dir = cache_dir or Path(out).parent / ".probe-cache"

    def progress(ref, scored, cached):
        where = f"step {ref.step}" if ref.step is not None else ref.name
        console.print(f"  {ref.run.name} {where}: scored {scored}, cached {cached}")

    console.rule(f"[bold]probe: {len(refs)} checkpoints x {len(tasks)} tasks")
    run = probe_checkpoints(paths, tasks, out, cache_dir, device=config.device, dtype=config.dtype,
                            batch_size=config.batch_size, on_checkpoint=progress)
    print_table(run.rows, console)
    for dup, first in run.duplicates.items():
        console.print(f"[yellow]identical weights[/]: {dup} = {first}")
    console.print(f"{run.scored} scored, {run.cached} from cache or duplicates, in {run.seconds:.1f}s; "
                  f"results: {out} (cache: {cache_dir})")
    result.update(rows=len(run.rows), scored=run.scored, cached=run.cached, duplicates=run.duplicates, out=str(out))
    return result


def print_table(rows: list[dict[str, Any]], console, max_cols: int = 8) -> None:
    """Each task's discrete score (continuous for text probes) at up to ``max_cols``
    checkpoints of each run: a column per step, and one named after each checkpoint without a
    step (a model directory of your own). With one column, each score has its standard error."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_run.setdefault(r["run_name"] or "-", []).append(r)
    for run, rs in by_run.items():
        steps = sorted({r["step"] for r in rs if r["step"] is not None})
        if len(steps) > max_cols:
            steps = [steps[round(i * (len(steps) - 1) / (max_cols - 1))] for i in range(max_cols)]
        # A checkpoint without a step is its own column, keyed by its path (steps are ints).
        unstepped = list(dict.fromkeys(r["checkpoint"] for r in rs if r["step"] is None))
        columns = [(c, Path(c).name if c else "score") for c in unstepped] + [(s, str(s)) for s in steps]
        by = "step" if not unstepped else "checkpoint"
        table = Table(title=f"{run}: score by {by}", title_justify="left")
        table.add_column("task")
        table.add_column("metric")
        for _, name in columns:
            table.add_column(name, justify="right")
        cell = {(r["task"], r["step"] if r["step"] is not None else r["checkpoint"]): r for r in rs}
        for task in dict.fromkeys(r["task"] for r in rs):
            some = next(r for r in rs if r["task"] == task)
            metric = some["continuous"] if some["output_type"] == "loglikelihood_rolling" else some["discrete"]
            vals = []
            for key, _ in columns:
                r = cell.get((task, key))
                v = r["metrics"].get(metric) if r else None
                se = r["metrics"].get(f"{metric}_se") if r else None
                if not isinstance(v, (int, float)):
                    vals.append("-")
                elif len(columns) == 1 and isinstance(se, (int, float)):
                    vals.append(f"{v:.2f} ± {se:.2f}")
                else:
                    vals.append(f"{v:.2f}")
            table.add_row(task, metric, *vals)
        console.print(table)
