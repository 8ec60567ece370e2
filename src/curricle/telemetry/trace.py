"""``train.trace: true``: what a run drew, step by step, in ``RUN/trace/<what>.jsonl``.

A debugging aid (to check the data order, or what each rank saw), the same key in every
verb; where every process writes its own, the file is ``<what>.rank<R>.jsonl``:

- ``curricle train``: ``rows.rank<R>.jsonl``, a short hash of each token row;
- ``curricle finetune``: ``examples.jsonl``, each step's curriculum rows;
- ``curricle rl``: ``prompts.rank<R>.jsonl``, each step's prompt rows.
"""

from __future__ import annotations

TRACE_DIR = "trace"
