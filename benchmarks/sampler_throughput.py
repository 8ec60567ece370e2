"""Tokens per second served by curricle's ``MixtureSampler``, against its peers, on one store.

Usage::

    .venv/bin/python benchmarks/sampler_throughput.py --quick   # < 3 minutes on 2 CPU cores
    .venv/bin/python benchmarks/sampler_throughput.py           # bigger store, longer timings

Stages:

1. **Store.** ``prepare`` builds (or reuses) a 5-domain token store under ``--data-dir``
   (``quick/`` or ``full/`` below it): ``code`` (python-code), ``prose`` (python-prose) and
   three synthetic skills (``arithmetic``, ``copy``, ``facts``); a byte-level BPE of 8192.
2. **Set-up, not timed.** The peers get per-domain datasets of pre-packed rows of
   ``seq_len + 1`` tokens cut from the same store's train split (a small domain is tiled),
   enough rows per domain that no timed step runs out.
3. **Timed.** Every contender yields the same batch shape, an int64 tensor of
   ``(batch_rows, seq_len + 1)``, and counts ``batch_rows * (seq_len + 1)`` tokens a batch.
   After warm-up steps, each runs ``steps`` batches per round; the rounds of all contenders
   are interleaved (so outside load hits them alike) and the median round is reported. Each
   contender runs single-process, with no loader workers (``num_workers=0``) and one torch
   thread: per-core throughput.

   - ``curricle``: ``MixtureSampler.next_batch()``, its weights changed every step with
     ``set_weights`` (a seeded, mean-reverting random walk of the log-weights).
   - ``curricle_weight_by``: the same, with ``mixture.weight_by`` on every domain
     (``compression_ratio``, temperature ``WEIGHT_BY_TEMPERATURE``): each domain's documents
     drawn one at a time by their score instead of streamed in a shuffled order. Its ratio to
     ``curricle`` (``weight_by_vs_curricle``) is the cost of within-domain weights.
   - ``raw``: the floor of any sampler on these memmaps. Per row, a domain drawn by the same
     per-step weights and a window of ``seq_len + 1`` tokens at a random offset of that
     domain's ``DomainSplit.tokens``, copied into one preallocated int64 batch, then
     ``torch.from_numpy``. No documents, no state: it only moves the bytes.
   - ``hf_interleave``: ``datasets.interleave_datasets`` over per-domain ``Dataset`` s,
     with the fixed base weights as probabilities (it cannot change them per step),
     ``stopping_strategy="all_exhausted"``, iterated with ``.with_format("numpy").iter()``;
     the same with ``.with_format("torch")`` is reported as an extra figure.
   - ``litdata``: ``CombinedStreamingDataset`` of ``StreamingDataset`` s with
     ``TokensLoader(block_size=seq_len + 1)`` over the same rows, fixed weights,
     ``StreamingDataLoader(batch_size=batch_rows, num_workers=0)``. litdata needs a newer
     torch stack than the one curricle pins, so it runs in its own venv
     (``--litdata-venv``, created on first use with curricle's torch version constrained)
     as a subprocess running this file in worker mode; it optimizes the rows and warms up
     before any timing, then times each round on request. If that venv, the optimization
     or a round fails or runs out of time, ``litdata`` is null and the reason is given.

4. **Domain count** (``--domains 10,100,1000``, on by default): the cost of a step as the
   number of domains grows, the tokens per step the same (a batch of ``BATCH_ROWS`` rows).
   Each count gets a synthetic store of that many domains, every domain alike (documents of
   random tokens, lognormal lengths around 300 tokens, ``SWEEP_DOMAIN_TOKENS`` tokens each),
   written straight to the store format. curricle's sampler draws from it with weights changed
   every step (a random walk around uniform), timed in interleaved rounds as above;
   ``cost_1000_vs_10`` is the median step time at the largest count over the smallest
   (target <= 2).

The last stdout line is one JSON object with the figures and settings; progress and a table go
to stderr. The issue's targets (``ratio_vs_raw >= 0.8``, ``speedup_vs_hf_interleave >= 10``)
are reported as met or not; nothing here is tuned to meet them.

The quick store is small, so domains repeat many times over during the timings; the sampler's
``max_epochs`` warning is raised out of the way for that reason.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from common import cached_products, finish, record_prepared, say

BATCH_ROWS = 32
SEQ_LEN = 1024
ROW_TOKENS = SEQ_LEN + 1
SEED = 0
#: Fixed weights of the peers, and the centre of curricle's and raw's per-step random walk.
BASE_WEIGHTS = {"code": 0.30, "prose": 0.25, "arithmetic": 0.15, "copy": 0.15, "facts": 0.15}
TARGET_COST_1000_VS_10 = 2.0
#: The curricle_weight_by contender: every domain drawn by exp(compression_ratio / this).
WEIGHT_BY_TEMPERATURE = 0.5
#: Tokens in each synthetic domain of the domain-count sweep.
SWEEP_DOMAIN_TOKENS = 60_000
TARGET_RATIO_VS_RAW = 0.8
TARGET_SPEEDUP_VS_HF = 10.0

LITDATA_VERSION = "0.2.76"
#: The whole --quick run is meant to end within 3 minutes; litdata gets what is left of this.
QUICK_BUDGET_S = 170.0


@dataclass(frozen=True)
class Mode:
    """Sizes of one mode: the store's sources, and how many steps are timed."""

    name: str
    code_docs: int | None
    prose_docs: int | None
    synthetic_docs: int
    tokenizer_sample_docs: int
    warmup_steps: int
    steps: int
    rounds: int
    litdata_install_s: float
    litdata_run_s: float

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.steps * self.rounds


