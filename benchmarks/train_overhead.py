"""What curricle's training loop with all of its telemetry costs over a bare PyTorch loop.

Usage::

    .venv/bin/python benchmarks/train_overhead.py --quick   # < 3 minutes on 2 CPU cores
    .venv/bin/python benchmarks/train_overhead.py           # more and longer timed runs
    .venv/bin/python benchmarks/train_overhead.py --quick --hard-examples margin   # the signals' cost

Stages:

1. **Store.** ``prepare`` builds (or reuses) a small 4-domain token store under ``--data-dir``
   (``quick/`` or ``full/`` below it): three synthetic skills (``arithmetic``, ``copy``,
   ``facts``) and a slice of ``python-code``; a byte-level BPE of 4096.
2. **Batches, not timed.** A ``MixtureSampler`` with the run's mixture and seed draws the
   run's batches once, before anything is timed; both sides train on that same list, so the
   sampler's cost is outside the comparison on both sides (it has a benchmark of its own).
3. **Timed, step by step.** Each repeat builds a fresh ``Trainer`` and a fresh bare model and
   AdamW, both from the run seed (so both start from the same weights), and runs
   ``Trainer.fit()``. The trainer's ``sampler.next_batch`` is replaced by a feed that, on
   its call for batch ``i``, first runs the *bare* step ``i`` on that batch and then hands the
   batch to the loop. So the two sides take turns, one step each, and every pair of steps
   sees the same load from the rest of the machine (which on a shared 2-core box moves a lot
   within seconds, far more than the overhead being measured). The first ``warmup`` steps
   of both sides are not counted, nor is the last (instrumented) step.

   - **instrumented** step ``i``: from the feed handing out batch ``i`` to the loop asking
     for batch ``i + 1``, i.e. one pass of the real, unchanged loop: ``on_step_start``,
     ``train_step`` (LR schedule, per-token loss, the stability guard on every micro-batch,
     per-domain loss tracking, gradient clipping with the grad norm, AdamW, the metrics
     dict), the eval and checkpoint interval checks, ``on_step_end``: the rich progress bar
     and the metric sinks, ``metrics.jsonl`` and TensorBoard, each written every step. The
     progress bar is on, as it is by default; its console is a non-terminal buffer here (as
     when a run's output goes to a log file), so it is updated every step and drawn at the end.
   - **bare** step ``i``: ``model(input_ids=x).logits``, mean cross-entropy, ``backward``,
     ``clip_grad_norm_`` to the same threshold, AdamW with the same parameter groups, betas
     and weight decay, the learning rate of the same schedule function (``lr_at``) set every
     step, ``zero_grad(set_to_none=True)``. Nothing is logged.

   ``overhead_ratio`` is the median, over all timed steps, of instrumented over bare wall
   time of the same step, with a 95% bootstrap interval; ``target_verdict`` says whether that
   interval lies below the target, above it, or contains it. The steps/s are each side's
   median step. The same comparison in CPU time (the main thread's, plus on the instrumented
   side all that the process's other threads used meanwhile: TensorBoard's writer, the
   progress bar's refresh) is reported next to it: it does not count waiting for a core, and
   work the loop leaves to those threads, which in wall time may land in a bare step, is
   charged to the instrumented side.

   Held-out evaluation and checkpoints are separate, optional costs with their own
   intervals, so they are kept out of the timed steps: the config puts both at the run's last
   step only (the loop always does both at the end), and their times are reported apart,
   with the ratio they would make at the default intervals (both 20 steps).

4. **Checks.** The first step's loss of both sides must agree, and the last one closely:
   they started from the same weights and trained on the same batches.
5. **Hard examples** (``--hard-examples SCORE``). The instrumented run has the
   ``hard-examples`` controller over every domain, ranking by ``SCORE`` (``loss``, ``margin``,
   ...) with the per-token difficulty signals on (``--no-signals``: off), so its steps also pay
   for the signals in the loss (one ``amax`` per chunk of logits), the per-document visits
   (per-piece means, gathered), the document state, and a re-ranking every 10 steps (from step
   10). The batches are pre-drawn by a sampler that draws those domains document by document,
   as the run's would (the controller's priorities do not reach them: both sides train on the
   same list). Its figures go to ``train_overhead.hard-examples-<SCORE>[-no-signals].json``;
   the cost of the signals is its ratio against the plain run's (or ``--no-signals``') on the
   same machine.
6. **Profile.** If the target (``overhead_ratio <= 1.03``) is missed, or with ``--profile``,
   one more instrumented run (without bare steps) is profiled with cProfile over its timed
   steps; the loop's parts are reported in ms per step.

The last stdout line is one JSON object with the figures and settings; progress and a table go
to stderr. Nothing here is tuned to meet the target. One torch thread by default: on a busy
2-core machine a second intra-op thread mostly spins and waits (``--threads`` to change it).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from common import cached_products, finish, record_prepared, say

SEED = 0
TARGET_RATIO = 1.03
#: The intervals a run gets when it does not set them (TrainConfig, CheckpointConfig).
DEFAULT_EVAL_EVERY = 20
DEFAULT_CHECKPOINT_EVERY = 20
#: --quick ends within 3 minutes: no repeat (or profile) starts that would end after this.
QUICK_BUDGET_S = 160.0


@dataclass(frozen=True)
class Mode:
    """Sizes of one mode: the store's sources, and how many steps are timed."""

    name: str
    code_docs: int
    synthetic_docs: int
    tokenizer_sample_docs: int
    warmup_steps: int
    steps: int
    repeats: int
    profile_steps: int

    @property
    def run_steps(self) -> int:
        """Steps of one run: warm-up, the timed steps, and the last (eval, checkpoint) step."""
        return self.warmup_steps + self.steps + 1


