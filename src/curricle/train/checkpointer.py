"""Saving and restoring a run: the model in HF format and every registered stateful part.

A :class:`Checkpointer` holds the model (saved with ``save_pretrained``, so every checkpoint
loads with ``AutoModelForCausalLM.from_pretrained``) and a registry of the run's other
stateful parts by name: the optimizer, the RNG, the sampler, the guard, the controller,
stateful hooks. Every part has ``state_dict()`` / ``load_state_dict()`` (and, for large
per-document arrays, ``array_state()`` / ``load_array_state()``); save and restore iterate the
registry (:class:`~curricle.train.parts.Parts`, which the HF seam kit :mod:`curricle.hf` uses
too), so a new part needs no change here. The files are described in
:mod:`curricle.train.checkpoint`.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from transformers.utils import logging as hf_logging

from curricle import atomic
from curricle.errors import CurricleError
from curricle.model.build import load_weights
from curricle.train.checkpoint import STATE_FILE, apply_retention, latest_complete, seal
from curricle.train.config import CheckpointConfig
from curricle.train.distributed import DistInfo, all_gather_objects, barrier
from curricle.train.parts import ARRAYS_FILE, Parts, Stateful

#: An FSDP run's sharded model and optimizer state (torch.distributed.checkpoint).
SHARDED_DIR = "sharded"
#: Keys of trainer_state.json that are the checkpointer's own (no part may take these names).
RESERVED = frozenset({"step", "tokens", "eval_tokens", "stopped", "total_steps", "log_lines", "files", "model", "tokenizer", "arrays"})


class RNGState:
    """The process's random generators as a part: torch's (and CUDA's, when in use) and
    Python's ``random``.

    Every process has its own (dropout masks differ by rank once their streams do), so each
    rank's is saved in ``rng_rank<R>.pt`` (:meth:`rank_state_dict`: torch's, the current CUDA
    device's, numpy's and Python's) and restored on that rank. ``rng.pt`` (:meth:`state_dict`)
    holds rank 0's, as checkpoints did before the per-rank files: every rank loads it first, so
    a rank without a file of its own (a checkpoint written before them, or by fewer processes)
    resumes with rank 0's generators."""

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": _python_rng()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        _set_python_rng(state["python"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

    def rank_state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": _python_rng(), "numpy": _numpy_rng()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state()  # this process's device
        return state

    def load_rank_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        _set_python_rng(state["python"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])


def _python_rng() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_python_rng(state: list) -> None:
    random.setstate((state[0], tuple(state[1]), state[2]))


def _numpy_rng() -> list:
    """numpy's global generator as what ``torch.load(weights_only=True)`` reads back (its key
    as an int64 tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]


class Checkpointer:
    """Saves and restores the model and every registered part under ``root/step_N``.

    ``sharded``: ``(root module, optimizer)`` of an FSDP run. Their state is then saved by
    every rank with ``torch.distributed.checkpoint`` into ``step_N/sharded/`` (and restored
    that way, at the same or another world size), and the model is also gathered on rank 0
    into the usual HF export. :meth:`save` and :meth:`restore` are called on every rank; the
    rest of the files are rank 0's.
    """

    def __init__(self, root: Path, config: CheckpointConfig, model: torch.nn.Module, tokenizer: Any = None, *,
                 dist: DistInfo | None = None, sharded: tuple[torch.nn.Module, torch.optim.Optimizer] | None = None):
        self.root = Path(root)
        self.config = config
        self.model = model
        self.tokenizer = tokenizer
        self.dist = dist or DistInfo(0, 1, 0, torch.device("cpu"))
        self.sharded = sharded
        self.parts = Parts(RESERVED)

    def register(self, name: str, part: Stateful, rollback: bool = True, binary: bool = False) -> None:
        """Save ``part`` under ``name`` in every checkpoint and restore it on resume.

        With ``rollback=False`` a rollback leaves the part as it is (the sampler: the data
        after a bad window is not replayed). Its state goes to ``<name>.pt`` when ``binary``
        or when it holds tensors, else into ``trainer_state.json``.
        """
        self.parts.register(name, part, rollback, binary)

    def latest(self) -> tuple[int, Path] | None:
        return latest_complete(self.root)

    def save(self, step: int, meta: dict[str, Any]) -> Path | None:
        """Write checkpoint ``step`` atomically (``meta``: the trainer's own numbers) and apply
        the retention policy; returns its path (on rank 0; None elsewhere). Called on every
        rank; only a sharded run has work for the others."""
        hf_logging.disable_progress_bar()  # one bar per save would drown the training bar
        final = self.root / f"step_{step}"
        # Every rank's own RNG state, written by rank 0 with the rest before the checkpoint is
        # sealed (gathered, not written by each rank: a DDP checkpoint is rank 0's directory).
        per_rank = all_gather_objects(self.dist, self.parts.rank_states())
        if self.sharded is None:
            if not self.dist.is_main:
                return None
            # replace: the same step written again (a run restarted from scratch)
            with atomic.directory(final, replace=True) as tmp:
                self.model.save_pretrained(str(tmp), safe_serialization=True, max_shard_size=self.config.max_shard_size)
                self._write_rest(tmp, step, meta, per_rank)
        else:
            # Every rank writes its shards into a directory whose name they all know.
            tmp = self.root / f".step_{step}.tmp"
            if self.dist.is_main:
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
            barrier(self.dist)
            module, optimizer = self.sharded
            model_state, optim_state = get_state_dict(module, optimizer)
            dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=str(tmp / SHARDED_DIR))
            full = get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
            if self.dist.is_main:
                prefix = "model."  # the root is the TokenLoss around the HF model
                hf_state = {k.removeprefix(prefix): v for k, v in full.items()}
                self.model.save_pretrained(str(tmp), state_dict=hf_state, safe_serialization=True,
                                           max_shard_size=self.config.max_shard_size)
                self._write_rest(tmp, step, meta, per_rank)
                atomic.swap_in(tmp, final)
            barrier(self.dist)
        if not self.dist.is_main:
            return None
        apply_retention(self.root, self.config)
        return final

    def _write_rest(self, tmp: Path, step: int, meta: dict[str, Any], per_rank: list[dict[str, Any]]) -> None:
        """Everything but the model's weights (``per_rank``: every rank's own part states), then
        ``trainer_state.json``, all made durable."""
        states, arrays = self.parts.save(tmp)
        self.parts.save_ranks(tmp, per_rank)
        state: dict[str, Any] = {**meta, "step": step, **states}
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(str(tmp))
        save_arrays(arrays, str(tmp / ARRAYS_FILE))
        seal(tmp, state)  # durable before the rename commits them

    def restore(self, path: Path, rollback: bool = False) -> dict[str, Any]:
        """Load the model and the registered parts from checkpoint ``path`` (on a rollback,
        only the parts that take part in it); returns ``trainer_state.json``."""
        if self.sharded is None:
            load_weights(self.model, path)
        else:
            if not (path / SHARDED_DIR).is_dir():
                raise CurricleError(f"{path}: no sharded state ({SHARDED_DIR}/): it was not written by an fsdp run")
            module, optimizer = self.sharded
            model_state, optim_state = get_state_dict(module, optimizer)
            loaded = {"model": model_state, "optim": optim_state}
            dcp.load(loaded, checkpoint_id=str(path / SHARDED_DIR))
            set_state_dict(module, optimizer, model_state_dict=loaded["model"], optim_state_dict=loaded["optim"])
        state = json.loads((path / STATE_FILE).read_text())
        self.parts.load(path, state, load_arrays(str(path / ARRAYS_FILE)), rollback)
        self.parts.load_rank(path, self.dist.rank, rollback)  # this rank's own RNG, where the file is there
        return state
