"""The quality-model step: it writes the score, drops below a threshold under its reason, keeps
the stated top share, and re-curates when the model changes."""

from __future__ import annotations

import pytest

from curricle.config import parse_config
from curricle.curate.config import CurateConfig, QualityModelConfig
from curricle.curate.document import Drop
from curricle.curate.pipeline import curate
from curricle.curate.steps.quality_model import QualityModelStep
from curricle.errors import CurricleError
from curricle.quality.classifier import QualityClassifier, train

from tests.curate.conftest import context, curate_config, curated_docs, doc, quarantine, run_config, write_jsonl
from tests.quality.corpus import planted
from tests.quality.test_classifier import SMALL


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("qm") / "q.zip"
    pos, neg = planted(range(200))
    train(pos, neg, SMALL).classifier.save(path)
    return path


def step(model, **kw) -> QualityModelStep:
    s = QualityModelStep(QualityModelConfig(model=model, **kw), context())
    s.setup()
    return s


def test_it_writes_the_score_and_drops_below_the_threshold(model):
    s = step(model, threshold=0.5)
    good, bad = doc(planted(range(900, 901))[0][0]), doc(planted(range(900, 901))[1][0])  # boilerplate
    assert s.apply(good) is None
    assert 0.5 <= good.meta["quality"] <= 1
    verdict = s.apply(bad)
    assert verdict == Drop("quality-model", {"score": bad.meta["quality"], "threshold": 0.5, "field": "quality"})
    assert bad.meta["quality"] < 0.5
    assert not s.applies_to("code") and s.applies_to("prose")


def test_keep_all_only_scores_into_the_named_field(model):
    s = step(model, keep_all=True, field="ref_score")
    d = doc(planted(range(3))[1][2])
    assert s.apply(d) is None and 0 <= d.meta["ref_score"] < 0.5 and "quality" not in d.meta


def test_its_config_wants_a_model_and_one_rule(tmp_path):
    S = [{"kind": "jsonl", "path": "x.jsonl", "domain": "web"}]
    with pytest.raises(CurricleError, match=r"^config: curate.quality_model: 'model' is required"):
        parse_config({"sources": S, "curate": {"quality_model": {"threshold": 0.5}}})
    with pytest.raises(CurricleError, match=r"give exactly one of 'threshold', 'top_share' or 'keep_all: true' "
                                            r"\(got threshold, top_share\)$"):
        parse_config({"sources": S, "curate": {"quality_model": {"model": "m.zip", "threshold": 0.5, "top_share": 0.5}}})
    assert parse_config({"sources": S}).curate is None or not parse_config({"sources": S}).curate.quality_model.enabled


def corpus_docs() -> list[dict]:
    """120 prose and 80 junk documents, interleaved."""
    pos, neg = planted(range(2000, 2120))
    docs = [{"id": f"ref-{i}", "text": t} for i, t in enumerate(pos)] + \
           [{"id": f"junk-{i}", "text": t} for i, t in enumerate(neg[:80])]
    return docs[::2] + docs[1::2]


def corpus(tmp_path):
    """:func:`corpus_docs` in two files (two shards)."""
    docs = corpus_docs()
    write_jsonl(tmp_path / "src" / "a.jsonl", docs[:100])
    write_jsonl(tmp_path / "src" / "b.jsonl", docs[100:])
    return run_config(tmp_path, [{"kind": "jsonl", "path": str(tmp_path / "src" / "*.jsonl"), "domain": "web"}])


def test_curate_drops_with_its_reason_and_keeps_the_score_in_the_output(tmp_path, model):
    run = corpus(tmp_path)
    cfg = curate_config(tmp_path, quality_model={"model": str(model), "threshold": 0.5})
    report = curate(cfg, run.sources, progress=False)
    assert report.check() == []
    kept = curated_docs(report)["web"]
    dropped = quarantine(cfg.output_dir, "quality-model")
    assert len(kept) + len(dropped) == 200
    assert {r["reason"] for r in dropped} == {"quality-model"}
    assert all(r["detail"]["score"] < 0.5 and r["detail"]["threshold"] == 0.5 for r in dropped)
    assert all(r["meta"]["quality"] >= 0.5 for r in kept)
    # Exactly the documents the classifier scores below 0.5: no reference one, most junk.
    clf = QualityClassifier.load(model)
    below = {d["id"] for d in corpus_docs() if clf.score(d["text"]) < 0.5}
    assert {r["id"] for r in dropped} == below
    assert not any(i.startswith("ref-") for i in below) and len(below) >= 40
    row = dict(report.domains["web"])["quality-model"]
    assert row.docs_dropped == {"quality-model": len(below)}


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_top_share_keeps_the_stated_share(tmp_path, model, share):
    """200 documents, a sample of all of them (sample_docs >= 200): the share is exact but for
    ties at the threshold, so within 1 document here."""
    run = corpus(tmp_path)
    cfg = curate_config(tmp_path, quality_model={"model": str(model), "top_share": share}, workers=2)
    report = curate(cfg, run.sources, progress=False)
    kept = curated_docs(report)["web"]
    assert abs(len(kept) - share * 200) <= 1
    scores_kept = [r["meta"]["quality"] for r in kept]
    scores_dropped = [r["detail"]["score"] for r in quarantine(cfg.output_dir, "quality-model")]
    assert min(scores_kept) > max(scores_dropped)
    assert {r["detail"]["threshold"] for r in quarantine(cfg.output_dir, "quality-model")} == {min(scores_kept)}


