"""One side of a drift comparison: a data version's documents per domain, as arrays.

A :class:`Corpus` is what every section reads, whatever the side was on disk (a token store
today; curated outputs and runs' served data load into the same shape). Per domain a
:class:`DomainDocs` is a *selection* (``rows``) of a domain's documents (:class:`DomainData`):
their ids, tokens (documents back to back, as the store holds them: document ``i`` is
``tokens[index[i] : index[i] + lengths[i]]``), and numeric metadata columns. A selection
shares its domain's arrays, so :meth:`Corpus.halves` (the calibration's random split of
every domain in two) copies nothing but the row numbers.

From a token store, a domain's **training split** is compared (what a run trains on); the
held-out split's document ids still count in the lineage (:mod:`curricle.drift.lineage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np

from curricle.errors import CurricleError
from curricle.store.token_store import TokenStore

#: Metadata columns never compared as a distribution: identifiers and labels.
NOT_COMPARED = frozenset({"doc_id", "source"})


@dataclass
class DomainData:
    """All of one domain's documents on one side."""

    domain: str
    doc_ids: np.ndarray
    """Document ids (object array of str), one per document."""
    tokens: np.ndarray
    """Token ids, documents back to back (a store's memmap: separators between documents are
    allowed, they are never read)."""
    index: np.ndarray
    """int64, one entry per document and one more: document i starts at ``index[i]``."""
    lengths: np.ndarray
    """Tokens of each document (without a store's EOS)."""
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    """Numeric metadata per document (float64; NaN where a document has no value)."""
    text: Callable[[int], str] | None = None
    """The text of document ``i``, where the side can give it (for showing examples)."""
    extra_doc_ids: np.ndarray | None = None
    """Ids of the domain's documents that are not compared but count in the lineage (a
    store's held-out split)."""
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    """What a section computes once per document and every null split reuses (features,
    signatures, a model's losses), keyed by what made it: see :meth:`cached`."""

    @property
    def n_docs(self) -> int:
        return len(self.doc_ids)

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """``cache[key]``, made by ``make()`` the first time: the split-halves select rows of the
        same domain, so per-document work is done once, not once per null split."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    @cached_property
    def token_doc(self) -> np.ndarray:
        """For every position of ``tokens``: the document it belongs to, or -1 (a separator)."""
        n_pos = int(self.index[-1]) if len(self.index) else 0
        owner = np.repeat(np.arange(self.n_docs, dtype=np.int64), np.diff(self.index))
        offset = np.arange(n_pos, dtype=np.int64) - self.index[:-1][owner]
        owner[offset >= self.lengths[owner]] = -1
        return owner


@dataclass
class DomainDocs:
    """A selection of one domain's documents (``rows``, ascending)."""

    data: DomainData
    rows: np.ndarray

    @property
    def domain(self) -> str:
        return self.data.domain

    @property
    def n_docs(self) -> int:
        return len(self.rows)

    @property
    def doc_ids(self) -> np.ndarray:
        return self.data.doc_ids[self.rows]

    @property
    def lengths(self) -> np.ndarray:
        return self.data.lengths[self.rows]

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())

    def column(self, name: str) -> np.ndarray:
        """A metadata column's finite values over the selection."""
        values = self.data.columns[name][self.rows]
        return values[np.isfinite(values)]

    @cached_property
    def _positions(self) -> np.ndarray:
        """Positions in ``data.tokens`` of the selection's tokens, in order."""
        owner = self.data.token_doc
        chosen = np.zeros(self.data.n_docs + 1, dtype=bool)  # the extra slot is -1's
        chosen[self.rows] = True
        return np.flatnonzero(chosen[owner])

    def unigram(self, vocab_size: int) -> np.ndarray:
        """Token counts (int64, ``vocab_size`` long)."""
        return np.bincount(self.data.tokens[self._positions], minlength=vocab_size)[:vocab_size]

    def bigram(self, buckets: int) -> np.ndarray:
        """Counts of adjacent token pairs within a document, hashed into ``buckets``."""
        pos = self._positions
        if len(pos) < 2:
            return np.zeros(buckets, dtype=np.int64)
        owner = self.data.token_doc
        pairs = pos[:-1][(pos[1:] == pos[:-1] + 1) & (owner[pos[:-1]] == owner[np.minimum(pos[:-1] + 1, len(owner) - 1)])]
        a = self.data.tokens[pairs].astype(np.uint64)
        b = self.data.tokens[pairs + 1].astype(np.uint64)
        h = (a * np.uint64(0x9E3779B1) + b * np.uint64(0x85EBCA77)) % np.uint64(buckets)
        return np.bincount(h.astype(np.int64), minlength=buckets)

    def documents(self, rows: np.ndarray | None = None) -> list[np.ndarray]:
        """The token arrays of the selection's documents (or of ``rows`` of the domain)."""
        d = self.data
        return [d.tokens[d.index[i]: d.index[i] + d.lengths[i]] for i in (self.rows if rows is None else rows)]


