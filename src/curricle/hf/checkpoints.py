"""HF ``checkpoint-N`` directories holding curricle's state, and which of them are complete.

The trainer writes its own files (the model, optimizer, scheduler, RNG, ``trainer_state.json``)
into ``OUTPUT_DIR/checkpoint-N``; curricle's callback then writes its parts and, last, its
state file, which records the size of every file in the directory (the same sealing as
curricle's own checkpoints, :func:`curricle.train.checkpoint.seal`). A directory is complete
when the trainer's ``trainer_state.json`` and curricle's state file are there and every
listed file has its recorded size; a kill at any moment leaves an incomplete one, which is
passed over. (No torch here: the commands find their checkpoints before building anything.)
"""

from __future__ import annotations

import logging
from pathlib import Path

from curricle.train.checkpoint import check_complete

log = logging.getLogger(__name__)

#: The HF trainer's own state file in each checkpoint.
TRAINER_STATE = "trainer_state.json"
PREFIX = "checkpoint-"


def checkpoint_dir(output_dir: Path | str, step: int) -> Path:
    """Where the trainer saves (and a resumed one restores) its checkpoint after ``step``."""
    return Path(output_dir) / f"{PREFIX}{step}"


def check_checkpoint(path: Path, state_file: str) -> str | None:
    """None if ``path`` is a complete checkpoint with curricle's ``state_file``, else what is
    wrong with it."""
    if not (path / TRAINER_STATE).is_file():
        return f"no {TRAINER_STATE}"
    return check_complete(path, state_file)


def complete_checkpoints(root: Path, state_file: str) -> list[tuple[int, Path]]:
    """``(step, path)`` of every complete ``checkpoint-N`` under ``root`` with curricle's
    ``state_file``, newest first; incomplete ones are reported and passed over."""
    out = []
    for p in root.glob(f"{PREFIX}*") if root.is_dir() else []:
        step = p.name.removeprefix(PREFIX)
        if not step.isdigit() or not p.is_dir():
            continue
        problem = check_checkpoint(p, state_file)
        if problem is None:
            out.append((int(step), p))
        else:
            log.warning("checkpoint %s is incomplete (%s); passed over", p, problem)
    return sorted(out, reverse=True)
