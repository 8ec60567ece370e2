"""Saving and restoring a run: the model in HF format and every registered stateful part.

A :class:`Checkpointer` holds the model (saved with ``save_pretrained``, so every checkpoint
loads with ``AutoModelForCausalLM.from_pretrained``) and a registry of the run's other
stateful parts by name: the optimizer, the RNG, the sampler, the guard, the controller,
stateful hooks. Every part has ``state_dict()`` / ``load_state_dict()`` (and, for large
per-document arrays, ``array_state()`` / ``load_array_state()``); save and restore iterate the
registry, so a new part needs no change here. The files are described in
:mod:`curricle.train.checkpoint`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
from transformers.utils import logging as hf_logging

from curricle import atomic
from curricle.errors import CurricleError
from curricle.model.build import load_weights
from curricle.train.checkpoint import STATE_FILE, apply_retention, latest_complete
from curricle.train.config import CheckpointConfig

ARRAYS_FILE = "arrays.safetensors"
#: Keys of trainer_state.json that are the checkpointer's own (no part may take these names).
RESERVED = frozenset({"step", "tokens", "total_steps", "log_lines", "files", "model", "tokenizer", "arrays"})


class Stateful(Protocol):
    """What the checkpointer asks of a part (``array_state`` / ``load_array_state`` optional)."""

    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class RNGState:
    """The process's random generators as a part: torch's (and CUDA's, when in use) and
    Python's ``random``."""

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": _python_rng()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def _python_rng() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _holds_tensors(obj: Any) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(_holds_tensors(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_holds_tensors(v) for v in obj)
    return False


class Checkpointer:
    """Saves and restores the model and every registered part under ``root/step_N``."""

    def __init__(self, root: Path, config: CheckpointConfig, model: torch.nn.Module, tokenizer: Any = None):
        self.root = Path(root)
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.parts: dict[str, tuple[Stateful, bool, bool]] = {}

    def register(self, name: str, part: Stateful, rollback: bool = True, binary: bool = False) -> None:
        """Save ``part`` under ``name`` in every checkpoint and restore it on resume.

        With ``rollback=False`` a rollback leaves the part as it is (the sampler: the data
        after a bad window is not replayed). Its state goes to ``<name>.pt`` when ``binary``
        or when it holds tensors, else into ``trainer_state.json``.
        """
        if name in self.parts or name in RESERVED:
            raise ValueError(f"checkpoint part '{name}': the name is taken")
        self.parts[name] = (part, rollback, binary)

    def latest(self) -> tuple[int, Path] | None:
        return latest_complete(self.root)

    def save(self, step: int, meta: dict[str, Any]) -> Path:
        """Write checkpoint ``step`` atomically (``meta``: the trainer's own numbers) and apply
        the retention policy; returns its path."""
        hf_logging.disable_progress_bar()  # one bar per save would drown the training bar
        final = self.root / f"step_{step}"
        if final.exists():  # the same step written again (a run restarted from scratch)
            shutil.rmtree(final)
        state: dict[str, Any] = {**meta, "step": step}
        arrays: dict[str, np.ndarray] = {}
        tensors: dict[str, Any] = {}
        for name, (part, _, binary) in self.parts.items():
            part_state = part.state_dict()
            if binary or _holds_tensors(part_state):
                tensors[name] = part_state
            else:
                state[name] = part_state
            if hasattr(part, "array_state"):
                arrays.update({f"{name}/{k}": np.ascontiguousarray(v) for k, v in part.array_state().items()})
        with atomic.directory(final) as tmp:
            self.model.save_pretrained(str(tmp), safe_serialization=True)
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(str(tmp))
            for name, part_state in tensors.items():
                torch.save(part_state, tmp / f"{name}.pt")
            save_arrays(arrays, str(tmp / ARRAYS_FILE))
            state["files"] = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
            (tmp / STATE_FILE).write_text(json.dumps(state))
            for p in tmp.iterdir():  # make the contents durable before the rename commits them
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
        apply_retention(self.root, self.config)
        return final

    def restore(self, path: Path, rollback: bool = False) -> dict[str, Any]:
        """Load the model and the registered parts from checkpoint ``path`` (on a rollback,
        only the parts that take part in it); returns ``trainer_state.json``."""
        load_weights(self.model, path)
        state = json.loads((path / STATE_FILE).read_text())
        arrays = load_arrays(str(path / ARRAYS_FILE))
        for name, (part, on_rollback, _) in self.parts.items():
            if rollback and not on_rollback:
                continue
            saved = path / f"{name}.pt"
            if saved.is_file():
                part.load_state_dict(torch.load(saved, weights_only=True))
            elif name in state:
                part.load_state_dict(state[name])
            else:
                raise CurricleError(f"{path}: the checkpoint has no state of '{name}' (saved by another "
                                    f"configuration?)")
            if hasattr(part, "load_array_state"):
                prefix = name + "/"
                part.load_array_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        return state