QUICK = Mode("quick", code_docs=60, synthetic_docs=600, tokenizer_sample_docs=200,
             warmup_steps=2, steps=20, repeats=3, profile_steps=8)
FULL = Mode("full", code_docs=300, synthetic_docs=3000, tokenizer_sample_docs=1000,
            warmup_steps=3, steps=60, repeats=5, profile_steps=30)

_T0 = time.perf_counter()


# -- 1. the store and the run config --------------------------------------------------------


def run_config_dict(mode: Mode, data_dir: Path, preset: str, batch_rows: int, seq_len: int,
                    steps: int, loss_chunk_tokens: int | None = 1024,
                    controller: dict[str, Any] | None = None) -> dict[str, Any]:
    n = mode.synthetic_docs
    return {
        **({"controller": controller} if controller else {}),
        "name": f"bench-train-{mode.name}",
        "seed": SEED,
        "data_dir": str(data_dir),
        "sources": [
            {"kind": "python-code", "domain": "code", "max_docs": mode.code_docs},
            {"kind": "synthetic", "domain": "arithmetic", "skill": "arithmetic", "n_docs": n},
            {"kind": "synthetic", "domain": "copy", "skill": "copy", "n_docs": n},
            {"kind": "synthetic", "domain": "facts", "skill": "facts", "n_docs": n},
        ],
        "tokenizer": {"vocab_size": 4096, "sample_docs_per_source": mode.tokenizer_sample_docs},
        # The small store repeats within a run; that is fine here, so no epoch warning.
        "mixture": {"batch_rows": batch_rows, "seq_len": seq_len, "max_epochs": 1e12},
        "model": {"preset": preset, "max_position_embeddings": max(256, seq_len)},
        "train": {
            "steps": steps,
            # Only at the last step (which the loop always evaluates and checkpoints): untimed.
            "eval_every": steps,
            "checkpoint": {"every": steps, "keep_last": 1},
            "telemetry": {"tensorboard": True},
            "precision": "fp32",
            "device": "cpu",
            "loss_chunk_tokens": loss_chunk_tokens,
        },
    }


def build_store(config):
    """Prepare the store (built on a cold cache, with the code that made it recorded,
    ``common.record_prepared``; reused otherwise); returns prepare's report."""
    import logging

    from curricle.prepare.command import prepare_run

    # Built-in sources skip short docstrings, oversized files, ... by design: count, don't warn.
    logging.getLogger("curricle.sources").setLevel(logging.ERROR)
    say(f"store: preparing {config.data_dir} (reused when up to date)")
    report = prepare_run(config, progress=False)
    record_prepared(report)
    say(f"store: {'built' if report.did_work else 'reused'} in {report.seconds:.1f}s")
    return report


