"""A classifier between OLD's and NEW's documents: can a model tell which version a document is from?

Per domain both sides have, each document becomes hashed token n-gram features (its unigrams
and adjacent-token bigrams hashed into ``content_buckets`` bins, ``log(1 + count)``, each row
L2-normalized), and an L2-regularized logistic regression (full-batch L-BFGS, scipy) learns
NEW (1) against OLD (0). It is scored by cross-validation: the documents are split into
``content_folds`` folds (seeded; a document both versions hold, by content, goes to one fold
with both its labels, so it is scored alike on each side and adds exactly 0.5: shared
documents dilute the AUC toward 0.5 instead of teaching the model noise), each fold is scored
by a model trained on the others, and the statistic ``auc`` is the ROC AUC of those held-out scores, pooled over the
folds: 0.5 when the versions are indistinguishable, 1.0 when every NEW document is told from
every OLD one. A held-out AUC below 0.5 is noise (a model does not learn the reverse of its
training labels), so it is not folded up: larger is more different, as for every statistic.

Each side reads at most ``content_max_docs`` documents per domain, a sample drawn by content
(the documents with the smallest seeded hash of their tokens,
:func:`~curricle.drift.hashing.content_sample`: two sides holding the same documents, in any
order, draw the same ones; where the sides differ, each side's cut-off is its own, so a shared
document near the cut-offs can be drawn on one side only) once per domain and featurized once
(cached on the domain's data); a split-half of OLD reads the sample's documents that fall in
it, so the null splits only refit. The detail (OLD against NEW) lists the most typical
documents of each side (the highest held-out probability of NEW, and of OLD) with their text,
and the n-grams with the largest weights (averaged over the folds' models).
"""

from __future__ import annotations

import zlib

import numpy as np
import scipy.optimize as spo
import scipy.sparse as sp
from scipy.special import expit

from curricle.drift.corpus import Corpus, DomainData, DomainDocs
from curricle.drift.hashing import content_sample, mix64
from curricle.drift.sections.base import Section
from curricle.drift.stats import roc_auc

#: Documents and n-grams listed per side in the detail.
EXAMPLES = 5
#: L-BFGS iterations at most per fit (a ranking needs no more; about 10 to 30 are taken).
MAX_ITER = 100
#: A feature is fitted when at least this many training documents have it (an n-gram of one
#: document only says which document it is; leaving them out makes a fit several times cheaper).
MIN_DF = 2
#: Characters of a document's text shown in the detail (token ids where there is no text: 50).
SNIPPET = 200

_BIGRAM = np.uint64(0x9E3779B97F4A7C15)


