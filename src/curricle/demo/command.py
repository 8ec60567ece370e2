"""``curricle demo``: the pipeline end to end on built-in sources, offline.

Stages: curate (language ID, quality, PII, decontamination, deduplication; the funnel is
printed), prepare (tokenizer + token store from the curated documents), train a ~1M-parameter
model under a phased curriculum (warm-up on short synthetic skills, a ramp in length and
domains, consolidation while the learning rate anneals), then probe every checkpoint on
the skills it trained, at the levels it trained them (``copy@2`` .. ``copy@16``), map the order
in which skill levels emerged and how far up each ladder the model got, and write the run's
report (``OUT/report.html``, one
self-contained page). Each stage's files land under ``--out`` (default ``runs/demo``) so any
stage can be inspected or rerun alone. Rerunning the demo continues an
interrupted run and reuses what is up to date. The last line printed is the map's summary
(``OUT/map/summary.json``) as one JSON line.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import yaml
from rich.console import Console

from curricle.config import RunConfig, parse_config
from curricle.curate.command import curate_run
from curricle.curate.funnel import print_funnel
from curricle.emergence.command import map_command
from curricle.prepare.command import prepare_run, print_report
from curricle.probes.command import probe_command
from curricle.probes.config import ProbeConfig, SuiteConfig
from curricle.report.command import report_command
from curricle.train.checkpoint import latest_complete
from curricle.train.command import print_summary, train_run


def demo_config(out: Path) -> RunConfig:
    """The shipped demo config with its data directory under ``out``."""
    text = resources.files("curricle").joinpath("configs/demo.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["data_dir"] = str(Path(out) / "data")
    data.setdefault("curate", {})["output_dir"] = str(Path(out) / "curated")
    return parse_config(data, "curricle/configs/demo.yaml")


def demo_suite(config: RunConfig) -> SuiteConfig:
    """The probes of the demo: every synthetic skill its sources train, at the levels they
    train it, plus code syntax and the held-out text probes; 100 items a task."""
    skills: dict[str, None] = {}
    levels: dict[str, list[str]] = {}
    for src in config.sources:
        if src.kind == "synthetic":
            skills[src.skill] = None
            for level in src.levels or ():
                if level not in levels.setdefault(src.skill, []):
                    levels[src.skill].append(level)
    text = [f"{d}-loss" for d in SuiteConfig().text_domains]
    return SuiteConfig(n=100, text_passages=32, levels=levels, tasks=[*skills, "code-syntax", *text])


def run_demo(out: Path, max_steps: int | None = None) -> dict:
    console = Console()
    out = Path(out)
    config = demo_config(out)
    console.rule("[bold]1/5 curate: built-in sources -> curated documents per domain")
    funnel = curate_run(config)
    print_funnel(funnel, console)

    console.rule("[bold]2/5 prepare: curated documents -> tokenizer + token store")
    prepare_report = prepare_run(config)
    print_report(prepare_report, console)

    run_dir = out / "run"
    steps = max_steps or config.train.steps
    console.rule(f"[bold]3/5 train: {steps} steps of a phased curriculum")
    phases = ", ".join(f"{name} from step {start + 1}" for name, start in config.phase_starts().items())
    console.print(f"phases: {phases}")
    resume = latest_complete(run_dir / "checkpoints") is not None
    result = train_run(config, run_dir, max_steps=steps, resume=resume)  # a rerun may lengthen a --max-steps run
    print_summary(result, console)

    console.rule("[bold]4/5 probe every checkpoint, then map which skills emerged and when")
    probes = run_dir / "probes.jsonl"
    probe_command([run_dir], probes, config=ProbeConfig(suite=demo_suite(config)))
    emergence = map_command([probes], out / "map")

    console.rule("[bold]5/5 report: one page with all of it")
    report = report_command(run_dir, out / "report.html", console=console)

    console.rule("[bold]done")
    console.print(f"curated documents, quarantine and funnel.json: {config.curate.output_dir}")
    console.print(f"token store and tokenizer: {config.data_dir}")
    console.print(f"run: {run_dir} (metrics.jsonl, tb/ for TensorBoard, checkpoints/step_N in HF format)")
    console.print(f"probes: {probes}; emergence map: {out / 'map'} (emergence.json, emergence.csv, ordering.csv, "
                  f"summary.json)")
    console.print(f"[bold]report: {report}[/] (open it in any browser; it needs no network)")
    # The map's counts, as written to summary.json: the one line a script reads.
    print(json.dumps(emergence["summary"]), flush=True)
    return {"curate": funnel, "prepare": prepare_report, "train": result, "map": emergence, "report": report}
