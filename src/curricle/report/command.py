"""``curricle report`` and ``curricle compare``: write the page, print where it is and what it lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rich.console import Console

from curricle.emergence.command import load_map_config
from curricle.report.data import collect_run
from curricle.report.finetune import collect_finetune, is_finetune_run, save_finetune_report
from curricle.report.page import save_report, write_compare


def _map_config(path: Path | None):
    return load_map_config(path)


def report_command(run_dir: Path, out: Path | None = None, probes: Sequence[Path] = (),
                   map_config: Path | None = None, console=None) -> Path:
    console = console or Console()
    if is_finetune_run(Path(run_dir)):
        return _finetune_report(Path(run_dir), out, console)
    run = collect_run(run_dir, probes, _map_config(map_config))
    out = save_report(run, out)
    p = run["progress"]
    state = "finished" if p["finished"] else f"not finished: step {p['step']:,}" + (
        f" of {p['steps']:,}" if p["steps"] else "")
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB; run {state})")
    for part, why in run["missing"].items():
        if part not in ("audit", "events"):
            console.print(f"  no {part} panel: {why}")
    return out


def _finetune_report(run_dir: Path, out: Path | None, console) -> Path:
    ft = collect_finetune(run_dir)
    out = save_finetune_report(ft, out)
    p = ft["progress"]
    state = "finished" if p["finished"] else f"not finished: step {p['step']:,}"
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB; fine-tuning run {state})")
    for part, why in ft["missing"].items():
        console.print(f"  no {part.removeprefix('ft_')} panel: {why}")
    return out


def compare_command(run_dirs: Sequence[Path], out: Path, probes: Sequence[Path] = (),
                    map_config: Path | None = None, console=None) -> Path:
    console = console or Console()
    path = write_compare(run_dirs, out, probes, _map_config(map_config))
    console.print(f"comparison of {len(run_dirs)} runs: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path
