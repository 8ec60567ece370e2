"""Which page a run directory gets: the kind its ``run.json`` names (:mod:`curricle.runinfo`).

A run without ``run.json`` (one from before it existed, or written by a user's own trainer
through curricle's callbacks) is recognised by its files, in :func:`kind_from_files` alone; so
is a ``curricle drift`` output (``drift.json``), whose page is ``drift``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curricle.runinfo import read_run_info


def run_kind(run: Path | str) -> str:
    """``pretrain``, ``finetune``, ``rl`` or ``pipeline``: ``run.json``'s kind, else the files'
    (``drift`` for a ``curricle drift`` output)."""
    info = read_run_info(run)
    return info["kind"] if info is not None else kind_from_files(Path(run))


def kind_words(kind: str) -> str:
    """What a directory of ``kind`` is, for a message: ``a finetune run``, ``a drift output``."""
    return "a drift output" if kind == "drift" else f"a {kind} run"


def kind_from_files(run: Path) -> str:
    """The kind of a run without ``run.json``, from the files only its kind writes.

    A drift comparison's output has ``drift.json``. A pipeline has ``pipeline.json``. A DPO run
    has ``pairs.json`` beside its curriculum log. Fine-tuning and RL runs both write
    ``curriculum_log.jsonl``; an RL run's starts with a record naming its group size
    (``num_generations``), so that is checked first. Anything else is a pretraining run (whose
    page says what it lacks, or that it is not a curricle run).
    """
    if (run / "drift.json").is_file():
        return "drift"
    if (run / "pipeline.json").is_file():
        return "pipeline"
    log = run / "curriculum_log.jsonl"
    if log.is_file() and (run / "pairs.json").is_file():
        return "dpo"
    if "num_generations" in _first_record(log):
        return "rl"
    if log.is_file():
        return "finetune"
    return "pretrain"


def _first_record(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            first = json.loads(f.readline() or "{}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return first if isinstance(first, dict) else {}


__all__ = ["run_kind", "kind_from_files", "kind_words"]
