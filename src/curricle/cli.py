"""The ``curricle`` command line: one verb per stage, features in the config.

This module only parses arguments: each verb's work is its stage's ``command.py``, looked up
in ``COMMANDS`` when the verb runs (so ``curricle map`` does not load torch). Every verb
prints a ``CurricleError`` as one line (``error: ...``) and exits with status 2; so is a file it
could not read or write (an ``OSError``: ``error: PATH: why``; the traceback with ``--verbose``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.logging import RichHandler

from curricle.errors import CurricleError
from curricle.registry import Registry

#: Each verb's command function, imported when the verb runs.
COMMANDS = Registry("command", {
    "curate": "curricle.curate.command:curate_command",
    "quality": "curricle.quality.command:quality_train_command",
    "prepare": "curricle.prepare.command:prepare_command",
    "prune": "curricle.prune.command:prune_command",
    "sample": "curricle.mixture.command:preview_command",
    "train": "curricle.train.command:train_command",
    "finetune": "curricle.finetune.command:finetune_command",
    "rl": "curricle.rl.command:rl_command",
    "rft": "curricle.rft.command:rft_command",
    "dpo": "curricle.dpo.command:dpo_command",
    "pipeline": "curricle.pipeline.command:pipeline_command",
    "select": "curricle.selection.command:select_command",
    "mix-search": "curricle.search.command:mix_search_command",
    "demo": "curricle.demo.command:run_demo",
    "probe": "curricle.probes.command:probe_command",
    "map": "curricle.emergence.command:map_command",
    "mine": "curricle.mine.command:mine_command",
    "drift": "curricle.drift.command:drift_command",
    "study": "curricle.emergence.study:run_study",
    "report": "curricle.report.command:report_command",
    "compare": "curricle.report.command:compare_command",
})

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Steer language-model training through what the model sees and when.",
    pretty_exceptions_enable=False,
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False, show_time=False, markup=False)],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run(verb: str, *args, verbose: bool = False, **kwargs):
    _setup_logging(verbose)
    try:
        return COMMANDS[verb](*args, **kwargs)
    except CurricleError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    except OSError as err:  # a path no command checked first: one line naming it
        logging.getLogger(__name__).debug("%s", verb, exc_info=True)
        path = err.filename2 or err.filename  # a rename's target, else the file
        typer.echo(f"error: {path}: {err.strerror}" if path is not None and err.strerror else f"error: {err}",
                   err=True)
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
    _run("curate", config, executor, verbose=verbose)


quality_app = typer.Typer(no_args_is_help=True, help="A quality classifier trained on your reference documents.")
app.add_typer(quality_app, name="quality")


@quality_app.command("train")
def quality_train(
    config: Optional[Path] = typer.Argument(None, help="Run config (YAML): its sources, for --negative-from."),
    positive: List[str] = typer.Option(..., "--positive", help="Reference documents: .jsonl[.gz|.zst], .parquet, "
                                                               "a directory of .txt files, any other file (one "
                                                               "document), or a glob (repeatable)."),
    negative: Optional[List[str]] = typer.Option(None, "--negative", help="Documents to tell them from, as "
                                                                         "--positive (repeatable)."),
    negative_from: Optional[str] = typer.Option(
        None, "--negative-from", help="Instead of --negative: a seeded random sample of this domain of CONFIG."),
    out: Path = typer.Option(..., "--out", help="The model file to write (one file; metrics go beside it)."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="JSONL key / Parquet column of the text "
                                                                        "(default: text)."),
    settings: Optional[Path] = typer.Option(None, "--config", help="Training settings (YAML): seed, holdout_fraction, "
                                                                   "max_docs_per_class, fastText's dim, epoch, ..."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Train a fastText classifier of reference-like documents (DCLM's recipe): the reference
    documents against --negative files or a random sample of a domain, balanced, 10% of each
    held out. Prints held-out precision, recall and AUC and writes them beside the model. The
    curate step quality-model scores documents with it."""
    _run("quality", config, positive, negative or [], negative_from, out, settings, text_field, verbose=verbose)