QUICK = Mode("quick", code_docs=300, prose_docs=1500, synthetic_docs=1500, tokenizer_sample_docs=500,
             warmup_steps=10, steps=400, rounds=5, litdata_install_s=120, litdata_run_s=90)
FULL = Mode("full", code_docs=None, prose_docs=None, synthetic_docs=8000, tokenizer_sample_docs=2000,
            warmup_steps=20, steps=400, rounds=5, litdata_install_s=600, litdata_run_s=600)

_T0 = time.perf_counter()


# -- 1. the store ----------------------------------------------------------------------------


def store_config(mode: Mode, data_dir: Path) -> dict[str, Any]:
    n = mode.synthetic_docs
    return {
        "name": f"bench-{mode.name}",
        "seed": SEED,
        "data_dir": str(data_dir),
        "sources": [
            {"kind": "python-code", "domain": "code", "max_docs": mode.code_docs},
            {"kind": "python-prose", "domain": "prose", "max_docs": mode.prose_docs},
            {"kind": "synthetic", "domain": "arithmetic", "skill": "arithmetic", "n_docs": n,
             "params": {"digits": 3}},
            {"kind": "synthetic", "domain": "copy", "skill": "copy", "n_docs": n},
            {"kind": "synthetic", "domain": "facts", "skill": "facts", "n_docs": n,
             "params": {"n_entities": 1000}},
        ],
        "tokenizer": {"vocab_size": 8192, "sample_docs_per_source": mode.tokenizer_sample_docs},
    }


def build_store(mode: Mode, data_dir: Path):
    """The prepared store (built on a cold cache, with the code that made it recorded,
    ``common.record_prepared``; reused otherwise) and prepare's report."""
    import logging

    from curricle.config import parse_config
    from curricle.prepare.command import prepare_run
    from curricle.store import TokenStore

    # Built-in sources skip short docstrings, oversized files, ... by design: count, don't warn.
    logging.getLogger("curricle.sources").setLevel(logging.ERROR)
    config = parse_config(store_config(mode, data_dir), "benchmark store")
    say(f"store: preparing {data_dir} (reused when up to date)")
    report = prepare_run(config, progress=False)
    record_prepared(report)
    store = TokenStore(data_dir)
    say(f"store: {'built' if report.did_work else 'reused'} in {report.seconds:.1f}s")
    for d in store.domains:
        split = store.split(d)
        say(f"  {d:<10} {split.n_docs:>7,} docs {split.n_tokens:>11,} tokens "
            f"({split.n_tokens / split.n_docs:,.0f} a doc)")
    return store, report


# -- 2. set-up -------------------------------------------------------------------------------


def weight_walk(base: np.ndarray, n_steps: int, seed: int) -> np.ndarray:
    """(n_steps, n_domains) weights: a mean-reverting random walk of the log-weights around
    ``base`` (what a controller calling ``set_weights`` every step might produce)."""
    rng = np.random.default_rng([seed, 0xC0DE])
    mu = np.log(base)
    z = mu.copy()
    out = np.empty((n_steps, len(base)))
    for t in range(n_steps):
        z += 0.05 * (mu - z) + 0.1 * rng.standard_normal(len(base))
        w = np.exp(z)
        out[t] = w / w.sum()
    return out


def rows_per_domain(weights: np.ndarray, total_rows: int) -> np.ndarray:
    """Rows each domain needs so that a stream of ``total_rows`` rows, each drawn from domain
    ``d`` with probability ``weights[d]``, does not run out: mean + 6 sigma + a batch."""
    w = np.asarray(weights)
    sigma = np.sqrt(total_rows * w * (1 - w))
    return np.ceil(w * total_rows + 6 * sigma).astype(np.int64) + BATCH_ROWS


