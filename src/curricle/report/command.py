"""``curricle report`` and ``curricle compare``: write the page, print where it is and what it lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rich.console import Console

from curricle.emergence.config import load_map_config
from curricle.report.data import collect_run
from curricle.report.finetune import collect_finetune, is_finetune_run, save_finetune_report
from curricle.report.page import run_state, save_report, write_compare
from curricle.report.pipeline import collect_pipeline, is_pipeline_run, save_pipeline_report
from curricle.report.rl import collect_rl, is_rl_run, save_rl_report


def _map_config(path: Path | None):
    return load_map_config(path)


def report_command(run_dir: Path, out: Path | None = None, probes: Sequence[Path] = (),
                   map_config: Path | None = None, console=None) -> Path:
    console = console or Console()
    if is_pipeline_run(Path(run_dir)):
        return _pipeline_report(Path(run_dir), out, console)
    if is_rl_run(Path(run_dir)):
        return _rl_report(Path(run_dir), out, console)
    if is_finetune_run(Path(run_dir)):
        return _finetune_report(Path(run_dir), out, console)
    run = collect_run(run_dir, probes, _map_config(map_config))
    out = save_report(run, out)
    p = run["progress"]
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB; run {run_state(p)})")
    for part, why in run["missing"].items():
        if part not in ("audit", "events"):
            console.print(f"  no {part} panel: {why}")
    return out


def _post_report(what: str, data: dict, out: Path, console, prefix: str, extra: str = "") -> Path:
    """Print where a fine-tuning or RL run's page is, its state and the panels it lacks."""
    p = data["progress"]
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB; {what} {run_state(p, of_steps=False)}{extra})")
    for part, why in data["missing"].items():
        console.print(f"  no {part.removeprefix(prefix)} panel: {why}")
    return out


def _finetune_report(run_dir: Path, out: Path | None, console) -> Path:
    ft = collect_finetune(run_dir)
    return _post_report("fine-tuning run", ft, save_finetune_report(ft, out), console, "ft_")


def _rl_report(run_dir: Path, out: Path | None, console) -> Path:
    rl = collect_rl(run_dir)
    return _post_report("RL run", rl, save_rl_report(rl, out), console, "rl_", f", {len(rl['flags'])} flag(s)")


def _pipeline_report(run_dir: Path, out: Path | None, console) -> Path:
    pl = collect_pipeline(run_dir)
    out = save_pipeline_report(pl, out)
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB; pipeline of {len(pl['stages'])} stages, "
                  f"best: {pl['best']})")
    for stage, page in pl["stage_reports"].items():
        console.print(f"  stage {stage}: {page}")
    return out


def compare_command(run_dirs: Sequence[Path], out: Path, probes: Sequence[Path] = (),
                    map_config: Path | None = None, console=None) -> Path:
    console = console or Console()
    path = write_compare(run_dirs, out, probes, _map_config(map_config))
    console.print(f"comparison of {len(run_dirs)} runs: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path
