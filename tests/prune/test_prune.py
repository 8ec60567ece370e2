"""``curricle prune``: exact fractions, every removal with its reason, each metric on a small
literal store, a pruned store that trains, and one-line errors."""

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from curricle.cli import app
from curricle.config import parse_config
from curricle.errors import CurricleError
from curricle.model.build import build_model
from curricle.model.config import ModelConfig
from curricle.prepare.command import prepare_run
from curricle.prepare.reference import CheckpointScorer
from curricle.prune.base import domain_rng, keep_count
from curricle.prune.command import prune_command, prune_store
from curricle.prune.config import PruneConfig
from curricle.prune import semantic_duplicate
from curricle.prune.prototype import prototype_distances
from curricle.prune.semantic_duplicate import semantic_duplicate_scores
from curricle.runinfo import code_record
from curricle.store import TokenStore
from curricle.store.lineage import read_lineage
from curricle.store.snapshot import read_snapshot
from tests.conftest import write_store

QUALITY = [0.5, 0.1, None, 0.9, 0.3, 0.7, 0.2, 0.8, 0.6, 0.4]  # doc 2 has no score


@pytest.fixture
def literal(tmp_path):
    """Domain a: ten train documents with a quality column; domain b: three. Held out: one each."""
    docs_a = [[10 + i] * (i + 2) for i in range(10)]
    docs_b = [[50, 51], [52], [53, 54, 55]]
    return write_store(tmp_path / "data", {"a": docs_a, "b": docs_b}, heldout={"a": [[7, 7]], "b": [[8]]},
                       extra_meta={"a/quality": QUALITY})


def removed_lines(out):
    return [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]


def test_keep_count_rounds_half_up_and_keeps_at_least_one():
    assert [keep_count(k, 10) for k in (0.25, 0.35, 0.5, 0.7, 1.0, 0.01)] == [3, 4, 5, 7, 10, 1]
    assert keep_count(0.5, 3) == 2 and keep_count(0.5, 0) == 0 and keep_count(0.15, 10) == 2


def test_column_keeps_the_hardest_exactly_and_records_every_removal(literal, tmp_path):
    out = tmp_path / "pruned"
    report = prune_store(literal, PruneConfig(by="column:quality", keep=0.7, domains=["a"]), out, progress=False)
    # Seven of ten kept; the three lowest scored go (0.1, 0.2, 0.3); doc 2 (no score) stays.
    assert removed_lines(out) == [
        {"domain": "a", "doc_id": "a-1", "reason": "easy", "score": 0.1},
        {"domain": "a", "doc_id": "a-4", "reason": "easy", "score": 0.3},
        {"domain": "a", "doc_id": "a-6", "reason": "easy", "score": 0.2},
    ]
    lineage = read_lineage(out)
    parent_id = TokenStore(literal).snapshot_id
    assert lineage == report.lineage == {
        "parent": str(literal.resolve()), "parent_snapshot": parent_id, "by": "column:quality", "keep": 0.7, "order": "keep-hardest", "seed": 0,
        "domains": {"a": {"in": 10, "kept": 7, "unscored": 1, "removed": {"easy": 3}}},
        "code": code_record()}  # the code that pruned it, as a run's run.json has it
    parent, pruned = TokenStore(literal), TokenStore(out)
    train = pruned.split("a")
    kept = [0, 2, 3, 5, 7, 8, 9]
    assert train.meta().column("doc_id").to_pylist() == [f"a-{i}" for i in kept]
    assert [train.document(j).tolist() for j in range(train.n_docs)] == [parent.split("a").document(i).tolist()
                                                                          for i in kept]
    assert pruned.manifest.domains["a"].train.docs == 7
    assert pruned.manifest.domains["a"].train.tokens == train.n_tokens == sum(i + 3 for i in kept)
    # Held-out splits and unpruned domains are the parent's files.
    for d, split in (("a", "heldout"), ("b", "train"), ("b", "heldout")):
        assert (pruned.split(d, split).path / "tokens.bin").read_bytes() == \
               (parent.split(d, split).path / "tokens.bin").read_bytes()
        assert pruned.split(d, split).meta().equals(parent.split(d, split).meta())
    c = lineage["domains"]["a"]
    assert c["in"] == c["kept"] + sum(c["removed"].values())
    # The pruned store is a snapshot of its own: its pruned split differs, the linked ones do not.
    snap = read_snapshot(out)
    assert snap["id"] == pruned.snapshot_id != parent_id
    assert snap["manifest"]["config"]["parent_snapshot"] == parent_id
    assert snap["manifest"]["config"]["prune"]["by"] == "column:quality"
    assert snap["manifest"]["units"]["a/train"]["docs"] == 7
    for unit in ("a/heldout", "b/train", "b/heldout"):
        assert snap["manifest"]["units"][unit] == parent.snapshot["manifest"]["units"][unit]


