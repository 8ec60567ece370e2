"""Reading the token store.

Layout of ``DATA_DIR`` (written by :mod:`curricle.prepare`)::

    manifest.json                 format, tokenizer, dtype, eos id; per domain its directory
    tokenizer-<hash>/             HF fast tokenizer (AutoTokenizer.from_pretrained loads it)
    store/<domain>-<hash>/<split>/
        tokens.bin                every document's tokens followed by EOS, back to back
        index.npy                 int64 offsets, n_docs + 1: doc i is tokens[index[i]:index[i+1]]
        meta.parquet              one row per document: doc_id, source, n_tokens (without EOS),
                                  n_chars, compression_ratio, mean_token_rarity

``manifest.json`` is the commit point: a domain directory exists before the manifest names it;
its schema is :mod:`curricle.store.manifest`. ``snapshot.json``, written just before it, is
the store's snapshot id and what it hashes (:mod:`curricle.store.snapshot`).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curricle.errors import CurricleError
from curricle.store.manifest import MANIFEST_FILE, Manifest, read_manifest
from curricle.store.snapshot import committed_snapshot, store_snapshot
from curricle.store.tokenizer import load_tokenizer

SPLITS = ("train", "heldout")


class DomainSplit:
    """One domain's split: ``tokens`` (memmap), ``index`` (doc offsets) and ``meta``."""

    def __init__(self, path: Path, dtype: np.dtype, domain: str, split: str):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.domain = domain
        self.split = split

    @cached_property
    def index(self) -> np.ndarray:
        return np.load(self.path / "index.npy")

    @cached_property
    def tokens(self) -> np.ndarray:
        """All tokens as a plain ndarray view of a read-only memmap.

        A plain view (not ``np.memmap``) because slicing a memmap subclass costs microseconds
        per call, and the sampler takes one slice (or memoryview) per document.
        """
        n = int(self.index[-1])
        if n == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.asarray(np.memmap(self.path / "tokens.bin", dtype=self.dtype, mode="r", shape=(n,)))

    @property
    def n_docs(self) -> int:
        return len(self.index) - 1

    @property
    def n_tokens(self) -> int:
        """Tokens including each document's EOS."""
        return int(self.index[-1])

    @cached_property
    def doc_lengths(self) -> np.ndarray:
        """Tokens per document, EOS included (int64)."""
        return np.diff(self.index)

    def meta(self, columns: list[str] | None = None):
        """Per-document metadata as a ``pyarrow.Table``."""
        return pq.read_table(self.path / "meta.parquet", columns=columns)

    def column(self, name: str) -> np.ndarray:
        """One metadata column as a numpy array (e.g. a difficulty metric)."""
        table = self.meta()
        if name not in table.column_names:
            raise CurricleError(
                f"domain '{self.domain}': no metadata column '{name}' "
                f"(has: {', '.join(table.column_names)})"
            )
        return table.column(name).to_numpy()

    def document(self, i: int) -> np.ndarray:
        """Doc ``i``'s tokens without its EOS."""
        return self.tokens[self.index[i] : self.index[i + 1] - 1]


class TokenStore:
    """A prepared data directory: open it, then ``store.split(domain, 'train')``."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.manifest: Manifest = read_manifest(self.data_dir)
        self.dtype = np.dtype(self.manifest.dtype)
        self.eos_id: int = self.manifest.eos_id
        self.vocab_size: int = self.manifest.vocab_size
        self._splits: dict[tuple[str, str], DomainSplit] = {}

    @property
    def domains(self) -> list[str]:
        """Domain names in a fixed (sorted) order: the order of every weight vector."""
        return sorted(self.manifest.domains)

    @cached_property
    def snapshot(self) -> dict:
        """The store's snapshot (``{"id", "manifest", ...}``): its ``snapshot.json`` when that
        describes the committed ``manifest.json``, else computed from its files (a hand-built
        store, or one prepared before snapshots existed; every file is read once)."""
        snap = committed_snapshot(self.data_dir, MANIFEST_FILE)
        return snap if snap is not None else store_snapshot(self.data_dir, self.manifest)

    @property
    def snapshot_id(self) -> str:
        """The id of the data this store holds (:mod:`curricle.store.snapshot`)."""
        return self.snapshot["id"]

    @property
    def tokenizer_dir(self) -> Path:
        """The HF tokenizer directory the store was encoded with."""
        return self.data_dir / self.manifest.tokenizer.dir

    def load_tokenizer(self):
        return load_tokenizer(self.tokenizer_dir)

    def split(self, domain: str, split: str = "train") -> DomainSplit:
        if domain not in self.manifest.domains:
            raise CurricleError(
                f"unknown domain '{domain}' (the store at {self.data_dir} has: {', '.join(self.domains)})"
            )
        if split not in SPLITS:
            raise CurricleError(f"unknown split '{split}' (expected one of {SPLITS})")
        key = (domain, split)
        if key not in self._splits:
            entry = self.manifest.domains[domain]
            self._splits[key] = DomainSplit(self.data_dir / entry.dir / split, self.dtype, domain, split)
        return self._splits[key]

    def natural_tokens(self, split: str = "train") -> dict[str, int]:
        """Tokens per domain (EOS included): the 'natural' mixture."""
        return {d: self.manifest.domains[d].split(split).tokens for d in self.domains}
