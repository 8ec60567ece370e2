"""Tasks from files: JSON Lines, and HF datasets saved to disk.

Each record becomes one item; a record that cannot be (a line of bad UTF-8 or bad JSON, not
a mapping, no prompt or completion, malformed messages, a difficulty that is neither a number
nor a known level, a repeated id, a lone surrogate escape in its text) is skipped under its
reason, and the reasons are counted and written to the run's task quarantine, so nothing is
dropped in silence. A row of a saved dataset holding a string that is not UTF-8 (Arrow checks
none of the bytes a file holds) is skipped as a line of bad UTF-8 is. A file that cannot be read
at all (missing, a corrupt or truncated ``.gz``/``.zst``, a saved dataset whose Arrow files or
``state.json`` are damaged) is a one-line error naming it.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from pathlib import Path
from typing import Any, Iterable, Iterator

import zstandard

from curricle.errors import CurricleError
from curricle.extras import require
from curricle.sources.base import valid_unicode
from curricle.sources.files import open_binary
from curricle.sources.hf_disk import UNREADABLE_DATASET
from curricle.tasks.config import FileFields, HFDiskTaskConfig, JsonlTaskConfig
from curricle.tasks.items import SPLITS, TaskItem, split_by_hash

#: What a quarantined record is listed with: (location, reason).
Skipped = list[tuple[str, str]]


#: What :func:`jsonl_lines` gives for a line that is not UTF-8.
BAD_UTF8 = object()


def jsonl_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """Each non-blank line of a JSON Lines file as ``(FILE:LINE, text)``, decoded one at a time
    (as the JSONL source does), so a line of bad UTF-8 is :data:`BAD_UTF8` in place of its text
    and the caller decides what it costs (a skipped record, or a one-line error naming it). A
    ``.gz`` or ``.zst`` file that is corrupt or truncated is a one-line error naming it."""
    try:
        with open_binary(str(path)) as raw:
            for n, data in enumerate(raw, start=1):
                try:
                    # utf-8-sig drops a byte-order mark, which only the first line can hold.
                    line = data.decode("utf-8-sig" if n == 1 else "utf-8")
                except UnicodeDecodeError:
                    yield f"{path}:{n}", BAD_UTF8
                    continue
                if line.strip():
                    yield f"{path}:{n}", line
    except (gzip.BadGzipFile, zlib.error, EOFError, zstandard.ZstdError) as err:
        # As the JSONL source: the rest of a corrupt archive cannot be read.
        kind = "zstd" if str(path).endswith(".zst") else "gzip"
        raise CurricleError(f"{path}: corrupt {kind} file ({err})") from None


def load_jsonl(config: JsonlTaskConfig, task: str) -> tuple[list[TaskItem], Skipped]:
    path = Path(config.path).expanduser()
    if not path.is_file():
        raise CurricleError(f"task {task}: no such file: {config.path}")

    def records() -> Iterable[tuple[str, Any]]:
        # One line of bad UTF-8 or bad JSON is one skipped record, not a failed run.
        for where, line in jsonl_lines(path):
            if line is BAD_UTF8:
                yield where, BAD_UTF8
                continue
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError:
                yield where, _BAD_JSON

    return records_to_items(records(), config, task)


def load_hf_disk(config: HFDiskTaskConfig, task: str) -> tuple[list[TaskItem], Skipped]:
    datasets = require("datasets", "task source hf-disk")
    root = Path(config.path).expanduser()
    if not root.is_dir():
        raise CurricleError(f"task {task}: no such dataset directory: {config.path}")
    try:
        ds = datasets.load_from_disk(str(root))
    except FileNotFoundError as err:
        raise CurricleError(f"task {task}: {config.path} is not a dataset written by save_to_disk ({err})") from None
    except UNREADABLE_DATASET as err:
        raise CurricleError(f"task {task}: {config.path}: a corrupt or truncated dataset ({err})") from None
    if isinstance(ds, datasets.DatasetDict):
        if config.split is None and len(ds) == 1:
            ds = next(iter(ds.values()))
        elif config.split not in ds:
            raise CurricleError(f"task {task}: source.split: {config.split!r} is not a split of {config.path} "
                                f"(splits: {', '.join(sorted(ds))})")
        else:
            ds = ds[config.split]
    return records_to_items(dataset_rows(ds, root), config, task)


#: Rows of a saved dataset decoded at once (a batch holding bad UTF-8 is decoded row by row).
DATASET_BATCH_ROWS = 1024


def dataset_rows(ds: Any, root: Path) -> Iterator[tuple[str, Any]]:
    """Each row of a ``datasets`` dataset as ``(DIR:ROW, record)``, rows counted from 0, read
    plain (a format set before saving, torch or numpy, would give tensors). A row holding a
    string that is not UTF-8 is :data:`BAD_UTF8` in place of its record, as a line of a JSON
    Lines file is: decoding it fails, and would otherwise fail every row after it."""
    ds = ds.with_format(None)
    for start in range(0, len(ds), DATASET_BATCH_ROWS):
        stop = min(start + DATASET_BATCH_ROWS, len(ds))
        try:
            batch = ds[start:stop]
            rows = [{k: v[i] for k, v in batch.items()} for i in range(stop - start)]
        except UnicodeDecodeError:
            rows = [_decoded_row(ds, i) for i in range(start, stop)]
        yield from ((f"{root}:{start + i}", r) for i, r in enumerate(rows))


def _decoded_row(ds: Any, i: int) -> Any:
    try:
        return ds[i]
    except UnicodeDecodeError:
        return BAD_UTF8


_BAD_JSON = object()


def _difficulty(value: Any, config: FileFields) -> float | None:
    """A record's difficulty: a finite number, or the index of a named level; None if bad."""
    if value is None:
        return 0.0
    if config.levels is not None and isinstance(value, str):
        return float(config.levels.index(value)) if value in config.levels else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _messages(value: Any) -> tuple[tuple[dict[str, str], ...] | None, str]:
    """A chat record's messages (the last the assistant's answer), or None and why not."""
    if not isinstance(value, list) or len(value) < 2:
        return None, "messages is not a list of at least two messages"
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return None, "a message is not {role, content} strings"
    if value[-1]["role"] != "assistant" or not value[-1]["content"]:
        return None, "the last message is not a non-empty assistant message"
    return tuple({"role": m["role"], "content": m["content"]} for m in value), ""


