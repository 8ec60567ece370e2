"""Near-duplicates: signatures as datasketch computes them, exact duplicate shares on literal
documents, the cross-version overlap, DRIFT where 5% duplicates were planted, and a skip (not
a crash) without datasketch."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from datasketch import MinHash

from curricle.drift.compare import compare
from curricle.drift.config import DriftConfig
from curricle.drift.corpus import load_store
from curricle.drift.sections import near_duplicates as nd
from curricle.drift.sections.near_duplicates import NearDuplicatesSection, duplicated, shingle_hashes, signatures
from tests.conftest import write_store
from tests.drift.documents import literal_corpus, random_docs
from tests.drift.test_compare import zipf_docs


def test_shingles_and_signatures_are_datasketchs_minhash():
    tokens = np.array([5, 6, 7, 8, 9, 10, 11, 0, 3, 4, 0, 1, 2, 3, 4, 5, 6])
    owner = np.array([0, 0, 0, 0, 0, 0, 0, -1, 1, 1, -1, 2, 2, 2, 2, 2, 2])
    hashes, doc = shingle_hashes(tokens, owner, 5)
    assert doc.tolist() == [0, 0, 0, 1, 2, 2]  # 7 tokens: 3 shingles; 2 tokens: one; 6: two
    again, _ = shingle_hashes(np.array([9, 1, 2, 3, 4, 5, 6]), np.zeros(7, dtype=np.int64), 5)
    assert again[1:].tolist() == hashes[4:].tolist()  # a shingle's hash depends on its tokens only
    a, b = nd.permutations(112, 1)
    sig = signatures(hashes, doc, 3, a, b)
    for d in range(3):
        m = MinHash(num_perm=112, seed=1, hashfunc=lambda h: h, scheme="affine32")
        m.update_batch([int(h) for h in hashes[doc == d]])
        assert sig[d].tolist() == m.hashvalues.tolist()


def test_duplicate_share_counts_documents_with_a_near_duplicate_on_their_side():
    rng = np.random.default_rng(0)
    old = random_docs(rng, 10, 1000, length=(100, 120))
    new = random_docs(rng, 6, 1000, length=(100, 120))
    near = new[1][:-1] + [new[1][-1] + 1]  # one token of 100 changed: about 0.95 Jaccard
    new = new + [list(new[0]), near, old[3], old[4]]  # 2 pairs in NEW, and two of OLD's documents
    (m,) = NearDuplicatesSection(DriftConfig()).measure(literal_corpus({"web": old}), literal_corpus({"web": new}, "n"),
                                                        detail=True)
    assert (m.statistic, m.domain, m.value, m.n_old, m.n_new) == ("duplicate_share", "web", 0.4, 10, 10)
    d = m.detail
    assert (d["old_share"], d["new_share"], d["old_duplicated"], d["new_duplicated"]) == (0.0, 0.4, 0, 4)
    assert (d["new_in_old"], d["old_in_new"], d["new_in_old_other_id"]) == (0.2, 0.2, 2)
    assert d["pairs"] == [{"new": "nweb-8", "old": "web-3"}, {"new": "nweb-9", "old": "web-4"}]


def test_duplicated_marks_rows_sharing_any_band():
    keys = np.array([[1, 2], [3, 4], [5, 2], [6, 7]], dtype=np.uint64)
    assert duplicated(keys).tolist() == [True, False, True, False]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = {"code": zipf_docs(rng, 800, 200), "prose": zipf_docs(rng, 800, 300, offset=200)}
    root = tmp_path_factory.mktemp("near")
    new = {d: v[1::2] for d, v in base.items()}
    # 5% of NEW's prose are copies of other NEW prose documents (20 of 400)
    planted = {"code": new["code"], "prose": new["prose"][:380] + new["prose"][:20]}
    return {"a": write_store(root / "a", {d: v[0::2] for d, v in base.items()}),
            "b": write_store(root / "b", new), "planted": write_store(root / "planted", planted)}


def test_two_halves_of_one_store_do_not_drift(stores):
    result = compare(load_store(stores["a"]), load_store(stores["b"]), DriftConfig(sections=["near_duplicates"]))
    assert {(c["domain"], c["statistic"], c["verdict"]) for c in result["checks"]} == {
        ("code", "duplicate_share", "OK"), ("prose", "duplicate_share", "OK")}


def test_five_percent_planted_duplicates_drift_in_their_domain(stores):
    result = compare(load_store(stores["a"]), load_store(stores["planted"]), DriftConfig(sections=["near_duplicates"]))
    checks = {c["domain"]: c for c in result["checks"]}
    assert {d: c["verdict"] for d, c in checks.items()} == {"code": "OK", "prose": "DRIFT"}
    prose = checks["prose"]
    assert prose["detail"]["new_duplicated"] == 40 and prose["value"] == pytest.approx(40 / 400)
    assert prose["detail"]["old_share"] == 0.0 and prose["null_mean"] == 0.0


def test_without_datasketch_the_section_is_skipped_with_a_warning(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "datasketch", None)  # import datasketch now fails
    side = literal_corpus({"web": [[1, 2, 3, 4, 5, 6]]})
    section = NearDuplicatesSection(DriftConfig())
    with caplog.at_level(logging.WARNING, logger="curricle.drift.sections.near_duplicates"):
        assert section.measure(side, side, detail=True) == [] and section.measure(side, side, detail=False) == []
    assert [r.getMessage() for r in caplog.records] == [
        "drift: section near_duplicates skipped: curricle drift's near_duplicates section needs the 'datasketch' "
        "package: pip install 'curricle[curate]'"]
