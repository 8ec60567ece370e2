"""Checkpoints: ``RUN/checkpoints/step_N/``, written atomically, loaded without unpickling.

Each checkpoint holds::

    config.json, generation_config.json, model.safetensors   the model, HF format
    tokenizer.json, tokenizer_config.json, ...               the tokenizer
    optimizer.pt      optimizer state (tensors and numbers; loaded with weights_only=True)
    rng.pt            torch RNG state (loaded with weights_only=True)
    arrays.safetensors     per-document arrays: serve counts ("exposure/<domain>") and any
                           controller state too large for JSON ("controller/<name>")
    trainer_state.json     step, tokens, sampler / controller / guard state, metrics position,
                           Python RNG state, and the size of every other file

Everything is written into a temporary directory that is renamed to ``step_N`` at the end,
so a kill at any moment leaves the previous checkpoints intact. ``trainer_state.json`` lists
the size of every file; a directory whose files disagree with it is incomplete and skipped
(with a warning) when resuming.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curricle import atomic

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


class CheckpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every: int = Field(20, ge=1)
    """Save every this many optimizer steps (and always at the end)."""
    keep_last: int = Field(3, ge=1)
    """Keep the newest this many checkpoints..."""
    keep_every: int | None = Field(None, ge=1)
    """...and also every checkpoint whose step is a multiple of this (for probing a series)."""


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


def check_complete(path: Path) -> str | None:
    """None if ``path`` is a complete checkpoint, else what is wrong with it."""
    state_path = path / STATE_FILE
    if not state_path.is_file():
        return f"no {STATE_FILE}"
    try:
        state = json.loads(state_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"{STATE_FILE} is not valid JSON ({err})"
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


def save(ckpt_root: Path, step: int, model, tokenizer, optimizer, rng: dict[str, Any],
         arrays: dict[str, Any], state: dict[str, Any]) -> Path:
    """Write checkpoint ``step`` atomically; returns its path."""
    import torch
    from safetensors.numpy import save_file
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per save would drown the training bar
    final = ckpt_root / f"step_{step}"
    if final.exists():  # the same step written again (a run restarted from scratch)
        shutil.rmtree(final)
    with atomic.directory(final) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save({k: v for k, v in rng.items() if k != "python"}, tmp / "rng.pt")
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp / "arrays.safetensors"))
        files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        full = {**state, "step": step, "python_rng": rng.get("python"), "files": files}
        (tmp / STATE_FILE).write_text(json.dumps(full))
        for p in tmp.iterdir():  # make the contents durable before the rename commits them
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    return final


def load(path: Path, model, optimizer) -> dict[str, Any]:
    """Load weights and optimizer state into the given objects; returns the trainer state."""
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(path / "model.safetensors"))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    # Tied embeddings are stored once; anything else missing is a real mismatch.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        from curricle.errors import CurricleError

        raise CurricleError(f"{path}: checkpoint does not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    if getattr(model.config, "tie_word_embeddings", False):
        model.tie_weights()
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    state = json.loads((path / STATE_FILE).read_text())
    state["rng"] = torch.load(path / "rng.pt", weights_only=True)
    return state


def load_arrays(path: Path, prefix: str) -> dict[str, Any]:
    """The arrays saved under ``prefix/`` (the prefix removed from their names)."""
    from safetensors.numpy import load_file

    arrays = load_file(str(path / "arrays.safetensors"))
    return {k[len(prefix) + 1 :]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def apply_retention(ckpt_root: Path, cfg: CheckpointConfig) -> list[Path]:
    """Delete checkpoints outside the retention policy; returns what was deleted."""
    deleted = []
    for i, (step, path) in enumerate(step_dirs(ckpt_root)):
        if i < cfg.keep_last or (cfg.keep_every and step % cfg.keep_every == 0):
            continue
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path)
    return deleted
