"""The content classifier: held-out AUC on literal separable and identical document sets, no
DRIFT between two halves of one store, DRIFT where a domain's documents changed, and each
domain featurized once however many null splits."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from curricle.drift.compare import compare
from curricle.drift.config import DriftConfig
from curricle.drift.corpus import load_store
from curricle.drift.hashing import content_sample
from curricle.drift.sections import content
from curricle.drift.sections.content import ContentSection, cross_validated, ngram_keys
from tests.conftest import write_store
from tests.drift.documents import literal_corpus, random_docs
from tests.drift.test_compare import zipf_docs


def test_a_token_only_new_has_separates_the_versions_completely():
    rng = np.random.default_rng(0)
    old = random_docs(rng, 100, 50, length=(5, 15))
    new = [d + [99] for d in random_docs(rng, 100, 50, length=(5, 15))]  # 99: a token OLD never has
    (m,) = ContentSection(DriftConfig()).measure(literal_corpus({"web": old}), literal_corpus({"web": new}, "n"),
                                                 detail=True)
    assert (m.section, m.domain, m.statistic, m.value, m.n_old, m.n_new) == ("content", "web", "auc", 1.0, 100, 100)
    assert m.detail["ngrams_new"][0]["ngram"] == [99]
    assert len(m.detail["typical_new"]) == 5 and all(d["p_new"] > 0.5 for d in m.detail["typical_new"])
    assert m.detail["typical_new"][0]["doc_id"].startswith("nweb-")
    assert m.detail["typical_old"][0]["tokens"] == old[int(m.detail["typical_old"][0]["doc_id"].split("-")[1])][:50]


def test_the_same_documents_on_both_sides_are_indistinguishable():
    rng = np.random.default_rng(1)
    docs = random_docs(rng, 80, 50)
    (m,) = ContentSection(DriftConfig()).measure(literal_corpus({"web": docs}), literal_corpus({"web": docs}, "n"),
                                                 detail=False)
    # each document's twin is in the other class and in its fold: both score alike, so exactly chance
    assert m.value == 0.5 and m.detail == {}


def test_the_sample_is_drawn_by_content_not_by_row():
    hashes = [bytes([i, 7]) for i in range(100)]
    rows = content_sample(hashes, 10, seed=0)
    assert len(rows) == 10 and rows.tolist() == sorted(rows.tolist())
    perm = np.random.default_rng(0).permutation(100)
    shuffled = content_sample([hashes[i] for i in perm], 10, seed=0)
    assert sorted(perm[shuffled].tolist()) == rows.tolist()  # the same documents, wherever they are
    # a side with more documents cuts lower: of the shared ones it draws a subset of the smaller side's
    more = content_sample(hashes + [bytes([i, 8]) for i in range(100)], 10, seed=0)
    assert set(more[more < 100].tolist()) <= set(rows.tolist())
    assert content_sample(hashes, 10, seed=1).tolist() != rows.tolist()
    assert content_sample(hashes[:5], 10, seed=0).tolist() == [0, 1, 2, 3, 4]


def test_ngram_keys_are_unigrams_then_bigrams_within_a_document():
    tokens = np.array([5, 6, 5, 6, 7])
    owner = np.array([0, 0, 0, 1, 1])  # documents [5, 6, 5] and [6, 7]
    keys, doc, first = ngram_keys(tokens, owner)
    assert doc.tolist() == [0, 0, 0, 1, 1, 0, 0, 1] and first.tolist() == [0, 1, 2, 3, 4, 0, 1, 3]
    assert keys[0] == keys[2] and keys[1] == keys[3]  # the same unigram in two documents
    assert len(set(keys[5:].tolist())) == 3 and not set(keys[5:].tolist()) & set(keys[:5].tolist())


def test_cross_validation_scores_each_row_with_a_model_not_trained_on_it():
    # Every row with a feature of its own: unseen by the model that scores the row (and fitted
    # by none: it is in one training row only), so every held-out score is the intercept, 0.
    x = sp.csr_matrix(np.eye(4))
    y = np.array([0, 0, 1, 1])
    scores, w = cross_validated(x, y, 2, 1e-4, np.random.default_rng(0), weights=True)
    assert np.allclose(scores, 0.0, atol=1e-6)
    # Four rows per class, class 0 with feature 0, class 1 with feature 1: each fold's model
    # learns it from the other fold's two rows of each class.
    x = sp.csr_matrix(np.repeat(np.eye(2), 4, axis=0))
    y = np.repeat([0, 1], 4)
    scores, w = cross_validated(x, y, 2, 1e-4, np.random.default_rng(0), weights=True)
    assert (scores[:4] < 0).all() and (scores[4:] > 0).all() and w[1] > 0 > w[0]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = {"code": zipf_docs(rng, 600, 200), "prose": zipf_docs(rng, 600, 300, offset=200)}
    root = tmp_path_factory.mktemp("content")
    planted = {"code": base["code"][1::2],
               "prose": base["prose"][1::2][:150] + zipf_docs(rng, 150, 300, offset=600)}
    return {"a": write_store(root / "a", {d: v[0::2] for d, v in base.items()}),
            "b": write_store(root / "b", {d: v[1::2] for d, v in base.items()}),
            "planted": write_store(root / "planted", planted)}


def test_two_halves_of_one_store_do_not_drift(stores):
    result = compare(load_store(stores["a"]), load_store(stores["b"]), DriftConfig(sections=["content"]))
    checks = {c["domain"]: c for c in result["checks"]}
    assert set(checks) == {"code", "prose"} and result["counts"]["DRIFT"] == 0
    assert all(abs(c["value"] - 0.5) < 0.1 and c["null_n"] == 20 for c in checks.values())


def test_changed_documents_drift_in_their_domain_only(stores, monkeypatch):
    made = []
    real = content.Features.__init__
    monkeypatch.setattr(content.Features, "__init__", lambda self, data, *a: made.append(data.domain) or real(
        self, data, *a))
    result = compare(load_store(stores["a"]), load_store(stores["planted"]),
                     DriftConfig(sections=["content"], null_splits=10))
    verdicts = {c["domain"]: c["verdict"] for c in result["checks"]}
    assert verdicts == {"code": "OK", "prose": "DRIFT"}
    prose = next(c for c in result["checks"] if c["domain"] == "prose")
    assert prose["value"] > 0.7
    # half of NEW's prose is the new vocabulary (ids 600 and up): its most typical documents are those
    assert all(int(d["doc_id"].split("-")[1]) >= 150 for d in prose["detail"]["typical_new"])
    # the new vocabulary's most frequent token leads NEW's n-grams; the old one's is among OLD's
    assert prose["detail"]["ngrams_new"][0]["ngram"] == [600]
    assert [200] in [g["ngram"] for g in prose["detail"]["ngrams_old"]]
    # each side's domains featurized once, not once per null split
    assert sorted(made) == ["code", "code", "prose", "prose"]