def packed_rows(tokens: np.ndarray, n_rows: int) -> np.ndarray:
    """(n_rows, ROW_TOKENS): consecutive windows of the domain's token stream (documents with
    their EOS, in store order), the stream repeated if it is too short."""
    n = n_rows * ROW_TOKENS
    flat = tokens[:n] if len(tokens) >= n else np.resize(tokens, n)
    return np.ascontiguousarray(flat).reshape(n_rows, ROW_TOKENS)


# -- 3. the contenders: each is a zero-argument function returning one (B, L + 1) int64 batch --


def curricle_contender(store, walk: np.ndarray) -> Callable[[], Any]:
    from curricle.mixture.config import MixtureConfig
    from curricle.mixture.sampler import MixtureSampler

    config = MixtureConfig(batch_rows=BATCH_ROWS, seq_len=SEQ_LEN, max_epochs=1e12)
    sampler = MixtureSampler(store, config, seed=SEED)
    weights = iter(walk)

    def next_batch():
        sampler.set_weights(next(weights))
        return sampler.next_batch().tokens

    return next_batch


def curricle_weight_by_contender(store, walk: np.ndarray) -> Callable[[], Any]:
    from curricle.mixture.config import MixtureConfig, WeightByConfig
    from curricle.mixture.sampler import MixtureSampler

    by = WeightByConfig(column="compression_ratio", temperature=WEIGHT_BY_TEMPERATURE)
    config = MixtureConfig(batch_rows=BATCH_ROWS, seq_len=SEQ_LEN, max_epochs=1e12,
                           weight_by={d: by for d in store.domains})
    sampler = MixtureSampler(store, config, seed=SEED)
    weights = iter(walk)

    def next_batch():
        sampler.set_weights(next(weights))
        return sampler.next_batch().tokens

    return next_batch


def raw_contender(store, walk: np.ndarray) -> Callable[[], Any]:
    import torch

    tokens = [store.split(d).tokens for d in store.domains]
    # Highest valid window start + 1, per domain.
    n_starts = np.array([len(t) - ROW_TOKENS + 1 for t in tokens], dtype=np.float64)
    out = np.empty((BATCH_ROWS, ROW_TOKENS), dtype=np.int64)  # (B, L + 1), reused
    rng = np.random.default_rng([SEED, 0x7A3])
    weights = iter(walk)

    def next_batch():
        w = next(weights)
        domains = rng.choice(len(tokens), size=BATCH_ROWS, p=w)  # (B,)
        starts = (rng.random(BATCH_ROWS) * n_starts[domains]).astype(np.int64)  # (B,)
        for j, (d, s) in enumerate(zip(domains.tolist(), starts.tolist())):
            out[j] = tokens[d][s : s + ROW_TOKENS]
        return torch.from_numpy(out)

    return next_batch


def hf_interleaved(store, base: np.ndarray, n_rows: np.ndarray):
    """The interleaved HF dataset over per-domain datasets of pre-packed rows (set-up)."""
    import datasets

    datasets.disable_progress_bars()
    parts = [
        datasets.Dataset.from_dict({"input_ids": packed_rows(store.split(d).tokens, int(n))})
        for d, n in zip(store.domains, n_rows)
    ]
    t0 = time.perf_counter()
    mixed = datasets.interleave_datasets(
        parts, probabilities=base.tolist(), seed=SEED, stopping_strategy="all_exhausted"
    )
    return mixed, time.perf_counter() - t0


def hf_contender(mixed, fmt: str) -> Callable[[], Any]:
    import torch

    batches = mixed.with_format(fmt).iter(batch_size=BATCH_ROWS, drop_last_batch=True)

    def next_batch():
        x = next(batches)["input_ids"]  # (B, L + 1)
        if fmt == "numpy":
            return torch.from_numpy(np.asarray(x, dtype=np.int64))
        return x.to(torch.int64)

    return next_batch


def check_batch(name: str, batch, vocab_size: int | None = None) -> None:
    import torch

    if tuple(batch.shape) != (BATCH_ROWS, ROW_TOKENS) or batch.dtype != torch.int64:
        raise SystemExit(f"{name}: batch is {batch.dtype} {tuple(batch.shape)}, "
                         f"expected torch.int64 ({BATCH_ROWS}, {ROW_TOKENS})")
    if vocab_size is not None and (int(batch.min()) < 0 or int(batch.max()) >= vocab_size):
        raise SystemExit(f"{name}: token ids outside [0, {vocab_size})")


def timed_steps(next_batch: Callable[[], Any], steps: int) -> float:
    """Seconds for ``steps`` batches."""
    t0 = time.perf_counter()
    for _ in range(steps):
        next_batch()
    return time.perf_counter() - t0


class Dropped(Exception):
    """A contender that cannot go on; its figures become null, with this reason."""


