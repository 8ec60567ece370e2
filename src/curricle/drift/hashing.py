"""Hashing for the sections: one 64-bit mixer of token ids, vectorized, for those that bin
n-grams or shingles (content, near-duplicates); and a sample of documents drawn by a seeded
hash of their content, for those that read a sample (content, reference)."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)


def mix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (an avalanching bijection on uint64), element-wise."""
    x = x ^ (x >> np.uint64(33))
    x = x * _M1
    x = x ^ (x >> np.uint64(33))
    x = x * _M2
    return x ^ (x >> np.uint64(33))


def content_sample(hashes: Sequence[bytes], max_docs: int, seed: int) -> np.ndarray:
    """Rows (ascending) of the at most ``max_docs`` documents whose content hashes (``hashes``,
    one per row) rehash smallest under ``seed`` (ties, copies of one document: the lower row);
    every row when there are no more. A document is drawn by its content and the seed, not by
    its row, so two sides holding the same documents in any order draw the same ones, and a
    document both sides hold is drawn on both when its hash is below both sides' cut-offs (the
    ``max_docs``-th smallest on each: they differ where the sides differ)."""
    n = len(hashes)
    if n <= max_docs:
        return np.arange(n)
    key = seed.to_bytes(8, "little", signed=True)
    u = np.array([int.from_bytes(hashlib.blake2b(h, digest_size=8, key=key).digest(), "little") for h in hashes],
                 dtype=np.uint64)
    return np.sort(np.lexsort((np.arange(n), u))[:max_docs])


__all__ = ["mix64", "content_sample"]
