"""``--by semantic-duplicate``: SemDeDup (Abbas et al. 2023, "SemDeDup: Data-efficient learning
at web-scale through semantic deduplication"): near-duplicates by meaning, in a checkpoint's
embedding space, where MinHash sees only shared word shingles.

As the paper runs it: documents are embedded (here as ``prototype`` embeds them: a checkpoint's
last hidden state averaged over the document's tokens, scaled to unit length) and clustered by
k-means (``clusters``, k-means++ seeded from ``seed`` and the domain; the clusters only bound
the pairwise work, as in the paper). Within a cluster the documents are ordered farthest from
the centroid first (the paper's and NeMo Curator's default, ``which_to_keep: hard``), and each
document's score is its largest cosine similarity to a document *before* it in that order:
``M_j = max_{i < j} cos(x_i, x_j)`` (a cluster's first document has none: -1). The paper removes
every document with ``M_j > 1 - eps``; curricle states the kept fraction instead, so the
removals are the ``n - k`` largest ``M`` (ties in document order), which is the paper's
threshold at the ``eps`` that keeps ``k``. Like the paper, a document's score does not change
when the document it duplicates is itself removed.

Removals have reason ``semantic-duplicate`` and score ``M_j``; the order is not a choice
(``order`` is refused); group floors walk the same order further down.
"""

from __future__ import annotations

import numpy as np

from curricle.prune.base import Removal
from curricle.prune.prototype import PrototypeMetric, unit_kmeans
from curricle.store import DomainSplit

BLOCK = 2048
"""Rows of a cluster's similarity matrix computed at once (memory: ``BLOCK x`` the cluster's size)."""


def semantic_duplicate_scores(embeddings: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """SemDeDup's ``M`` for each row: its largest cosine similarity to a row before it in its
    k-means cluster, ordered farthest from the centroid first (-1 for a cluster's first row;
    a zero row has similarity 0 to everything)."""
    x, centroids, labels = unit_kmeans(embeddings, k, rng)  # an empty cluster simply has no rows
    scores = np.full(len(x), -1.0)
    for c in range(len(centroids)):
        rows = np.flatnonzero(labels == c)
        if len(rows) < 2:
            continue
        dist = np.linalg.norm(x[rows] - centroids[c], axis=1)
        rows = rows[np.argsort(-dist, kind="stable")]  # farthest first; ties in document order
        xc = x[rows]
        for start in range(1, len(rows), BLOCK):  # BLOCK x cluster similarities at a time
            stop = min(len(rows), start + BLOCK)
            sim = xc[start:stop] @ xc[:stop].T  # [j, i]
            earlier = np.arange(stop)[None, :] < np.arange(start, stop)[:, None]  # i comes before j
            scores[rows[start:stop]] = np.where(earlier, sim, -np.inf).max(axis=1)
    return scores


class SemanticDuplicateMetric(PrototypeMetric):
    name = "semantic-duplicate"
    measure = staticmethod(semantic_duplicate_scores)

    def unscored(self, domain: str, split: DomainSplit) -> int:
        return 0

    def candidates(self, domain: str, split: DomainSplit, n_keep: int) -> list[Removal]:
        m = self._scores(domain, split)
        order = np.argsort(-m, kind="stable")  # the most similar to an earlier document first
        return [Removal(int(i), "semantic-duplicate", float(m[i])) for i in order.tolist()]