class LocalContender:
    """A contender in this process."""

    def __init__(self, next_batch: Callable[[], Any], vocab_size: int):
        self.next_batch = next_batch
        self.vocab_size = vocab_size

    def warm_up(self, name: str, steps: int) -> None:
        for _ in range(steps):
            batch = self.next_batch()
        check_batch(name, batch, self.vocab_size)

    def round(self, steps: int) -> float:
        return timed_steps(self.next_batch, steps)

    def close(self) -> None:
        pass


def time_rounds(contenders: dict[str, Any], mode: Mode) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Tokens/s of every round of every contender, after its warm-up. Rounds are interleaved,
    so load from outside this benchmark hits every contender alike. Also: who was dropped, why."""
    for name, c in contenders.items():
        c.warm_up(name, mode.warmup_steps)
    tokens = mode.steps * BATCH_ROWS * ROW_TOKENS
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    dropped: dict[str, str] = {}
    for r in range(mode.rounds):
        for name, c in contenders.items():
            if name in dropped:
                continue
            try:
                rates[name].append(tokens / c.round(mode.steps))
            except Dropped as err:
                dropped[name] = str(err)
                say(f"  {name}: {err}")
        say("  round {}/{}: {}".format(r + 1, mode.rounds, ", ".join(
            f"{n} {v[-1] / 1e6:.1f}M" for n, v in rates.items() if v and n not in dropped)))
    return rates, dropped


# -- 4. the domain-count sweep ---------------------------------------------------------------


def synthetic_store(data_dir: Path, n_domains: int, vocab: int = 8192):
    """A store of ``n_domains`` alike synthetic domains (reused when already written)."""
    from curricle.store import (DomainEntry, DomainSplitWriter, Manifest, SplitCounts, TokenizerEntry, TokenStore,
                                write_manifest)
    from curricle.store.manifest import MANIFEST_FILE

    root = data_dir / f"domains-{n_domains}"
    if (root / MANIFEST_FILE).is_file():
        return TokenStore(root)
    rng = np.random.default_rng([SEED, n_domains])
    manifest = Manifest(dtype="uint16", eos_id=0, vocab_size=vocab, tokenizer=TokenizerEntry(dir="none"))
    for d in range(n_domains):
        name = f"d{d:04d}"
        final = root / "store" / name
        split_stats = {}
        for split, tokens in (("train", SWEEP_DOMAIN_TOKENS), ("heldout", 2_000)):
            w = DomainSplitWriter(final / split, np.uint16, eos_id=0)
            left = tokens
            while left > 0:
                n = int(min(left, max(8, rng.lognormal(np.log(300), 0.7))))
                w.add(rng.integers(1, vocab, n, dtype=np.uint16), {"doc_id": f"{name}-{w.n_docs}"})
                left -= n + 1
            split_stats[split] = SplitCounts(**w.close())
        manifest.domains[name] = DomainEntry(dir=f"store/{name}", group=name, **split_stats)
    write_manifest(root, manifest)
    return TokenStore(root)


def domain_sweep(counts: list[int], data_dir: Path, mode: Mode) -> dict[str, Any]:
    """Median microseconds per step of curricle's sampler at each domain count."""
    from curricle.mixture.config import MixtureConfig
    from curricle.mixture.sampler import MixtureSampler

    steps = mode.steps
    contenders = {}
    warm = {}
    for n in counts:
        t0 = time.perf_counter()
        store = synthetic_store(data_dir, n)
        say(f"sweep: {n} domains ready in {time.perf_counter() - t0:.1f}s")
        # Steady state: every domain through two epochs of its stream first, so the timed rounds
        # carry the read-ahead layouts (one per domain and epoch) at their running rate, not the
        # first epoch's burst, whatever the domain count.
        warm[n] = 2 * int(np.ceil(n * SWEEP_DOMAIN_TOKENS / (BATCH_ROWS * ROW_TOKENS))) + mode.warmup_steps
        walk = weight_walk(np.full(n, 1.0 / n), warm[n] + steps * mode.rounds, SEED)
        sampler = MixtureSampler(store, MixtureConfig(batch_rows=BATCH_ROWS, seq_len=SEQ_LEN, max_epochs=1e12),
                                 seed=SEED)
        contenders[n] = (sampler, iter(walk))

    def step(sampler, weights):
        sampler.set_weights(next(weights))
        return sampler.next_batch().tokens

    for n, (sampler, weights) in contenders.items():
        for _ in range(warm[n]):
            step(sampler, weights)
    per_step: dict[int, list[float]] = {n: [] for n in counts}
    for r in range(mode.rounds):
        for n, (sampler, weights) in contenders.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                step(sampler, weights)
            per_step[n].append((time.perf_counter() - t0) / steps * 1e6)
        say("  sweep round {}/{}: {}".format(r + 1, mode.rounds, ", ".join(
            f"{n} domains {v[-1]:.0f} us" for n, v in per_step.items())))
    med = {n: statistics.median(v) for n, v in per_step.items()}
    lo, hi = min(counts), max(counts)
    cost = med[hi] / med[lo]
    mean = {n: statistics.mean(v) for n, v in per_step.items()}
    pairs = {f"cost_{b}_vs_{a}": round(med[b] / med[a], 3) for a, b in zip(counts, counts[1:])}
    return {"domain_counts": counts, "warmup_steps": {str(n): warm[n] for n in counts},
            "us_per_step": {str(n): round(med[n], 1) for n in counts},
            "us_per_step_mean": {str(n): round(mean[n], 1) for n in counts},
            f"cost_{max(counts)}_vs_{min(counts)}_of_means": round(mean[max(counts)] / mean[min(counts)], 3), **pairs,
            "us_per_step_rounds": {str(n): [round(x, 1) for x in v] for n, v in per_step.items()},
            f"cost_{hi}_vs_{lo}": round(cost, 3), "cost_ratio": round(cost, 3),
            "target": {"cost_ratio": TARGET_COST_1000_VS_10, "met": cost <= TARGET_COST_1000_VS_10},
            "tokens_per_step": BATCH_ROWS * ROW_TOKENS, "domain_train_tokens": SWEEP_DOMAIN_TOKENS}