def test_keep_easiest_removes_the_hardest(literal, tmp_path):
    prune_store(literal, PruneConfig(by="column:quality", keep=0.5, order="keep-easiest", domains=["a"]),
                tmp_path / "p", progress=False)
    assert [(r["doc_id"], r["reason"]) for r in removed_lines(tmp_path / "p")] == \
           [("a-0", "hard"), ("a-3", "hard"), ("a-5", "hard"), ("a-7", "hard"), ("a-8", "hard")]


def test_random_keeps_the_exact_fraction_of_every_domain_reproducibly(literal, tmp_path):
    for name, seed in (("p1", 3), ("p2", 3), ("p3", 4)):
        prune_store(literal, PruneConfig(by="random", keep=0.5, seed=seed), tmp_path / name, progress=False)
    lineage = read_lineage(tmp_path / "p1")
    assert lineage["order"] == "random"
    assert {d: (c["in"], c["kept"], c["removed"]) for d, c in lineage["domains"].items()} == \
           {"a": (10, 5, {"random": 5}), "b": (3, 2, {"random": 1})}
    one, two, three = (removed_lines(tmp_path / n) for n in ("p1", "p2", "p3"))
    assert one == two and one != three
    draws = domain_rng(3, "a").random(10)
    assert sorted(r["doc_id"] for r in one if r["domain"] == "a") == \
           sorted(f"a-{i}" for i in np.argsort(draws)[:5])


def test_an_infinite_score_is_unscored_and_never_written(tmp_path):
    quality = [0.5, float("-inf"), 0.2, float("inf"), 0.3, float("nan"), 0.1, 0.8]
    docs = [[10 + i] * (i + 2) for i in range(8)]
    store = write_store(tmp_path / "data", {"a": docs}, heldout={"a": [[7, 7]]}, extra_meta={"a/quality": quality})
    prune_store(store, PruneConfig(by="column:quality", keep=0.5), tmp_path / "p", progress=False)
    text = (tmp_path / "p" / "removed.jsonl").read_text()
    assert "Infinity" not in text and "NaN" not in text  # valid JSON lines
    # Four kept of eight: the three unscored (-inf, inf, nan) stay, and the hardest scored one (0.8).
    assert [(r["doc_id"], r["score"]) for r in removed_lines(tmp_path / "p")] == \
           [("a-0", 0.5), ("a-2", 0.2), ("a-4", 0.3), ("a-6", 0.1)]  # (in document order)


def test_a_bad_setting_in_the_settings_file_names_the_file(literal, tmp_path):
    settings = tmp_path / "prune.yaml"
    settings.write_text("by: random\nkeep: 2\n")
    with pytest.raises(CurricleError, match=rf"^{settings} \(with the flags\): keep: Input should be less than or "
                                            r"equal to 1$"):
        prune_command(literal, tmp_path / "o", by=None, keep=None, config_file=settings)


def test_prototype_distances_on_literal_embeddings():
    # One cluster of two unit vectors: the centroid is their mean, each sqrt(0.2) from it.
    d = prototype_distances(np.array([[5.0, 0.0], [3.0, 4.0]]), 1, np.random.default_rng(0))
    assert np.allclose(d, [math.sqrt(0.2)] * 2)
    # Three tight pairs and three centroids: every document sits on its prototype.
    x = np.array([[1, 0], [2, 0], [0, 1], [0, 3], [-1, 0], [-4, 0]], dtype=float)
    assert np.allclose(prototype_distances(x, 3, np.random.default_rng(0)), 0.0)
    # An outlier far from both prototypes is the hardest.
    x = np.array([[1, 0], [1, 0.01], [1, -0.01], [0, 1], [0.01, 1], [-0.01, 1], [-1, -1]], dtype=float)
    d = prototype_distances(x, 2, np.random.default_rng(0))
    assert int(np.argmax(d)) == 6