@app.command()
def prepare(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Train or load the tokenizer and write the per-domain token store.

    Reruns with unchanged inputs do no work; a killed run leaves the previous store intact.
    """
    _run("prepare", config, verbose=verbose)


@app.command()
def prune(
    store: Path = typer.Argument(..., help="A prepared data directory (its manifest.json)."),
    by: Optional[str] = typer.Option(
        None, "--by",
        help="column:<name>, loss, prototype, near-duplicate, semantic-duplicate or random (larger = harder)."),
    keep: Optional[float] = typer.Option(
        None, "--keep", help="Share of each pruned domain's training documents kept (rounded half up)."),
    out: Path = typer.Option(..., "--out", help="The new store (a new or empty directory)."),
    hardest: Optional[bool] = typer.Option(
        None, "--keep-hardest/--keep-easiest", help="Keep the hard documents (default) or the easy ones."),
    domains: Optional[str] = typer.Option(None, "--domains", help="Comma-separated domains to prune (default: all)."),
    run: Optional[Path] = typer.Option(None, "--run", help="--by loss: the hard-examples proxy run."),
    model: Optional[Path] = typer.Option(
        None, "--model", help="--by prototype / semantic-duplicate: the checkpoint that embeds documents."),
    clusters: Optional[int] = typer.Option(
        None, "--clusters", help="--by prototype / semantic-duplicate: k-means centroids (default 8)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of random choices (default 0)."),
    groups: Optional[str] = typer.Option(
        None, "--groups", help="A meta.parquet column whose values are groups: their token shares are recorded."),
    gamma: Optional[float] = typer.Option(
        None, "--gamma", help="With --groups: each group keeps at least gamma times its token share."),
    config: Optional[Path] = typer.Option(None, "--config", help="Prune settings (YAML): any of the above and more."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Write a pruned copy of a token store: some domains' training documents removed by a
    metric, held-out splits unchanged, with lineage.json and removed.jsonl (every removal and
    its reason). The new store trains like any other. With --groups and --gamma (or groups:
    {column, gamma | min_share} in --config) every group keeps a floor on its share of the
    kept tokens.
    """
    order = None if hardest is None else ("keep-hardest" if hardest else "keep-easiest")
    names = [d.strip() for d in domains.split(",") if d.strip()] if domains is not None else None
    _run("prune", store, out, by, keep, config, groups=groups, gamma=gamma, order=order, domains=names, run=run,
         model=model, clusters=clusters, seed=seed, verbose=verbose)


@app.command()
def sample(
    config: Path = typer.Argument(..., help="Run config (YAML); its data_dir must be prepared."),
    steps: int = typer.Option(200, help="How many steps of the mixture to draw."),
    show: int = typer.Option(2, help="Decode this many rows at the first and last step."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Preview the mixture: draw STEPS batches and show the realized token shares per phase."""
    _run("sample", config, steps=steps, show=show, verbose=verbose)


@app.command()
def train(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    run_dir: Path = typer.Option(..., "--run-dir", help="Where metrics, events and checkpoints go."),
    max_steps: Optional[int] = typer.Option(
        None, "--max-steps", help="Override train.steps (at least 1); with --resume, change the run's length, not "
                                  "below the checkpoint's step (an event says so)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Train a model on the mixture, with per-domain telemetry and checkpoints.

    Prepares the token store first if it is out of date. Runs unchanged under
    'torchrun --nproc_per_node=N -m curricle.cli train ...' (DDP; gloo on CPU).
    """
    _run("train", config, run_dir, max_steps, resume, verbose=verbose)


@app.command()
def finetune(
    config: Path = typer.Argument(..., help="Fine-tuning config (YAML): model, tasks, curriculum, train."),
    run_dir: Path = typer.Option(..., "--run-dir", help="Where metrics, the curriculum log and checkpoints go."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override the run's length in optimizer steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Fine-tune an HF checkpoint on tasks in a curriculum (TRL SFTTrainer, completion-only loss).

    Stages of task weights with milestones, spaced review and revisits; every task's held-out
    score at each evaluation; the forgetting matrix at stage ends. A killed run resumed with
    --resume continues the same data order.
    """
    _run("finetune", config, run_dir, resume=resume, max_steps=max_steps, verbose=verbose)


@app.command()
def rl(
    config: Path = typer.Argument(..., help="RL config (YAML): model, tasks, curriculum, grpo, eval, guards."),
    run_dir: Path = typer.Option(..., "--run-dir", help="Where metrics, the curriculum log, events and checkpoints go."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override grpo.steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """GRPO on verifiable rewards (TRL GRPOTrainer) with a prompt curriculum.

    Graders as rewards (with a timeout; ungraded completions are counted, never scored 0),
    uniform / dynamic-filter / learnability / target-difficulty / category-bandit prompt
    sampling, a held-out exact-match check with reward-hacking and drift flags.
    """
    _run("rl", config, run_dir, resume=resume, max_steps=max_steps, verbose=verbose)


@app.command()
def rft(
    paths: List[Path] = typer.Argument(
        ..., metavar="[CHECKPOINT] CONFIG",
        help="An HF checkpoint directory to sample from (or model: in the config), then the RFT config "
             "(YAML): tasks, samples per prompt, temperature, keep."),
    out: Path = typer.Option(..., "--out", help="The fine-tuning task file to write (JSON Lines)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Rejection sampling: sample completions, grade them, keep the passing ones as a fine-tuning task."""
    if len(paths) > 2:
        raise typer.BadParameter("give at most a checkpoint and a config", param_hint="[CHECKPOINT] CONFIG")
    _run("rft", paths[0] if len(paths) == 2 else None, paths[-1], out, verbose=verbose)


@app.command()
def dpo(
    config: Path = typer.Argument(..., help="DPO config (YAML): model, tasks, pairs, curriculum, train."),
    run_dir: Path = typer.Option(..., "--run-dir", help="Where the pairs, metrics, curriculum log and checkpoints go."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override the run's length in optimizer steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Preference training (TRL DPOTrainer) on pairs from files or graded samples, clear margins first.

    Pairs go into margin bands trained in fine-tuning's curriculum (stages, milestones, review);
    every band's preference accuracy and every task's held-out score at each evaluation; the
    forgetting matrix. A killed run resumed with --resume continues the same pairs in the same order.
    """
    _run("dpo", config, run_dir, resume=resume, max_steps=max_steps, verbose=verbose)


@app.command()
def pipeline(
    config: Path = typer.Argument(..., help="Pipeline (YAML): the model to start from, stages, selection rule, evaluation."),
    run_dir: Path = typer.Option(..., "--run-dir", help="Each stage's run goes under it; pipeline.json at the end."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Run post-training stages in order (pretrain, finetune, rl, rft, dpo), each from the previous
    stage's chosen checkpoint, then compare the checkpoints on several criteria.

    A rerun skips the stages that are done and continues an interrupted one.
    """
    _run("pipeline", config, run_dir, verbose=verbose)


@app.command()
def select(
    run_dir: Path = typer.Argument(..., help="A pretraining run or a pipeline directory."),
    rule: Optional[Path] = typer.Option(None, "--rule", help="The selection rule (YAML: maximize|minimize, "
                                                           "subject_to, tie; or best-mean | last). "
                                                           "Default: best-mean."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Choose the release checkpoint by a stated rule: constraints and an objective over the
    checkpoint table's columns. Prints the table with the chosen row marked and writes
    RUN/selection.json (with the Pareto front), which the report marks."""
    _run("select", run_dir, rule, verbose=verbose)


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
    _run("mix-search", config, runs, out, verbose=verbose)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Where the demo writes its data and run."),
    max_steps: Optional[int] = typer.Option(
        None, "--max-steps", help="Shorten training, pretraining and every post-training stage (a quick look)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Run the whole pipeline on built-in sources, offline: prepare, train a tiny model under a
    phased curriculum, probe and map it, then post-train it (SFT, GRPO, RFT, SFT again)."""
    _run("demo", out, max_steps, verbose=verbose)


@app.command()
def probe(
    paths: Optional[List[Path]] = typer.Argument(
        None, help="Curricle run directories, checkpoint directories, or directories of HF checkpoints "
                   "(step1000/, step1000-tokens4B/)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where the results go (.jsonl, or .json)."),
    tasks: Optional[List[Path]] = typer.Option(
        None, "--tasks", help="Task YAML file or directory (repeatable; default: the built-in suite, "
                              "which 'builtin' also names)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Probe settings (YAML): a model to probe, suite, batch size, device, dtype."),
    export_lm_eval: Optional[Path] = typer.Option(
        None, "--export-lm-eval", help="Also write the tasks as lm-evaluation-harness task files into this directory."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Score cache (default: .probe-cache next to --out)."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Token store for text probes and the contamination check (default: the run's)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1 (default: the config's, cpu)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Score every checkpoint on probe tasks, batched and cached per (weights, task).

    A rerun scores only new checkpoints and tasks; checkpoints with identical weights are
    flagged. Positions come from trainer_state.json or names like step1000-tokens4B.
    """
    _run("probe", paths or [], out, tasks or [], config, export_lm_eval, cache_dir, data_dir, device,
         verbose=verbose)


@app.command(name="map")
def map_(
    probe_files: List[Path] = typer.Argument(..., help="Probe results: from 'curricle probe', or RUN/probes.jsonl."),
    out: Path = typer.Option(..., "--out", help="Directory for emergence.json, emergence.csv, ordering.csv."),
    config: Optional[Path] = typer.Option(None, "--config", help="Map settings (YAML): metric, fraction, variant, sigma, ..."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """The emergence map: when each skill emerges in each run, and how consistently runs agree.

    Per skill and run: emergence (fixed / stable / elbow), saturation, censoring, chaoticness,
    forgettability, curriculum phase. Across runs: Spearman and Kendall over censored ranks
    with bootstrap intervals and a permutation p-value; composites against their components.
    """
    _run("map", probe_files, out, config, verbose=verbose)


@app.command()
def study(
    study_file: Path = typer.Argument(..., help="Study YAML, e.g. examples/seeds_order.yaml."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Train several seeds of one curriculum, probe every checkpoint, and map them (resumable)."""
    _run("study", study_file, verbose=verbose)


@app.command()
def mine(
    run_dir: Path = typer.Argument(..., help="A training run whose controller is hard-examples."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where the files go (default: RUN/mine/)."),
    top: Optional[int] = typer.Option(None, "--top", help="Hardest documents written per domain (default 20)."),
    by: Optional[List[str]] = typer.Option(
        None, "--by", help="A metadata column to group regions by (repeatable), besides source and every "
                           "column with few values."),
    clusters: Optional[int] = typer.Option(
        None, "--clusters", help="Also k-means the documents into K clusters on a checkpoint's mean-pooled hidden states."),
    model: Optional[Path] = typer.Option(
        None, "--model", help="The checkpoint embedding them for --clusters (default: the run's latest)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="The run's token store (default: its config's)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Mine settings (YAML): min_count, trend_threshold, ..."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Where a run's errors are: the hardest documents and the hard regions.

    From the hard-examples controller's per-document state in the run's latest checkpoint and
    the token store: hardest.jsonl (per domain, with text and every signal), regions.json and
    regions.md (error rate and mean loss / margin by metadata value and by cluster, each with
    its count and a 95% interval, highest above the domain first), and the hard documents split
    into learning (loss falling) and stuck (flat: noise candidates).
    """
    _run("mine", run_dir, out, top, by or [], clusters, model, data_dir, config, verbose=verbose)


@app.command()
def drift(
    old: Path = typer.Argument(..., help="The old data version: a token store ('curricle prepare' output), a "
                                         "'curricle curate' output, a task set (task file, finetune/rl config or run), "
                                         "or a 'curricle train' run (what it served)."),
    new: Path = typer.Argument(..., help="The new data version, of the same kind."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where drift.json and drift.md go (default: ./drift)."),
    fail_on: Optional[str] = typer.Option(
        None, "--fail-on", help="Exit 1 when a verdict reaches this level: warn, drift or never (default: never)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Drift settings (YAML): null_splits, sections, ..."),
    ref_model: Optional[Path] = typer.Option(
        None, "--ref-model", help="An HF checkpoint (or a run) whose per-document loss is compared too."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """What changed between two data versions: lineage, mixture, metadata columns and token
    distributions per domain, each statistic judged OK / WARN / DRIFT against its spread over
    random split-halves of OLD (never by p-value). Writes drift.json and drift.md; the exit
    status follows --fail-on, so a CI job can gate a data release."""
    code = _run("drift", old, new, out, fail_on, config, ref_model=ref_model, verbose=verbose)
    if code:
        raise typer.Exit(code)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A curricle run directory (train, finetune, rl or pipeline; "
                                             "finished or still running), or a 'curricle drift' output."),
    out: Optional[Path] = typer.Option(None, "--out", help="The HTML file (default: RUN/report.html)."),
    probes: Optional[List[Path]] = typer.Option(
        None, "--probes", help="More probe results (from 'curricle probe') for a pretraining run's skill map; "
                               "RUN/probes.jsonl is always read."),
    map_config: Optional[Path] = typer.Option(None, "--map-config", help="Map settings (YAML), as for 'curricle map' "
                                                                          "(with --probes: a pretraining run's only)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """One self-contained HTML page of a run, opening offline in any browser. A training run:
    losses, mixture, audit log, skill map, curation funnel, stability events, checkpoints. A
    fine-tuning run: per-task curves, forgetting matrix, curriculum log. An RL run: reward and
    held-out metric, zero-variance groups, what was drawn, grader reasons, flags. A pipeline: the
    checkpoint table across stages, the choice 'curricle select' made, and each stage's own report
    (while it runs: the stages done so far). A drift output (drift.json):
    the verdicts, the flagged checks, per section its figures, the lineage."""
    _run("report", run_dir, out, probes or [], map_config, verbose=verbose)


@app.command()
def compare(
    run_dirs: List[Path] = typer.Argument(..., help="Two or more pretraining run directories."),
    out: Path = typer.Option(Path("compare.html"), "--out", help="The HTML file."),
    probes: Optional[List[Path]] = typer.Option(None, "--probes", help="More probe results (from 'curricle probe')."),
    map_config: Optional[Path] = typer.Option(None, "--map-config", help="Map settings (YAML), as for 'curricle map'."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """The report's panels side by side for several pretraining runs, with how consistently their
    skills emerge in the same order."""
    _run("compare", run_dirs, out, probes or [], map_config, verbose=verbose)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
