"""Checkpoint directories: ``RUN/checkpoints/step_N/``, how to find the newest complete one,
and which to keep. (Saving and restoring is :class:`curricle.train.checkpointer.Checkpointer`;
this module needs no torch, so the probes, the map and the report can read runs without it.)

Each checkpoint holds::

    config.json, generation_config.json, model.safetensors   the model, HF format
    tokenizer.json, tokenizer_config.json, ...               the tokenizer
    <name>.pt              a part whose state holds tensors (the optimizer, the RNG), saved with
                           torch.save and loaded with weights_only=True
    <name>_rank<R>.pt      process R's own state of a part that keeps one (the RNG: rng_rank0.pt,
                           rng_rank1.pt, ...), gathered to rank 0 and written there
    arrays.safetensors     per-document arrays of the parts that have them (``array_state()``),
                           under "<name>/<key>" (the sampler's serve counts, hard-example losses)
    trainer_state.json     step, tokens, run length, log positions, the JSON state of every
                           other part under its name, and the size of every other file

Everything is written into a temporary directory that is renamed to ``step_N`` at the end,
so a kill at any moment leaves the previous checkpoints intact. ``trainer_state.json`` lists
the size of every file; a directory whose files disagree with it is incomplete and skipped
(with a warning) when resuming. (:func:`seal` and :func:`check_complete` also mark and check
the HF ``checkpoint-N`` directories of :mod:`curricle.hf.checkpoints`, with curricle's own
state file there.)
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from curricle import atomic
from curricle.train.config import CheckpointConfig

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
#: Per-document arrays of the parts that have them, under ``"<name>/<key>"``.
ARRAYS_FILE = "arrays.safetensors"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def remove_stale(ckpt_root: Path) -> None:
    """Remove temporary directories a killed save left behind."""
    for p in ckpt_root.glob(".step_*.tmp"):
        shutil.rmtree(p, ignore_errors=True)


def step_dirs(ckpt_root: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``step_N`` directory, newest first."""
    if not ckpt_root.is_dir():
        return []
    out = [(int(m.group(1)), p) for p in ckpt_root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return sorted(out, reverse=True)


def seal(path: Path, state: dict[str, Any], state_file: str = STATE_FILE) -> None:
    """Write ``state`` as ``path/state_file``, with the size of every other file under ``path``
    (``state["files"]``), after making those files durable: the last write of a checkpoint,
    the one that makes it complete (:func:`check_complete`)."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p != path / state_file)
    state = {**state, "files": {p.relative_to(path).as_posix(): p.stat().st_size for p in files}}
    atomic.fsync_tree(path)  # the contents reach the disk before the file that vouches for them
    atomic.write_text(path / state_file, json.dumps(state))


def check_complete(path: Path, state_file: str = STATE_FILE) -> str | None:
    """None if ``path`` is a complete checkpoint (its ``state_file`` present and every file it
    lists at its recorded size), else what is wrong with it."""
    state_path = path / state_file
    if not state_path.is_file():
        return f"no {state_file}"
    try:
        state = json.loads(state_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"{state_file} is not valid JSON ({err})"
    for name, size in state.get("files", {}).items():
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        if f.stat().st_size != size:
            return f"{name} has {f.stat().st_size} bytes, expected {size}"
    return None


def latest_complete(ckpt_root: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint; incomplete ones are reported and passed over."""
    for step, path in step_dirs(ckpt_root):
        problem = check_complete(path)
        if problem is None:
            return step, path
        log.warning("checkpoint %s is incomplete (%s); falling back to an earlier one", path, problem)
    return None


def apply_retention(ckpt_root: Path, cfg: CheckpointConfig) -> list[Path]:
    """Delete checkpoints outside the retention policy; returns what was deleted."""
    deleted = []
    for i, (step, path) in enumerate(step_dirs(ckpt_root)):
        if i < cfg.keep_last or (cfg.keep_every and step % cfg.keep_every == 0):
            continue
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path)
    return deleted