def test_prototype_prunes_by_distance_to_the_nearest_centroid(literal, tmp_path):
    torch.manual_seed(0)
    build_model(ModelConfig(preset="micro", max_position_embeddings=64), 1000, 0).save_pretrained(tmp_path / "m")
    out = tmp_path / "p"
    prune_store(literal, PruneConfig(by="prototype", model=tmp_path / "m", clusters=3, keep=0.6, domains=["a"]),
                out, progress=False)
    store = TokenStore(literal)
    split = store.split("a")
    emb = CheckpointScorer(tmp_path / "m", 1000).mean_hidden([split.document(i) for i in range(10)])
    d = prototype_distances(emb, 3, domain_rng(0, "a"))
    lines = removed_lines(out)
    nearest = sorted(np.argsort(d, kind="stable")[:4].tolist())  # the four closest to a prototype
    assert [r["doc_id"] for r in lines] == [f"a-{i}" for i in nearest]
    assert all(r["reason"] == "easy" for r in lines) and np.allclose([r["score"] for r in lines], d[nearest])
    with pytest.raises(CurricleError, match=r"^--clusters 11: domain 'a' has only 10 training documents$"):
        prune_store(literal, PruneConfig(by="prototype", model=tmp_path / "m", clusters=11, keep=0.6),
                    tmp_path / "q", progress=False)


def test_semantic_duplicate_scores_on_literal_embeddings(monkeypatch):
    # One cluster: the centroid of the unit vectors e1, e2, (0.6, 0.8) is (0.533, 0.6); farthest
    # first is e1 (0.76), e2 (0.67), then (0.6, 0.8) (0.21). Each row's score is its largest
    # cosine to a row before it: none (-1), e1 (0), max(0.6, 0.8).
    m = semantic_duplicate_scores(np.array([[2.0, 0.0], [0.0, 3.0], [0.6, 0.8]]), 1, np.random.default_rng(0))
    assert np.allclose(m, [-1.0, 0.0, 0.8])
    # Two clusters: similarity is only measured within one (the far pair gets -1 and 1 - ~0).
    x = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1], [0.02, 1]], dtype=float)
    m = semantic_duplicate_scores(x, 2, np.random.default_rng(0))
    assert sorted(m[:2].round(3).tolist()) == [-1.0, 1.0] and sorted(m[2:].round(3).tolist()) == [-1.0, 1.0, 1.0]
    # Blocks of rows give exactly the one-matrix answer.
    x = np.random.default_rng(1).normal(size=(40, 6))
    whole = semantic_duplicate_scores(x, 3, np.random.default_rng(2))
    monkeypatch.setattr(semantic_duplicate, "BLOCK", 3)
    assert np.array_equal(semantic_duplicate_scores(x, 3, np.random.default_rng(2)), whole)


