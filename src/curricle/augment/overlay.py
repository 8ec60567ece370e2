"""A domain's augmented documents: an append-only overlay on its training split.

Layout of ``RUN/augment/<domain>/`` (written by the main rank)::

    tokens.bin     every augmented document's tokens followed by EOS, back to back (the
                   store's dtype), in the order they were added (a round's documents in
                   the hook's seeded shuffled order)
    meta.jsonl     one line per document: doc_id (``aug-<domain>-<i>``), augmented_from,
                   augmenter, params (a JSON string), step (the round that made it),
                   n_tokens (without EOS), text, and group (the group it counts in; only
                   when the run has groups)

Only the sampler's *training* stream of the domain reads it (see
:meth:`curricle.mixture.sampler.MixtureSampler.attach_overlay`); the token store and its
held-out split are never written. The overlay's length is part of the sampler's state, so a
resumed run cuts both files back to the checkpoint's length (:meth:`Overlay.restore`) and the
killed run's later rounds are made again, the same.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from curricle.augment.base import AugmentedDoc
from curricle.errors import CurricleError

TOKENS_FILE = "tokens.bin"
META_FILE = "meta.jsonl"


def overlay_dir(run_dir: Path | str, domain: str) -> Path:
    return Path(run_dir) / "augment" / domain


class Overlay:
    """One domain's augmented documents, in memory and (``writer``: the main rank) on disk."""

    def __init__(self, path: Path | str, domain: str, dtype: np.dtype | str, eos_id: int, writer: bool = True):
        self.path = Path(path)
        self.domain = domain
        self.dtype = np.dtype(dtype)
        self.eos_id = int(eos_id)
        self.writer = writer
        self._clear_memory()

    def _clear_memory(self) -> None:
        self.tokens = np.zeros(0, dtype=self.dtype)
        """Every document's tokens with its EOS, back to back."""
        self.index = np.zeros(1, dtype=np.int64)
        """Offsets: document ``i`` is ``tokens[index[i]:index[i + 1]]``."""
        self.records: list[dict[str, Any]] = []

    @property
    def n_docs(self) -> int:
        return len(self.records)

    @property
    def n_tokens(self) -> int:
        """Tokens, each document's EOS included."""
        return int(self.index[-1])

    def reset(self) -> None:
        """Empty (a fresh run): forget what an earlier run in this directory made."""
        self._clear_memory()
        if self.writer:
            shutil.rmtree(self.path, ignore_errors=True)

    def restore(self, n_docs: int, n_tokens: int) -> None:
        """The first ``n_docs`` documents (``n_tokens`` tokens) written, the rest cut off the
        files: the overlay as it was at a checkpoint."""
        self._clear_memory()
        if n_docs == 0:
            if self.writer:
                shutil.rmtree(self.path, ignore_errors=True)
            return
        meta, tok = self.path / META_FILE, self.path / TOKENS_FILE
        if not meta.is_file() or not tok.is_file():
            raise CurricleError(f"{self.path}: the checkpoint counts {n_docs} augmented documents, but "
                                f"{META_FILE} or {TOKENS_FILE} is missing")
        with open(meta, "rb") as f:
            lines = f.readlines()
        size = n_tokens * self.dtype.itemsize
        if len(lines) < n_docs or tok.stat().st_size < size:
            raise CurricleError(f"{self.path}: holds fewer augmented documents than the checkpoint's {n_docs}")
        records = [json.loads(line) for line in lines[:n_docs]]
        lengths = np.array([r["n_tokens"] + 1 for r in records], dtype=np.int64)
        if int(lengths.sum()) != n_tokens:
            raise CurricleError(f"{self.path}: {META_FILE} counts {int(lengths.sum())} tokens, the checkpoint {n_tokens}")
        self.tokens = np.fromfile(tok, dtype=self.dtype, count=n_tokens)
        self.index = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.records = records
        if self.writer:
            with open(meta, "r+b") as f:
                f.truncate(sum(len(line) for line in lines[:n_docs]))
            with open(tok, "r+b") as f:
                f.truncate(size)

    def append(self, docs: list[AugmentedDoc], ids: list[np.ndarray], step: int) -> None:
        """Add ``docs`` (their token ids ``ids``, without EOS), made at ``step``."""
        if len(docs) != len(ids):
            raise ValueError("one token array per document")
        if not docs:
            return
        first = self.n_docs
        records = [{"doc_id": f"aug-{self.domain}-{first + i}", "augmented_from": d.augmented_from,
                    "augmenter": d.augmenter, "params": d.params, "step": int(step), "n_tokens": int(len(t)),
                    "text": d.text, **({"group": d.group} if d.group is not None else {})}
                   for i, (d, t) in enumerate(zip(docs, ids))]
        eos = np.array([self.eos_id], dtype=self.dtype)
        new = np.concatenate([piece for t in ids for piece in (np.asarray(t, dtype=self.dtype), eos)])
        if self.writer:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.path / TOKENS_FILE, "ab") as f:
                f.write(new.tobytes())
                f.flush()
                os.fsync(f.fileno())
            with open(self.path / META_FILE, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(r) + "\n" for r in records))
                f.flush()
                os.fsync(f.fileno())  # durable before the checkpoint that counts them
        self.tokens = np.concatenate([self.tokens, new])
        self.index = np.concatenate([self.index, self.n_tokens + np.cumsum([len(t) + 1 for t in ids])]).astype(np.int64)
        self.records.extend(records)

    def document(self, i: int) -> np.ndarray:
        """Document ``i``'s tokens without its EOS."""
        return self.tokens[self.index[i] : self.index[i + 1] - 1]


def read_overlay(run_dir: Path | str, domain: str) -> list[dict[str, Any]]:
    """The augmented documents of ``domain`` in a run (their ``meta.jsonl`` records)."""
    path = overlay_dir(run_dir, domain) / META_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
