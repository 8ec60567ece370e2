"""The ``curricle`` command line: one verb per stage, features in the config.

Every verb prints a ``CurricleError`` as one line (``error: ...``) and exits with status 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from curricle.errors import CurricleError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Steer language-model training through what the model sees and when.",
    pretty_exceptions_enable=False,
)


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, show_time=False, markup=False)],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run(fn, *args, verbose: bool = False, **kwargs):
    _setup_logging(verbose)
    try:
        return fn(*args, **kwargs)
    except CurricleError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)


@app.command()
def curate(
    config: Path = typer.Argument(..., help="Run config (YAML); its curate: block sets the steps."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local or ray (overrides curate.executor)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Curate the sources: HTML extraction, language ID, quality, PII, decontamination, dedup.

    Writes curated documents per domain, quarantine/<step>.jsonl and funnel.json under
    curate.output_dir, and prints the funnel. An interrupted run resumes where it stopped; a
    rerun with unchanged inputs does nothing. prepare then reads the curated documents.
    """
    from curricle.curate.command import curate_command

    _run(curate_command, config, executor, verbose=verbose)


@app.command()
def prepare(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Train or load the tokenizer and write the per-domain token store.

    Reruns with unchanged inputs do no work; a killed run leaves the previous store intact.
    """
    from curricle.prepare import prepare_command

    _run(prepare_command, config, verbose=verbose)


@app.command()
def sample(
    config: Path = typer.Argument(..., help="Run config (YAML); its data_dir must be prepared."),
    steps: int = typer.Option(200, help="How many steps of the mixture to draw."),
    show: int = typer.Option(2, help="Decode this many rows at the first and last step."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Preview the mixture: draw STEPS batches and show the realized token shares per phase."""
    from curricle.preview import preview_command

    _run(preview_command, config, steps=steps, show=show, verbose=verbose)


@app.command()
def train(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    run_dir: Path = typer.Option(..., "--run-dir", help="Where metrics, events and checkpoints go."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override train.steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Train a model on the mixture, with per-domain telemetry and checkpoints.

    Prepares the token store first if it is out of date. Runs unchanged under
    'torchrun --nproc_per_node=N -m curricle.cli train ...' (DDP; gloo on CPU).
    """
    from curricle.train.command import train_command

    _run(train_command, config, run_dir, max_steps, resume, verbose=verbose)


@app.command("mix-search")
def mix_search(
    config: Path = typer.Argument(..., help="Run config (YAML); its mix_search block tunes the search."),
    runs: int = typer.Option(8, "--runs", help="How many proxy runs to fit the mixture model on."),
    out: Path = typer.Option(Path("runs/mix-search"), "--out", help="Where proxy runs and mix_search.json go."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Propose a mixture from short proxy runs (Data Mixing Laws / RegMix), then validate it.

    Mixtures for the proxies are drawn from a Dirichlet around the natural mixture; a
    regression from mixture to held-out loss picks the proposal; one more run measures it.
    """
    from curricle.mix_search import mix_search_command

    _run(mix_search_command, config, runs, out, verbose=verbose)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo writes its data and run."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Shorten training (a quick look)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Run the whole pipeline on built-in sources, offline: prepare, then train a tiny model
    under a phased curriculum (about 5 minutes on 2 CPU cores)."""
    from curricle.demo import run_demo

    _run(run_demo, out, max_steps, verbose=verbose)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
