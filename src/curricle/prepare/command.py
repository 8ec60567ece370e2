"""``curricle prepare CONFIG``: the run's tokenizer and token store, and its summary table."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from curricle.config import RunConfig, load_config
from curricle.curate.fields import step_fields
from curricle.curate.funnel import curated_source_configs, read_funnel
from curricle.model.pretrained import checkpoint_dir
from curricle.prepare.pipeline import PrepareReport, prepare, up_to_date
from curricle.sources.config import RESERVED_META, CuratedConfig, SourceConfig

log = logging.getLogger(__name__)


def run_sources(config: RunConfig) -> list[SourceConfig]:
    """What prepare reads: the curated documents when the run has a ``curate:`` block (run
    ``curricle curate`` first), else the sources themselves. A curated domain carries the
    ``meta_fields`` of the sources that write it (a source taking domains from its records
    writes every domain), then the fields curation steps wrote on its documents (numbers,
    strings or bools, by name; :mod:`curricle.curate.fields`)."""
    if config.curate is None:
        return list(config.sources)
    fields: dict[str, list[str]] = {}  # domain ("*": every domain) -> its sources' meta_fields, in order
    for src in config.sources:
        key = "*" if getattr(src, "use_record_domain", False) else src.domain
        for f in getattr(src, "meta_fields", []):
            if f not in fields.setdefault(key, []):
                fields[key].append(f)
    out = []
    funnel = read_funnel(Path(config.curate.output_dir))
    for c in curated_source_configs(config.curate.output_dir):
        own = fields.get(c["domain"], [])
        own = own + [f for f in fields.get("*", []) if f not in own]
        written = [f for f in step_fields(funnel or {}, c["domain"]) if f not in own and f not in RESERVED_META]
        out.append(CuratedConfig(**c, meta_fields=own + written))
    return out


def prepare_run(config: RunConfig, progress: bool = True) -> PrepareReport:
    """Bring ``config.data_dir`` up to date with the run's sources (or curated documents). A
    pretrained preset or GGUF model is materialized first: its tokenizer is the run's."""
    checkpoint_dir(config.model)
    return prepare(run_sources(config), config.tokenizer, config.prepare, config.data_dir, progress=progress)


def wait_for_prepared(config: RunConfig, poll_s: float = 2.0) -> None:
    """On a rank other than 0: wait until rank 0 has brought the store up to date (no process
    group exists yet, so nothing can time out; torchrun ends the job if rank 0 fails)."""
    t0 = time.monotonic()
    said = t0
    while not up_to_date(run_sources(config), config.tokenizer, config.prepare, config.data_dir):
        if time.monotonic() - said >= 60:
            log.info("waiting for rank 0 to prepare %s (%.0f s so far)", config.data_dir, time.monotonic() - t0)
            said = time.monotonic()
        time.sleep(poll_s)


def print_report(report: PrepareReport, console: Console | None = None) -> None:
    """The prepare summary as a table."""
    console = console or Console()
    table = Table(title=f"token store: {report.data_dir}", title_justify="left")
    for col in ("domain", "train docs", "train tokens", "heldout docs", "heldout tokens", ""):
        table.add_column(col, justify="left" if col in ("domain", "") else "right")
    for d in report.domains:
        table.add_row(d.domain, f"{d.train_docs:,}", f"{d.train_tokens:,}", f"{d.heldout_docs:,}",
                      f"{d.heldout_tokens:,}", "up to date" if d.up_to_date else "written")
    console.print(table)
    for name, skipped in report.skipped.items():
        if skipped:
            console.print(f"[yellow]{name}: skipped {sum(skipped.values())} records: {skipped}[/]")
    for name, missing in report.missing_fields.items():
        if missing:
            console.print(f"[yellow]{name}: documents without a meta field (null in meta.parquet): {missing}[/]")
    tok = "trained" if report.tokenizer_trained else "up to date"
    console.print(f"tokenizer {tok}; {'nothing to do' if not report.did_work else 'done'} in {report.seconds:.1f}s")


def prepare_command(config_path: Path) -> PrepareReport:
    report = prepare_run(load_config(config_path))
    print_report(report)
    return report