def test_semantic_duplicate_removes_the_most_similar_first(tmp_path):
    # Documents 3, 5 and 7 repeat documents 0, 1 and 2 token for token: same embedding, cosine 1.
    base = [[10, 11, 12, 13], [40, 41], [70, 71, 72], [100, 101, 102, 103, 104], [130, 131]]
    docs = base[:3] + [base[0], base[3], base[1], base[4], base[2]]
    data = write_store(tmp_path / "data", {"a": docs})
    torch.manual_seed(0)
    build_model(ModelConfig(preset="micro", max_position_embeddings=64), 1000, 0).save_pretrained(tmp_path / "m")
    cfg = PruneConfig(by="semantic-duplicate", model=tmp_path / "m", clusters=2, keep=0.625)
    out = tmp_path / "p"
    prune_store(data, cfg, out, progress=False)
    lines = removed_lines(out)
    assert [r["doc_id"] for r in lines] == ["a-3", "a-5", "a-7"]
    assert all(r["reason"] == "semantic-duplicate" and abs(r["score"] - 1.0) < 1e-6 for r in lines)
    lineage = read_lineage(out)
    assert lineage["order"] == "most-similar-first"
    assert lineage["domains"]["a"]["removed"] == {"semantic-duplicate": 3} and lineage["domains"]["a"]["kept"] == 5
    # Past the duplicates the order is the scores' (the run's own embeddings, seeded k-means).
    split = TokenStore(data).split("a")
    emb = CheckpointScorer(tmp_path / "m", 1000).mean_hidden([split.document(i) for i in range(8)])
    m = semantic_duplicate_scores(emb, 2, domain_rng(0, "a"))
    prune_store(data, cfg.model_copy(update={"keep": 0.25}), tmp_path / "q", progress=False)
    expected = sorted(np.argsort(-m, kind="stable")[:6].tolist())
    assert [r["doc_id"] for r in removed_lines(tmp_path / "q")] == [f"a-{i}" for i in expected]
    assert {3, 5, 7} <= set(expected)
    # The same from the command line.
    r = CliRunner().invoke(app, ["prune", str(data), "--by", "semantic-duplicate", "--model", str(tmp_path / "m"),
                                 "--clusters", "2", "--keep", "0.625", "--out", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    assert removed_lines(tmp_path / "cli") == lines


def test_near_duplicate_removes_duplicates_first_then_random(dup_store, tmp_path):
    # Five representatives (t0, t2, t3, t6, t7) and three near-duplicates (t1, t4 of t0; t5 of t2).
    prune_store(dup_store, PruneConfig(by="near-duplicate", keep=0.75), tmp_path / "p1", progress=False)
    lines = removed_lines(tmp_path / "p1")
    assert len(lines) == 2 and {r["doc_id"] for r in lines} <= {"t1", "t4", "t5"}
    assert all(r["reason"] == "near-duplicate" and 0.7 < r["score"] <= 1 for r in lines)
    prune_store(dup_store, PruneConfig(by="near-duplicate", keep=0.5), tmp_path / "p2", progress=False)
    lines = removed_lines(tmp_path / "p2")
    assert sorted(r["doc_id"] for r in lines if r["reason"] == "near-duplicate") == ["t1", "t4", "t5"]
    assert [r for r in lines if r["reason"] == "random"][0]["doc_id"] in {"t0", "t2", "t3", "t6", "t7"}
    assert read_lineage(tmp_path / "p2")["domains"]["web"] == \
           {"in": 8, "kept": 4, "unscored": 0, "removed": {"near-duplicate": 3, "random": 1}}
    assert read_lineage(tmp_path / "p2")["order"] == "near-duplicate-then-random"


def short_docs_config(data_dir, **train):
    """A micro-model run on two synthetic skills of one item per document (short documents, so
    a few steps see most of them)."""
    from tests.train.conftest import run_config_dict

    data = run_config_dict(data_dir, **{"steps": 3, "eval_every": 3, "checkpoint": {"every": 3, "keep_last": 1},
                                        **train})
    data["sources"] = [{"kind": "synthetic", "skill": s, "domain": s, "n_docs": 40, "items_per_doc": 1}
                       for s in ("arithmetic", "copy")]
    data["mixture"]["schedule"] = {"kind": "static", "weights": {"arithmetic": 1, "copy": 1}}
    return data


def test_loss_prunes_by_a_hard_examples_proxy_run_and_the_pruned_store_trains(tmp_path):
    from curricle.train.command import train_run

    data_dir = tmp_path / "data"
    proxy = parse_config({**short_docs_config(data_dir),
                          "controller": {"kind": "hard-examples", "domains": ["copy"], "update_every": 1,
                                         "warmup_steps": 0}})
    train_run(proxy, tmp_path / "proxy", progress=False)
    out = tmp_path / "pruned"
    prune_store(data_dir, PruneConfig(by="loss", run=tmp_path / "proxy", keep=0.85, domains=["copy"]), out,
                progress=False)
    from curricle.controllers.hard_examples import load_document_state

    _, arrays = load_document_state(tmp_path / "proxy")
    last = arrays["last/copy"]
    store = TokenStore(data_dir)
    n = store.split("copy").n_docs
    n_seen = int((~np.isnan(last)).sum())
    assert n_seen < n and n - keep_count(0.85, n) <= n_seen  # some unseen (kept), enough seen to remove
    seen = np.flatnonzero(~np.isnan(last))
    lineage = read_lineage(out)["domains"]["copy"]
    assert lineage["in"] == n and lineage["kept"] == keep_count(0.85, n) and lineage["unscored"] == n - len(seen)
    ids = store.split("copy").meta(["doc_id"]).column(0).to_pylist()
    easiest = seen[np.argsort(last[seen], kind="stable")[: n - keep_count(0.85, n)]]
    assert [r["doc_id"] for r in removed_lines(out)] == [ids[i] for i in sorted(easiest)]
    # The pruned store trains as it is: prepare finds it up to date and writes nothing into it.
    cfg = parse_config(short_docs_config(out, steps=4, eval_every=4, checkpoint={"every": 4, "keep_last": 1}))
    result = train_run(cfg, tmp_path / "run", progress=False)
    assert result["metrics"]["step"] == 4 and math.isfinite(result["metrics"]["loss"])
    assert TokenStore(out).split("copy").n_docs == keep_count(0.85, n)
    # Not with other sources: prepare would undo the pruning.
    other = short_docs_config(out)
    other["sources"][0]["n_docs"] = 41
    with pytest.raises(CurricleError, match=r"is a pruned store \(lineage.json\) and its sources or settings changed"):
        prepare_run(parse_config(other), progress=False)
    # A domain the proxy did not prioritize has no losses.
    with pytest.raises(CurricleError, match=r"has no hard-examples losses for domain 'arithmetic'"):
        prune_store(data_dir, PruneConfig(by="loss", run=tmp_path / "proxy", keep=0.8, domains=["arithmetic"]),
                    tmp_path / "q", progress=False)
    # Unseen documents are kept: a fraction that would need removing them is refused.
    with pytest.raises(CurricleError, match=rf"^--by loss: domain 'copy' has {n - len(seen)} documents without a "
                                            r"score, more than the 1 it keeps; keep more, or score them"):
        prune_store(data_dir, PruneConfig(by="loss", run=tmp_path / "proxy", keep=0.01, domains=["copy"]),
                    tmp_path / "q", progress=False)


def test_errors_are_one_line(literal, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    cases = [
        (dict(by="random", keep=0.5), tmp_path / "full", r"^--out .*full: exists and is not an empty directory"),
        (dict(by="random", keep=0.5, domains=["z"]), tmp_path / "o", r"^--domains: unknown domain 'z' \(the store"),
        (dict(by="column:qualty", keep=0.5, domains=["a"]), tmp_path / "o",
         r"^--by column:qualty: domain 'a' has no metadata column 'qualty' \(has: doc_id, n_tokens, quality\)$"),
        (dict(by="near-duplicate", keep=0.5), tmp_path / "o", r"^--by near-duplicate: the store at .* has no tokenizer"),
    ]
    for kw, out, msg in cases:
        with pytest.raises(CurricleError, match=msg) as err:
            prune_store(literal, PruneConfig(**kw), out, progress=False)
        assert "\n" not in str(err.value)
    for kw, msg in [
        (dict(by="size", keep=0.5), r"^prune: by: unknown metric 'size' \(expected column:<name>, loss, prototype, "
                                    r"near-duplicate, semantic-duplicate, random\)$"),
        (dict(by="loss", keep=0.5), r"^prune: run: --by loss needs --run$"),
        (dict(by="random", keep=0.5, order="keep-easiest"), r"^prune: order: --by random does not rank documents"),
        (dict(by="random", keep=0.5, model="m"), r"^prune: model: only --by prototype and semantic-duplicate reads it$"),
        (dict(by="semantic-duplicate", keep=0.5), r"^prune: model: --by semantic-duplicate needs --model$"),
        (dict(by="semantic-duplicate", keep=0.5, model="m", order="keep-hardest"),
         r"^prune: order: --by semantic-duplicate does not rank documents"),
        (dict(by="random", keep=1.5), r"^prune: keep: Input should be less than or equal to 1$"),
        (dict(by="random", keep=0.5, domains=[]), r"^prune: domains: name at least one domain to prune \(leave it "
                                                  r"out to prune every domain\)$"),
    ]:
        with pytest.raises(CurricleError, match=msg):
            prune_command(literal, tmp_path / "o", **kw)
    assert not (tmp_path / "o").exists()


def test_cli_prunes_and_prints_errors_in_one_line(literal, tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["prune", str(literal), "--by", "column:quality", "--keep", "0.5", "--keep-easiest",
                            "--domains", "a", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert read_lineage(tmp_path / "p")["order"] == "keep-easiest"
    assert TokenStore(tmp_path / "p").split("a").n_docs == 5
    r = runner.invoke(app, ["prune", str(literal), "--by", "random", "--keep", "0.5", "--out", str(tmp_path / "p")])
    assert r.exit_code == 2 and r.output.strip().count("\n") == 0 and r.output.startswith("error: --out ")
    (tmp_path / "s.yaml").write_text("by: random\nkeep: 0.5\nseed: 7\n")
    r = runner.invoke(app, ["prune", str(literal), "--config", str(tmp_path / "s.yaml"), "--keep", "0.7",
                            "--out", str(tmp_path / "q")])
    assert r.exit_code == 0, r.output
    assert read_lineage(tmp_path / "q")["keep"] == 0.7 and read_lineage(tmp_path / "q")["seed"] == 7
