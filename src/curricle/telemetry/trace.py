"""``train.trace: true``: what a run drew, step by step, in ``RUN/trace/<what>.jsonl``.

A debugging aid (to check the data order, or what each rank saw), the same key in every
verb; where every process writes its own, the file is ``<what>.rank<R>.jsonl``:

- ``curricle train``: ``rows.rank<R>.jsonl``, a short hash of each token row;
- ``curricle finetune``: ``examples.jsonl``, each step's curriculum rows;
- ``curricle rl``: ``prompts.rank<R>.jsonl``, each step's prompt rows.
"""

from __future__ import annotations

from pathlib import Path

TRACE_DIR = "trace"


def trace_path(run_dir: Path | str, what: str, rank: int | None = None) -> Path:
    """``RUN/trace/<what>.jsonl``, or ``<what>.rank<R>.jsonl`` for one process's own trace."""
    name = what if rank is None else f"{what}.rank{rank}"
    return Path(run_dir) / TRACE_DIR / f"{name}.jsonl"
