"""Pretrained models from GGUF files, materialized once as HF checkpoint directories.

``model: {preset: smollm2-135m-instruct}`` names a GGUF file that an installed package ships
(:data:`~curricle.model.config.PRETRAINED`), ``model: {gguf: FILE}`` any GGUF file. transformers
reads it (``gguf_file=``, every weight dequantized to float32) into an ordinary causal LM, which
is saved with its tokenizer and chat template into the directory
:func:`~curricle.model.config.pretrained_dir` names; every later run loads that directory. It
is written beside its place, made durable and renamed (a reader never sees half of one), with
``source.json`` last: the sha256 of the GGUF it was made from, so a different file (a new
package version, an edited ``gguf:`` file) is materialized again.

One process materializes at a time: it holds an exclusive ``flock`` on ``.<name>.lock`` beside
the directory, and the others (the ranks of a torchrun job) wait, then take its copy. Under that
lock it first removes what a killed materialization left of this directory (``.<name>.*.tmp``,
``.<name>.stale-PID``): no process that takes the lock can be writing them then. (A curricle
older than this one took no lock; one of those materializing the same directory at the same
moment is not guarded against.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import struct
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

from curricle import atomic
from curricle.errors import CurricleError
from curricle.extras import locate, require
from curricle.model.config import PRETRAINED, pretrained_dir

log = logging.getLogger(__name__)

SOURCE = "source.json"


def gguf_source(preset: str | None = None, gguf: Path | str | None = None) -> tuple[Path, str]:
    """``(the GGUF file, the config key that named it)``: the file inside the installed package of
    a pretrained preset, or ``gguf``. One-line errors for a missing package or file."""
    if preset is not None:
        packaged = PRETRAINED[preset]
        where = f"model.preset {preset}"
        file = locate(packaged.package, where) / packaged.file
        if not file.is_file():
            raise CurricleError(f"{where}: the installed {packaged.package} has no {packaged.file}")
        return file, where
    if gguf is None:
        raise ValueError("gguf_source: give a pretrained preset or a GGUF file")
    if not Path(gguf).is_file():
        raise CurricleError(f"model.gguf: no such file: {gguf}")
    return Path(gguf), "model.gguf"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _made_from(directory: Path) -> str | None:
    try:
        return json.loads((directory / SOURCE).read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def materialize(preset: str | None = None, gguf: Path | str | None = None) -> Path:
    """The HF checkpoint directory of a pretrained preset or GGUF file, made on the first call
    (about 20 s for SmolLM2-135M on one CPU thread) and reused after that."""
    file, where = gguf_source(preset, gguf)
    final = pretrained_dir(preset, gguf)
    digest = file_sha256(file)
    if _made_from(final) == digest:
        return final
    require("gguf", where)
    require("accelerate", where)
    with atomic.locked(final.with_name(f".{final.name}.lock")):
        if _made_from(final) == digest:  # another process (a rank beside this one) made it meanwhile
            return final
        for left in _leftovers(final):
            log.info("%s: removing %s, left by a materialization that was killed", where, left)
            shutil.rmtree(left, ignore_errors=True)
        log.info("%s: materializing %s (%.0f MB) as an HF checkpoint in %s, once", where, file.name,
                 file.stat().st_size / 1e6, final)
        start = time.perf_counter()
        if final.exists():  # made from another file: set aside, then replaced
            stale = final.with_name(f".{final.name}.stale-{os.getpid()}")
            os.rename(final, stale)
            shutil.rmtree(stale)
        try:
            with atomic.directory(final) as tmp:
                _convert(file, tmp, where)
                atomic.fsync_tree(tmp)  # the weights reach the disk before source.json vouches for them
                atomic.write_json(tmp / SOURCE, {"sha256": digest, "file": str(file), "preset": preset})
        except OSError:
            if _made_from(final) == digest:  # a process that took no lock renamed its copy first
                return final
            raise
    log.info("%s: materialized in %.0f s", where, time.perf_counter() - start)
    return final


def _leftovers(final: Path) -> list[Path]:
    """What a killed materialization of ``final`` left beside it: the temporary directory of
    :func:`curricle.atomic.directory` (``.<name>.<8 random characters>.tmp``) and an old copy set
    aside (``.<name>.stale-PID``)."""
    name = re.escape(final.name)
    pattern = re.compile(rf"^\.{name}\.(?:[a-z0-9_]{{8}}\.tmp|stale-\d+)$")
    return sorted(p for p in final.parent.iterdir() if pattern.match(p.name) and p.is_dir())


def _convert(file: Path, out: Path, where: str) -> None:
    """The GGUF ``file`` as a float32 HF causal LM and its tokenizer, saved into ``out``."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(file.parent), gguf_file=file.name)
        model = AutoModelForCausalLM.from_pretrained(str(file.parent), gguf_file=file.name, dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True))
    except (OSError, ValueError, KeyError, IndexError, OverflowError, struct.error) as err:
        # struct.error, OverflowError: a truncated or corrupt file, as transformers' GGUF reader finds it
        raise CurricleError(f"{where}: cannot read {file} as a causal LM and tokenizer ({err})") from None
    if getattr(model, "hf_quantizer", None) is not None:  # a plain model or none: it is saved and trained
        raise CurricleError(f"{where}: transformers kept {file.name}'s weights quantized; cannot save them")
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def checkpoint_dir(config) -> Path | None:
    """The HF checkpoint directory a model config (``ModelConfig`` or ``ModelSource``) loads
    from, materialized first for a pretrained preset or a GGUF file; None for a from-scratch
    preset."""
    if getattr(config, "gguf", None) is not None or getattr(config, "preset", None) in PRETRAINED:
        return materialize(config.preset, config.gguf)
    return config.checkpoint
