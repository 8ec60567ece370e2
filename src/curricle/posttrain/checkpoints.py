"""Loading and saving the checkpoints of post-training runs.

:func:`load_model` reads the local HF checkpoint a verb starts from (``model.path``, or the
checkpoint ``curricle rft`` samples; :func:`load_start_model` materializes a ``model.preset`` or
``model.gguf`` first) and :func:`save_final` writes a run's ``final/`` model;
the ``checkpoint-N`` directories a run can resume from are found by the HF seam kit's
:func:`curricle.hf.checkpoints.complete_checkpoints`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import torch
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle import atomic
from curricle.errors import CurricleError
from curricle.hf.checkpoints import complete_checkpoints
from curricle.model.pretrained import checkpoint_dir
from curricle.posttrain.config import HFModelConfig
from curricle.posttrain.ranks import is_main
from curricle.runinfo import resume_record, write_run_info
from curricle.tasks.load import check_fingerprints

Built = TypeVar("Built")

def check_checkpoint(path: Path, field: str = "model.path") -> None:
    """A one-line error naming ``field`` where ``path`` is no HF checkpoint directory."""
    if not (Path(path) / "config.json").is_file():
        raise CurricleError(f"{field}: {path} is not an HF checkpoint directory (no config.json)")


def load_model(path: Path, dtype: str = "float32"):
    """A local HF causal LM and its tokenizer (pad token: EOS where it has none), or a one-line
    error naming ``model.path``. Fine-tuning, RL and RFT load their checkpoints with it."""
    check_checkpoint(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, dtype={"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype])
    except (OSError, ValueError) as err:
        raise CurricleError(f"model.path: cannot load a causal LM and tokenizer from {path} ({err})") from None
    if tokenizer.eos_token is None:
        raise CurricleError(f"model.path: {path}'s tokenizer has no EOS token (completions end with it)")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_start_model(config: HFModelConfig):
    """The model and tokenizer of a verb's ``model:`` section: ``model.path``, or the cache
    directory of a pretrained preset or GGUF file (materialized on first use)."""
    return load_model(checkpoint_dir(config), config.dtype)


def save_final(trainer, out: Path) -> None:
    """The model and tokenizer to ``out``, written beside it first, made durable and swapped in
    whole (:func:`curricle.atomic.swap_in`: an ``out`` there before stays until the new one is;
    what a save killed between the fallback's two renames left is finished first,
    :func:`curricle.atomic.recover_aside`)."""
    atomic.recover_aside(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    trainer.processing_class.save_pretrained(str(tmp))
    atomic.fsync_tree(tmp)
    atomic.swap_in(tmp, out)


def train_and_save(trainer, start: str | None, run_dir: Path, closers: Iterable[Any] = ()) -> None:
    """A post-training verb's run: train (from checkpoint ``start``), close ``closers`` (graders'
    worker processes) however training ends, then the main process writes ``RUN/final``
    (:func:`save_final`) and every process waits for it."""
    try:
        trainer.train(resume_from_checkpoint=start)
    finally:
        for c in closers:
            c.close()
    if trainer.is_world_process_zero():
        save_final(trainer, run_dir / "final")
    trainer.accelerator.wait_for_everyone()


def begin_run(run_dir: Path, resume: bool, config: Any, kind: str, state_file: str,
              build: Callable[[str | None], Built]) -> tuple[str | None, Built]:
    """A post-training verb's start: :func:`start_run`'s checks, ``build(checkpoint)`` (which
    calls :func:`check_resume_tasks` once it has the tasks), and :func:`record_start`: before
    the build for a fresh run (so a build that fails leaves the run's kind for the report),
    after it for a resume (so one refused on changed task items rewrites nothing). Returns the
    checkpoint to resume from (None: a fresh run) and what ``build`` returned."""
    start = start_run(run_dir, resume, state_file)
    if start is None:
        record_start(run_dir, config, kind, None)
    built = build(start)
    if start is not None:
        record_start(run_dir, config, kind, start)
    return start, built


def start_run(run_dir: Path, resume: bool, state_file: str) -> str | None:
    """The checks at the start of a post-training verb's run: refuse ``--resume`` without a
    complete checkpoint and a fresh run over existing ones; returns the checkpoint to resume
    from (None: a fresh run). Nothing of the run is written yet: :func:`record_start` writes
    ``config.yaml`` and ``run.json``, for a fresh run before the verb builds it, for a resume
    once the build has checked that the checkpoint's tasks are this config's
    (:func:`check_resume_tasks`), so a resume refused on changed task items leaves the run as
    it was."""
    found = complete_checkpoints(run_dir / "checkpoints", state_file)
    if resume and not found:
        raise CurricleError(f"--resume: no complete checkpoint under {run_dir / 'checkpoints'}")
    if not resume and found:
        raise CurricleError(f"{run_dir} already has checkpoints: pass --resume to continue it, "
                            f"or choose another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    return str(found[0][1]) if resume else None


def check_resume_tasks(checkpoint: str | None, state_file: str, now: dict[str, str], part: str | None = None) -> None:
    """Refuse (:func:`~curricle.tasks.load.check_fingerprints`' one line) to resume from
    ``checkpoint`` onto other task items than it was saved with, before the run rewrites any of
    its files. ``now``: the tasks' fingerprints; ``part``: the key of ``state_file`` holding the
    state that records them (None: the file's top level)."""
    if checkpoint is None:
        return
    saved = json.loads((Path(checkpoint) / state_file).read_text())
    if part is not None:
        saved = saved.get(part) or {}
    check_fingerprints(saved.get("tasks"), now)


def record_start(run_dir: Path, config: Any, kind: str, checkpoint: str | None) -> None:
    """Write ``config.yaml`` and ``run.json`` (main process); a resume adds its line to
    ``run.json``'s ``resumes``, with what changed in the config."""
    if is_main():
        resumed = resume_record(run_dir, config, Path(checkpoint).name) if checkpoint else None  # before config.yaml
        atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        write_run_info(run_dir, kind, config, resumed=resumed)
