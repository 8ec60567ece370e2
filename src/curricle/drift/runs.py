"""Two training runs as the sides of ``curricle drift``: what each actually served.

A side that is a ``curricle train`` run directory (``RUN/config.yaml``, ``RUN/metrics.jsonl``)
loads as the token store it read (its config's ``data_dir``) plus :class:`Served`: the tokens
the run served per domain, step by step, from the ``served/<domain>`` counts every metrics
line carries (cumulative, all ranks' rows). The per-document sections (metadata, tokens) and
the lineage compare the two runs' stores as they would two stores; the mixture section
compares the token shares the runs *served* (the last step's cumulative counts) instead of the
stores' natural shares (:meth:`~curricle.drift.corpus.Corpus.mixture_shares`).

**The mixture's null for a run.** A run's split-half is a random half of its *steps* (each
step's served tokens, the difference of consecutive cumulative counts) beside a random half
of its store's documents: the spread of the served shares between two halves of one run's
steps is the mixture's own step-to-step noise (a schedule's row rounding, a controller's
moves, phases falling unevenly into the halves). Two runs with the same schedule and seed
serve exactly the same tokens (the sampler is deterministic), so their shares differ by 0 and
stay OK; a schedule whose every step serves the same rows has a null with no spread, and then
any difference in what was served is beyond it (DRIFT), which is what it is.

The side's snapshot is the one the run recorded (``run.json``'s ``data`` record or
``RUN/data.json``: ``snapshot_id``), else its store's current one where the store has it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curricle.drift.corpus import Corpus, load_store
from curricle.errors import CurricleError
from curricle.report.data import read_jsonl
from curricle.runinfo import read_run_info, resolve_data_dir, run_config

SERVED = "served/"


@dataclass
class Served:
    """The tokens a run served per domain at each of its steps."""

    domains: list[str]
    steps: np.ndarray
    """int64 (S,): the steps, ascending."""
    tokens: np.ndarray
    """int64 (S, D): tokens served at each step per domain (not cumulative)."""

    def totals(self) -> dict[str, int]:
        """Tokens served per domain over the selected steps."""
        return dict(zip(self.domains, self.tokens.sum(axis=0).astype(np.int64).tolist()))

    def shares(self) -> dict[str, float]:
        """Each domain's share of the served tokens (0 everywhere when none were served)."""
        totals = self.totals()
        total = sum(totals.values())
        return {d: (t / total if total else 0.0) for d, t in totals.items()}

    def halves(self, rng: np.random.Generator) -> tuple[Served, Served]:
        """The steps split at random into two halves (the first gets floor(S / 2))."""
        perm = rng.permutation(len(self.steps))
        cut = len(perm) // 2
        a, b = np.sort(perm[:cut]), np.sort(perm[cut:])
        return (Served(self.domains, self.steps[a], self.tokens[a]),
                Served(self.domains, self.steps[b], self.tokens[b]))

    def to_json(self) -> dict[str, Any]:
        return {"steps": len(self.steps), "last_step": int(self.steps[-1]) if len(self.steps) else None,
                "tokens": self.totals(), "shares": {d: round(s, 6) for d, s in self.shares().items()}}


def is_run(path: Path) -> bool:
    """Whether ``path`` looks like a training run directory (config.yaml and metrics.jsonl)."""
    return (path / "config.yaml").is_file() and (path / "metrics.jsonl").is_file()


def read_served(metrics: Path) -> Served:
    """The served tokens per step from a run's ``metrics.jsonl`` (a step logged twice, by a
    resumed or rolled-back run, counts by its last line)."""
    rows, _ = read_jsonl(metrics)
    last: dict[int, dict[str, Any]] = {}
    for r in rows:
        if isinstance(r.get("step"), int) and any(k.startswith(SERVED) for k in r):
            last[r["step"]] = r
    if not last:
        raise CurricleError(f"{metrics}: no served/<domain> token counts (a run from before curricle logged "
                            f"them, or not a curricle train run); compare its token store instead")
    steps = sorted(last)
    domains = sorted({k.removeprefix(SERVED) for s in steps for k in last[s] if k.startswith(SERVED)})
    cumulative = np.array([[int(last[s].get(SERVED + d, 0)) for d in domains] for s in steps], dtype=np.int64)
    per_step = np.diff(cumulative, axis=0, prepend=np.zeros((1, len(domains)), dtype=np.int64))
    return Served(domains, np.asarray(steps, dtype=np.int64), per_step)


def recorded_snapshot(run: Path, info: dict[str, Any] | None) -> str | None:
    """The snapshot id the run recorded of the data it read (run.json's ``data`` record, else
    ``RUN/data.json``), or None where it recorded none."""
    record = (info or {}).get("data")
    if not isinstance(record, dict) and (run / "data.json").is_file():
        try:
            record = json.loads((run / "data.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CurricleError(f"{run / 'data.json'}: cannot read it ({err})") from None
    if isinstance(record, dict):
        snap = record.get("snapshot_id", record.get("snapshot"))
        return str(snap) if snap else None
    return None


def load_run(path: Path | str) -> Corpus:
    """A pretraining run as a side: its store's documents and the tokens it served."""
    path = Path(path)
    info = read_run_info(path)
    if info is not None and info["kind"] != "pretrain":
        raise CurricleError(f"{path}: a {info['kind']} run; curricle drift compares pretraining runs "
                            f"('curricle train') or token stores")
    store = resolve_data_dir(path, run_config(path), None)
    served = read_served(path / "metrics.jsonl")
    corpus = load_store(store)
    corpus.label, corpus.kind, corpus.served = str(path), "run", served
    corpus.snapshot = recorded_snapshot(path, info) or corpus.snapshot
    corpus.info["store"] = str(store)
    return corpus


__all__ = ["SERVED", "Served", "is_run", "read_served", "recorded_snapshot", "load_run"]
