"""Near-duplicates: how much of each version repeats itself, and how much of NEW is OLD again.

The MinHash LSH of curate's near-dedup (:mod:`curricle.curate.dedup`, its defaults in
:class:`~curricle.drift.config.NearDuplicateSettings`): ``bands`` x ``rows`` permutations of
datasketch's ``affine32`` scheme (its permutations for the same seed; the murmur3 finalizer,
then ``a * h + b`` modulo 2^32, as ``MinHash.update_batch`` applies them), and two documents
are near-duplicates when all ``rows`` values of one band agree (``MinHashLSH``'s candidate
rule; no Jaccard check). A store holds tokens, not words, so the shingles are
``shingle_size``-token n-grams (5 by default, as curate's 5-word shingles: a BPE token is
about a word or less, so 5 tokens is a shorter span of text and a somewhat stricter
shingle); a document shorter than that is one shingle. A shingle's 32-bit hash comes from
numpy (token ids mixed by the murmur3 64-bit finalizer), so a whole domain is signed in a
few array operations; an exact duplicate has the same signature, so it is a near-duplicate too.

Statistic per domain: ``duplicate_share``, |the share of NEW's documents that have a
near-duplicate within NEW - the same share within OLD| (an empty document has no shingle and
counts in neither). Signatures are computed once per domain (cached); each selection (a side,
a split-half) only groups its documents' band keys. The detail (OLD against NEW) has both
shares and the cross-version overlap: the share of NEW's documents with a near-duplicate in
OLD and of OLD's in NEW, with example pairs (a pair with different document ids first).

datasketch (the ``curate`` extra) provides the permutations; without it the section is
skipped with a warning.
"""

from __future__ import annotations

import logging

import numpy as np

from curricle.drift.corpus import Corpus, DomainData, DomainDocs
from curricle.drift.hashing import mix64
from curricle.drift.sections.base import Section
from curricle.errors import CurricleError
from curricle.extras import require

log = logging.getLogger(__name__)

#: Example pairs listed in the detail.
EXAMPLES = 5
#: Shingles permuted at once: the (shingles, permutations) array stays in cache (about 2 MB).
CHUNK = 1 << 12

_FOLD = np.uint64(0x100000001B3)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix of the ``affine32`` scheme)."""
    h = h.astype(np.uint32)
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def shingle_hashes(tokens: np.ndarray, owner: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The 32-bit hashes of every ``k``-token shingle of documents laid back to back
    (``owner``: each position's document, ascending, -1 for a separator), and each shingle's
    document; a document shorter than ``k`` tokens is one shingle of all of them."""
    t = tokens.astype(np.uint64)
    n = len(t)
    starts = np.flatnonzero(owner[: max(n - k + 1, 0)] >= 0)
    starts = starts[owner[starts + k - 1] == owner[starts]]
    h = np.full(len(starts), np.uint64(k))
    for j in range(k):
        h = (h ^ t[starts + j]) * _FOLD
    # Documents with no full shingle: their tokens, folded, are their one shingle.
    pos = np.flatnonzero(owner >= 0)
    own = owner[pos]
    present, first, length = np.unique(own, return_index=True, return_counts=True)
    short = ~np.isin(present, owner[starts])
    s_doc, s_start, s_len = present[short], pos[first[short]], length[short]
    s_hash = s_len.astype(np.uint64)
    for j in range(k - 1):
        m = j < s_len
        s_hash[m] = (s_hash[m] ^ t[s_start[m] + j]) * _FOLD
    hashes, docs = [h, s_hash], [owner[starts], s_doc.astype(owner.dtype)]
    h, d = np.concatenate(hashes), np.concatenate(docs)
    order = np.argsort(d, kind="stable")
    return (mix64(h[order]) >> np.uint64(32)).astype(np.uint32), d[order]


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's ``affine32`` permutations ``(a, b)`` for ``num_perm`` and ``seed`` (curate's)."""
    datasketch = require("datasketch", "curricle drift's near_duplicates section")
    a, b = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def signatures(hashes: np.ndarray, owner: np.ndarray, n_docs: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signatures ``(n_docs, len(a))`` uint32 of the shingle ``hashes`` grouped by
    ``owner`` (ascending): per permutation, the least ``a * fmix32(h) + b`` (mod 2^32). A
    document with no shingle keeps the maximum everywhere (and is never anyone's duplicate)."""
    sig = np.full((n_docs, len(a)), np.iinfo(np.uint32).max, dtype=np.uint32)
    mixed = fmix32(hashes)
    # Chunks end at document boundaries, so each document's minimum is taken in one chunk.
    doc_first = np.concatenate([[0], np.flatnonzero(np.diff(owner)) + 1]) if len(owner) else np.zeros(0, np.int64)
    i = 0
    while i < len(doc_first):
        start = int(doc_first[i])
        # the documents starting before start + CHUNK (at least one)
        j = max(int(np.searchsorted(doc_first, start + CHUNK, side="left")), i + 1)
        end = int(doc_first[j]) if j < len(doc_first) else len(owner)
        chunk = mixed[start:end, None] * a[None, :] + b[None, :]  # (shingles, permutations)
        sig[owner[doc_first[i:j]]] = np.minimum.reduceat(chunk, doc_first[i:j] - start, axis=0)
        i = j
    return sig


