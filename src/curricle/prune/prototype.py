"""``--by prototype``: the self-supervised prototype metric of Sorscher et al. 2022 ("Beyond
neural scaling laws"). Each training document is embedded as a checkpoint's last hidden
state, averaged over its tokens; the embeddings are scaled to unit length and clustered by
k-means (``scipy.cluster.vq.kmeans2``, k-means++ seeded from ``seed`` and the domain); a
document's score is its Euclidean distance to the nearest centroid (on unit vectors, a
monotone function of the cosine distance). Far from every prototype is hard; close to one is
easy and redundant."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.cluster.vq import kmeans2

from curricle.errors import CurricleError
from curricle.prepare.reference import CheckpointScorer
from curricle.prune.base import PruneMetric, domain_rng
from curricle.store import DomainSplit


def unit_kmeans(embeddings: np.ndarray, k: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows scaled to unit length (a zero row stays zero), and k-means on them
    (k-means++ from ``rng``): ``(rows, centroids, labels)``."""
    x = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    with warnings.catch_warnings():  # an empty cluster is warned of (its centroid stays a candidate)
        warnings.simplefilter("ignore")
        centroids, labels = kmeans2(x, k, minit="++", rng=rng)
    return x, centroids, labels


def prototype_distances(embeddings: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each row's distance to the nearest of ``k`` k-means centroids of the rows scaled to
    unit length (a zero row stays zero)."""
    x, centroids, _ = unit_kmeans(embeddings, k, rng)
    d = np.full(len(x), np.inf)
    for c in centroids:  # one centroid at a time: (n, hidden) at most, never (n, k, hidden)
        np.minimum(d, np.linalg.norm(x - c, axis=1), out=d)
    return d


class PrototypeMetric(PruneMetric):
    name = "prototype"
    #: What each document's score is, from the embeddings, k and the domain's generator.
    measure = staticmethod(prototype_distances)

    def __init__(self, config, store, progress=None):
        super().__init__(config, store, progress)
        tok = store.tokenizer_dir if store.tokenizer_dir.is_dir() else None
        self.scorer = CheckpointScorer(config.model, store.vocab_size, tok, batch_docs=config.batch_docs,
                                       max_tokens=config.max_tokens, key="--model")

    def embeddings(self, domain: str, split: DomainSplit) -> np.ndarray:
        """Mean-pooled last hidden states of the domain's training documents, (n, hidden)."""
        task = self.progress.add_task(f"embedding [{domain}]", total=split.n_docs) if self.progress else None
        out = []
        step = self.config.batch_docs
        for start in range(0, split.n_docs, step):
            docs = [np.asarray(split.document(i), dtype=np.int64) for i in range(start, min(split.n_docs, start + step))]
            out.append(self.scorer.mean_hidden(docs))
            if task is not None:
                self.progress.advance(task, len(docs))
        if task is not None:
            self.progress.remove_task(task)
        return np.concatenate(out)

    def scores(self, domain: str, split: DomainSplit) -> np.ndarray:
        if self.config.clusters > split.n_docs:
            raise CurricleError(f"--clusters {self.config.clusters}: domain '{domain}' has only {split.n_docs} "
                                f"training documents")
        return self.measure(self.embeddings(domain, split), self.config.clusters, domain_rng(self.config.seed, domain))
