"""The stateful parts of a run by name: what a checkpoint saves and a resume restores.

One registry for every trainer: curricle's :class:`~curricle.train.checkpointer.Checkpointer`
holds one, and so does the HF seam kit's :class:`~curricle.hf.callback.StatefulCallback`.
(Kept apart from the checkpointer, which also imports ``torch.distributed.checkpoint`` and
the model loader, so an HF integration imports only this.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from curricle.errors import CurricleError
from curricle.train.checkpoint import ARRAYS_FILE  # noqa: F401  (defined with the checkpoint layout; the checkpointer imports it from here)


class Stateful(Protocol):
    """What the checkpointer asks of a part (``array_state`` / ``load_array_state`` and
    ``rank_state_dict`` / ``load_rank_state_dict`` optional)."""

    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def _holds_tensors(obj: Any) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(_holds_tensors(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_holds_tensors(v) for v in obj)
    return False


class Parts:
    """Stateful parts by name, saved into and restored from a checkpoint directory.

    Shared by the :class:`~curricle.train.checkpointer.Checkpointer` (curricle's loop) and the
    HF seam kit (:mod:`curricle.hf`), so a part is saved the same way whichever trainer runs
    it. A part's state goes to ``<name>.pt`` when ``binary`` or when it holds tensors, else
    into the JSON state file under its name; ``array_state()`` arrays go to
    ``arrays.safetensors`` under ``"<name>/<key>"``; a part that also keeps a state of every
    process's own (``rank_state_dict()``: the RNG) has it in ``<name>_rank<R>.pt``
    (:meth:`rank_states`, :meth:`save_ranks`, :meth:`load_rank`). ``reserved``: names the owner
    keeps for itself.
    """

    def __init__(self, reserved: frozenset[str] = frozenset()):
        self.reserved = reserved
        self._parts: dict[str, tuple[Stateful, bool, bool]] = {}

    def register(self, name: str, part: Stateful, rollback: bool = True, binary: bool = False) -> None:
        """Save ``part`` under ``name`` in every checkpoint and restore it on resume (with
        ``rollback=False`` a rollback leaves it as it is)."""
        if name in self._parts or name in self.reserved:
            raise ValueError(f"checkpoint part '{name}': the name is taken")
        self._parts[name] = (part, rollback, binary)

    def __contains__(self, name: str) -> bool:
        return name in self._parts

    def save(self, folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Write the binary parts to ``folder/<name>.pt``; returns the other parts' JSON states
        by name and every part's arrays (for ``arrays.safetensors``)."""
        states: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for name, (part, _, binary) in self._parts.items():
            part_state = part.state_dict()
            if binary or _holds_tensors(part_state):
                torch.save(part_state, folder / f"{name}.pt")
            else:
                states[name] = part_state
            if hasattr(part, "array_state"):
                arrays.update({f"{name}/{k}": np.ascontiguousarray(v) for k, v in part.array_state().items()})
        return states, arrays

    def load(self, folder: Path, state: dict[str, Any], arrays: dict[str, np.ndarray], rollback: bool = False,
             source: Path | None = None) -> None:
        """Restore every part (on a rollback, only those that take part in it) from ``folder``,
        its JSON ``state`` and its ``arrays``; a part with no saved state is a one-line error
        naming ``source`` (default: ``folder``)."""
        for name, (part, on_rollback, _) in self._parts.items():
            if rollback and not on_rollback:
                continue
            saved = folder / f"{name}.pt"
            if saved.is_file():
                part.load_state_dict(torch.load(saved, weights_only=True))
            elif name in state:
                part.load_state_dict(state[name])
            else:
                raise CurricleError(f"{source or folder}: the checkpoint has no state of '{name}' (saved by another "
                                    f"configuration?)")
            if hasattr(part, "load_array_state"):
                prefix = name + "/"
                part.load_array_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})

    def rank_states(self) -> dict[str, Any]:
        """This process's own state of every part that keeps one (``rank_state_dict()``), by name."""
        return {name: part.rank_state_dict() for name, (part, _, _) in self._parts.items()
                if hasattr(part, "rank_state_dict")}

    def save_ranks(self, folder: Path, per_rank: list[dict[str, Any]]) -> None:
        """Write every process's :meth:`rank_states` (``per_rank``, in rank order) to
        ``folder/<name>_rank<R>.pt``."""
        for rank, states in enumerate(per_rank):
            for name, state in states.items():
                torch.save(state, folder / rank_file(name, rank))

    def load_rank(self, folder: Path, rank: int, rollback: bool = False) -> None:
        """Restore process ``rank``'s own state of every part that keeps one (on a rollback, of
        those that take part in it) from ``folder/<name>_rank<R>.pt``. Where that file is absent
        (a checkpoint written before them, or by fewer processes) the part keeps what
        :meth:`load` gave it."""
        for name, (part, on_rollback, _) in self._parts.items():
            if not hasattr(part, "load_rank_state_dict") or (rollback and not on_rollback):
                continue
            saved = folder / rank_file(name, rank)
            if saved.is_file():
                part.load_rank_state_dict(torch.load(saved, weights_only=True))


def rank_file(name: str, rank: int) -> str:
    """The file of process ``rank``'s own state of part ``name`` in a checkpoint."""
    return f"{name}_rank{rank}.pt"
