"""Probe results: one row per (checkpoint, task), written as JSON Lines or JSON.

The row schema (``schema: curricle.probe/1``) is stable; fields are only ever added::

    run, run_name         the run (curricle run directory or checkpoint series) and its name
    checkpoint            the checkpoint directory (null for in-loop probes)
    step, tokens          the position (null where unknown)
    weights_hash          digest of the weight files (null in-loop)
    duplicate_of          the earlier checkpoint with identical weights, else null
    task, skill, task_hash, output_type, n, composite_of
    family, level         the ladder the task is a level of (``copy``, ``8``; level null if none)
    level_index           the level's place in the ladder, easiest first (null: unknown)
    in_sample             the task's items may be training items (a declared or too-small space)
    contaminated          items found verbatim in the training data (null: not checked)
    metrics               {metric: mean, metric_se: standard error, ...}
    discrete, continuous  the names of the task's discrete and continuous metrics
    chance                {metric: score of guessing or null}
    seconds               scoring time (of the first scoring, for cached rows)
    cached                true when the scores came from the cache or a duplicate

A ``.json`` file holds ``{"schema": ..., "rows": [...]}``; any other suffix is JSON Lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from curricle import atomic
from curricle.errors import CurricleError
from curricle.jsonable import jsonable

SCHEMA = "curricle.probe/1"


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path = Path(path)
    rows = [jsonable(r) for r in rows]
    if path.suffix == ".json":
        atomic.write_text(path, json.dumps({"schema": SCHEMA, "rows": rows}, indent=1) + "\n")
    else:
        atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def append_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows to a JSON Lines file (the in-loop hook's ``RUN/probes.jsonl``)."""
    with open(path, "a", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(jsonable(r)) + "\n")


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    """Rows of a probe results file (JSON or JSON Lines)."""
    path = Path(path)
    if not path.is_file():
        raise CurricleError(f"{path}: no such probe results file")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise CurricleError(f"{path}: not valid JSON ({err.msg})") from None
        rows = data.get("rows") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise CurricleError(f"{path}: expected {{'schema': ..., 'rows': [...]}}")
        return _checked(path, rows)
    return _jsonl_rows(path, text.splitlines())


def read_run_rows(path: Path | str) -> tuple[list[dict[str, Any]], int]:
    """Rows of the in-loop hook's ``RUN/probes.jsonl`` and how many lines were dropped: a run
    killed (or still writing) mid-append may end in half a line, which is not a row; any other
    line that is not one is an error, as in :func:`read_rows`."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if lines:
        try:
            json.loads(lines[-1])
        except json.JSONDecodeError:
            return _jsonl_rows(path, lines[:-1]), 1
    return _jsonl_rows(path, lines), 0


def _jsonl_rows(path: Path, lines: list[str]) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise CurricleError(f"{path}:{n}: not valid JSON ({err.msg})") from None
    return _checked(path, rows)


def _checked(path: Path, rows: list[Any]) -> list[dict[str, Any]]:
    for n, r in enumerate(rows):
        if not isinstance(r, dict) or r.get("schema") != SCHEMA:
            raise CurricleError(f"{path}: row {n} is not a {SCHEMA} row")
    return rows