def records_to_items(records: Iterable[tuple[str, Any]], config: FileFields, task: str) -> tuple[list[TaskItem], Skipped]:
    items: list[TaskItem] = []
    skipped: Skipped = []
    seen: set[str] = set()
    for where, record in records:
        if record is _BAD_JSON:
            skipped.append((where, "not valid JSON"))
            continue
        if record is BAD_UTF8:
            skipped.append((where, "not valid UTF-8"))
            continue
        if not isinstance(record, dict):
            skipped.append((where, "not a JSON object"))
            continue
        rid = record.get(config.id_field) if config.id_field else None
        item_id = where if rid is None else str(rid)
        if item_id in seen:
            skipped.append((where, f"repeated id {item_id!r}"))
            continue
        messages = None
        if config.messages_field is not None:
            messages, why = _messages(record.get(config.messages_field))
            if messages is None:
                skipped.append((where, f"{config.messages_field}: {why}"))
                continue
            prompt, completion = "", messages[-1]["content"]
        else:
            prompt, completion = record.get(config.prompt_field), record.get(config.completion_field)
            if not isinstance(prompt, str) or not prompt:
                skipped.append((where, f"no {config.prompt_field!r} string"))
                continue
            if not isinstance(completion, str) or not completion:
                skipped.append((where, f"no {config.completion_field!r} string"))
                continue
        difficulty = _difficulty(record.get(config.difficulty_field) if config.difficulty_field else None, config)
        if difficulty is None:
            skipped.append((where, f"{config.difficulty_field}: not a number"
                                   + (f" or one of {config.levels}" if config.levels else "")))
            continue
        distractors = record.get(config.distractors_field, []) if config.distractors_field else []
        if not isinstance(distractors, list) or not all(isinstance(d, str) and d for d in distractors) \
                or completion in distractors:
            skipped.append((where, f"{config.distractors_field}: not a list of strings other than the completion"))
            continue
        # A JSON escape such as "\\ud800" reads as a lone surrogate, which no UTF-8 text (the item's
        # hash, the task's fingerprint, a tokenizer) can hold.
        texts = [item_id, prompt, completion, *distractors, *(v for m in messages or () for v in m.values())]
        if not valid_unicode(texts):
            skipped.append((where, "a lone surrogate (not UTF-8 text)"))
            continue
        if config.split_field is not None:
            split = record.get(config.split_field)
            if split not in SPLITS:
                skipped.append((where, f"{config.split_field}: not one of {', '.join(SPLITS)}"))
                continue
        else:
            split = split_by_hash(task, item_id, config.heldout_share, config.test_share)
        seen.add(item_id)
        meta = {k: v for k, v in record.items()
                if k not in {config.id_field, config.prompt_field, config.completion_field, config.messages_field,
                             config.difficulty_field, config.distractors_field, config.split_field}}
        items.append(TaskItem(item_id, prompt, completion, difficulty, split, tuple(distractors), messages, meta))
    return items, skipped