class Signed:
    """One domain's documents signed: ``keys`` (documents, bands), a 64-bit key per LSH band,
    and ``has``, whether a document has a shingle at all."""

    def __init__(self, data: DomainData, cfg):
        k, num_perm = cfg.shingle_size, cfg.bands * cfg.rows
        a, b = permutations(num_perm, cfg.seed)
        hashes, owner = shingle_hashes(np.asarray(data.tokens), data.token_doc, k)
        sig = signatures(hashes, owner, data.n_docs, a, b)
        self.has = np.zeros(data.n_docs, dtype=bool)
        self.has[owner] = True
        # A band's rows hashed into one 64-bit key (a collision of two different bands is
        # about n^2 / 2^64: none in practice).
        bands = sig.reshape(data.n_docs, cfg.bands, cfg.rows).astype(np.uint64)
        key = np.zeros((data.n_docs, cfg.bands), dtype=np.uint64)
        for r in range(cfg.rows):
            key = mix64(key ^ bands[:, :, r]) + np.uint64(r + 1)
        key += np.arange(cfg.bands, dtype=np.uint64)[None, :] * _FOLD  # band b's keys are band b's
        self.keys = key


def signed(docs: DomainDocs, cfg) -> Signed:
    key = ("near_duplicates", cfg.shingle_size, cfg.bands, cfg.rows, cfg.seed)
    return docs.data.cached(key, lambda: Signed(docs.data, cfg))


def duplicated(keys: np.ndarray) -> np.ndarray:
    """For each row of band ``keys`` (documents, bands): whether another row shares a band."""
    out = np.zeros(len(keys), dtype=bool)
    for b in range(keys.shape[1]):
        _, inverse, counts = np.unique(keys[:, b], return_inverse=True, return_counts=True)
        out |= counts[inverse.reshape(-1)] > 1
    return out


def matches(keys: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each row of ``keys``: the first row of ``other`` sharing a band with it, or -1."""
    out = np.full(len(keys), -1, dtype=np.int64)
    for b in range(keys.shape[1]):
        order = np.argsort(other[:, b], kind="stable")
        sorted_keys = other[order, b]
        pos = np.searchsorted(sorted_keys, keys[:, b])
        hit = (pos < len(sorted_keys)) & (sorted_keys[np.minimum(pos, len(sorted_keys) - 1)] == keys[:, b])
        found = order[np.minimum(pos, len(order) - 1)]
        take = hit & ((out < 0) | (found < out))
        out[take] = found[take]
    return out


class NearDuplicatesSection(Section):
    name = "near_duplicates"

    def __init__(self, config):
        super().__init__(config)
        self.skipped: str | None = None

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        cfg = self.config.near_duplicates
        if self.skipped is None:
            try:
                require("datasketch", "curricle drift's near_duplicates section")
            except CurricleError as err:
                self.skipped = str(err)
                log.warning("drift: section near_duplicates skipped: %s", err)
            else:
                self.skipped = ""
        if self.skipped:
            return []
        out = []
        for domain, od, nd in self.shared(old, new):
            so, sn = signed(od, cfg), signed(nd, cfg)
            ro, rn = od.rows[so.has[od.rows]], nd.rows[sn.has[nd.rows]]
            if not len(ro) or not len(rn):
                continue
            ko, kn = so.keys[ro], sn.keys[rn]
            do, dn = duplicated(ko), duplicated(kn)
            share_o, share_n = float(do.mean()), float(dn.mean())
            info = {}
            if detail:
                info = {"old_share": round(share_o, 6), "new_share": round(share_n, 6),
                        "old_duplicated": int(do.sum()), "new_duplicated": int(dn.sum()),
                        **self._overlap(od.data, nd.data, ro, rn, ko, kn)}
            out.append(self.make("duplicate_share", abs(share_n - share_o), domain, len(ro), len(rn), **info))
        return out

    @staticmethod
    def _overlap(do: DomainData, dn: DomainData, ro, rn, ko, kn) -> dict:
        """The cross-version overlap: NEW's documents with a near-duplicate in OLD and back."""
        new_in_old, old_in_new = matches(kn, ko), matches(ko, kn)
        pairs = [(str(dn.doc_ids[rn[i]]), str(do.doc_ids[ro[j]])) for i, j in enumerate(new_in_old.tolist()) if j >= 0]
        pairs.sort(key=lambda p: p[0] == p[1])  # a copy under another id is the interesting one
        return {"new_in_old": round(float((new_in_old >= 0).mean()), 6),
                "old_in_new": round(float((old_in_new >= 0).mean()), 6),
                "new_in_old_other_id": sum(a != b for a, b in pairs),
                "pairs": [{"new": a, "old": b} for a, b in pairs[:EXAMPLES]]}


__all__ = ["NearDuplicatesSection", "shingle_hashes", "signatures", "permutations", "duplicated", "matches"]
