"""``curricle train CONFIG --run-dir DIR``: wire the run's parts, prepare if needed, train.

The one place of the training stage that sees the whole run config: :func:`build_trainer`
builds the model, optimizer, sampler, controller, held-out rows and hooks from it and hands
them to :class:`~curricle.train.loop.Trainer`; :func:`train_run` also brings the token store
up to date, trains DoReMi's reference run when the config asks for one, and runs iterated
DoReMi's later rounds.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml
from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.config import RunConfig, load_config
from curricle.controllers.base import Controller
from curricle.controllers.config import CONTROLLERS, DoReMiConfig, ScheduleControllerConfig
from curricle.controllers.doremi import WEIGHTS_FILE, DoReMi, reference_model_dir
from curricle.controllers.hook import ControllerHook, DoReMiProxyHook
from curricle.errors import CurricleError
from curricle.mixture.config import StaticConfig, max_seq_len
from curricle.mixture.sampler import MixtureSampler
from curricle.model.build import build_model, check_fits
from curricle.model.config import ModelConfig
from curricle.prepare.command import prepare_run, wait_for_prepared
from curricle.probes.hook import ProbeHook
from curricle.store import TokenStore
from curricle.train.checkpoint import latest_complete
from curricle.train.distributed import barrier, init_distributed
from curricle.train.evaluate import eval_rows
from curricle.train.hooks import Hook
from curricle.train.loop import Trainer
from curricle.train.loss import TokenLoss
from curricle.train.optimizer import build_optimizer
from curricle.train.parallel import shard


def build_trainer(config: RunConfig, run_dir: Path | str, resume: bool = False, max_steps: int | None = None,
                  hooks: Sequence[Hook] = (), progress: bool = True) -> Trainer:
    """The run's :class:`Trainer`, with every part built from ``config`` (the token store must
    be prepared). ``hooks`` run after the controller's, before probes and telemetry."""
    check_model(config)
    dist = init_distributed(config.train.device)
    # The seed fixes the initial weights; the sampler derives its own streams from (seed, step, rank).
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    store = TokenStore(config.data_dir)
    tokenizer = store.load_tokenizer()
    model = build_model(config.model, store.vocab_size, store.eos_id, tokenizer.pad_token_id).to(dist.device)
    loss_model = TokenLoss(model, config.train.loss_chunk_tokens)
    if dist.active and config.train.parallelism.kind == "fsdp":  # before the optimizer: it holds the shards
        bf16 = config.train.precision == "bf16" or (config.train.precision == "auto" and dist.device.type == "cuda")
        shard(loss_model, config.train.parallelism, bf16=bf16)
    optimizer = build_optimizer(loss_model, config.train)
    controller: Controller = CONTROLLERS.build(config.controller, store.domains, store.natural_tokens())
    sampler = MixtureSampler(store, config.mixture, seed=config.seed, rank=dist.rank, world_size=dist.world_size,
                             prioritized=controller.doc_domains)
    if controller.needs_doc_losses:
        controller.set_doc_counts({d: store.split(d).n_docs for d in sampler.domains})
    eval_len = config.train.eval_seq_len or max_seq_len(config.mixture.seq_len)
    rows = {d: eval_rows(store.split(d, "heldout"), eval_len, config.train.eval_rows_per_domain)
            for d in sampler.domains}
    first: Hook = (_doremi_hook(controller, config, store, sampler, dist.device) if isinstance(controller, DoReMi)
                   else ControllerHook(controller))
    controller.set_lr_warmup(config.train.lr_schedule.warmup_steps)  # ADO leaves it out of its fits
    all_hooks: list[Hook] = [first, *hooks]
    if config.train.probe is not None:  # before telemetry: it adds probe/* metrics
        all_hooks.append(ProbeHook(config.train.probe, config.data_dir, tokenizer))
    trainer = Trainer(loss_model, optimizer, sampler, config.train, run_dir, tokenizer=tokenizer, eval_rows=rows,
                      hooks=all_hooks, resume=resume, max_steps=max_steps, decay_start=config.lr_decay_start(),
                      progress=progress, dist=dist)
    if dist.is_main:
        atomic.write_text(trainer.run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return trainer


def check_model(config: RunConfig) -> None:
    """A checkpoint model (``model.path``) takes the run's rows and its own tokenizer: checked
    before any work, with a one-line error naming the field."""
    tokenizer = config.tokenizer.path if config.tokenizer.kind == "pretrained" else None
    check_fits(config.model, config.longest_row, tokenizer)


def _doremi_hook(controller: DoReMi, config: RunConfig, store: TokenStore, sampler: MixtureSampler,
                 device: torch.device) -> DoReMiProxyHook:
    """DoReMi's proxy: its reference model, and the fixed mixture it samples from."""
    if not isinstance(config.mixture.schedule, StaticConfig):
        raise CurricleError("controller.kind: doremi's proxy samples from a fixed mixture; "
                            "mixture.schedule must be kind 'static'")
    ref = config.controller.reference
    if ref.steps is not None:
        raise CurricleError("controller.reference.steps: the reference run must be trained first "
                            "(curricle train does this; build_trainer alone takes reference.run)")
    path = reference_model_dir(ref.run) if ref.run is not None else ref.checkpoint
    model = build_model(ModelConfig(path=path), store.vocab_size, store.eos_id).to(device)
    sampling = sampler.schedule.weights(0)
    return DoReMiProxyHook(controller, TokenLoss(model, config.train.loss_chunk_tokens), sampling, str(path))


def train_run(config: RunConfig, run_dir: Path | str, max_steps: int | None = None, resume: bool = False,
              progress: bool = True, hooks: Sequence[Hook] = ()) -> dict[str, Any]:
    """Bring the token store up to date (rank 0), then train. Returns the last metrics and the
    trainer."""
    check_model(config)
    # Rank 0 prepares the data before any process group exists, so the other ranks wait for
    # the store on disk, not in a collective that could time out.
    if int(os.environ.get("RANK", "0")) == 0:
        prepare_run(config, progress=progress)
    else:
        wait_for_prepared(config)
    info = init_distributed(config.train.device)
    barrier(info)
    run_dir = Path(run_dir)
    rounds = config.controller.rounds if isinstance(config.controller, DoReMiConfig) else 1
    result = _train_one(_with_reference_run(config, run_dir, progress), run_dir, max_steps, resume, progress, hooks)
    for k in range(2, rounds + 1):  # iterated DoReMi: a reference on the last round's weights
        previous = run_dir / (WEIGHTS_FILE if k == 2 else f"round-{k - 1}/{WEIGHTS_FILE}")
        mixture = config.mixture.model_copy(update={"schedule": StaticConfig(weights_from=previous)})
        round_dir = run_dir / f"round-{k}"
        ref_config = _with_reference_run(config.model_copy(update={"mixture": mixture}), round_dir, progress)
        proxy = config.model_copy(update={"controller": ref_config.controller})
        result = _train_one(proxy, round_dir, max_steps, resume and latest_complete(round_dir / "checkpoints")
                            is not None, progress, hooks)
    if rounds > 1 and result["trainer"].dist.is_main:
        final = json.loads((run_dir / f"round-{rounds}" / WEIGHTS_FILE).read_text())
        final["rounds"] = [json.loads((run_dir / (WEIGHTS_FILE if k == 1 else f"round-{k}/{WEIGHTS_FILE}"))
                                      .read_text())["weights"] for k in range(1, rounds + 1)]
        atomic.write_text(run_dir / WEIGHTS_FILE, json.dumps(final, indent=1))
    return result


def _train_one(config: RunConfig, run_dir: Path, max_steps: int | None, resume: bool, progress: bool,
               hooks: Sequence[Hook]) -> dict[str, Any]:
    trainer = build_trainer(config, run_dir, resume=resume, max_steps=max_steps, hooks=hooks, progress=progress)
    metrics = trainer.fit()
    if not metrics and trainer.dist.is_main:  # resumed a finished run: report its last step
        metrics = _last_metrics(trainer.run_dir / "metrics.jsonl")
    return {"metrics": metrics, "trainer": trainer}


def _with_reference_run(config: RunConfig, run_dir: Path, progress: bool) -> RunConfig:
    """``controller.reference.steps``: train a reference on the run's own mixture into
    RUN/reference (once; a finished one is reused) and point the controller at it."""
    ref = getattr(config.controller, "reference", None)
    if ref is None or ref.steps is None:
        return config
    ref_dir = run_dir / "reference"
    found = latest_complete(ref_dir / "checkpoints")
    if found is None or found[0] < ref.steps:
        ref_train = config.train.model_copy(update={"steps": ref.steps, "eval_every": ref.steps,
                                                    "checkpoint": config.train.checkpoint.model_copy(
                                                        update={"every": ref.steps})})
        ref_config = config.model_copy(update={"train": ref_train, "controller": ScheduleControllerConfig()})
        build_trainer(ref_config, ref_dir, resume=found is not None, progress=progress).fit()
    controller = config.controller.model_copy(update={"reference": ref.model_copy(update={"run": ref_dir, "steps": None})})
    return config.model_copy(update={"controller": controller})


def _last_metrics(path: Path) -> dict[str, Any]:
    lines = path.read_text().splitlines() if path.exists() else []
    return json.loads(lines[-1]) if lines else {}


def print_summary(result: dict[str, Any], console: Console | None = None) -> None:
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
