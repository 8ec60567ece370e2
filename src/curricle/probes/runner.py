"""Scoring a series of checkpoints on a set of tasks, with a cache.

For each checkpoint, in run and position order:

1. fingerprint its weights; a checkpoint whose weights equal an earlier one's is flagged
   (``duplicate_of``) and gets that one's scores without being loaded;
2. look every task up in the cache (weights, tokenizer, model config, task hash, scorer
   settings); load the model only if some task is missing, score the missing ones, and
   store them. Checkpoints with the same tokenizer files share their token ids, so each
   task is tokenized once per call, not once per checkpoint.

The rows (see :mod:`curricle.probes.results`) go to ``out_file``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from curricle.probes.cache import ProbeCache, cache_key
from curricle.probes.checkpoints import (
    CheckpointRef,
    find_checkpoints,
    read_hash_memo,
    tokenizer_hash,
    weights_hash,
    write_hash_memo,
)
from curricle.probes.lm import ProbeLM
from curricle.probes.results import SCHEMA, write_rows
from curricle.probes.scorers import SCORERS, TaskScore
from curricle.probes.task import ProbeTask

log = logging.getLogger(__name__)


@dataclass
class ProbeRun:
    """What a probe run did."""

    rows: list[dict[str, Any]]
    checkpoints: int = 0
    scored: int = 0
    """(checkpoint, task) pairs scored by a model in this run."""
    cached: int = 0
    """Pairs taken from the cache or from an identical checkpoint."""
    duplicates: dict[str, str] = field(default_factory=dict)
    """Checkpoint -> the earlier checkpoint with identical weights."""
    seconds: float = 0.0


def score_tasks(lm: ProbeLM, tasks: Sequence[ProbeTask]) -> dict[str, tuple[TaskScore, float]]:
    """Score every task with one model: ``{task name: (score, seconds)}``."""
    out = {}
    for task in tasks:
        t0 = time.perf_counter()
        score = SCORERS[task.output_type].score(lm, task)
        out[task.name] = (score, time.perf_counter() - t0)
    return out


def make_row(task: ProbeTask, metrics: dict[str, float], n: int, seconds: float, *, run: Path | str | None,
             checkpoint: Path | str | None, step: int | None, tokens: int | None,
             weights: str | None = None, duplicate_of: str | None = None, cached: bool = False) -> dict[str, Any]:
    scorer = SCORERS[task.output_type]
    run_s = str(run) if run is not None else None
    return {
        "schema": SCHEMA,
        "run": run_s,
        "run_name": Path(run_s).name if run_s else None,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "step": step,
        "tokens": tokens,
        "weights_hash": weights,
        "duplicate_of": duplicate_of,
        "task": task.name,
        "skill": task.skill,
        "task_hash": task.hash,
        "output_type": task.output_type,
        "n": n,
        "composite_of": list(task.composite_of),
        "family": task.family,
        "level": task.level,
        "level_index": task.level_index,
        "in_sample": task.in_sample,
        "contaminated": task.contaminated,
        "metrics": dict(metrics),
        "discrete": scorer.discrete,
        "continuous": scorer.continuous_metric(task),
        "chance": scorer.chance(task),
        "seconds": round(seconds, 4),
        "cached": cached,
    }


def probe_checkpoints(
    paths_or_run_dirs: Sequence[Path | str],
    tasks: Sequence[ProbeTask],
    out_file: Path | str | None = None,
    cache_dir: Path | str | None = None,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 64,
    on_checkpoint: Callable[[CheckpointRef, int, int], None] | None = None,
) -> ProbeRun:
    """Score every checkpoint under ``paths_or_run_dirs`` on every task.

    ``cache_dir`` (optional) keeps scores between runs; ``on_checkpoint(ref, scored,
    cached)`` is called after each checkpoint (for progress output).
    """
    t_start = time.perf_counter()
    refs = find_checkpoints(list(paths_or_run_dirs))
    cache = ProbeCache(cache_dir) if cache_dir is not None else None
    memo = read_hash_memo(cache.hash_memo_path) if cache else {}
    settings = {"dtype": dtype}
    result = ProbeRun(rows=[], checkpoints=len(refs))
    first_with: dict[str, CheckpointRef] = {}
    scores_of: dict[str, dict[str, dict[str, Any]]] = {}  # weights hash -> task name -> entry
    token_memos: dict[str, dict[str, list[int]]] = {}  # tokenizer hash -> token ids by text

    for ref in refs:
        wh = weights_hash(ref.path, memo)
        dup = first_with.get(wh)
        n_scored = n_cached = 0
        if dup is not None:
            result.duplicates[str(ref.path)] = str(dup.path)
            log.warning("%s has the same weights as %s: flagged, not rescored", ref.path, dup.path)
            entries = scores_of[wh]
            n_cached = len(tasks)
        else:
            first_with[wh] = ref
            th = tokenizer_hash(ref.path, memo)
            model_id = f"{wh}|{th}|{_config_digest(ref.path)}"
            entries, missing = {}, []
            for task in tasks:
                key = cache_key(model_id, task.hash, settings)
                hit = cache.get(key) if cache else None
                if hit is not None:
                    entries[task.name] = hit
                    n_cached += 1
                else:
                    missing.append((task, key))
            if missing:
                lm = ProbeLM.load(ref.path, device=device, dtype=dtype, batch_size=batch_size,
                                  token_memo=token_memos.setdefault(th, {}))
                scored = score_tasks(lm, [t for t, _ in missing])
                del lm
                for task, key in missing:
                    score, seconds = scored[task.name]
                    entry = {"metrics": score.metrics, "n": score.n, "seconds": seconds, "task": task.name,
                             "task_hash": task.hash, "weights_hash": wh, "fresh": True}
                    if cache:
                        cache.put(key, {k: v for k, v in entry.items() if k != "fresh"})
                    entries[task.name] = entry
                    n_scored += 1
            scores_of[wh] = entries
        for task in tasks:
            e = entries[task.name]
            fresh = dup is None and e.get("fresh", False)
            result.rows.append(make_row(task, e["metrics"], e["n"], e["seconds"], run=ref.run, checkpoint=ref.path,
                                        step=ref.step, tokens=ref.tokens, weights=wh,
                                        duplicate_of=str(dup.path) if dup else None, cached=not fresh))
        result.scored += n_scored
        result.cached += n_cached
        if on_checkpoint:
            on_checkpoint(ref, n_scored, n_cached)
    if cache:
        write_hash_memo(cache.hash_memo_path, memo)
    if out_file is not None:
        write_rows(Path(out_file), result.rows)
    result.seconds = time.perf_counter() - t_start
    return result


def _config_digest(path: Path) -> str:
    p = path / "config.json"
    return hashlib.blake2b(p.read_bytes(), digest_size=8).hexdigest() if p.is_file() else "-"
