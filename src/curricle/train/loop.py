"""The training loop: one readable story, with hooks at named points.

    for each optimizer step:
        batch   = sampler.next_batch()                 one mixture per optimizer step
        on_step_start
        for each micro-batch (gradient accumulation):
            forward, per-token loss and its mean (fused, chunked)   (b, T)
                (or, when a hook weighs tokens, their weighted sum)
            backward (DDP syncs on the last micro-batch only)
            per-domain sums (on the device), on_micro_batch(token_loss)
                (and the tokens' difficulty signals, for hooks that want them)
        one all-reduce of the per-domain sums, clip, one copy to the host
        guard.check(the global step)                   NaN / spike -> skip the whole step
        optimizer step                                 unless skipped
        guard.record -> maybe roll back to the last checkpoint -> on_rollback
        evaluate -> on_eval                            every eval_every steps, the last, and where a hook wants it
        on_step_end (probes, controllers, ...)         a hook may end the run here (state.stop): then
            evaluate -> on_eval                        the last step's, unless this step had one
            on_stop                                    the last step's probe, though the probes ran first
        on_step_end (the trainer's own: telemetry)     the step's line, with what the hooks added
        checkpoint -> on_checkpoint                    every checkpoint.every steps, and the last

The :class:`Trainer` is handed its parts: a model, an optimizer, a sampler and its config
(``curricle train`` builds them in :mod:`curricle.train.command`; a library user may build
their own). What is special to a controller, a probe or a reference model hangs off hooks
(:mod:`curricle.train.hooks`); the loop knows none of them.

Step numbers users see are 1-based: ``step N`` is the N-th optimizer step; ``step_N`` is the
checkpoint after it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel as DDP

from curricle import atomic
from curricle.errors import CurricleError
from curricle.mixture.sampler import Batch, MixtureSampler
from curricle.telemetry.sinks.base import clear_tracker_runs
from curricle.telemetry.sinks.jsonl import count_lines, truncate_jsonl
from curricle.telemetry.sinks.tensorboard import clear_tensorboard
from curricle.telemetry.tracker import DomainLossTracker
from curricle.train import checkpoint
from curricle.train.checkpointer import Checkpointer, RNGState
from curricle.train.config import TrainConfig
from curricle.train.cpu import contention, contention_message
from curricle.train.distributed import DistInfo, all_gather_objects, barrier, init_distributed
from curricle.train.evaluate import evaluate
from curricle.train.guard import StabilityGuard
from curricle.train.hooks import EVENTS, DataTraceHook, Hook, ProgressHook, TelemetryHook, TrainState
from curricle.train.loss import TokenLoss
from curricle.train.lr import lr_at
from curricle.train.parallel import is_sharded
from curricle.train.tf32 import use_tf32

log = logging.getLogger(__name__)


class Trainer:
    """Trains ``model`` with ``optimizer`` on the batches of ``sampler`` into ``run_dir``.

    ``model``: an HF causal LM, or a :class:`~curricle.train.loss.TokenLoss` around one (an FSDP
    run passes it sharded, with an optimizer built over the shards).

    - ``eval_rows``: held-out rows per domain (see :func:`curricle.train.evaluate.eval_rows`);
      None: no evaluation. ``eval_groups``: per domain, the group of each of their labels
      (:func:`curricle.train.evaluate.eval_row_groups`), for per-group held-out losses.
    - ``hooks``: run at the loop's hook points in this order, before the trainer's own
      (data trace, progress, telemetry last). Hooks with state are checkpointed.
    - ``guard``: the stability guard (default: one from ``config.guard``).
    - ``max_steps``: the run's length in optimizer steps (default: ``config.steps``), at least 1.
    - ``resume``: continue from the newest complete checkpoint under ``run_dir/checkpoints``,
      with the run length it started with, unless ``max_steps`` is given (then an event says
      so). ``max_steps`` below the checkpoint's step is an error; equal to it, the run ends
      there, and the checkpoint is written again to record that length. On a store of another
      snapshot than the checkpoint's, a ``snapshot-changed`` event names the domains whose
      documents changed (they start fresh streams; see :mod:`curricle.mixture.sampler`).
    - ``decay_start``: the step a ``wsd`` learning-rate decay starts at, when it is tied to a
      curriculum phase (:meth:`curricle.config.RunConfig.lr_decay_start`).
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, sampler: MixtureSampler,
                 config: TrainConfig, run_dir: Path | str, *, tokenizer: Any = None,
                 eval_rows: dict[str, np.ndarray] | None = None,
                 eval_groups: dict[str, tuple[list[str], np.ndarray]] | None = None, hooks: Sequence[Hook] = (),
                 guard: StabilityGuard | None = None, resume: bool = False, max_steps: int | None = None,
                 decay_start: int | None = None, progress: bool = True, dist: DistInfo | None = None):
        if max_steps is not None and max_steps < 1:
            raise CurricleError(f"--max-steps {max_steps}: a run trains at least 1 step")
        self.config = config
        self.run_dir = Path(run_dir)
        self.dist = dist or init_distributed(config.device)
        self.device = self.dist.device
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        barrier(self.dist)

        # The model and its per-token loss in one module: what DDP wraps, or FSDP has sharded.
        self.loss_model = model if isinstance(model, TokenLoss) else TokenLoss(model, config.loss_chunk_tokens)
        self.sharded = is_sharded(self.loss_model)
        if config.parallelism.kind == "fsdp" and self.dist.active and not self.sharded:
            raise CurricleError("train.parallelism.kind: fsdp needs the model sharded before its optimizer is "
                                "built (curricle.train.parallel.shard; build_trainer does both)")
        self.model = self.loss_model.model if self.sharded else self.loss_model.model.to(self.device)
        self.optimizer = optimizer
        self.sampler = sampler
        self.eval_rows = eval_rows
        self.eval_groups = eval_groups
        self.decay_start = decay_start
        self.guard = guard or StabilityGuard(config.guard, sampler.domains)
        self.tracker = DomainLossTracker(len(sampler.domains), self.device)
        # bf16 autocast, unless FSDP's mixed precision already computes in bf16.
        bf16 = config.precision == "bf16" or (config.precision == "auto" and self.device.type == "cuda")
        autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 and not self.sharded else None
        total_steps = config.steps if max_steps is None else max_steps
        self.state = TrainState(run_dir=self.run_dir, domains=sampler.domains, total_steps=total_steps,
                                dist=self.dist, model=self.model, sampler=sampler, tokenizer=tokenizer,
                                autocast=autocast)

        own: list[Hook] = [DataTraceHook()] if config.trace else []
        if self.dist.is_main:
            own += [ProgressHook()] if progress else []
            own.append(TelemetryHook(config.telemetry))  # last: sees what other hooks added
        self.hooks: list[Hook] = [*hooks, *own]
        self._given, self._own = list(hooks), own
        for hook in self.hooks:
            self.state.logs.update(hook.logs)
            self.state.rank_logs.update(hook.rank_logs)
        weighers = [h for h in self.hooks if hasattr(h, "token_weights")]
        if len(weighers) > 1:
            raise CurricleError("at most one hook may weigh the training tokens (token_weights)")
        self._weigher = weighers[0] if weighers else None
        # The per-token difficulty signals (margin, confidence, correctness) cost one more
        # reduction per chunk of logits: computed only when a hook asks for them.
        self._signal_hooks = [h for h in self.hooks if getattr(h, "wants_token_signals", False)]

        # Every stateful part, by name; save, resume and rollback iterate this registry.
        self.checkpointer = Checkpointer(self.run_dir / "checkpoints", config.checkpoint, self.model, tokenizer,
                                         dist=self.dist, sharded=(self.loss_model, optimizer) if self.sharded else None)
        if not self.sharded:  # sharded: with the model, in torch.distributed.checkpoint's files
            self.checkpointer.register("optimizer", optimizer, binary=True)
        self.checkpointer.register("rng", RNGState(), binary=True)
        self.checkpointer.register("sampler", sampler, rollback=False)  # the bad window's data is skipped
        self.checkpointer.register("guard", self.guard, rollback=False)  # it counts the bad steps
        for hook in self.hooks:
            if hasattr(hook, "state_dict"):
                self.checkpointer.register(hook.name or type(hook).__name__, hook)

        if resume:
            if self.dist.is_main:
                for p in atomic.recover_asides(self.checkpointer.root):  # a save killed mid-swap
                    log.warning("%s: finished a checkpoint swap a killed save left (%s)", self.checkpointer.root,
                                p.name)
            barrier(self.dist)
        found = self.checkpointer.latest()
        if resume and found is None:
            raise CurricleError(f"--resume: no complete checkpoint under {self.checkpointer.root}")
        if not resume and checkpoint.step_dirs(self.checkpointer.root):
            raise CurricleError(f"{self.run_dir} already has checkpoints: pass --resume to continue it, "
                                f"or choose a new --run-dir")
        self.resumed_from = None
        self._resave = False  # the resumed checkpoint records a longer run than this one (fit writes it again)
        if resume:
            self._resume(*found, max_steps)
        else:
            for name in self._rank_logs():
                (self.run_dir / name).unlink(missing_ok=True)
            if self.dist.is_main:
                for name in self.state.logs:
                    (self.run_dir / name).unlink(missing_ok=True)
                clear_tensorboard(self.run_dir)
                clear_tracker_runs(self.run_dir)  # W&B and MLflow: a new run there too

        self.train_model: torch.nn.Module = self.loss_model
        if self.dist.active and not self.sharded:
            self.train_model = DDP(self.loss_model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if config.compile:
            self.train_model = torch.compile(self.train_model)
        use_tf32(self.device, config.tf32)
        # On a CPU shared with other work, torch's threads wait for each other (see train/cpu.py).
        self.cpu_contention = None
        if self.device.type == "cpu":
            if config.threads is not None:
                torch.set_num_threads(config.threads)
            self.cpu_contention = contention(torch.get_num_threads()) if self.dist.is_main else None
            if self.cpu_contention:
                log.warning(contention_message(self.cpu_contention))

    # -- what callers read ------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.state.step

    @property
    def tokens(self) -> int:
        return self.state.tokens

    @property
    def total_steps(self) -> int:
        return self.state.total_steps

    @property
    def domains(self) -> list[str]:
        return self.sampler.domains

    # -- the loop --------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train to ``total_steps``; returns the last step's metrics."""
        if self.resumed_from is not None:
            self._call("on_resume", self.resumed_from)
        self._call("on_train_start")
        if self.cpu_contention:
            self.state.event(self.step, "cpu-contention", **self.cpu_contention)
        if self.dist.is_main:
            log.info("model: %s parameters; %d domains; %d steps of %d rows on %d rank(s)",
                     f"{sum(p.numel() for p in self.model.parameters()):,}", len(self.domains),
                     self.total_steps, self.sampler.config.batch_rows, self.dist.world_size)
        metrics: dict[str, Any] = {}
        self.model.train()  # evaluate() switches back to train mode when it is done
        try:
            if self._resave:
                self._call("on_checkpoint", self.save_checkpoint())
            while self.step < self.total_steps:
                batch = self.sampler.next_batch()
                self._call("on_step_start", batch)
                metrics = self.train_step(batch)
                self.state.step += 1
                evaluated = (self.step % self.config.eval_every == 0 or self.step == self.total_steps
                             or any(h.wants_eval(self.state, self.step) for h in self.hooks))
                if evaluated:
                    self._evaluate(metrics)
                self._call("on_step_end", batch, metrics, hooks=self._given)
                if self.state.stopped is not None and self.state.stopped["step"] == self.step:
                    self.state.total_steps = self.step  # a hook ended the run (TrainState.stop)
                    if not evaluated:  # the evaluation at the end, as a run that reaches its length has
                        self._evaluate(metrics)
                    self._call("on_stop", batch, metrics, hooks=self._given)  # (the probes ran before the stop)
                self._call("on_step_end", batch, metrics, hooks=self._own)  # telemetry writes the step
                if self.step % self.config.checkpoint.every == 0 or self.step == self.total_steps:
                    path = self.save_checkpoint()
                    self._call("on_checkpoint", path)
        finally:
            self._call("on_train_end")
        return metrics

    def train_step(self, batch: Batch) -> dict[str, Any]:
        """One optimizer step on ``batch`` (this rank's rows), guarded.

        The step's loss is the mean over all its tokens, however the rows split into
        micro-batches (each is weighted by its share of the rows; rows have equal length).
        Per-domain sums stay on the device; after the last micro-batch one all-reduce makes
        them global and one copy brings them (and the gradient norm) to the host, where the
        guard judges the global step, the same on every rank.
        """
        cfg = self.config
        step = self.step + 1
        t0 = time.perf_counter()
        lr = lr_at(self.step, cfg.lr, self.total_steps, cfg.lr_schedule, self.decay_start)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.tracker.reset()
        tokens = batch.tokens.to(self.device, non_blocking=True)      # (b, L + 1)
        domain_ids = batch.domain_ids.to(self.device, non_blocking=True)
        rows = tokens.size(0)
        micro = max(1, rows // cfg.grad_accum)
        n_micro = (rows + micro - 1) // micro
        injected = cfg.guard.inject.get(step) if cfg.guard.inject_rank in (None, self.dist.rank) else None
        for i in range(n_micro):
            part = slice(i * micro, (i + 1) * micro)
            x = tokens[part]
            # DDP / FSDP: reduce gradients only on the last micro-batch of the step.
            last = i == n_micro - 1
            if self.sharded:
                self.loss_model.set_requires_gradient_sync(last)
            sync = self.train_model.no_sync() if self.dist.active and not self.sharded and not last else contextlib.nullcontext()
            with sync:
                with self.state.autocast() if self.state.autocast else contextlib.nullcontext():
                    kwargs: dict[str, Any] = {"with_signals": True} if self._signal_hooks else {}
                    if self._weigher is not None:  # a hook weighs the tokens, from their losses (DoReMi's proxy)
                        kwargs["token_weights"] = functools.partial(self._weigher.token_weights, self.state,
                                                                    batch, part, last)
                    # the mean; (b, L) fp32, no grad; with signals (b, L, 3)
                    loss, token_loss, *signals = self.train_model(x, **kwargs)
                if injected is not None:  # testing aid: a NaN, or a 100x spike, in every domain of these rows
                    token_loss = token_loss * (float("nan") if injected == "nan" else 100.0)
                (loss * (x.size(0) / rows)).backward()
            self.tracker.add(token_loss, domain_ids[part])
            for hook in self.hooks:
                if signals and hook in self._signal_hooks:
                    hook.on_micro_batch(self.state, batch, part, token_loss, signals=signals[0])
                else:
                    hook.on_micro_batch(self.state, batch, part, token_loss)

        self.tracker.reduce()
        # (with no clipping, an infinite threshold: the norm, gradients untouched)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.loss_model.parameters(), cfg.grad_clip or math.inf)
        if isinstance(grad_norm, DTensor):
            grad_norm = grad_norm.full_tensor()
        host = torch.cat([self.tracker.sums.flatten(), grad_norm.detach().double().reshape(1).to(self.device)]).cpu()
        sums = host[:-1].view_as(self.tracker.sums)  # the step's one host sync
        losses = self.tracker.results(self.domains, sums)
        verdict, info = self.guard.check(losses["loss"], {d: losses[f"loss/{d}"] for d in self.domains
                                                          if f"loss/{d}" in losses})
        step_tokens = batch.seq_len * self.sampler.config.batch_rows
        self.state.tokens += step_tokens
        metrics: dict[str, Any] = {"step": step, "tokens": self.tokens, "lr": lr, "seq_len": batch.seq_len,
                                   "phase": self.sampler.schedule.phase_at(batch.step)}
        metrics.update({f"weight/{d}": float(w) for d, w in zip(self.domains, batch.weights)})
        # tokens served per domain so far (all ranks' rows): what `curricle drift RUN_A RUN_B` compares
        metrics.update({f"served/{d}": int(t) for d, t in zip(self.domains, self.sampler.served_tokens)})
        if verdict != "ok":
            self.optimizer.zero_grad(set_to_none=True)
            metrics.update({"loss": None, "skipped": verdict})
            self.state.event(step, "skip", reason=verdict, **info)
            if self.guard.record(None):
                self.rollback(step)
        else:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            metrics.update(losses)
            metrics["grad_norm"] = float(host[-1])
            self.guard.record({d: metrics[f"loss/{d}"] for d in self.domains if f"loss/{d}" in metrics})
        metrics["tokens_per_s"] = step_tokens / (time.perf_counter() - t0)
        return metrics

    def _evaluate(self, metrics: dict[str, Any]) -> None:
        """A held-out evaluation into ``metrics``; its tokens counted, then ``on_eval``."""
        metrics.update(self.evaluate())
        self.state.eval_tokens += int(metrics.get("eval/tokens", 0))
        self._call("on_eval", metrics)

    def evaluate(self) -> dict[str, float | str]:
        if not self.eval_rows:
            return {}
        return evaluate(self.loss_model, self.eval_rows, self.config.eval_batch_rows, self.device,
                        self.dist.rank, self.dist.world_size, self.state.autocast, self.eval_groups)

    # -- checkpoints, resume, rollback -------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        # Every log's line count by file name: the main rank's logs, and every rank's own logs.
        lines = {name: count_lines(self.run_dir / name) for name in self.state.logs} if self.dist.is_main else {}
        if self.state.rank_logs:  # (the same on every rank: the same hooks)
            own = {name: count_lines(self.run_dir / name) for name in self._rank_logs()}
            for counts in all_gather_objects(self.dist, own):
                lines.update(counts)
        meta = {"tokens": self.tokens, "eval_tokens": self.state.eval_tokens, "total_steps": self.total_steps,
                "stopped": self.state.stopped, "log_lines": dict(sorted(lines.items())) if self.dist.is_main else {}}
        path = self.checkpointer.save(self.step, meta)
        barrier(self.dist)
        return path

    def _resume(self, step: int, path: Path, max_steps: int | None) -> None:
        if max_steps is not None and max_steps < step:
            raise CurricleError(f"--max-steps {max_steps}: the checkpoint is at step {step} already")
        state = self.checkpointer.restore(path)
        self.state.step, self.state.tokens = state["step"], state["tokens"]
        self.state.eval_tokens = int(state.get("eval_tokens", 0))
        # The run keeps the length it started with (its LR schedule depends on it), unless
        # max_steps (--max-steps) says otherwise.
        saved = int(state["total_steps"])
        self.state.stopped = state.get("stopped")
        if max_steps is None:
            if saved != self.config.steps:
                log.warning("train.steps is %d but this run started with %d steps; it keeps %d "
                            "(pass --max-steps to change it)", self.config.steps, saved, saved)
            self.state.total_steps = saved
        if self.state.stopped is not None:  # a hook ended it (TrainState.stop): it stays ended
            self.state.total_steps = min(self.state.total_steps, self.state.stopped["step"])
        # --max-steps ends the run at this checkpoint: fit() saves it again with the new length,
        # as a run's last step does, so the next resume keeps it (and the run-length event).
        self._resave = self.state.total_steps == step and saved != step
        # Drop what a killed run wrote after this checkpoint; the resumed run rewrites it.
        for name in self._rank_logs():  # this rank's own (a rank the checkpoint has no count of: none)
            truncate_jsonl(self.run_dir / name, state["log_lines"].get(name, 0))
        if self.dist.is_main:
            for name in self.state.logs:
                truncate_jsonl(self.run_dir / name, state["log_lines"].get(name, 0))
            checkpoint.remove_stale(self.checkpointer.root)
            self.state.event(step, "resume", checkpoint=str(path))
            change = self.sampler.snapshot_change  # the store is another snapshot than the checkpoint's
            if change is not None:
                self.state.event(step, "snapshot-changed", **change)
                log.warning("the data changed since %s (snapshot %s -> %s): %s start fresh streams, the other "
                            "domains continue theirs", path.name, change["old"][:12], change["new"][:12],
                            ", ".join(change["domains_changed"]) or "no domain")
            if self.state.total_steps != saved and self.state.stopped is None:
                self.state.event(step, "run-length", reason="--max-steps", old=saved, new=self.state.total_steps)
        self.resumed_from = path
        log.info("resumed from %s", path)

    def rollback(self, step: int) -> None:
        """Restore the last checkpoint's weights, optimizer, RNG, controller and stateful hooks;
        keep going with later data (the sampler and guard are not rolled back)."""
        found = self.checkpointer.latest()
        if found is None:
            # Judging on against the stale level would skip every later step: forget it.
            self.guard.forget()
            self.state.event(step, "rollback", reason="repeated spikes", done=False,
                             detail="no checkpoint to roll back to yet; the guard forgets its history and continues")
            return
        ck_step, path = found
        self.checkpointer.restore(path, rollback=True)
        self.state.event(step, "rollback", reason="repeated spikes", done=True, to_step=ck_step,
                         skipped_window=[ck_step + 1, step])
        log.warning("step %d: %d consecutive bad steps; rolled back to %s and skipped the data of steps %d-%d",
                    step, self.config.guard.max_spikes, path.name, ck_step + 1, step)
        self._call("on_rollback", path)

    # -- small pieces ------------------------------------------------------------------------

    def _rank_logs(self) -> list[str]:
        """This rank's own logs' file names (``rank_logs`` with its rank)."""
        return sorted(name.format(rank=self.dist.rank) for name in self.state.rank_logs)

    def _call(self, point: str, *args, hooks: Sequence[Hook] | None = None) -> None:
        for hook in self.hooks if hooks is None else hooks:
            getattr(hook, point)(self.state, *args)


__all__ = ["EVENTS", "Trainer"]