def test_top_share_counts_only_documents_that_reach_the_step(tmp_path, model):
    """With the quality heuristics first (they drop the short junk), half of what is left is kept."""
    run = corpus(tmp_path)
    cfg = curate_config(tmp_path, quality={}, quality_model={"model": str(model), "top_share": 0.5})
    report = curate(cfg, run.sources, progress=False)
    row = dict(report.domains["web"])["quality-model"]
    reached = row.docs_in
    assert reached < 200
    assert abs(len(curated_docs(report)["web"]) - 0.5 * reached) <= 1


def test_a_retrained_model_re_curates(tmp_path, model):
    import shutil

    run = corpus(tmp_path)
    m = tmp_path / "m.zip"
    shutil.copyfile(model, m)
    cfg = curate_config(tmp_path, quality_model={"model": str(m), "keep_all": True})
    assert not curate(cfg, run.sources, progress=False).up_to_date
    assert curate(cfg, run.sources, progress=False).up_to_date
    pos, neg = planted(range(300, 340))
    train(pos, neg, SMALL).classifier.save(m)
    assert not curate(cfg, run.sources, progress=False).up_to_date


def test_a_missing_or_bad_model_is_one_line_before_any_work(tmp_path):
    run = corpus(tmp_path)
    missing = tmp_path / "none.zip"
    cfg = curate_config(tmp_path, quality_model={"model": str(missing), "threshold": 0.5})
    with pytest.raises(CurricleError) as e:
        curate(cfg, run.sources, progress=False)
    assert str(e.value) == f"curate.quality_model.model: quality model {missing}: no such file"
    (tmp_path / "bad.zip").write_text("not a model")
    cfg = curate_config(tmp_path, quality_model={"model": str(tmp_path / "bad.zip"), "keep_all": True})
    with pytest.raises(CurricleError, match=r"^curate.quality_model.model: quality model .*bad.zip: not a curricle"):
        curate(cfg, run.sources, progress=False)
    assert not (tmp_path / "curated" / "funnel.json").exists()


def test_the_score_reaches_the_token_store(tmp_path, model):
    """curate writes meta.quality; a curated source with meta_fields: [quality] carries it into
    the store's metadata, document for document."""
    from curricle.prepare.command import prepare_run
    from curricle.store import TokenStore

    run = corpus(tmp_path)
    cfg = curate_config(tmp_path, quality_model={"model": str(model), "keep_all": True})
    report = curate(cfg, run.sources, progress=False)
    scores = {r["id"]: r["meta"]["quality"] for r in curated_docs(report)["web"]}
    prepared = parse_config({"data_dir": str(tmp_path / "data"), "tokenizer": {"vocab_size": 300},
                             "prepare": {"heldout_fraction": 0, "min_heldout_docs": 0},
                             "sources": [{"kind": "curated", "path": str(cfg.output_dir), "domain": "web",
                                          "meta_fields": ["quality"]}]})
    prepare_run(prepared, progress=False)
    split = TokenStore(tmp_path / "data").split("web", "train")
    assert dict(zip(split.column("doc_id"), split.column("quality"))) == scores


def test_in_a_pipeline_it_is_one_entry_and_top_share_counts_after_the_steps_before_it(tmp_path, model):
    """``{kind: quality-model}`` in ``curate.pipeline``, after the quality heuristics: the same
    funnel as the per-step fields give, the share taken of what reaches it."""
    run = corpus(tmp_path)
    fields = curate(curate_config(tmp_path / "a", quality={}, quality_model={"model": str(model), "top_share": 0.5}),
                    run.sources, progress=False)
    piped = curate(CurateConfig.model_validate({
        "output_dir": str(tmp_path / "b" / "curated"),
        "pipeline": [{"kind": "quality"}, {"kind": "quality-model", "model": str(model), "top_share": 0.5}]}),
        run.sources, progress=False)
    assert [s for s, _ in piped.domains["web"]] == ["read", "quality", "quality-model"]
    assert {s: r.to_dict() for s, r in piped.domains["web"]} == {s: r.to_dict() for s, r in fields.domains["web"]}
    reached = dict(piped.domains["web"])["quality-model"].docs_in
    assert reached < 200 and abs(len(curated_docs(piped)["web"]) - 0.5 * reached) <= 1


def test_two_top_share_steps_each_compute_their_own_threshold(tmp_path, model):
    """Two quality-model steps keeping half each: the second's threshold is the median of what
    the first kept (its own file in the work directory), so a quarter of the corpus is kept."""
    run = corpus(tmp_path)
    report = curate(CurateConfig.model_validate({"output_dir": str(tmp_path / "curated"), "pipeline": [
        {"kind": "quality-model", "model": str(model), "top_share": 0.5, "name": "qm-a", "field": "qa"},
        {"kind": "quality-model", "model": str(model), "top_share": 0.5, "name": "qm-b", "field": "qb"}]}),
        run.sources, progress=False)
    assert report.check() == []
    rows = dict(report.domains["web"])
    kept = curated_docs(report)["web"]
    assert abs(rows["qm-b"].docs_in - 100) <= 1 and abs(len(kept) - rows["qm-b"].docs_in / 2) <= 1
    first = {r["detail"]["threshold"] for r in quarantine(tmp_path / "curated", "qm-a")}
    second = {r["detail"]["threshold"] for r in quarantine(tmp_path / "curated", "qm-b")}
    assert second == {min(r["meta"]["qb"] for r in kept)}
    assert len(first) == 1 and second.pop() > first.pop()
