"""``curricle demo``: the pipeline end to end on built-in sources, offline.

Stages: curate (language ID, quality, PII, decontamination, deduplication; the funnel is
printed), prepare (tokenizer + token store from the curated documents), train a ~1M-parameter
model under a phased curriculum (warm-up on short synthetic skills, a ramp in length and
domains, consolidation while the learning rate anneals), then probe every checkpoint on
the skills it trained, at the levels it trained them (``copy@2`` .. ``copy@16``), map the order
in which skill levels emerged and how far up each ladder the model got, and write the run's
report (``OUT/report.html``, one
self-contained page). Then post-training from the pretrained model, as ``curricle pipeline``
runs it (:func:`post_train`, ``OUT/post``): an SFT cold start on built-in string transforms,
GRPO with a learnability prompt curriculum, rejection sampling of the model's successes (RFT)
and SFT again on them, each stage from the previous one's best checkpoint; the checkpoint
table across the stages is printed, and the report links the pipeline's page and each stage's
own. Each stage's files land under ``--out`` (default ``runs/demo``) so any
stage can be inspected or rerun alone. Rerunning the demo continues an
interrupted run and reuses what is up to date. The last line printed is the map's summary
(``OUT/map/summary.json``) with the post-training figures (:func:`post_summary`) as one JSON line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import yaml
from rich.console import Console
from transformers.trainer_callback import ProgressCallback

from curricle import atomic
from curricle.config import RunConfig, parse_config, parse_model, read_yaml
from curricle.curate.command import curate_run
from curricle.curate.funnel import print_funnel
from curricle.emergence.command import map_command
from curricle.pipeline.command import pipeline_run, print_pipeline
from curricle.pipeline.config import PipelineConfig
from curricle.prepare.command import prepare_run, print_report
from curricle.probes.command import probe_command
from curricle.probes.config import ProbeConfig, SuiteConfig
from curricle.report.data import collect_run
from curricle.report.page import save_report
from curricle.report.pipeline import collect_pipeline, post_training_links, save_pipeline_report
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


#: The post-training line's configs, shipped beside demo.yaml; the demo copies them to OUT/post.
POST_CONFIGS = ("pipeline.yaml", "sft.yaml", "grpo.yaml", "rft.yaml", "sft2.yaml")


def shortened(name: str, data: dict, steps: int) -> dict:
    """A stage config of the demo's post-training line cut to at most ``steps`` optimizer steps
    (and its evaluations and checkpoints to match): what ``curricle demo --max-steps`` runs."""
    if "curriculum" in data and "stages" in data["curriculum"]:  # finetune
        cur = data["curriculum"]
        cur["eval_every"] = min(cur.get("eval_every", steps), steps)
        for stage in cur["stages"]:
            stage["max_steps"] = min(stage.get("max_steps", steps), steps)
    if "grpo" in data:  # rl
        data["grpo"]["steps"] = min(data["grpo"].get("steps", steps), steps)
        data.setdefault("eval", {})["every"] = min(data["eval"].get("every", steps), steps)
    if "samples" in data and "max_prompts" in data:  # rft
        data["max_prompts"] = min(data["max_prompts"], 4 * steps)
    train = data.get("train", {})
    if "checkpoint" in train:
        train["checkpoint"]["every"] = min(train["checkpoint"].get("every", steps), steps)
    if "warmup_steps" in train:
        train["warmup_steps"] = min(train["warmup_steps"], steps // 2)
    return data


def demo_pipeline(start: Path, post_dir: Path, max_steps: int | None = None) -> PipelineConfig:
    """The demo's post-training line from the checkpoint ``start``: the shipped
    ``configs/demo-post/`` copied to ``post_dir/configs`` (unless already there, so an edited copy
    is what a rerun runs), the pipeline's ``model`` and stage config paths pointed at them and
    written to ``post_dir/pipeline.yaml`` (``curricle pipeline`` reruns it alone). With
    ``max_steps`` (``curricle demo --max-steps``) every stage is :func:`shortened` to it."""
    folder = resources.files("curricle").joinpath("configs/demo-post")
    configs = Path(post_dir) / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    for name in POST_CONFIGS:
        if not (configs / name).is_file():
            text = folder.joinpath(name).read_text(encoding="utf-8")
            if max_steps is not None and name != "pipeline.yaml":
                text = yaml.safe_dump(shortened(name, yaml.safe_load(text), max_steps), sort_keys=False)
            atomic.write_text(configs / name, text)
    data = read_yaml(configs / "pipeline.yaml", "demo pipeline config")
    data["model"] = {"path": str(start)}
    for stage in data["stages"]:
        stage["config"] = str(configs / stage["config"])
    config = parse_model(data, PipelineConfig, str(configs / "pipeline.yaml"))
    atomic.write_text(Path(post_dir) / "pipeline.yaml", yaml.safe_dump(data, sort_keys=False))
    return config


@contextmanager
def step_logs_unprinted() -> Iterator[None]:
    """Within it, transformers' progress bars stay but each logging step's dict of numbers is
    not printed (``ProgressCallback.on_log``): the demo's console shows the stages' tables; the
    numbers are in each stage's ``metrics.jsonl`` and TensorBoard files."""
    def unprinted(self, args, state, control, logs=None, **kwargs):
        return None

    original = ProgressCallback.on_log
    ProgressCallback.on_log = unprinted  # type: ignore[method-assign]
    try:
        yield
    finally:
        ProgressCallback.on_log = original  # type: ignore[method-assign]