# -- litdata, in its own venv and process ----------------------------------------------------


class LitdataVenv:
    """A venv with litdata, next to (never inside) curricle's; torch pinned to curricle's."""

    def __init__(self, path: Path):
        self.path = path
        self.python = path / "bin" / "python"
        self.marker = path / ".bench-ready"
        self.log = path.parent / f"{path.name}.install.log"
        self._proc: subprocess.Popen | None = None
        self._started = 0.0

    def ready(self) -> bool:
        return self.marker.is_file() and self.python.is_file()

    def start(self) -> None:
        """Create the venv and start installing litdata in the background."""
        if self.ready():
            return
        import torch

        torch_version = torch.__version__.split("+")[0]
        say(f"litdata: creating {self.path} (litdata=={LITDATA_VERSION}, torch=={torch_version})")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.path)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        constraints = self.path / "constraints.txt"
        constraints.write_text(f"torch=={torch_version}\n")
        self._started = time.perf_counter()
        with open(self.log, "w") as log:
            self._proc = subprocess.Popen(
                [str(self.python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                 "-c", str(constraints), f"litdata=={LITDATA_VERSION}"],
                stdout=log, stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float) -> str | None:
        """None when the venv is ready, else why it is not."""
        if self.ready():
            return None
        if self._proc is None:
            return "litdata venv was not started"
        try:
            rc = self._proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            return f"installing litdata took over {time.perf_counter() - self._started:.0f}s (cut off)"
        if rc != 0:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            return f"pip install litdata failed (exit {rc}): {' | '.join(tail)}"
        check = subprocess.run([str(self.python), "-c", "import litdata, torch; print(torch.__version__)"],
                               capture_output=True, text=True)
        if check.returncode != 0:
            return f"litdata does not import in its venv: {check.stderr.strip().splitlines()[-1:]}"
        self.marker.write_text(check.stdout)
        say(f"litdata: venv ready in {time.perf_counter() - self._started:.0f}s (torch {check.stdout.strip()})")
        return None


class LitdataContender:
    """litdata in a worker process (this file in worker mode, run by litdata's venv).

    The worker optimizes the rows and warms up before any timing starts; then each round is
    one request on its stdin, timed inside the worker and answered on its stdout, so its
    rounds interleave with the others'.
    """

    def __init__(self, venv: LitdataVenv, work_dir: Path, spec: dict[str, Any]):
        import queue
        import threading

        self.work_dir = work_dir
        (work_dir / "spec.json").write_text(json.dumps(spec))
        self.log_path = work_dir / "worker.log"
        self._log = open(self.log_path, "w")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.proc = subprocess.Popen(
            [str(venv.python), str(Path(__file__).resolve()), "--litdata-worker", str(work_dir / "spec.json")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env,
        )
        self._lines: queue.Queue = queue.Queue()

        def read() -> None:
            for line in self.proc.stdout:
                if line.startswith(_WORKER_PREFIX):
                    self._lines.put(json.loads(line[len(_WORKER_PREFIX):]))
            self._lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        self.info: dict[str, Any] = {}

    def _reply(self, timeout: float, what: str) -> dict[str, Any]:
        import queue

        try:
            msg = self._lines.get(timeout=max(0.0, timeout))
        except queue.Empty:
            self.close()
            raise Dropped(f"litdata {what} took over {timeout:.0f}s (cut off)") from None
        if msg is None:
            self.proc.wait()
            self._log.flush()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise Dropped(f"litdata worker failed during {what} (exit {self.proc.returncode}): {tail[0]}")
        return msg

    def wait_ready(self, timeout: float) -> None:
        self.info = self._reply(timeout, "optimize + warm-up")

    def warm_up(self, name: str, steps: int) -> None:
        pass  # done by the worker before it said it was ready

    def round(self, steps: int, timeout: float = 120.0) -> float:
        try:
            self.proc.stdin.write(f"round {steps}\n")
            self.proc.stdin.flush()
        except OSError as err:
            raise Dropped(f"litdata worker is gone: {err}") from None
        return float(self._reply(timeout, "a timed round")["seconds"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


_WORKER_PREFIX = "BENCH-WORKER "


def _litdata_slab(item: tuple[str, int, int]):
    """optimize()'s fn: rows ``a:b`` of one domain's row file, as one flat token array."""
    path, a, b = item
    rows = np.load(path, mmap_mode="r")
    yield np.ascontiguousarray(rows[a:b]).reshape(-1)


def litdata_worker(spec_path: Path) -> None:
    """Worker mode (run by litdata's venv): optimize the rows, warm up, then answer
    ``round N`` requests on stdin with the seconds N batches took."""
    import litdata
    import torch
    from litdata import CombinedStreamingDataset, StreamingDataLoader, StreamingDataset, TokensLoader, optimize

    def send(msg: dict[str, Any]) -> None:
        print(_WORKER_PREFIX + json.dumps(msg), flush=True)

    torch.set_num_threads(1)
    spec = json.loads(Path(spec_path).read_text())
    work = Path(spec["work_dir"])
    t0 = time.perf_counter()
    dirs = []
    for i, path in enumerate(spec["rows_files"]):
        n = np.load(path, mmap_mode="r").shape[0]
        out = work / f"optimized-{i}"
        optimize(fn=_litdata_slab, inputs=[(path, a, min(a + 256, n)) for a in range(0, n, 256)],
                 output_dir=str(out), chunk_bytes="64MB", item_loader=TokensLoader(),
                 num_workers=1, verbose=False)
        dirs.append(out)
    optimize_s = time.perf_counter() - t0

    parts = [StreamingDataset(input_dir=str(d), item_loader=TokensLoader(block_size=ROW_TOKENS),
                              shuffle=True, drop_last=True, seed=spec["seed"]) for d in dirs]
    mixed = CombinedStreamingDataset(parts, seed=spec["seed"], weights=spec["weights"], iterate_over_all=False)
    batches = iter(StreamingDataLoader(mixed, batch_size=BATCH_ROWS, num_workers=0))

    def next_batch():
        return next(batches).to(torch.int64)  # (B, L + 1)

    for _ in range(spec["warmup_steps"]):
        batch = next_batch()
    check_batch("litdata", batch)
    send({"litdata_version": litdata.__version__, "torch": torch.__version__, "optimize_s": round(optimize_s, 2)})
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd != "round":
            break
        send({"seconds": timed_steps(next_batch, int(arg))})


def start_litdata(venv: LitdataVenv, store, n_rows: np.ndarray, base: np.ndarray, mode: Mode,
                  work_dir: Path, timeout: float) -> LitdataContender:
    """Write the peers' rows for litdata and start its worker; ready to time, or Dropped."""
    if timeout < 20:
        raise Dropped(f"only {max(timeout, 0):.0f}s of the --quick time budget left for litdata")
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    rows_files = []
    for d, n in zip(store.domains, n_rows):
        path = work_dir / f"rows-{d}.npy"
        np.save(path, packed_rows(store.split(d).tokens, int(n)))
        rows_files.append(str(path))
    contender = LitdataContender(venv, work_dir, {
        "rows_files": rows_files, "weights": base.tolist(), "work_dir": str(work_dir),
        "warmup_steps": mode.warmup_steps, "seed": SEED,
    })
    try:
        contender.wait_ready(timeout)
    except Dropped:
        contender.close()
        raise
    return contender


# -- the run ---------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small store and short timings: the whole run ends within 3 minutes")
    parser.add_argument("--data-dir", type=Path, default=Path("runs/bench-data"),
                        help="cache of the benchmark's token stores (default: %(default)s)")
    parser.add_argument("--litdata", action=argparse.BooleanOptionalAction, default=True,
                        help="also time litdata, in its own venv (default: on; in --quick only as "
                             "far as the 3-minute budget allows)")
    parser.add_argument("--litdata-venv", type=Path, default=Path("runs/bench-venv-litdata"),
                        help="where litdata's venv is created on first use (default: %(default)s)")
    parser.add_argument("--domains", default="10,100,1000",
                        help="domain counts of the sweep, comma-separated ('' to skip it; default: %(default)s)")
    parser.add_argument("--litdata-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.litdata_worker:
        litdata_worker(args.litdata_worker)
        return

    mode = QUICK if args.quick else FULL
    deadline = _T0 + QUICK_BUDGET_S if args.quick else float("inf")
    data_dir = args.data_dir / mode.name
    say(f"sampler throughput, {mode.name} mode: batch {BATCH_ROWS} x {ROW_TOKENS} tokens, "
        f"{mode.warmup_steps} warm-up + {mode.rounds} x {mode.steps} timed steps per contender")

    # litdata's venv installs (network, unpacking) while the store is built; both finish
    # before anything is timed.
    venv = LitdataVenv(args.litdata_venv.resolve()) if args.litdata else None
    litdata_reason: str | None = None if args.litdata else "not asked for (--no-litdata)"
    if venv is not None:
        try:
            venv.start()
        except (OSError, subprocess.CalledProcessError) as err:
            litdata_reason, venv = f"cannot create the litdata venv: {err}", None

    import datasets
    import torch

    # One intra-op thread for every contender (the worker does the same): a tensor op of one
    # batch gains nothing from more here, and threads that spin on a busy machine lose a lot.
    torch.set_num_threads(1)
    load_at_start = os.getloadavg()[0]
    store, report = build_store(mode, data_dir)
    missing = sorted(set(BASE_WEIGHTS) - set(store.domains))
    if missing:
        raise SystemExit(f"store lacks domains {missing}")
    base = np.array([BASE_WEIGHTS[d] for d in store.domains])
    walk = weight_walk(base, mode.total_steps, SEED)
    n_rows = rows_per_domain(base, mode.total_steps * BATCH_ROWS)

    if venv is not None:
        say("litdata: waiting for its venv")
        litdata_reason = venv.wait(min(mode.litdata_install_s, deadline - time.perf_counter() - 45))
        if litdata_reason is not None:
            say(f"litdata: {litdata_reason}")
            venv = None

    say(f"hf: building {int(n_rows.sum()):,} pre-packed rows and interleaving them")
    mixed, hf_setup_s = hf_interleaved(store, base, n_rows)
    contenders: dict[str, Any] = {
        "curricle": LocalContender(curricle_contender(store, walk), store.vocab_size),
        "curricle_weight_by": LocalContender(curricle_weight_by_contender(store, walk), store.vocab_size),
        "raw": LocalContender(raw_contender(store, walk), store.vocab_size),
        "hf_interleave": LocalContender(hf_contender(mixed, "numpy"), store.vocab_size),
        "hf_interleave_torch_format": LocalContender(hf_contender(mixed, "torch"), store.vocab_size),
    }

    litdata: dict[str, Any] | None = None
    work_dir = data_dir / "litdata-work"
    try:
        if venv is not None:
            timeout = min(mode.litdata_run_s, deadline - time.perf_counter() - 25)
            say(f"litdata: optimizing the same {int(n_rows.sum()):,} rows and warming up (cap {timeout:.0f}s)")
            try:
                contenders["litdata"] = start_litdata(venv, store, n_rows, base, mode, work_dir, timeout)
                litdata = dict(contenders["litdata"].info)
                say(f"litdata: ready (optimize took {litdata['optimize_s']}s)")
            except Dropped as err:
                litdata_reason = str(err)
                say(f"litdata: {litdata_reason}")

        say("timing " + ", ".join(contenders))
        rates, dropped = time_rounds(contenders, mode)
    finally:
        for c in contenders.values():
            c.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    if "litdata" in dropped:
        litdata, litdata_reason = None, dropped["litdata"]
    tps = {name: statistics.median(r) if r and name not in dropped else None for name, r in rates.items()}
    if litdata is not None:
        litdata["tokens_per_s"] = round(tps["litdata"])

    cur = tps["curricle"]
    lit = tps.get("litdata")
    ratio_vs_raw = _ratio(cur, tps["raw"])
    speedup_vs_hf = _ratio(cur, tps["hf_interleave"])
    result = {
        "benchmark": "sampler_throughput",
        "quick": args.quick,
        "batch_rows": BATCH_ROWS,
        "seq_len": SEQ_LEN,
        "tokens_per_batch": BATCH_ROWS * ROW_TOKENS,
        "domains": store.domains,
        "base_weights": dict(zip(store.domains, base.tolist())),
        "weights_change_every_step": {"curricle": True, "curricle_weight_by": True, "raw": True,
                                      "hf_interleave": False, "litdata": False},
        "warmup_steps": mode.warmup_steps,
        "steps_per_round": mode.steps,
        "rounds": mode.rounds,
        "tokens_measured": mode.steps * mode.rounds * BATCH_ROWS * ROW_TOKENS,
        "tokens_per_s": round(cur),
        "raw_tokens_per_s": round(tps["raw"]),
        "hf_interleave_tokens_per_s": round(tps["hf_interleave"]),
        "hf_interleave_torch_format_tokens_per_s": round(tps["hf_interleave_torch_format"]),
        "litdata_tokens_per_s": None if lit is None else round(lit),
        "weight_by_tokens_per_s": round(tps["curricle_weight_by"]),
        "weight_by_vs_curricle": _ratio(tps["curricle_weight_by"], cur),
        "ratio_vs_raw": ratio_vs_raw,
        "speedup_vs_hf_interleave": speedup_vs_hf,
        "speedup_vs_litdata": _ratio(cur, lit),
        "targets": {
            "ratio_vs_raw": {"target": TARGET_RATIO_VS_RAW, "met": ratio_vs_raw >= TARGET_RATIO_VS_RAW},
            "speedup_vs_hf_interleave": {"target": TARGET_SPEEDUP_VS_HF, "met": speedup_vs_hf >= TARGET_SPEEDUP_VS_HF},
        },
        "rounds_tokens_per_s": {n: [round(v) for v in r] for n, r in rates.items() if n not in dropped},
        "hf_interleave_setup_s": round(hf_setup_s, 3),
        "litdata": litdata,
        "litdata_skipped_reason": litdata_reason,
        "store": {
            "data_dir": str(data_dir),
            "built_this_run": report.did_work,
            "prepare_s": round(report.seconds, 1),
            "train_tokens": {d: store.split(d).n_tokens for d in store.domains},
            "train_docs": {d: store.split(d).n_docs for d in store.domains},
            "vocab_size": store.vocab_size,
        },
        "cached_products": cached_products([data_dir]),  # the store, read back while up to date
        "notes": [
            "hf_interleave and litdata mix with fixed probabilities (the base weights): they cannot "
            "change weights per step; curricle and raw follow a new weight vector every step",
            "hf_interleave uses .with_format('numpy').iter(batch_size); "
            "hf_interleave_torch_format the same with .with_format('torch')",
            "each contender single-process, no loader workers, torch.set_num_threads(1); every "
            "contender returns an int64 (B, L+1) torch tensor",
        ],
        "env": {"python": platform.python_version(), "torch": torch.__version__,
                "datasets": datasets.__version__, "cpus": os.cpu_count(),
                "loadavg_1min": {"at_start": round(load_at_start, 2), "at_end": round(os.getloadavg()[0], 2)}},
        "seconds_total": round(time.perf_counter() - _T0, 1),
    }

    counts = [int(x) for x in args.domains.split(",") if x.strip()]
    if counts:
        say(f"domain-count sweep: {', '.join(map(str, counts))} synthetic domains, {BATCH_ROWS} x {ROW_TOKENS} tokens a step")
        sweep = domain_sweep(counts, args.data_dir / "sweep", mode)
        result["domain_sweep"] = sweep
        if len(counts) > 1:
            result[f"cost_{max(counts)}_vs_{min(counts)}"] = sweep["cost_ratio"]
            result["targets"]["domain_cost"] = sweep["target"]
        result["seconds_total"] = round(time.perf_counter() - _T0, 1)

    rows = [("curricle (weights every step)", cur), ("curricle, weight_by everywhere", tps["curricle_weight_by"]),
            ("raw memmap copy (floor)", tps["raw"]),
            ("hf interleave, numpy", tps["hf_interleave"]),
            ("hf interleave, torch format", tps["hf_interleave_torch_format"]),
            ("litdata combined", lit)]
    print(f"\n{'contender':<32}{'M tokens/s':>12}{'curricle is':>14}", file=sys.stderr)
    for label, v in rows:
        if v is None:
            print(f"{label:<32}{'-':>12}{'':>14}  ({litdata_reason})", file=sys.stderr)
        else:
            print(f"{label:<32}{v / 1e6:>12.1f}{cur / v:>13.2f}x", file=sys.stderr)
    for key, t in result["targets"].items():
        if key == "domain_cost":
            print(f"target cost_{max(counts)}_vs_{min(counts)} <= {t['cost_ratio']}: {result['domain_sweep']['cost_ratio']} "
                  f"-> {'met' if t['met'] else 'NOT met'}", file=sys.stderr)
            continue
        print(f"target {key} >= {t['target']}: {result[key]} -> {'met' if t['met'] else 'NOT met'}", file=sys.stderr)
    print(f"total {result['seconds_total']}s", file=sys.stderr)
    finish("sampler_throughput", result, _T0, quick=args.quick)


if __name__ == "__main__":
    main()