def predraw_batches(config, n: int, prioritized: list[str] = ()) -> list:
    """The first ``n`` batches the run's sampler yields (what ``Trainer.fit`` would train on);
    ``prioritized``: domains drawn document by document (a hard-examples run's)."""
    from curricle.mixture.sampler import MixtureSampler
    from curricle.store import TokenStore

    sampler = MixtureSampler(TokenStore(config.data_dir), config.mixture, seed=config.seed, prioritized=prioritized)
    return [sampler.next_batch() for _ in range(n)]


# -- 2. the bare side ------------------------------------------------------------------------


class BareLoop:
    """The bare PyTorch loop, one step per call, with the trainer's optimizer settings."""

    def __init__(self, config, store, total_steps: int):
        import random

        import torch

        from curricle.model.build import build_model

        self.tcfg = config.train
        self.total_steps = total_steps
        torch.manual_seed(config.seed)  # what Trainer does before it builds its model
        random.seed(config.seed)
        self.model = build_model(config.model, store.vocab_size, store.eos_id,
                                 store.load_tokenizer().pad_token_id)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            [{"params": [p for p in params if p.dim() >= 2], "weight_decay": self.tcfg.weight_decay},
             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
            lr=self.tcfg.lr, betas=self.tcfg.betas)
        self.model.train()
        self.loss = None

    def step(self, step: int, tokens) -> None:
        """Optimizer step ``step`` (0-based) on ``tokens`` (B, L + 1)."""
        import torch
        import torch.nn.functional as F

        from curricle.train.lr import lr_at

        lr = lr_at(step, self.tcfg.lr, self.total_steps, self.tcfg.lr_schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        logits = self.model(input_ids=tokens[:, :-1]).logits                # (B, L, V)
        self.loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        self.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tcfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


# -- 3. the feed: both sides, step by step ---------------------------------------------------


@dataclass
class Clock:
    """Wall and CPU seconds of one step: the main thread's CPU, and other threads' CPU."""

    wall: float
    cpu: float
    other_cpu: float


def _now() -> tuple[float, float, float]:
    return time.perf_counter(), time.thread_time(), time.process_time()


def _since(t: tuple[float, float, float]) -> Clock:
    wall, thread, process = _now()
    return Clock(wall - t[0], thread - t[1], (process - t[2]) - (thread - t[1]))


@dataclass
class Feed:
    """Stands in for ``trainer.sampler.next_batch``: hands out the pre-drawn batches in order.

    With ``bare`` set, the call for batch ``i`` first runs bare step ``i`` (timed), and the
    instrumented step ``i`` is timed from the return of that call to the next call.
    ``on_window(True / False)`` is called when the timed steps start and end.
    """

    batches: list
    warmup: int
    steps: int
    bare: BareLoop | None = None
    on_window: Callable[[bool], None] | None = None
    inst: list[Clock] = field(default_factory=list)
    bare_clocks: list[Clock] = field(default_factory=list)
    bare_first_loss: float = float("nan")
    bare_last_loss: float = float("nan")
    i: int = 0
    _handed: tuple[float, float, float] | None = None

    def __call__(self):
        i = self.i
        if self._handed is not None and self.warmup < i <= self.warmup + self.steps:
            self.inst.append(_since(self._handed))
        if self.on_window is not None and i in (self.warmup, self.warmup + self.steps):
            self.on_window(i == self.warmup)
        batch = self.batches[i]
        if self.bare is not None:
            t = _now()
            self.bare.step(i, batch.tokens)
            if self.warmup <= i < self.warmup + self.steps:
                self.bare_clocks.append(_since(t))
            if i == 0:
                self.bare_first_loss = self.bare.loss.item()
            self.bare_last_loss = self.bare.loss.item()  # after the clock: untimed
        self.i += 1
        self._handed = _now()
        return batch


def _timed(fn, into: list):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    return wrapper


@dataclass
class Repeat:
    inst: list[Clock]
    bare: list[Clock]
    first_loss: tuple[float, float]
    """(instrumented, bare) loss of the first step."""
    last_loss: tuple[float, float]
    eval_s: float
    checkpoint_s: float
    seconds: float


def run_repeat(config, store, batches: list, mode: Mode, run_dir: Path) -> Repeat:
    """One ``Trainer.fit()`` with the bare steps interleaved."""
    from curricle.train.command import build_trainer

    t0 = time.perf_counter()
    shutil.rmtree(run_dir, ignore_errors=True)
    bare = BareLoop(config, store, mode.run_steps)
    trainer = build_trainer(config, run_dir, max_steps=mode.run_steps, progress=True)
    feed = Feed(batches, mode.warmup_steps, mode.steps, bare=bare)
    trainer.sampler.next_batch = feed
    # The eval and the checkpoint run at the last step only, after the timed steps; the
    # wrappers time them without touching the timed steps.
    eval_s: list[float] = []
    ckpt_s: list[float] = []
    trainer.evaluate = _timed(trainer.evaluate, eval_s)
    trainer.save_checkpoint = _timed(trainer.save_checkpoint, ckpt_s)
    gc.collect()
    with contextlib.redirect_stdout(io.StringIO()):  # the progress bar's console: not a terminal
        trainer.fit()
    if feed.i != mode.run_steps or len(feed.inst) != mode.steps or len(feed.bare_clocks) != mode.steps:
        raise RuntimeError(f"the loop took {feed.i} batches, expected {mode.run_steps}")
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    shutil.rmtree(run_dir, ignore_errors=True)
    return Repeat(feed.inst, feed.bare_clocks, (first["loss"], feed.bare_first_loss),
                  (last["loss"], feed.bare_last_loss), sum(eval_s), sum(ckpt_s), time.perf_counter() - t0)


# -- 4. where the extra time goes ------------------------------------------------------------

def profile_parts() -> list[tuple[str, Any]]:
    """Parts of the instrumented step worth a line of their own: (label, function)."""
    import torch
    from transformers import LlamaForCausalLM

    from curricle.mixture.schedules.base import WeightSchedule
    from curricle.telemetry.sinks.jsonl import JsonlSink
    from curricle.telemetry.sinks.tensorboard import TensorBoardSink
    from curricle.telemetry.tracker import DomainLossTracker
    from curricle.train.guard import StabilityGuard
    from curricle.train.hooks import ProgressHook, TelemetryHook
    from curricle.train.loop import Trainer

    return [
        ("train_step (whole)", Trainer.train_step),
        ("  forward (bare does it too)", LlamaForCausalLM.forward),
        ("  backward (bare does it too)", torch.Tensor.backward),
        ("  clip_grad_norm_ (bare does it too)", torch.nn.utils.clip_grad_norm_),
        ("  AdamW.step (bare does it too)", torch.optim.AdamW.step),
        ("  model.train()", torch.nn.Module.train),
        ("  guard.check", StabilityGuard.check),
        ("  guard.record", StabilityGuard.record),
        ("  per-domain loss: tracker.reset", DomainLossTracker.reset),
        ("  per-domain loss: tracker.add", DomainLossTracker.add),
        ("  per-domain loss: tracker.results", DomainLossTracker.results),
        ("  schedule.phase_at", WeightSchedule.phase_at),
        ("hooks (Trainer._call, all points)", Trainer._call),
        ("  progress bar (ProgressHook.on_step_end)", ProgressHook.on_step_end),
        ("  sinks (TelemetryHook.on_step_end)", TelemetryHook.on_step_end),
        ("    metrics.jsonl (JsonlSink.write)", JsonlSink.write),
        ("    TensorBoard (TensorBoardSink.write)", TensorBoardSink.write),
    ]


def _profile_key(fn) -> tuple[str, int, str]:
    """The key cProfile files ``fn`` under (the function itself, below any decorators)."""
    import inspect

    code = inspect.unwrap(fn).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


def profile_run(config, batches: list, mode: Mode, run_dir: Path) -> dict[str, Any]:
    """One instrumented run (no bare steps) with cProfile on over its timed steps."""
    import cProfile
    import pstats

    from curricle.train.command import build_trainer

    n = mode.profile_steps
    shutil.rmtree(run_dir, ignore_errors=True)
    trainer = build_trainer(config, run_dir, max_steps=mode.warmup_steps + n + 1, progress=True)
    profiler = cProfile.Profile()
    feed = Feed(batches, mode.warmup_steps, n,
                on_window=lambda start: profiler.enable() if start else profiler.disable())
    trainer.sampler.next_batch = feed
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.fit()
    shutil.rmtree(run_dir, ignore_errors=True)
    stats = pstats.Stats(profiler).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, callers)

    wall = statistics.median(c.wall for c in feed.inst)
    parts = {label: round(stats.get(_profile_key(fn), (0, 0, 0, 0.0))[3] / n * 1e3, 3)
             for label, fn in profile_parts()}
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    return {
        "steps": n,
        "note": "cProfile over the timed steps of one instrumented run, ms per step (cumulative); "
                "cProfile slows pure-Python code much more than torch kernels, so the small "
                "Python parts are overstated",
        "wall_ms_per_step_under_profiler": round(wall * 1e3, 3),
        "other_threads_cpu_ms_per_step": round(statistics.mean(c.other_cpu for c in feed.inst) * 1e3, 3),
        "ms_per_step": parts,
        "top_tottime_ms_per_step": {f"{Path(f).name}:{line}:{fn}": round(v[2] / n * 1e3, 3)
                                    for (f, line, fn), v in top},
    }


