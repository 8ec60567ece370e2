"""One side of a drift comparison: a data version's documents per domain, as arrays.

A :class:`Corpus` is what every section reads, whatever the side was on disk (a token store
today; curated outputs and runs' served data load into the same shape). Per domain a
:class:`DomainDocs` is a *selection* (``rows``) of a domain's documents (:class:`DomainData`):
their ids, tokens (documents back to back, as the store holds them: document ``i`` is
``tokens[index[i] : index[i] + lengths[i]]``), and numeric metadata columns. A selection
shares its domain's arrays, so :meth:`Corpus.null_pair` (the calibration's random split of
every domain in two) copies nothing but the row numbers.

From a token store, a domain's **training split** is compared (what a run trains on); the
held-out split's document ids still count in the lineage (:mod:`curricle.drift.lineage`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
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
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    """Categorical values per document (object arrays): a task item's ``skill``, its ``prompt``."""
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
    def content_hashes(self) -> list[bytes]:
        """A hash of each document's tokens: equal documents, whatever their ids, hash alike."""
        toks, idx, n = self.tokens, self.index, self.lengths
        return [hashlib.blake2b(np.ascontiguousarray(toks[idx[i]: idx[i] + n[i]]).tobytes(), digest_size=12).digest()
                for i in range(self.n_docs)]

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

    def label(self, name: str) -> np.ndarray:
        """A categorical label's values over the selection."""
        return self.data.labels[name][self.rows]

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
    """``store``, ``curated`` (:mod:`curricle.drift.curated`), ``tasks`` (:mod:`curricle.drift.tasks`)
    (more to come: ``run``)."""
    domains: dict[str, DomainDocs]
    vocab_size: int
    snapshot: str | None = None
    decode: Callable[[list[int]], str] | None = None
    """Token ids to text (a store's tokenizer), for the tokens that moved most."""
    info: dict[str, Any] = field(default_factory=dict)
    """What else the side knows of itself: a curated output's funnel, a pruned store's lineage."""
    served: Any = None
    """For a training run: the tokens it served per domain and step
    (:class:`curricle.drift.runs.Served`); None for a data version."""

    def halves(self, rng: np.random.Generator) -> tuple[Corpus, Corpus]:
        """Every domain's documents split at random into two halves (the first gets
        floor(n / 2)): :meth:`null_pair` with nothing in common."""
        return self.null_pair(rng, {})

    def null_pair(self, rng: np.random.Generator, churn: dict[str, float]) -> tuple[Corpus, Corpus]:
        """Two versions of this corpus that differ only by chance, as much as OLD and NEW differ
        in content: every domain split at random into halves A and B; the pair is A and A with
        ``round(churn[d] * |A|)`` of its documents (at least one for any churn above 0: one
        edited document is judged against one swapped) swapped for as many of B's (all of
        them for a churn of 1: A against B, two plain split-halves). A domain without a churn
        figure counts as 1."""
        a, b = {}, {}
        for name, docs in self.domains.items():
            perm = rng.permutation(docs.rows)
            cut = len(perm) // 2
            first, second = perm[:cut], perm[cut:]
            c = churn.get(name, 1.0)
            k = min(max(int(round(c * cut)), 1 if c > 0 else 0), len(second), cut)
            out = rng.choice(cut, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)
            kept = np.delete(first, out)
            a[name] = DomainDocs(docs.data, np.sort(first))
            b[name] = DomainDocs(docs.data, np.sort(np.concatenate([kept, second[:k]])))
        sa, sb = self.served.halves(rng) if self.served is not None else (None, None)  # a run: halves of its steps
        return (Corpus(f"{self.label} (null A)", self.kind, a, self.vocab_size, None, self.decode, self.info, served=sa),
                Corpus(f"{self.label} (null B)", self.kind, b, self.vocab_size, None, self.decode, self.info, served=sb))

    def token_shares(self) -> dict[str, float]:
        """Each domain's share of the corpus's tokens."""
        tokens = {d: docs.n_tokens for d, docs in self.domains.items()}
        total = sum(tokens.values())
        return {d: (t / total if total else 0.0) for d, t in tokens.items()}

    def mixture_shares(self) -> dict[str, float]:
        """The shares the mixture is judged on: what a run served, else the side's own tokens."""
        return self.served.shares() if self.served is not None else self.token_shares()


def churn(old: Corpus, new: Corpus) -> dict[str, float]:
    """Per domain both sides have: the share of the larger side's documents whose content the
    other side lacks (1 - shared / max(n_old, n_new), shared counted by content hash as a
    multiset: a second copy of a document is not shared). 0: the same documents; 1: no
    document in common."""
    out = {}
    for name in sorted(set(old.domains) & set(new.domains)):
        o, n = old.domains[name], new.domains[name]
        ho = Counter(o.data.content_hashes[i] for i in o.rows)
        hn = Counter(n.data.content_hashes[i] for i in n.rows)
        shared = sum((ho & hn).values())
        size = max(o.n_docs, n.n_docs)
        out[name] = 1.0 - shared / size if size else 0.0
    return out


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
