"""``curricle report`` and ``curricle compare``: write the page, print where it is and what it lacks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from rich.console import Console

from curricle.emergence.config import load_map_config
from curricle.errors import CurricleError
from curricle.report.data import collect_run
from curricle.report.drift import collect_drift, save_drift_report
from curricle.report.finetune import collect_dpo, collect_finetune, save_finetune_report
from curricle.report.kind import kind_words, run_kind
from curricle.report.kit import run_state
from curricle.report.page import save_report, write_compare
from curricle.report.pipeline import collect_pipeline, save_pipeline_report
from curricle.report.rl import collect_rl, save_rl_report


def _map_config(path: Path | None):
    return load_map_config(path)


def check_out(out: Path | str | None, name: str = "report.html") -> None:
    """Refuse, before any work, an ``--out`` that cannot be the page's file, in one line naming it
    (``name``: the file a directory given instead is told to hold)."""
    if out is None:
        return
    out = Path(out)
    if out.is_dir():
        raise CurricleError(f"--out {out}: is a directory; give the HTML file's path (e.g. {out / name})")
    if not out.parent.is_dir():
        raise CurricleError(f"--out {out}: {out.parent} is not a directory")
    if not os.access(out.parent, os.W_OK):
        raise CurricleError(f"--out {out}: cannot write in {out.parent}")


def report_command(run_dir: Path, out: Path | None = None, probes: Sequence[Path] = (),
                   map_config: Path | None = None, console=None) -> Path:
    """Write the page of the run's kind (its ``run.json``; for a run without one, its files).
    ``probes`` and ``map_config`` feed a pretraining run's skill map: another kind refuses them."""
    console = console or Console()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CurricleError(f"{run_dir}: no such run directory")
    check_out(out)
    kind = run_kind(run_dir)
    given = [flag for flag, v in (("--probes", probes), ("--map-config", map_config)) if v]
    if given and kind != "pretrain":
        raise CurricleError(f"{' and '.join(given)}: only a pretraining run's page uses "
                            f"{'them' if len(given) > 1 else 'it'} (its skill map); {run_dir} is {kind_words(kind)}")
    return REPORTS[kind](run_dir, out, console, probes, map_config)


def _pretrain_report(run_dir: Path, out: Path | None, console, probes: Sequence[Path], map_config: Path | None) -> Path:
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


def _finetune_report(run_dir: Path, out: Path | None, console, *_) -> Path:
    ft = collect_finetune(run_dir)
    return _post_report("fine-tuning run", ft, save_finetune_report(ft, out), console, "ft_")


def _dpo_report(run_dir: Path, out: Path | None, console, *_) -> Path:
    """A DPO run: the fine-tuning page (its bands are the curriculum's tasks) with its pairs."""
    ft = collect_dpo(run_dir)
    return _post_report("DPO run", ft, save_finetune_report(ft, out), console, "ft_")


def _rl_report(run_dir: Path, out: Path | None, console, *_) -> Path:
    rl = collect_rl(run_dir)
    return _post_report("RL run", rl, save_rl_report(rl, out), console, "rl_", f", {len(rl['flags'])} flag(s)")


def _pipeline_report(run_dir: Path, out: Path | None, console, *_) -> Path:
    pl = collect_pipeline(run_dir)
    out = save_pipeline_report(pl, out)
    state = (f"pipeline of {len(pl['stages'])} stages, best: {pl['best']}" if pl["finished"] else
             f"pipeline not finished, {sum(not s.get('running') for s in pl['stages'])} stage(s) done")
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB; {state})")
    for part, why in pl["missing"].items():
        console.print(f"  no {part.removeprefix('pl_')} panel: {why}")
    for stage, page in pl["stage_reports"].items():
        console.print(f"  stage {stage}: {page}")
    return out


def _drift_report(out_dir: Path, out: Path | None, console, *_) -> Path:
    dr = collect_drift(out_dir)
    out = save_drift_report(dr, out)
    c = dr["counts"]
    console.print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB; drift verdict {dr['verdict']}: "
                  f"{c['DRIFT']} DRIFT, {c['WARN']} WARN, {c['OK']} OK)")
    for part, why in dr["missing"].items():
        console.print(f"  no {part.removeprefix('drift_')} panel: {why}")
    return out


#: The page each kind of run gets (:data:`curricle.runinfo.KINDS`), and a drift comparison's
#: (``drift``); ``probes`` and ``map_config`` are the pretraining page's.
REPORTS = {"pretrain": _pretrain_report, "finetune": _finetune_report, "rl": _rl_report, "dpo": _dpo_report,
           "pipeline": _pipeline_report, "drift": _drift_report}


def compare_command(run_dirs: Sequence[Path], out: Path, probes: Sequence[Path] = (),
                    map_config: Path | None = None, console=None) -> Path:
    console = console or Console()
    check_out(out, "compare.html")
    path = write_compare(run_dirs, out, probes, _map_config(map_config))
    console.print(f"comparison of {len(run_dirs)} runs: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path