def post_train(config: PipelineConfig, post_dir: Path, console: Console) -> dict:
    """Run the post-training line (a rerun skips finished stages), print its checkpoint table,
    and write its page with each stage's own (``post_dir/report.html``); the pipeline's result
    gains ``report`` (that page's path) and ``pl`` (the report's data, with the stages' pages)."""
    with step_logs_unprinted():
        result = pipeline_run(config, post_dir)
    print_pipeline(result, console)
    pl = collect_pipeline(post_dir)
    result["report"] = save_pipeline_report(pl)
    result["pl"] = pl
    return result


def post_summary(result: dict) -> dict:
    """The post-training figures of the demo's summary line: the chosen stage and checkpoint
    (the pipeline's rule), its mean and worst test exact match, the starting model's mean, and
    the change in the probes' mean from the start."""
    rows = {r["stage"]: r for r in result["table"]}
    best = rows.get(result["best"]) or {}

    def r3(v):
        return None if v is None else round(v, 3)

    return {"post_chosen": result["best"], "post_checkpoint": best.get("checkpoint"),
            "post_mean_test": r3(best.get("mean")), "post_worst_test": r3(best.get("worst")),
            "post_start_mean_test": r3((rows.get("start") or {}).get("mean")),
            "post_probe_change": r3(best.get("probe_change"))}


def run_demo(out: Path, max_steps: int | None = None) -> dict:
    console = Console()
    out = Path(out)
    config = demo_config(out)
    console.rule("[bold]1/6 curate: built-in sources -> curated documents per domain")
    funnel = curate_run(config)
    print_funnel(funnel, console)

    console.rule("[bold]2/6 prepare: curated documents -> tokenizer + token store")
    prepare_report = prepare_run(config)
    print_report(prepare_report, console)

    run_dir = out / "run"
    steps = max_steps or config.train.steps
    console.rule(f"[bold]3/6 train: {steps} steps of a phased curriculum")
    phases = ", ".join(f"{name} from step {start + 1}" for name, start in config.phase_starts().items())
    console.print(f"phases: {phases}")
    resume = latest_complete(run_dir / "checkpoints") is not None
    result = train_run(config, run_dir, max_steps=steps, resume=resume)  # a rerun may lengthen a --max-steps run
    print_summary(result, console)

    console.rule("[bold]4/6 probe every checkpoint, then map which skills emerged and when")
    probes = run_dir / "probes.jsonl"
    probe_command([run_dir], probes, config=ProbeConfig(suite=demo_suite(config)))
    emergence = map_command([probes], out / "map")

    post_dir = out / "post"
    start = latest_complete(run_dir / "checkpoints")[1]
    console.rule("[bold]5/6 post-train: SFT -> GRPO (learnability curriculum) -> RFT -> SFT on its successes")
    console.print(f"from {start}; each stage from the previous one's best checkpoint")
    post = post_train(demo_pipeline(start, post_dir, max_steps), post_dir, console)

    console.rule("[bold]6/6 report: one page with all of it, linking the post-training stages' pages")
    run = collect_run(run_dir)
    run["post_training"] = post_training_links(post["pl"], post["report"], out / "report.html")
    report = save_report(run, out / "report.html")
    console.print(f"report: {report} ({report.stat().st_size / 1e6:.1f} MB); post-training: {post['report']}")
    for stage, page in post["pl"]["stage_reports"].items():
        console.print(f"  stage {stage}: {post_dir / page}")

    console.rule("[bold]done")
    console.print(f"curated documents, quarantine and funnel.json: {config.curate.output_dir}")
    console.print(f"token store and tokenizer: {config.data_dir}")
    console.print(f"run: {run_dir} (metrics.jsonl, tb/ for TensorBoard, checkpoints/step_N in HF format)")
    console.print(f"probes: {probes}; emergence map: {out / 'map'} (emergence.json, emergence.csv, ordering.csv, "
                  f"summary.json)")
    console.print(f"post-training: {post_dir} (pipeline.json: the checkpoint table; <stage>/ each stage's run; "
                  f"rerun alone: curricle pipeline {post_dir / 'pipeline.yaml'} --run-dir {post_dir})")
    console.print(f"[bold]report: {report}[/] (open it in any browser; it needs no network)")
    # The map's counts, as written to summary.json, and the post-training's choice: the one line a script reads.
    summary = {**emergence["summary"], **post_summary(post)}
    print(json.dumps(summary), flush=True)
    return {"curate": funnel, "prepare": prepare_report, "train": result, "map": emergence, "post": post,
            "report": report, "summary": summary}