# -- the run ---------------------------------------------------------------------------------


def bootstrap_median_ci(values: list[float], n: int = 2000, seed: int = SEED) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the median of ``values``."""
    import random

    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(n))
    return medians[int(0.025 * n)], medians[int(0.975 * n) - 1]


def _ms(x: float) -> float:
    return round(x * 1e3, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small store, fewer and shorter runs: the whole run ends within 3 minutes")
    parser.add_argument("--data-dir", type=Path, default=Path("runs/bench-train-data"),
                        help="cache of the benchmark's token stores, and its scratch run dir "
                             "(default: %(default)s)")
    parser.add_argument("--preset", default="tiny-1m", help="model preset (default: %(default)s)")
    parser.add_argument("--batch-rows", type=int, default=16, help="rows per step (default: %(default)s)")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per row (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads, both sides (default: %(default)s)")
    parser.add_argument("--loss-chunk-tokens", default="1024",
                        help="train.loss_chunk_tokens of the instrumented side: 1024 (the default: the fused, "
                             "chunked loss) or 'none' (the full-logits loss the bare loop computes, so only the "
                             "telemetry differs) (default: %(default)s)")
    parser.add_argument("--profile", action="store_true",
                        help="profile an instrumented run even when the target is met")
    parser.add_argument("--hard-examples", metavar="SCORE", default=None,
                        help="the instrumented run has the hard-examples controller ranking by SCORE (loss, "
                             "margin, ...), with the per-token difficulty signals on (see stage 5)")
    parser.add_argument("--no-signals", action="store_true",
                        help="with --hard-examples: signals: false (SCORE loss or ema)")
    args = parser.parse_args(argv)
    if args.no_signals and not args.hard_examples:
        parser.error("--no-signals needs --hard-examples")

    import torch

    from curricle.config import parse_config
    from curricle.model.build import count_parameters
    from curricle.store import TokenStore

    mode = QUICK if args.quick else FULL
    deadline = _T0 + QUICK_BUDGET_S if args.quick else float("inf")
    data_dir = args.data_dir / mode.name
    run_dir = args.data_dir / "runs" / f"{mode.name}-instrumented"
    chunk = None if str(args.loss_chunk_tokens).lower() == "none" else int(args.loss_chunk_tokens)
    controller = None
    if args.hard_examples:
        controller = {"kind": "hard-examples", "score": args.hard_examples, "signals": not args.no_signals,
                      "warmup_steps": 10, "update_every": 10}
    config = parse_config(run_config_dict(mode, data_dir, args.preset, args.batch_rows, args.seq_len,
                                          mode.run_steps, chunk, controller), "benchmark config")
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()[0]
    say(f"train overhead, {mode.name} mode: {args.preset}, batch {args.batch_rows} x {args.seq_len}, "
        f"{args.threads} torch thread(s); {mode.repeats} runs of {mode.warmup_steps} warm-up + "
        f"{mode.steps} timed + 1 last step, instrumented and bare steps taking turns")

    report = build_store(config)
    store = TokenStore(data_dir)
    batches = predraw_batches(config, mode.run_steps, store.domains if controller else [])

    repeats: list[Repeat] = []
    for r in range(mode.repeats):
        if repeats and time.perf_counter() + max(x.seconds for x in repeats) > deadline:
            say(f"--quick: no time left for run {r + 1} of {mode.repeats}; stopping at {len(repeats)}")
            break
        rep = run_repeat(config, store, batches, mode, run_dir)
        repeats.append(rep)
        i_med = statistics.median(c.wall for c in rep.inst)
        b_med = statistics.median(c.wall for c in rep.bare)
        pair = statistics.median(i.wall / b.wall for i, b in zip(rep.inst, rep.bare))
        say(f"run {r + 1}/{mode.repeats} ({rep.seconds:.0f}s): instrumented {i_med * 1e3:.1f} ms/step, "
            f"bare {b_med * 1e3:.1f} ms/step, median step ratio {pair:.4f}")

    inst = [c for rep in repeats for c in rep.inst]
    bare = [c for rep in repeats for c in rep.bare]
    # Step i of both sides ran back to back, under the same outside load: the ratio of each
    # pair cancels that load, and the median of the pairs is the headline.
    paired = [i.wall / b.wall for i, b in zip(inst, bare)]
    ratio = statistics.median(paired)
    lo, hi = bootstrap_median_ci(paired)
    target_met = ratio <= TARGET_RATIO
    verdict = ("met" if hi <= TARGET_RATIO else "not met" if lo > TARGET_RATIO
               else "undecided: the 95% interval contains the target")
    inst_s = statistics.median(c.wall for c in inst)
    bare_s = statistics.median(c.wall for c in bare)
    per_run = [statistics.median(i.wall / b.wall for i, b in zip(rep.inst, rep.bare)) for rep in repeats]
    # CPU time does not count waiting for a core that another process holds. The instrumented
    # side is charged with all the CPU the process's other threads used during a pair of steps
    # (TensorBoard's writer, the progress bar's refresh; the bare loop starts none).
    other_cpu = statistics.mean(i.other_cpu + b.other_cpu for i, b in zip(inst, bare))
    inst_cpu = statistics.median(c.cpu for c in inst) + other_cpu
    bare_cpu = statistics.median(c.cpu for c in bare)
    eval_s = statistics.median(rep.eval_s for rep in repeats)
    ckpt_s = statistics.median(rep.checkpoint_s for rep in repeats)
    with_intervals = ratio + (eval_s / DEFAULT_EVAL_EVERY + ckpt_s / DEFAULT_CHECKPOINT_EVERY) / bare_s

    # Same start, same batches: the first step's loss must match; the last one closely (the
    # loop takes the mean of per-token losses, so rounding may differ a little).
    first_diff = max(abs(a - b) for a, b in (rep.first_loss for rep in repeats))
    last_diff = max(abs(a - b) for a, b in (rep.last_loss for rep in repeats))
    same_training = first_diff < 1e-4 and last_diff < 1e-2
    if not same_training:
        say(f"WARNING: the two sides did not train alike (first-step loss differs by {first_diff:.2e}, "
            f"last-step loss by {last_diff:.2e})")

    profile, profile_skipped = None, None
    if not target_met or args.profile:
        # A profiled run: its steps at the instrumented pace with cProfile's slowdown, and set-up.
        need = (mode.warmup_steps + mode.profile_steps + 1) * inst_s * 1.5 + eval_s + ckpt_s + 5
        if time.perf_counter() + need > deadline:
            profile_skipped = "--quick: no time left to profile"
            say(profile_skipped)
        else:
            say(f"profiling one more instrumented run ({mode.profile_steps} steps under cProfile)")
            profile = profile_run(config, batches, mode, run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        run_dir.parent.rmdir()  # only if empty

    from curricle.model.build import build_model

    n_params = count_parameters(build_model(config.model, store.vocab_size, store.eos_id))
    result = {
        "benchmark": "train_overhead",
        "quick": args.quick,
        "loss_chunk_tokens": chunk,
        "controller": controller,
        "overhead_ratio": round(ratio, 4),
        "overhead_ratio_ci95": [round(lo, 4), round(hi, 4)],
        "target": TARGET_RATIO,
        "target_met": target_met,
        "target_verdict": verdict,
        "instrumented_steps_per_s": round(1 / inst_s, 4),
        "bare_steps_per_s": round(1 / bare_s, 4),
        "instrumented_ms_per_step": _ms(inst_s),
        "bare_ms_per_step": _ms(bare_s),
        "ratio_of_medians": round(inst_s / bare_s, 4),
        "ratio_per_run": [round(x, 4) for x in per_run],
        "cpu_overhead_ratio": round(inst_cpu / bare_cpu, 4),
        "cpu_overhead_ms_per_step": _ms(inst_cpu - bare_cpu),
        "other_threads_cpu_ms_per_step": _ms(other_cpu),
        "model_preset": args.preset,
        "parameters": n_params,
        "batch_rows": args.batch_rows,
        "seq_len": args.seq_len,
        "tokens_per_step": args.batch_rows * args.seq_len,
        "warmup_steps": mode.warmup_steps,
        "steps_timed": mode.steps,
        "repeats": len(repeats),
        "repeats_planned": mode.repeats,
        "steps_timed_total": len(inst),
        "torch_threads": args.threads,
        "timing": "instrumented and bare steps alternate one by one within each run; "
                  "overhead_ratio: median over all timed steps of (instrumented / bare wall time of "
                  "the same step), 95% bootstrap interval; steps/s: each side's median step",
        "instrumented": "Trainer.fit(), unchanged, fed the pre-drawn batches: progress bar (rich, "
                        "non-terminal console), metrics.jsonl and TensorBoard every step, per-domain "
                        "loss, grad norm, stability guard; eval and checkpoint at the last step only",
        "bare": "forward, mean cross-entropy, backward, clip_grad_norm_, AdamW step with the same "
                "groups and LR schedule, zero_grad; same init, same batches",
        "outside_timed_steps": {
            "eval_s": round(eval_s, 4),
            "checkpoint_s": round(ckpt_s, 4),
            "eval_rows_per_domain": config.train.eval_rows_per_domain,
            "ratio_with_eval_and_checkpoint_every_20_steps": round(with_intervals, 4),
        },
        "same_training": {"ok": same_training, "max_first_loss_diff": first_diff,
                          "max_last_loss_diff": last_diff, "first_loss": repeats[0].first_loss[0],
                          "last_loss": repeats[0].last_loss[0]},
        "per_step_ms": {"instrumented": [round(c.wall * 1e3, 1) for c in inst],
                        "bare": [round(c.wall * 1e3, 1) for c in bare]},
        "profile": profile,
        "profile_skipped": profile_skipped,
        "store": {"data_dir": str(data_dir), "built_this_run": report.did_work,
                  "prepare_s": round(report.seconds, 1), "domains": store.domains,
                  "vocab_size": store.vocab_size},
        "cached_products": cached_products([data_dir]),  # the store, read back while up to date
        "env": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                "loadavg_1min": {"at_start": round(load_at_start, 2), "at_end": round(os.getloadavg()[0], 2)}},
        "seconds_total": round(time.perf_counter() - _T0, 1),
    }

    err = sys.stderr
    print(f"\n{'side':<14}{'ms/step':>10}{'steps/s':>10}{'CPU ms/step':>13}", file=err)
    print(f"{'instrumented':<14}{inst_s * 1e3:>10.2f}{1 / inst_s:>10.3f}{inst_cpu * 1e3:>13.2f}", file=err)
    print(f"{'bare':<14}{bare_s * 1e3:>10.2f}{1 / bare_s:>10.3f}{bare_cpu * 1e3:>13.2f}", file=err)
    print(f"overhead_ratio {ratio:.4f} (95% interval {lo:.4f}-{hi:.4f}; ratio of medians "
          f"{inst_s / bare_s:.4f}; CPU time {inst_cpu / bare_cpu:.4f}, of which other threads "
          f"{other_cpu * 1e3:.1f} ms/step)", file=err)
    print(f"target <= {TARGET_RATIO}: {'met' if target_met else 'NOT met'} ({verdict})", file=err)
    print(f"not timed: eval {eval_s * 1e3:.0f} ms, checkpoint {ckpt_s * 1e3:.0f} ms; with both every "
          f"{DEFAULT_EVAL_EVERY} steps the ratio would be {with_intervals:.4f}", file=err)
    if profile is not None:
        print(f"profile ({profile['steps']} steps under cProfile, "
              f"{profile['wall_ms_per_step_under_profiler']:.1f} ms/step), ms per step:", file=err)
        for label, ms in profile["ms_per_step"].items():
            print(f"  {label:<46}{ms:>9.3f}", file=err)
    print(f"total {result['seconds_total']}s", file=err)
    # The like-for-like loss is its own figure (results/train_overhead.unchunked-loss.json).
    variant = None if chunk == 1024 else "unchunked-loss" if chunk is None else f"loss-chunk-{chunk}"
    if controller:
        name = f"hard-examples-{args.hard_examples}" + ("-no-signals" if args.no_signals else "")
        variant = name if variant is None else f"{name}.{variant}"
    finish("train_overhead", result, _T0, quick=args.quick, variant=variant)


if __name__ == "__main__":
    main()