def ngram_keys(tokens: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unigram and within-document bigram keys of documents laid back to back (``owner``:
    each token's document, ascending): ``(keys, owner of each key, first token position)``;
    a bigram's key never equals a unigram's but by a 64-bit hash collision."""
    t = tokens.astype(np.uint64)
    uni = mix64(t * np.uint64(2))
    pair = np.flatnonzero(owner[1:] == owner[:-1]) if len(t) > 1 else np.zeros(0, dtype=np.int64)
    bi = mix64((mix64(t[pair] * np.uint64(2) + np.uint64(1)) ^ t[pair + 1]) * _BIGRAM + np.uint64(1))
    return (np.concatenate([uni, bi]), np.concatenate([owner, owner[pair]]),
            np.concatenate([np.arange(len(t)), pair]))


class Features:
    """The hashed n-gram features of a sample of one domain's documents (``rows``, ascending)."""

    def __init__(self, data: DomainData, rows: np.ndarray, buckets: int):
        self.data = data
        self.rows = rows
        docs = [data.tokens[data.index[i]: data.index[i] + data.lengths[i]] for i in rows]
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        self.tokens = (np.concatenate(docs).astype(np.int64) if len(docs) and lengths.sum()
                       else np.zeros(0, dtype=np.int64))
        self.owner = np.repeat(np.arange(len(rows)), lengths)
        keys, owner, self.first = ngram_keys(self.tokens, self.owner)
        self.bins = (keys % np.uint64(buckets)).astype(np.int64)
        x = sp.csr_matrix((np.ones(len(keys)), (owner, self.bins)), shape=(len(rows), buckets))
        x.sum_duplicates()
        x.data = np.log1p(x.data)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        self.x = sp.csr_matrix(sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x)
        self.n_unigrams = len(self.tokens)

    def select(self, rows: np.ndarray) -> np.ndarray:
        """Positions in this sample of the sampled documents among ``rows``."""
        return np.flatnonzero(np.isin(self.rows, rows))

    def ngram(self, bin_: int) -> list[int] | None:
        """The first n-gram of the sample hashed into ``bin_`` (token ids), None if none is."""
        hit = np.flatnonzero(self.bins == bin_)
        if not len(hit):
            return None
        k = int(hit[0])
        start = int(self.first[k])
        return [int(self.tokens[start])] if k < self.n_unigrams else [int(t) for t in self.tokens[start: start + 2]]


def features(docs: DomainDocs, max_docs: int, buckets: int, seed: int) -> Features:
    """The domain's sample (at most ``max_docs`` of its documents, drawn by content under
    ``seed``: :func:`~curricle.drift.hashing.content_sample`), featurized once per domain."""
    data = docs.data

    def make() -> Features:
        return Features(data, content_sample(data.content_hashes, max_docs, seed), buckets)

    return data.cached(("content", max_docs, buckets, seed), make)


def fit_logistic(x: sp.csr_matrix, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights and intercept minimizing the mean log-loss + ``l2`` / 2 * |w|^2 (intercept not
    penalized), by L-BFGS."""
    n, d = x.shape
    xt = x.T.tocsr()

    def loss(theta):
        w, b = theta[:d], theta[d]
        z = x @ w + b
        p = expit(z)
        f = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w
        r = (p - y) / n
        return f, np.concatenate([xt @ r + l2 * w, [r.sum()]])

    res = spo.minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B",
                       options={"maxiter": MAX_ITER, "maxcor": 5, "ftol": 1e-7})
    return res.x[:d], float(res.x[d])


def cross_validated(x: sp.csr_matrix, y: np.ndarray, folds: int, l2: float, rng: np.random.Generator,
                    weights: bool = False, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Held-out log-odds of NEW for every row (each fold scored by a model fitted on the
    others), and the folds' mean weights over all columns when ``weights``. Rows of one group
    (``groups``: the same document on both sides) share a fold, so a document both versions
    hold is scored alike on each side and adds exactly 0.5 to the AUC; without groups the folds
    are stratified by label. Each fit only sees the columns at least :data:`MIN_DF` of its
    training rows use."""
    fold = np.zeros(len(y), dtype=np.int64)
    if groups is not None:
        ids, inverse = np.unique(groups, return_inverse=True)
        fold = (rng.permutation(len(ids)) % folds)[inverse]
    else:
        for label in (0, 1):
            idx = np.flatnonzero(y == label)
            fold[rng.permutation(idx)] = np.arange(len(idx)) % folds
    scores = np.zeros(len(y))
    mean_w = np.zeros(x.shape[1]) if weights else None
    for k in range(folds):
        train, test = fold != k, fold == k
        xt = x[train]
        cols = np.flatnonzero(np.bincount(xt.indices, minlength=x.shape[1]) >= MIN_DF)
        w, b = fit_logistic(xt[:, cols], y[train].astype(np.float64), l2)
        scores[test] = x[test][:, cols] @ w + b
        if mean_w is not None:
            mean_w[cols] += w / folds
    return scores, mean_w


class ContentSection(Section):
    name = "content"

    def measure(self, old: Corpus, new: Corpus, detail: bool):
        cfg = self.config
        out = []
        for domain, od, nd in self.shared(old, new):
            fo = features(od, cfg.content_max_docs, cfg.content_buckets, cfg.seed)
            fn = fo if nd.data is od.data else features(nd, cfg.content_max_docs, cfg.content_buckets, cfg.seed)
            io, in_ = fo.select(od.rows), fn.select(nd.rows)
            if len(io) < cfg.content_folds or len(in_) < cfg.content_folds:
                continue  # too few documents on a side to hold out one per fold
            x = sp.vstack([fo.x[io], fn.x[in_]]).tocsr()
            y = np.concatenate([np.zeros(len(io), dtype=np.int64), np.ones(len(in_), dtype=np.int64)])
            rng = np.random.default_rng([cfg.seed, zlib.crc32(domain.encode()), 1])
            hashes = [fo.data.content_hashes[int(r)] for r in fo.rows[io]] + \
                     [fn.data.content_hashes[int(r)] for r in fn.rows[in_]]
            groups = np.unique(np.array(hashes, dtype=object), return_inverse=True)[1]
            if groups.max(initial=-1) + 1 < cfg.content_folds:
                continue  # fewer distinct documents than folds
            scores, w = cross_validated(x, y, cfg.content_folds, cfg.content_l2, rng, weights=detail, groups=groups)
            auc = roc_auc(scores, y)
            info = self._detail(old, fo, fn, io, in_, scores, w) if detail else {}
            out.append(self.make("auc", auc, domain, len(io), len(in_), **info))
        return out

    def _detail(self, old: Corpus, fo: Features, fn: Features, io, in_, scores, w) -> dict:
        s_old, s_new = scores[: len(io)], scores[len(io):]

        def doc(f: Features, data: DomainData, pos: int, score: float) -> dict:
            row = int(f.rows[pos])
            text = data.text(row)[:SNIPPET] if data.text is not None else None
            ids = None if text is not None else [int(t) for t in f.tokens[f.owner == pos][:50]]
            return {"doc_id": str(data.doc_ids[row]), "p_new": round(float(expit(score)), 4),
                    **({"text": text} if text is not None else {"tokens": ids})}

        data_o, data_n = fo.data, fn.data
        typical_new = [doc(fn, data_n, int(in_[j]), s_new[j]) for j in np.argsort(-s_new, kind="stable")[:EXAMPLES]]
        typical_old = [doc(fo, data_o, int(io[j]), s_old[j]) for j in np.argsort(s_old, kind="stable")[:EXAMPLES]]

        def grams(order) -> list[dict]:
            got = []
            for b in order[:EXAMPLES]:
                if w[b] == 0:
                    break
                ids = fn.ngram(int(b)) or fo.ngram(int(b))
                text = None
                if ids is not None and old.decode is not None:
                    try:
                        text = old.decode(ids)
                    except Exception:  # noqa: BLE001 - an id outside the tokenizer: the ids are shown
                        text = None
                got.append({"ngram": ids, "text": text, "weight": round(float(w[b]), 4)})
            return got

        return {"typical_new": typical_new, "typical_old": typical_old,
                "ngrams_new": grams(np.argsort(-w, kind="stable")), "ngrams_old": grams(np.argsort(w, kind="stable"))}


__all__ = ["ContentSection", "Features", "features", "fit_logistic", "cross_validated", "ngram_keys"]
