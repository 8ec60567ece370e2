"""``curricle curate CONFIG``: curate the run's sources and print the funnel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from curricle.config import RunConfig
    from curricle.curate.config import CurateConfig
    from curricle.curate.funnel import FunnelReport


def load_configs(config_path: Path | str) -> tuple["RunConfig", "CurateConfig"]:
    """The run config and its ``curate:`` block (defaults when the block is absent)."""
    from curricle.config import load_config
    from curricle.curate.config import CurateConfig

    run = load_config(config_path)
    return run, run.curate or CurateConfig()


def curate_command(config_path: Path | str, executor: str | None = None) -> "FunnelReport":
    """Load ``config_path``, curate its sources (``executor``: ``local`` / ``ray`` overrides
    ``curate.executor``), print the funnel table, and return the report."""
    from rich.console import Console

    from curricle.curate import curate
    from curricle.curate.funnel import print_funnel

    run, cfg = load_configs(config_path)
    report = curate(run, cfg, executor=executor)
    print_funnel(report, Console())
    return report
