"""A study: several runs of one curriculum (seeds), trained, probed and mapped in one go.

``curricle study STUDY.yaml`` (or ``python -m curricle.emergence.study STUDY.yaml``)::

    name: seeds-order
    out_dir: runs/seeds_order        # RUN dirs OUT/seed<N>/, OUT/probes.jsonl, OUT/map/
    seeds: [0, 1, 2]
    run: {...}                       # a run config, as for `curricle train`; its seed is set per run
    variants: {small: {model: {preset: tiny-1m}}, large: {model: {preset: tiny-5m}}}
                                     # optional: every variant runs every seed, OUT/<variant>-seed<N>/
    probe: {suite: {n: 100}}         # curricle probe settings
    map: {metric: discrete}          # curricle map settings

Every stage is resumable: a finished run is not retrained, an interrupted one continues from
its last checkpoint, and probe scores come from the cache under ``OUT/.probe-cache``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from curricle.config import field_path
from curricle.emergence.command import print_map
from curricle.emergence.config import StudyConfig
from curricle.emergence.map import map_runs
from curricle.errors import CurricleError
from curricle.prepare.command import prepare_run
from curricle.probes.command import resolve_tasks
from curricle.probes.console import wide_console
from curricle.probes.contamination import check_contamination
from curricle.probes.runner import probe_checkpoints
from curricle.train.checkpoint import latest_complete
from curricle.train.command import train_run


def load_study(path: Path | str) -> StudyConfig:
    path = Path(path)
    if not path.is_file():
        raise CurricleError(f"{path}: no such study file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise CurricleError(f"{path}: not valid YAML ({getattr(err, 'problem', err)})") from None
    try:
        study = StudyConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        raise CurricleError(f"{path}: {field_path(first['loc'], data)}: {msg}") from None
    for _, variant, seed in study.runs():  # every run config validates before anything runs
        study.run_config(seed, variant)
    return study


def run_study(path: Path | str, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) each seed's run, probe every checkpoint, map them."""
    console = wide_console()
    study = load_study(path)
    out = study.out_dir
    run_dirs = []
    runs = study.runs()
    for i, (name, variant, seed) in enumerate(runs, 1):
        config = study.run_config(seed, variant)
        run_dir = out / name
        run_dirs.append(run_dir)
        found = latest_complete(run_dir / "checkpoints")
        if found is not None and found[0] >= config.train.steps:
            console.print(f"[{i}/{len(runs)}] {name}: trained ({run_dir})")
            continue
        console.rule(f"[bold][{i}/{len(runs)}] train {name}: {config.train.steps} steps -> {run_dir}")
        train_run(config, run_dir, resume=found is not None, progress=progress)

    first = study.run_config(runs[0][2], runs[0][1])
    data_dir = first.data_dir
    prepare_run(first, progress=False)  # up to date: a no-op
    tasks = resolve_tasks(study.probe, [], data_dir)
    report = check_contamination(data_dir, tasks)
    leaked = ", ".join(f"{t} {n}" for t, n in report.by_task().items()) or "none"
    console.rule(f"[bold]probe {len(tasks)} tasks on every checkpoint (items in training data: {leaked})")
    probes = out / "probes.jsonl"
    res = probe_checkpoints(run_dirs, tasks, probes, out / ".probe-cache", device=study.probe.device,
                            dtype=study.probe.dtype, batch_size=study.probe.batch_size)
    console.print(f"{res.checkpoints} checkpoints: {res.scored} scored, {res.cached} cached, {res.seconds:.0f}s")

    console.rule("[bold]map")
    result = map_runs([probes], out / "map", study.map)
    print_map(result, console)
    console.print(f"files: {probes}, {out / 'map'}/emergence.json, emergence.csv, ordering.csv")
    return result


if __name__ == "__main__":  # pragma: no cover
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(sys.argv) != 2:
        sys.exit("usage: python -m curricle.emergence.study STUDY.yaml")
    try:
        run_study(sys.argv[1])
    except CurricleError as err:
        sys.exit(f"error: {err}")
