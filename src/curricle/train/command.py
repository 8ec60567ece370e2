"""``curricle train CONFIG --run-dir DIR``: prepare if needed, train, summarize."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curricle.config import RunConfig, load_config


def train_run(config: RunConfig, run_dir: Path, max_steps: int | None = None, resume: bool = False,
              progress: bool = True) -> dict[str, Any]:
    """Bring the token store up to date (rank 0), then train. Returns the last metrics."""
    from curricle.prepare import prepare
    from curricle.train.distributed import barrier, init_distributed
    from curricle.train.loop import Trainer

    info = init_distributed(config.train.device)
    if info.is_main:
        prepare(config, progress=progress)
    barrier(info)
    config = _with_reference_run(config, Path(run_dir), progress)
    trainer = Trainer(config, run_dir, resume=resume, max_steps=max_steps, progress=progress)
    metrics = trainer.fit()
    if not metrics and trainer.dist.is_main:  # resumed a finished run: report its last step
        metrics = _last_metrics(trainer.run_dir / "metrics.jsonl")
    return {"metrics": metrics, "trainer": trainer}


def _with_reference_run(config: RunConfig, run_dir: Path, progress: bool) -> RunConfig:
    """``controller.reference.steps``: train a uniform-mixture reference into RUN/reference
    (once; a finished one is reused) and point the controller at it."""
    ref = getattr(config.controller, "reference", None)
    if ref is None or ref.steps is None:
        return config
    from curricle.controllers import ScheduleControllerConfig
    from curricle.mixture.schedules import StaticConfig
    from curricle.store import TokenStore
    from curricle.train.checkpoint import latest_complete
    from curricle.train.loop import Trainer

    ref_dir = run_dir / "reference"
    found = latest_complete(ref_dir / "checkpoints")
    if found is None or found[0] < ref.steps:
        domains = TokenStore(config.data_dir).domains
        uniform = config.mixture.model_copy(update={"schedule": StaticConfig(weights={d: 1.0 for d in domains}),
                                                    "pacing": {}})
        ref_train = config.train.model_copy(update={"steps": ref.steps, "eval_every": ref.steps})
        ref_config = config.model_copy(update={"mixture": uniform, "train": ref_train,
                                               "controller": ScheduleControllerConfig()})
        Trainer(ref_config, ref_dir, resume=found is not None, progress=progress).fit()
    controller = config.controller.model_copy(update={"reference": ref.model_copy(update={"run": ref_dir, "steps": None})})
    return config.model_copy(update={"controller": controller})


def _last_metrics(path: Path) -> dict[str, Any]:
    import json

    lines = path.read_text().splitlines() if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


def print_summary(result: dict[str, Any], console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    trainer = result["trainer"]
    m = result["metrics"]
    table = Table(title=f"after {trainer.step} steps, {trainer.tokens:,} tokens", title_justify="left")
    for col in ("domain", "train loss", "held-out loss", "held-out ppl", "ECE"):
        table.add_column(col, justify="left" if col == "domain" else "right")

    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else "-"

    for d in trainer.domains:
        table.add_row(d, fmt(m.get(f"loss/{d}")), fmt(m.get(f"eval/loss/{d}")), fmt(m.get(f"eval/ppl/{d}")),
                      fmt(m.get(f"eval/ece/{d}")))
    table.add_row("[bold]all[/]", fmt(m.get("loss")), fmt(m.get("eval/loss")), "", fmt(m.get("eval/ece")))
    console.print(table)
    console.print(f"run files: {trainer.run_dir} (metrics.jsonl, events.jsonl, tb/, checkpoints/)")


def train_command(config_path: Path, run_dir: Path, max_steps: int | None, resume: bool) -> dict[str, Any]:
    config = load_config(config_path)
    result = train_run(config, run_dir, max_steps=max_steps, resume=resume)
    if result["trainer"].dist.is_main:
        print_summary(result)
    return result
