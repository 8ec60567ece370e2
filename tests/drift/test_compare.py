"""The comparison end to end: lineage on literal document sets, no DRIFT between two halves of
one store, a planted change flagged at its domain and statistic, and the verb's exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from curricle.cli import app
from curricle.drift.compare import compare, fails
from curricle.drift.config import DriftConfig
from curricle.drift.corpus import Corpus, DomainData, DomainDocs, load_store
from curricle.drift.lineage import lineage
from curricle.errors import CurricleError
from tests.conftest import write_store
from tests.drift.documents import literal_corpus, random_docs


def corpus(ids: dict[str, list[str]], extra: dict[str, list[str]] | None = None) -> Corpus:
    domains = {}
    for name, doc_ids in ids.items():
        n = len(doc_ids)
        data = DomainData(name, np.asarray(doc_ids, dtype=object), np.ones(n, dtype=np.int64),
                          np.arange(n + 1, dtype=np.int64), np.ones(n, dtype=np.int64),
                          extra_doc_ids=np.asarray((extra or {}).get(name, []), dtype=object))
        domains[name] = DomainDocs(data, np.arange(n))
    return Corpus("literal", "store", domains, vocab_size=2)


def test_lineage_counts_on_literal_document_sets():
    old = corpus({"code": ["c1", "c2", "c3"], "prose": ["p1", "p2"], "gone": ["g1"]}, extra={"prose": ["p9"]})
    new = corpus({"code": ["c2", "c3", "c4", "p2"], "prose": ["p1", "p9"], "fresh": ["f1", "f2"]})
    lin = lineage(old, new)
    assert {d: (e["old"], e["new"], e["retained"], e["added"], e["removed"]) for d, e in lin["domains"].items()} == {
        "code": (3, 4, 2, 2, 1), "fresh": (0, 2, 0, 2, 0), "gone": (1, 0, 0, 0, 1), "prose": (3, 2, 2, 0, 1)}
    assert lin["domains"]["code"]["examples"] == {"added": ["c4", "p2"], "removed": ["c1"]}
    assert lin["domains"]["fresh"]["only_in"] == "new" and lin["domains"]["gone"]["only_in"] == "old"
    assert lin["moved"] == {"prose->code": 1}
    assert lin["total"] == {"old": 7, "new": 8, "retained": 4, "added": 4, "removed": 3}


def zipf_docs(rng: np.random.Generator, n: int, vocab: int, offset: int = 1, length=(20, 60)) -> list[list[int]]:
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    return [list(rng.choice(vocab, size=int(rng.integers(*length)), p=p) + offset) for _ in range(n)]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = {"code": zipf_docs(rng, 600, 200), "prose": zipf_docs(rng, 600, 300, offset=200)}
    root = tmp_path_factory.mktemp("drift")
    half = {d: docs[0::2] for d, docs in base.items()}
    other = {d: docs[1::2] for d, docs in base.items()}
    # NEW: a quarter of prose's documents come from another vocabulary and are longer
    planted = {"code": other["code"],
               "prose": other["prose"][:225] + zipf_docs(rng, 75, 300, offset=600, length=(60, 120))}
    return {"a": write_store(root / "a", half), "b": write_store(root / "b", other),
            "planted": write_store(root / "planted", planted)}


def test_two_halves_of_one_store_give_no_drift(stores):
    result = compare(load_store(stores["a"]), load_store(stores["b"]), DriftConfig(null_splits=20))
    assert result["counts"]["DRIFT"] == 0
    stats = {(c["section"], c["domain"], c["statistic"]) for c in result["checks"]}
    assert ("tokens", "prose", "unigram_js") in stats and ("mixture", None, "js") in stats
    assert ("metadata", "code", "wasserstein/n_tokens") in stats


def test_a_planted_change_is_flagged_where_it_is(stores):
    result = compare(load_store(stores["a"]), load_store(stores["planted"]), DriftConfig(null_splits=20))
    drift = {(d["section"], d["domain"], d["statistic"]) for d in result["drifted"] if d["verdict"] == "DRIFT"}
    assert {("tokens", "prose", "unigram_js"), ("tokens", "prose", "bigram_js"),
            ("metadata", "prose", "wasserstein/n_tokens")} <= drift
    # code's own documents did not change; its token share did (prose's new documents are longer)
    assert {(s, st) for s, d, st in drift if d == "code"} <= {("mixture", "share")}
    moved = next(c for c in result["checks"] if c["statistic"] == "unigram_js" and c["domain"] == "prose")
    top = {m["token"]: m["new"] - m["old"] for m in moved["detail"]["moved"][:2]}
    assert set(top) == {200, 600} and top[600] > 0 > top[200]  # each vocabulary's most frequent token
    assert result["verdict"] == "DRIFT"
    assert fails(result, "drift") and fails(result, "warn") and not fails(result, "never")


def test_the_verb_writes_its_files_and_follows_fail_on(stores, tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(app, ["drift", str(stores["a"]), str(stores["planted"]), "--out", str(out), "--fail-on", "drift"])
    assert res.exit_code == 1, res.output
    result = json.loads((out / "drift.json").read_text())
    assert result["verdict"] == "DRIFT"
    assert "| DRIFT | tokens | prose | unigram_js |" in (out / "drift.md").read_text()
    res = runner.invoke(app, ["drift", str(stores["a"]), str(stores["planted"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["drift", str(stores["a"]), str(stores["planted"]), "--out", str(out), "--fail-on", "maybe"])
    assert res.exit_code == 2
    assert "--fail-on: fail_on: expected one of never, warn, drift" in res.output
    res = runner.invoke(app, ["drift", str(stores["a"]), str(tmp_path / "nowhere"), "--out", str(out)])
    assert res.exit_code == 2 and "NEW" in res.output and "no such file or directory" in res.output


def test_config_file(tmp_path):
    from curricle.drift.config import load_drift_config

    path = tmp_path / "drift.yaml"
    path.write_text("drift:\n  null_splits: 5\n  sections: [mixture]\n")
    assert load_drift_config(path).null_splits == 5
    path.write_text("sections: [nothing]\n")
    with pytest.raises(CurricleError, match="unknown section 'nothing'"):
        load_drift_config(path)


def test_churn_counts_documents_by_content():
    from curricle.drift.corpus import churn

    def side(docs):
        n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        index = np.concatenate([[0], np.cumsum(lengths)])
        data = DomainData("d", np.asarray([f"id{i}" for i in range(n)], dtype=object),
                          np.asarray([t for d in docs for t in d], dtype=np.int64), index, lengths)
        return Corpus("x", "store", {"d": DomainDocs(data, np.arange(n))}, vocab_size=10)

    old = side([[1, 2], [3], [4, 5], [6]])
    # two of OLD's documents kept (ids differ: content decides), one copied twice, two new
    new = side([[3], [1, 2], [1, 2], [7], [8, 9]])
    assert churn(old, new) == {"d": 1 - 2 / 5}
    assert churn(old, old) == {"d": 0.0}


def test_the_null_pair_swaps_the_churned_share():
    rng = np.random.default_rng(0)
    base = corpus({"d": [f"x{i}" for i in range(100)]})
    a, b = base.null_pair(rng, {"d": 0.2})
    ra, rb = set(a.domains["d"].rows), set(b.domains["d"].rows)
    assert len(ra) == len(rb) == 50
    assert len(ra & rb) == 40  # 10 of A's 50 swapped for 10 of B's
    a, b = base.null_pair(rng, {})
    assert not set(a.domains["d"].rows) & set(b.domains["d"].rows)


def test_one_changed_document_is_judged_against_one_swapped(tmp_path):
    rng = np.random.default_rng(3)
    docs = {"code": zipf_docs(rng, 400, 200)}
    edited = {"code": docs["code"][:-1] + [zipf_docs(rng, 1, 200)[0]]}
    old, new = load_store(write_store(tmp_path / "old", docs)), load_store(write_store(tmp_path / "new", edited))
    result = compare(old, new, DriftConfig())
    assert result["churn"] == {"code": 1 / 400}
    assert result["counts"]["DRIFT"] == 0


def test_a_domain_on_one_side_only_is_drift_on_its_share():
    rng = np.random.default_rng(2)
    old = literal_corpus({"kept": random_docs(rng, 100, 50), "gone": random_docs(rng, 100, 50)})
    new = literal_corpus({"kept": random_docs(rng, 100, 50), "fresh": random_docs(rng, 100, 50)}, "n")
    result = compare(old, new, DriftConfig(sections=["mixture"], null_splits=5))
    share = {c["domain"]: c for c in result["checks"] if c["statistic"] == "share"}
    assert {d: (c["verdict"], c["reliable"], c["note"], c["detail"].get("only_in")) for d, c in share.items()
            if d != "kept"} == {"gone": ("DRIFT", True, "domain only in OLD: it went", "old"),
                                "fresh": ("DRIFT", True, "domain only in NEW: it appeared", "new")}
    assert (share["gone"]["n_new"], share["fresh"]["n_old"], share["fresh"]["null_n"]) == (0, 0, 0)
    assert share["kept"]["note"] == "" and "only_in" not in share["kept"]["detail"]
    drifted = {(d["statistic"], d["domain"]) for d in result["drifted"] if d["verdict"] == "DRIFT"}
    assert {("share", "gone"), ("share", "fresh")} <= drifted


def _no_constant(name):
    raise ValueError(f"not JSON: {name}")


def test_drift_json_is_valid_json_with_an_infinite_statistic(tmp_path):
    rng = np.random.default_rng(6)
    docs = zipf_docs(rng, 100, 200)
    old = write_store(tmp_path / "old", {"code": docs}, extra_meta={"code/score": [1.0] * 100})
    new = write_store(tmp_path / "new", {"code": docs}, extra_meta={"code/score": rng.random(100).tolist()})
    config = tmp_path / "drift.yaml"
    config.write_text("drift:\n  sections: [metadata]\n  null_splits: 5\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["drift", str(old), str(new), "--out", str(out), "--config", str(config)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "drift.json").read_text(), parse_constant=_no_constant)
    # OLD's score is constant: NEW's moved infinitely many of its standard deviations
    flagged = {d["statistic"]: d for d in result["drifted"]}
    assert {k: flagged["wasserstein/score"][k] for k in ("verdict", "value", "z")} == {
        "verdict": "DRIFT", "value": "inf", "z": "inf"}
    check = next(c for c in result["checks"] if c["statistic"] == "wasserstein/score")
    assert (check["value"], check["z"], check["null_mean"]) == ("inf", "inf", 0.0)
