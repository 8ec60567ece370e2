"""``curricle train CONFIG --run-dir DIR``: wire the run's parts, prepare if needed, train.

The one place of the training stage that sees the whole run config: :func:`build_trainer`
builds the model, optimizer, sampler, controller, held-out rows and hooks from it and hands
them to :class:`~curricle.train.loop.Trainer`; :func:`train_run` also brings the token store
up to date and leaves to the controller's class what its training takes (one run; DoReMi's
reference run and rounds: :meth:`curricle.controllers.doremi.DoReMi.train`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import yaml
from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.augment.base import protected_items
from curricle.augment.config import AUGMENTERS
from curricle.augment.hook import AugmentHook
from curricle.augment.overlay import Overlay, overlay_dir
from curricle.augment.targets import TargetFinder
from curricle.config import RunConfig, load_config
from curricle.controllers.base import DOCUMENTS, Controller, ControllerContext
from curricle.controllers.config import CONTROLLERS, ReferenceConfig
from curricle.controllers.doremi import reference_dir
from curricle.controllers.hook import controller_hook
from curricle.controllers.plateau_hook import PlateauHook
from curricle.errors import CurricleError
from curricle.mixture.config import StaticConfig, max_seq_len
from curricle.mixture.sampler import MixtureSampler
from curricle.mixture.schedules import build_schedule
from curricle.model.build import build_model, check_fits
from curricle.model.config import ModelConfig
from curricle.model.pretrained import checkpoint_dir
from curricle.prepare.command import prepare_run, wait_for_prepared
from curricle.probes.hook import ProbeHook
from curricle.runinfo import resume_record, write_run_info
from curricle.store import TokenStore
from curricle.train.distributed import barrier, init_distributed
from curricle.train.evaluate import eval_row_groups, eval_rows
from curricle.train.hooks import Hook
from curricle.train.loop import Trainer
from curricle.train.loss import TokenLoss
from curricle.train.optimizer import build_optimizer
from curricle.train.parallel import shard


log = logging.getLogger(__name__)

#: Held-out rows a domain below which :func:`eval_noise_warning` speaks: the mean loss of 16
#: rows of 64 tokens moved by 0.1-0.2 nats between evaluations on a slowly falling curve in
#: ``benchmarks/reactive.py``; 64 rows halve that standard error.
ADVISED_EVAL_ROWS = 64


def eval_noise_warning(config: RunConfig, controller: Controller, rows: Mapping[str, int] | None = None) -> str | None:
    """One line when a decision reads held-out evaluations (a controller's
    :attr:`~curricle.controllers.base.Controller.reads_heldout`, or ``plateau``) averaged over
    fewer than :data:`ADVISED_EVAL_ROWS` rows a domain; else None. ``rows``: the rows each
    domain's held-out split gives (a short split gives fewer than ``train.eval_rows_per_domain``;
    the fewest is what the line quotes)."""
    asked = config.train.eval_rows_per_domain
    readers = [f"controller {controller.decider}"] if controller.reads_heldout else []
    readers += ["plateau"] if config.plateau is not None and config.plateau.domains != [] else []
    short = min(rows.items(), key=lambda kv: (kv[1], kv[0])) if rows else None
    fewest = min(asked, short[1]) if short is not None else asked
    if not readers or fewest >= ADVISED_EVAL_ROWS:
        return None
    where = f"train.eval_rows_per_domain = {asked} rows a domain"
    if fewest < asked:
        where += f" ({short[0]}'s held-out split gives {fewest})"
    return (f"{' and '.join(readers)} decide{'s' if len(readers) == 1 else ''} on held-out evaluations averaged over "
            f"{where}, so on their noise too (eval/loss_se/<domain> in the "
            f"metrics; a noisy value can meet a target early, or start or delay a plateau); "
            f"{ADVISED_EVAL_ROWS} rows would cut it {math.sqrt(ADVISED_EVAL_ROWS / max(1, fewest)):.1f}x")


def build_trainer(config: RunConfig, run_dir: Path | str, resume: bool = False, max_steps: int | None = None,
                  hooks: Sequence[Hook] = (), progress: bool = True) -> Trainer:
    """The run's :class:`Trainer`, with every part built from ``config`` (the token store must
    be prepared). ``hooks`` run after the in-loop probes, the controller's and the plateau
    hook (``plateau:``), before augmentation and telemetry."""
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
    controller: Controller = CONTROLLERS.build(config.controller, controller_context(config, store, dist.device, run_dir))
    sampler = MixtureSampler(store, config.mixture, seed=config.seed, rank=dist.rank, world_size=dist.world_size,
                             prioritized=controller.doc_domains)
    eval_len = config.train.eval_seq_len or max_seq_len(config.mixture.seq_len)
    rows = {d: eval_rows(store.split(d, "heldout"), eval_len, config.train.eval_rows_per_domain)
            for d in sampler.domains}
    noise = eval_noise_warning(config, controller, {d: len(r) for d, r in rows.items()})
    if noise is not None and dist.is_main:
        log.warning(noise)
    groups = getattr(config.controller, "groups", None)
    eval_groups = None
    if groups is not None:  # per-group held-out losses of the domains whose documents it tracks
        try:
            eval_groups = {d: eval_row_groups(store.split(d, "heldout"), rows[d], groups.column)
                           for d in controller.doc_domains}
        except CurricleError as err:
            raise CurricleError(f"controller.groups.column: held-out split: {err}") from None
    all_hooks: list[Hook] = []
    if config.train.probe is not None:  # before the controller (it may read the scores) and telemetry
        all_hooks.append(ProbeHook(config.train.probe, config.data_dir, tokenizer))
    all_hooks.append(controller_hook(controller))
    if config.plateau is not None:  # after the controller: a reinstated mixture holds over its updates
        all_hooks.append(PlateauHook(config.plateau, sampler.domains))
    all_hooks += hooks
    if config.augment is not None:  # after the controller and probes: it reads what they found
        all_hooks.append(augment_hook(config, store, sampler, controller, tokenizer, run_dir, dist.is_main))
    trainer = Trainer(loss_model, optimizer, sampler, config.train, run_dir, tokenizer=tokenizer, eval_rows=rows,
                      eval_groups=eval_groups, hooks=all_hooks, resume=resume, max_steps=max_steps, decay_start=config.lr_decay_start(),
                      progress=progress, dist=dist)
    if dist.is_main:
        resumed = None
        if trainer.resumed_from is not None:  # before config.yaml is rewritten: what changed, on record
            resumed = resume_record(trainer.run_dir, config, trainer.resumed_from.name)
            if resumed["config_changed"]:
                trainer.state.event(trainer.state.step, "config-changed", fields=resumed["config_changed"])
        atomic.write_text(trainer.run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        write_run_info(trainer.run_dir, "pretrain", config, data={
            "snapshot": store.snapshot_id, "data_dir": str(config.data_dir), "sampler_seed": config.seed},
            resumed=resumed)
    return trainer


def augment_hook(config: RunConfig, store: TokenStore, sampler: MixtureSampler, controller: Controller,
                 tokenizer: Any, run_dir: Path | str, is_main: bool) -> AugmentHook:
    """The augmentation policy's hook: an overlay per augmented domain, attached to the sampler
    (before any resume restores its length) with the controller's group floors on that domain,
    and the augmenter and target finder (which names each target's group, when the controller
    has groups)."""
    a = config.augment
    doc_state = controller.array_state if controller.role == DOCUMENTS else None
    groups = getattr(config.controller, "groups", None)
    finder = TargetFinder(a, store, config.sources, doc_state, tokenizer.backend_tokenizer,
                          group_column=groups.column if groups is not None else None)
    domains = a.domains or finder.default_domains()
    if not domains:
        raise CurricleError(f"augment: no domain to augment for target {a.target} (name them in augment.domains)")
    finder.check(domains)
    suites = [config.train.probe.suite] if config.train.probe is not None and config.train.probe.suite else []
    augmenter = AUGMENTERS.build(a.augmenter, protected_items(config.sources, suites))
    overlays = {}
    floors = controller.group_floors()
    for d in sorted(domains, key=store.domains.index):
        overlays[d] = Overlay(overlay_dir(run_dir, d), d, store.dtype, store.eos_id, writer=is_main)
        sampler.attach_overlay(d, overlays[d], a.max_share, floors.get(d))
    return AugmentHook(a, augmenter, finder, overlays, tokenizer.backend_tokenizer, config.seed)


def check_model(config: RunConfig) -> None:
    """A checkpoint model (``model.path``, or a pretrained preset or GGUF file, materialized
    here on first use) takes the run's rows and its own tokenizer: checked before any work,
    with a one-line error naming the field."""
    checkpoint_dir(config.model)
    tokenizer = config.tokenizer.path if config.tokenizer.kind == "pretrained" else None
    check_fits(config.model, config.longest_row, tokenizer)


def controller_context(config: RunConfig, store: TokenStore, device: torch.device, run_dir: Path | str) -> ControllerContext:
    """What a controller may ask of this run (:class:`~curricle.controllers.base.ControllerContext`)."""
    schedule, fixed = config.mixture.schedule, None
    if isinstance(schedule, StaticConfig):
        try:
            fixed = build_schedule(schedule, store.domains, store.natural_tokens()).weights(0)
        except ValueError as err:
            raise CurricleError(f"mixture.schedule: {err}") from err
    reference = getattr(config.controller, "reference", None)
    if not isinstance(reference, ReferenceConfig):  # group-dro's is a run whose held-out losses it reads
        reference = None

    def build_reference(path: Path) -> TokenLoss:
        model = build_model(ModelConfig(path=path), store.vocab_size, store.eos_id).to(device)
        return TokenLoss(model, config.train.loss_chunk_tokens)

    return ControllerContext(
        domains=store.domains, natural_tokens=store.natural_tokens(),
        doc_counts={d: store.split(d).n_docs for d in store.domains},
        lr_warmup_steps=config.train.lr_schedule.warmup_steps, fixed_mixture=fixed,
        reference=reference_dir(reference) if reference is not None else None, build_model=build_reference,
        run_dir=Path(run_dir), doc_column=lambda domain, name: store.split(domain).column(name),
        doc_lengths=lambda domain: store.split(domain).doc_lengths, seed=config.seed)


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

    def train_one(run_config: RunConfig, directory: Path, resume_it: bool, reference: bool = False) -> dict[str, Any]:
        if reference:  # a controller's reference run: its own length, none of the run's extra hooks
            return {"metrics": build_trainer(run_config, directory, resume=resume_it, progress=progress).fit()}
        return _train_one(run_config, directory, max_steps, resume_it, progress, hooks)

    # Most controllers train one run; DoReMi adds its reference run and rounds (controllers/doremi.py).
    return CONTROLLERS[config.controller.kind].train(config, Path(run_dir), resume, train_one)


def _train_one(config: RunConfig, run_dir: Path, max_steps: int | None, resume: bool, progress: bool,
               hooks: Sequence[Hook]) -> dict[str, Any]:
    trainer = build_trainer(config, run_dir, resume=resume, max_steps=max_steps, hooks=hooks, progress=progress)
    metrics = trainer.fit()
    if not metrics and trainer.dist.is_main:  # resumed a finished run: report its last step
        metrics = _last_metrics(trainer.run_dir / "metrics.jsonl")
    return {"metrics": metrics, "trainer": trainer}


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
