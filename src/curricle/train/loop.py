"""The training loop: one readable story, with hooks at named points.

    for each optimizer step:
        batch   = sampler.next_batch()                 one mixture per optimizer step
        on_step_start
        for each micro-batch (gradient accumulation):
            forward, per-token loss                    (b, T)
            guard.check(loss)                          NaN / spike -> skip the whole step
            backward (DDP syncs on the last micro-batch only)
        clip, optimizer step                           unless skipped
        guard.record -> maybe roll back to the last checkpoint
        evaluate -> on_eval                            every eval_every steps
        on_step_end (telemetry, controllers)
        checkpoint -> on_checkpoint                    every checkpoint.every steps

Step numbers users see are 1-based: ``step N`` is the N-th optimizer step; ``step_N`` is the
checkpoint after it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from curricle.controllers import build_controller
from curricle.controllers.hook import ControllerHook
from curricle.errors import CurricleError
from curricle.mixture.sampler import Batch, MixtureSampler
from curricle.mixture.seq_len import max_seq_len
from curricle.model import build_model, count_parameters
from curricle.probes.hook import ProbeHookConfig
from curricle.store import TokenStore
from curricle.telemetry import DomainLossTracker, TelemetryConfig, open_sinks
from curricle.telemetry.sinks.jsonl import count_lines, truncate_jsonl
from curricle.train import checkpoint
from curricle.train.checkpoint import CheckpointConfig
from curricle.train.distributed import any_rank, barrier, init_distributed
from curricle.train.evaluate import eval_rows, evaluate
from curricle.train.guard import GuardConfig, StabilityGuard
from curricle.train.hooks import DataTraceHook, Hook, ProgressHook, TelemetryHook
from curricle.train.lr import LRConfig, lr_at

if TYPE_CHECKING:
    from curricle.config import RunConfig

log = logging.getLogger(__name__)

#: The run's JSONL logs; a resumed run truncates each to what its checkpoint had seen.
LOGS = ("metrics.jsonl", "events.jsonl", "mixture_log.jsonl")


class TrainConfig(BaseModel):
    """The optimizer, the loop's intervals, and what it writes."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(40, ge=1)
    """Optimizer steps in the run."""
    lr: float = Field(3e-3, gt=0)
    """Peak learning rate (AdamW)."""
    weight_decay: float = Field(0.1, ge=0)
    """AdamW weight decay (not applied to norms and biases)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this (None: no clipping)."""
    grad_accum: int = Field(1, ge=1)
    """Micro-batches per optimizer step; each step's global batch is one mixture draw."""
    lr_schedule: LRConfig = Field(default_factory=LRConfig)
    """Warm-up and decay shape."""
    eval_every: int = Field(20, ge=1)
    """Held-out loss, perplexity and calibration every this many steps (and at the end)."""
    eval_rows_per_domain: int = Field(16, ge=1)
    """Held-out rows scored per domain."""
    eval_seq_len: int | None = Field(None, ge=2)
    """Row length for evaluation (default: the mixture's longest seq_len)."""
    eval_batch_rows: int = Field(16, ge=1)
    """Rows per forward pass during evaluation."""
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    """Interval and retention of checkpoints."""
    guard: GuardConfig = Field(default_factory=GuardConfig)
    """NaN / spike detection and rollback."""
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    """Where metrics go besides RUN/metrics.jsonl."""
    probe: ProbeHookConfig | None = None
    """Probe the model every ``probe.every`` steps into RUN/probes.jsonl (rank 0); None: no probing."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 autocast on GPU, fp32 on CPU."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train (auto: CUDA if available)."""


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    """Trains ``config.model`` on ``config.mixture`` into ``run_dir``."""

    def __init__(self, config: "RunConfig", run_dir: Path, resume: bool = False,
                 max_steps: int | None = None, hooks: list[Hook] | None = None, progress: bool = True):
        self.config = config
        self.tcfg: TrainConfig = config.train
        self.run_dir = Path(run_dir)
        self.ckpt_root = self.run_dir / "checkpoints"
        self.total_steps = max_steps or self.tcfg.steps
        self.dist = init_distributed(self.tcfg.device)
        self.rank, self.world_size, self.device = self.dist.rank, self.dist.world_size, self.dist.device
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        barrier(self.dist)

        found = checkpoint.latest_complete(self.ckpt_root)
        if resume and found is None:
            raise CurricleError(f"--resume: no complete checkpoint under {self.ckpt_root}")
        if not resume and checkpoint.step_dirs(self.ckpt_root):
            raise CurricleError(f"{self.run_dir} already has checkpoints: pass --resume to continue it, "
                                f"or choose a new --run-dir")

        # Model, optimizer, data. The seed fixes the initial weights; the sampler derives its
        # own streams from (seed, step, rank).
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.store = TokenStore(config.data_dir)
        self.tokenizer = self.store.load_tokenizer()
        self.model = build_model(config.model, self.store.vocab_size, self.store.eos_id,
                                 self.tokenizer.pad_token_id).to(self.device)
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, self.tcfg.weight_decay),
                                           lr=self.tcfg.lr, betas=self.tcfg.betas)
        ctrl = config.controller
        prioritized = (ctrl.domains or self.store.domains) if ctrl.kind == "hard-examples" else ()
        self.sampler = MixtureSampler(self.store, config.mixture, seed=config.seed, rank=self.rank,
                                      world_size=self.world_size, prioritized=prioritized)
        self.domains = self.sampler.domains
        self.controller = build_controller(ctrl, self.domains, self.store.natural_tokens())
        if self.controller.needs_doc_losses:
            self.controller.set_doc_counts({d: self.store.split(d).n_docs for d in self.domains})
        self.last_doc_losses: list[tuple[str, int, float]] = []
        self.guard = StabilityGuard(self.tcfg.guard, self.domains)
        self.tracker = DomainLossTracker(len(self.domains), self.device)
        eval_len = self.tcfg.eval_seq_len or max_seq_len(config.mixture.seq_len)
        self.eval_rows = {d: eval_rows(self.store.split(d, "heldout"), eval_len, self.tcfg.eval_rows_per_domain)
                          for d in self.domains}
        bf16 = self.tcfg.precision == "bf16" or (self.tcfg.precision == "auto" and self.device.type == "cuda")
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16)) if bf16 else None
        self.decay_start = self._decay_start()

        self.step = 0
        self.tokens = 0
        if resume:
            self._resume(*found)
        else:
            if self.dist.is_main:
                for name in LOGS:
                    (self.run_dir / name).unlink(missing_ok=True)
            self._set_reference()

        self.train_model = self.model
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.train_model = DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

        self.sinks = open_sinks(self.run_dir, self.step, self.tcfg.telemetry) if self.dist.is_main else []
        self.hooks: list[Hook] = [ControllerHook(self.controller), *(hooks or [])]
        if self.tcfg.telemetry.trace_data:
            self.hooks.append(DataTraceHook())
        if self.dist.is_main:
            if self.tcfg.probe is not None:
                from curricle.probes.hook import ProbeHook

                self.hooks.append(ProbeHook(self.tcfg.probe))  # before telemetry: it adds probe/* metrics
            if progress:
                self.hooks.append(ProgressHook())
            self.hooks.append(TelemetryHook())  # last: sees what other hooks added
        if self.dist.is_main:
            self._write_run_config()

    # -- the loop --------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train to ``total_steps``; returns the last step's metrics."""
        self._call("on_train_start")
        if self.dist.is_main:
            log.info("model: %s parameters; %d domains; %d steps of %d rows on %d rank(s)",
                     f"{count_parameters(self.model):,}", len(self.domains), self.total_steps,
                     self.config.mixture.batch_rows, self.world_size)
        metrics: dict[str, Any] = {}
        self.model.train()  # evaluate() switches back to train mode when it is done
        try:
            while self.step < self.total_steps:
                batch = self.sampler.next_batch()
                self._call("on_step_start", batch)
                metrics = self.train_step(batch)
                self.step += 1
                if self.step % self.tcfg.eval_every == 0 or self.step == self.total_steps:
                    metrics.update(self.evaluate())
                    self._call("on_eval", metrics)
                self._call("on_step_end", batch, metrics)
                if self.step % self.tcfg.checkpoint.every == 0 or self.step == self.total_steps:
                    path = self.save_checkpoint()
                    self._call("on_checkpoint", path)
        finally:
            self._call("on_train_end")
        return metrics

    def train_step(self, batch: Batch) -> dict[str, Any]:
        """One optimizer step on ``batch`` (this rank's rows), guarded."""
        step = self.step + 1
        t0 = time.perf_counter()
        lr = lr_at(self.step, self.tcfg.lr, self.total_steps, self.tcfg.lr_schedule, self.decay_start)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.tracker.reset()
        tokens = batch.tokens.to(self.device, non_blocking=True)      # (b, L + 1)
        domain_ids = batch.domain_ids.to(self.device, non_blocking=True)
        micro = max(1, tokens.size(0) // self.tcfg.grad_accum)
        n_micro = (tokens.size(0) + micro - 1) // micro
        verdict, info = "ok", {}
        keep_losses = self.controller.needs_doc_losses
        step_losses = []
        for i in range(n_micro):
            x = tokens[i * micro : (i + 1) * micro]
            last = i == n_micro - 1
            # DDP: all-reduce gradients only on the last micro-batch of the step.
            sync = contextlib.nullcontext() if last or not self.dist.active else self.train_model.no_sync()
            with sync:
                with self.autocast() if self.autocast else contextlib.nullcontext():
                    logits = self.train_model(input_ids=x[:, :-1]).logits      # (b, L, V)
                token_loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten(),
                                             reduction="none").view(x.size(0), -1)  # (b, L)
                injected = self.tcfg.guard.inject.get(step)
                if injected is not None:  # testing aid: a NaN, or a 100x spike, in every domain
                    token_loss = token_loss * (float("nan") if injected == "nan" else 100.0)
                loss = token_loss.mean()
                d_ids = domain_ids[i * micro : (i + 1) * micro]
                sums = torch.zeros(len(self.domains), device=self.device).index_add_(0, d_ids, token_loss.detach().mean(1))
                rows = torch.bincount(d_ids, minlength=len(self.domains))
                per_domain = {self.domains[j]: s / r for j, (s, r) in enumerate(zip(sums.tolist(), rows.tolist())) if r}
                verdict, info = self.guard.check(loss.item(), per_domain)
                # Every rank must take the same branch, or DDP's collectives would hang.
                if any_rank(self.dist, verdict != "ok"):
                    verdict = verdict if verdict != "ok" else "peer"
                    break
                (loss / n_micro).backward()
            self.tracker.add(token_loss, domain_ids[i * micro : (i + 1) * micro])
            if keep_losses:
                step_losses.append(token_loss.detach())

        step_tokens = batch.seq_len * self.config.mixture.batch_rows
        self.tokens += step_tokens
        metrics: dict[str, Any] = {"step": step, "tokens": self.tokens, "lr": lr, "seq_len": batch.seq_len,
                                   "phase": self.sampler.schedule.phase_at(batch.step)}
        metrics.update({f"weight/{d}": float(w) for d, w in zip(self.domains, batch.weights)})
        if verdict != "ok":
            self.optimizer.zero_grad(set_to_none=True)
            metrics.update({"loss": None, "skipped": verdict})
            self._event(step, "skip", reason=verdict, **info)
            if self.guard.record(None):
                self.rollback(step)
        else:
            grad_norm = (torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tcfg.grad_clip)
                         if self.tcfg.grad_clip else self._grad_norm())
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.tracker.reduce()
            metrics.update(self.tracker.results(self.domains))
            metrics["grad_norm"] = float(grad_norm)
            self.guard.record({d: metrics[f"loss/{d}"] for d in self.domains if f"loss/{d}" in metrics})
        self.last_doc_losses = self._doc_losses(batch, step_losses) if keep_losses and verdict == "ok" else []
        metrics["tokens_per_s"] = step_tokens / (time.perf_counter() - t0)
        return metrics

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.model, self.eval_rows, self.tcfg.eval_batch_rows, self.device,
                        self.rank, self.world_size, self.autocast)

    # -- checkpoints, resume, rollback -------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        path = None
        if self.dist.is_main:
            state = {
                "tokens": self.tokens,
                "total_steps": self.total_steps,
                "sampler": self.sampler.state_dict(),
                "guard": self.guard.state_dict(),
                "controller": self.controller.state_dict(),
                "log_lines": {name: count_lines(self.run_dir / name) for name in LOGS},
            }
            rng = {"torch": torch.get_rng_state(), "python": _jsonable_python_rng()}
            arrays = {**{f"exposure/{d}": v for d, v in self.sampler.exposure_state().items()},
                      **{f"priority/{d}": v for d, v in self.sampler.priority_state().items()},
                      **{f"controller/{k}": v for k, v in self.controller.array_state().items()}}
            path = checkpoint.save(self.ckpt_root, self.step, self.model, self.tokenizer, self.optimizer,
                                   rng, arrays, state)
            checkpoint.apply_retention(self.ckpt_root, self.tcfg.checkpoint)
        barrier(self.dist)
        return path

    def _resume(self, step: int, path: Path) -> None:
        state = checkpoint.load(path, self.model, self.optimizer)
        self.step, self.tokens = state["step"], state["tokens"]
        self.sampler.load_state_dict(state["sampler"])
        self.sampler.load_exposure_state(checkpoint.load_arrays(path, "exposure"))
        self.sampler.load_priority_state(checkpoint.load_arrays(path, "priority"))
        self.controller.load_array_state(checkpoint.load_arrays(path, "controller"))
        self.guard.load_state_dict(state["guard"])
        self.controller.load_state_dict(state["controller"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(_python_rng_from_json(state["python_rng"]))
        if self.dist.is_main:
            # Drop what a killed run wrote after this checkpoint; the resumed run rewrites it.
            for name in LOGS:
                truncate_jsonl(self.run_dir / name, state["log_lines"][name])
            checkpoint.remove_stale(self.ckpt_root)
            self._event(step, "resume", checkpoint=str(path))
        log.info("resumed from %s", path)

    def rollback(self, step: int) -> None:
        """Restore the last checkpoint's weights and optimizer; keep going with later data."""
        found = checkpoint.latest_complete(self.ckpt_root)
        if found is None:
            self._event(step, "rollback", reason="repeated spikes", done=False,
                        detail="no checkpoint to roll back to yet; continuing")
            return
        ck_step, path = found
        checkpoint.load(path, self.model, self.optimizer)
        self._event(step, "rollback", reason="repeated spikes", done=True, to_step=ck_step,
                    skipped_window=[ck_step + 1, step])
        log.warning("step %d: %d consecutive bad steps; rolled back to %s and skipped the data of steps %d-%d",
                    step, self.tcfg.guard.max_spikes, path.name, ck_step + 1, step)

    # -- small pieces ------------------------------------------------------------------------

    def _call(self, point: str, *args) -> None:
        for hook in self.hooks:
            getattr(hook, point)(self, *args)

    def _event(self, step: int, event: str, **fields) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / "events.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "event": event, **fields}, default=str) + "\n")

    def _doc_losses(self, batch: Batch, step_losses: list[torch.Tensor]) -> list[tuple[str, int, float]]:
        """Per-document losses of this step's rows, from every rank (for hard-example priorities)."""
        from curricle.controllers.hard_examples import doc_losses

        mine = doc_losses(batch, torch.cat(step_losses), self.domains)
        if not self.dist.active:
            return mine
        import torch.distributed as dist

        gathered: list = [None] * self.world_size
        dist.all_gather_object(gathered, mine)
        return [x for part in gathered for x in part]

    def _set_reference(self) -> None:
        """DoReMi-style controllers compare against a reference's per-domain losses."""
        ref = getattr(self.config.controller, "reference", None)
        if ref is None:
            return
        from curricle.controllers.doremi import reference_from_run

        if ref.run is not None:
            losses = reference_from_run(ref.run, self.domains)
        elif ref.checkpoint is not None:
            from curricle.model import ModelConfig

            model = build_model(ModelConfig(path=ref.checkpoint), self.store.vocab_size, self.store.eos_id).to(self.device)
            ev = evaluate(model, self.eval_rows, self.tcfg.eval_batch_rows, self.device, self.rank,
                          self.world_size, self.autocast)
            losses = np.array([ev[f"eval/loss/{d}"] for d in self.domains])
        else:
            raise CurricleError("controller.reference.steps: the reference run must be trained first "
                                "(curricle train does this; Trainer alone takes reference.run)")
        self.controller.set_reference(losses)
        self._event(0, "reference", losses=dict(zip(self.domains, losses.tolist())))

    def _grad_norm(self) -> torch.Tensor:
        norms = [p.grad.detach().norm() for p in self.model.parameters() if p.grad is not None]
        return torch.norm(torch.stack(norms)) if norms else torch.tensor(0.0)

    def _decay_start(self) -> int | None:
        phase = self.tcfg.lr_schedule.decay_phase
        if phase is None:
            return None
        starts = dict((name, start) for start, name in self.sampler.schedule.phases())
        if phase not in starts:
            raise CurricleError(f"train.lr_schedule.decay_phase: no phase '{phase}' "
                                f"(the schedule has: {', '.join(starts)})")
        return starts[phase]

    def _write_run_config(self) -> None:
        import yaml

        from curricle import atomic

        atomic.write_text(self.run_dir / "config.yaml",
                          yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False))


def _jsonable_python_rng() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _python_rng_from_json(state: list) -> tuple:
    return (state[0], tuple(state[1]), state[2])
