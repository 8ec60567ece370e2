"""``curricle curate CONFIG``: curate the run's sources and print the funnel."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from curricle.config import RunConfig, load_config
from curricle.curate.config import CurateConfig
from curricle.curate.funnel import FunnelReport, print_funnel
from curricle.curate.pipeline import curate


def curate_run(config: RunConfig, executor: str | None = None, progress: bool = True) -> FunnelReport:
    """Curate the run's sources under its ``curate:`` block (the defaults when there is none)."""
    return curate(config.curate or CurateConfig(), config.sources, executor=executor, progress=progress)


def curate_command(config_path: Path | str, executor: str | None = None) -> FunnelReport:
    """Load ``config_path``, curate its sources (``executor``: ``local`` / ``ray`` overrides
    ``curate.executor``), print the funnel table, and return the report."""
    report = curate_run(load_config(config_path), executor=executor)
    print_funnel(report, Console())
    return report