@dataclass
class Corpus:
    """One side of a comparison."""

    label: str
    """Where it came from (a path), for the report."""
    kind: str
    """``store`` (more to come: ``curated``, ``run``)."""
    domains: dict[str, DomainDocs]
    vocab_size: int
    snapshot: str | None = None
    decode: Callable[[list[int]], str] | None = None
    """Token ids to text (a store's tokenizer), for the tokens that moved most."""
    info: dict[str, Any] = field(default_factory=dict)
    """What else the side knows of itself: a curated output's funnel, a pruned store's lineage."""

    def halves(self, rng: np.random.Generator) -> tuple[Corpus, Corpus]:
        """Every domain's documents split at random into two halves (the first gets
        floor(n / 2))."""
        a, b = {}, {}
        for name, docs in self.domains.items():
            perm = rng.permutation(docs.rows)
            cut = len(perm) // 2
            a[name] = DomainDocs(docs.data, np.sort(perm[:cut]))
            b[name] = DomainDocs(docs.data, np.sort(perm[cut:]))
        return (Corpus(f"{self.label} (half A)", self.kind, a, self.vocab_size, None, self.decode, self.info),
                Corpus(f"{self.label} (half B)", self.kind, b, self.vocab_size, None, self.decode, self.info))

    def token_shares(self) -> dict[str, float]:
        """Each domain's share of the corpus's tokens."""
        tokens = {d: docs.n_tokens for d, docs in self.domains.items()}
        total = sum(tokens.values())
        return {d: (t / total if total else 0.0) for d, t in tokens.items()}


def load_store(path: Path | str) -> Corpus:
    """The training split of every domain of the token store at ``path``."""
    store = TokenStore(Path(path))
    domains = {}
    for name in store.domains:
        train = store.split(name, "train")
        meta = train.meta()
        if "doc_id" not in meta.column_names:
            raise CurricleError(f"{train.path / 'meta.parquet'}: no doc_id column; rerun 'curricle prepare'")
        columns = {}
        for col in meta.column_names:
            if col in NOT_COMPARED:
                continue
            arr = meta.column(col)
            try:
                values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
            except (TypeError, ValueError):
                continue  # a text or list column: not a distribution to compare
            columns[col] = values
        heldout = store.split(name, "heldout")
        extra = (np.asarray(heldout.meta(["doc_id"]).column("doc_id").to_pylist(), dtype=object)
                 if heldout.n_docs else np.zeros(0, dtype=object))
        data = DomainData(
            domain=name,
            doc_ids=np.asarray(meta.column("doc_id").to_pylist(), dtype=object),
            tokens=train.tokens, index=train.index.astype(np.int64),
            lengths=(np.diff(train.index) - 1).astype(np.int64), columns=columns, extra_doc_ids=extra)
        domains[name] = DomainDocs(data, np.arange(data.n_docs))
    decode = _decoder(store)
    for docs in domains.values():
        docs.data.text = _texter(docs.data, decode)
    info = {"eos_id": store.eos_id}
    if store.tokenizer_dir.is_dir():
        info["tokenizer_dir"] = str(store.tokenizer_dir)  # a reference model checks it reads these tokens
    return Corpus(str(path), "store", domains, store.vocab_size, getattr(store, "snapshot_id", None), decode,
                  info=info)


def _decoder(store) -> Callable[[list[int]], str] | None:
    try:
        tok = store.load_tokenizer()
    except (CurricleError, OSError, ValueError):
        return None  # a hand-built store may name no real tokenizer: token ids are shown instead
    return lambda ids: tok.decode([int(i) for i in ids])


def _texter(data: DomainData, decode) -> Callable[[int], str] | None:
    if decode is None:
        return None
    return lambda i: decode(data.tokens[data.index[i]: data.index[i] + data.lengths[i]])


__all__ = ["NOT_COMPARED", "DomainData", "DomainDocs", "Corpus", "load_store"]
