"""Fields written during curation (a step's ``doc.meta[...]``) are recorded in ``funnel.json``
and reach the token store's ``meta.parquet``, where pacing and ``weight_by`` can use them."""

import json

import numpy as np
import pytest

from curricle.config import parse_config
from curricle.curate.config import CurateConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.fields import FieldRecorder, written_fields
from curricle.curate.pipeline import curate
from curricle.curate.steps import STEPS
from curricle.curate.steps.base import CurationStep
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, PacingConfig, StaticConfig, WeightByConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.prepare.command import prepare_run
from curricle.prepare.pipeline import prepare
from curricle.store import TokenStore
from tests.curate.conftest import curate_config, write_jsonl

SENTENCES = [
    "The river runs past the old mill and into the quiet valley below the hills.",
    "Engineers measured the bridge twice before they trusted the new steel cables with traffic.",
    "A small library in the village lends books, maps and recordings to anyone who asks for them.",
    "Bakers rise early, knead the dough by hand and sell warm bread before the market opens.",
    "The committee published its report on water quality after two years of careful sampling.",
    "Children learn to read faster when they are given stories about things they already love.",
]


def score(doc: CurDoc) -> Drop | None:
    """A test-only curation step: writes ``meta["quality"]`` (words / 20) on every document but
    the last, ``meta["band"]`` (a string) on all, and drops none."""
    if not doc.text.startswith("Children"):
        doc.meta["quality"] = round(len(doc.text.split()) / 20, 4)
    doc.meta["band"] = "long" if len(doc.text.split()) > 16 else "short"
    return None


class ScoreStep(CurationStep):
    """:func:`score` as a built-in step, standing in for ``quality`` where curate has no
    ``pipeline:`` of user steps."""

    name = "quality"
    default_domains = "all"

    def apply(self, doc: CurDoc) -> Drop | None:
        return score(doc)


def scoring_curate_section(tmp_path, monkeypatch) -> dict:
    """A run config's ``curate:`` whose one step is :func:`score`: a user step of
    ``curate.pipeline`` where curate has one, else the ``quality`` step replaced by
    :class:`ScoreStep` in this process (the test runs curate with one worker, in process)."""
    if "pipeline" in CurateConfig.model_fields:
        return {"output_dir": str(tmp_path / "curated"),
                "pipeline": [{"kind": "python", "function": "tests.curate.test_fields:score"}]}
    monkeypatch.setitem(STEPS, "quality", ScoreStep)
    return curate_config(tmp_path, quality={"enabled": True}).model_dump(mode="json")


def the_step(report) -> str:
    """The one per-document step of a report's funnel (its name is the writer of the fields)."""
    (name,) = [s for s in report.steps() if s not in ("read", "exact-dedup", "near-dedup", "line-dedup")]
    return name


def expected_quality(text):
    return None if text.startswith("Children") else round(len(text.split()) / 20, 4)


@pytest.fixture
def curated_run(tmp_path, monkeypatch):
    """A run config whose one prose source is curated by the scoring step."""
    path = write_jsonl(tmp_path / "web.jsonl", [{"id": f"d{i}", "text": t, "topic": i % 2}
                                                for i, t in enumerate(SENTENCES)])
    curate_section = scoring_curate_section(tmp_path, monkeypatch)
    return parse_config({
        "data_dir": str(tmp_path / "data"), "tokenizer": {"vocab_size": 300},
        "prepare": {"heldout_fraction": 0.0, "min_heldout_docs": 0},
        "sources": [{"kind": "jsonl", "path": str(path), "domain": "web", "meta_fields": ["topic"]}],
        "curate": curate_section,
    })


def test_a_quality_field_written_during_curation_reaches_meta_parquet(curated_run, tmp_path):
    report = curate(curated_run.curate, curated_run.sources, progress=False)
    step = the_step(report)
    assert report.fields == {"web": [
        {"name": "band", "kinds": ["string"], "by": [step]},
        {"name": "quality", "kinds": ["number"], "by": [step]},
        {"name": "topic", "kinds": ["number"], "by": ["source"]},
    ]}
    assert json.loads((tmp_path / "curated" / "funnel.json").read_text())["fields"] == report.fields

    prep = prepare_run(curated_run, progress=False)
    split = TokenStore(tmp_path / "data").split("web")
    meta = split.meta()
    # The source's field first (as before), then the fields the steps wrote, by name.
    assert meta.column_names[-3:] == ["topic", "band", "quality"]
    rows = {r["doc_id"]: r for r in meta.to_pylist()}
    assert {k: r["quality"] for k, r in rows.items()} == {f"d{i}": expected_quality(t) for i, t in enumerate(SENTENCES)}
    assert {k: r["band"] for k, r in rows.items()} == \
           {f"d{i}": "long" if len(t.split()) > 16 else "short" for i, t in enumerate(SENTENCES)}
    assert prep.missing_fields[f"curated {tmp_path / 'curated'} [web]"] == {"quality": 1}

    # ...where pacing ranks by it (lowest first; the unscored document last)...
    pacing = PacingConfig(column="quality", kind="fixed_linear", start=0.5, steps=100)
    store = TokenStore(tmp_path / "data")
    s = MixtureSampler(store, MixtureConfig(batch_rows=2, seq_len=8, schedule=StaticConfig(weights={"web": 1}),
                                            pacing={"web": pacing}))
    ids = meta.column("doc_id").to_pylist()
    by_quality = sorted(range(5), key=lambda i: (expected_quality(SENTENCES[i]), i))
    assert [ids[i] for i in s._pacing[0].order] == [f"d{i}" for i in by_quality] + ["d5"]
    # ...and weight_by draws by it, the unscored document at the median.
    wb = MixtureSampler(store, MixtureConfig(batch_rows=2, seq_len=8, schedule=StaticConfig(weights={"web": 1}),
                                             weight_by={"web": WeightByConfig(column="quality", temperature=0.1)}))
    scores = [expected_quality(SENTENCES[int(i[1:])]) for i in ids]
    scores = [np.median([x for x in scores if x is not None]) if x is None else x for x in scores]
    p = np.exp(np.array(scores) / 0.1)
    np.testing.assert_allclose(np.diff(wb._weight_cdf[0], prepend=0.0), p / p.sum(), rtol=1e-12)


def test_an_explicit_curated_meta_fields_is_checked_against_what_curate_recorded(curated_run, tmp_path):
    curate(curated_run.curate, curated_run.sources, progress=False)
    source = {"kind": "curated", "path": str(tmp_path / "curated"), "domain": "web"}
    tok, prep = curated_run.tokenizer, curated_run.prepare
    with pytest.raises(CurricleError) as err:
        prepare([parse_config({"data_dir": "d", "sources": [{**source, "meta_fields": ["qualty"]}]}).sources[0]],
                tok, prep, tmp_path / "d1", progress=False)
    assert str(err.value) == (f"source 'curated {tmp_path / 'curated'} [web]': meta_fields: curate recorded no field "
                              f"'qualty' on its documents (recorded: band, quality, topic)")
    # Listed: only those. Unset: every field curate recorded, by name.
    only = parse_config({"data_dir": "d", "sources": [{**source, "meta_fields": ["quality"]}]}).sources[0]
    prepare([only], tok, prep, tmp_path / "d2", progress=False)
    assert TokenStore(tmp_path / "d2").split("web").meta().column_names[-1:] == ["quality"]
    assert "topic" not in TokenStore(tmp_path / "d2").split("web").meta().column_names
    auto = parse_config({"data_dir": "d", "sources": [source]}).sources[0]
    prepare([auto], tok, prep, tmp_path / "d3", progress=False)
    assert TokenStore(tmp_path / "d3").split("web").meta().column_names[-3:] == ["band", "quality", "topic"]


def test_written_fields_are_new_keys_and_changed_values():
    assert written_fields({"a": 1, "b": "x"}, {"a": 1, "b": "y", "c": None}) == ["b", "c"]
    r = FieldRecorder(["topic"])
    doc = CurDoc(id="1", text="t", domain="web", meta={"topic": 3, "quality": 0.5, "tags": [1]}, source="s",
                 location="l", written={"quality": "quality-model", "tags": "tagger"})
    r.note_doc(doc)
    other = FieldRecorder()
    other.note("web", "quality", None, "quality-model")
    other.note("web", "quality", "high", "classifier")
    r.merge(other)
    assert r.to_dict() == {"web": [
        {"name": "quality", "kinds": ["number", "string"], "by": ["quality-model", "classifier"]},
        {"name": "tags", "kinds": ["other"], "by": ["tagger"]},
        {"name": "topic", "kinds": ["number"], "by": ["source"]},
    ]}


def test_langid_language_score_reaches_meta_parquet(tmp_path):
    """langid writes ``language`` and ``language_score``: fields like any step's."""
    path = write_jsonl(tmp_path / "web.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(SENTENCES)])
    run = parse_config({
        "data_dir": str(tmp_path / "data"), "tokenizer": {"vocab_size": 300},
        "prepare": {"heldout_fraction": 0.0, "min_heldout_docs": 0},
        "sources": [{"kind": "jsonl", "path": str(path), "domain": "web"}],
        "curate": curate_config(tmp_path, langid={"enabled": True}).model_dump(mode="json"),
    })
    report = curate(run.curate, run.sources, progress=False)
    assert report.fields == {"web": [{"name": "language", "kinds": ["string"], "by": ["langid"]},
                                     {"name": "language_score", "kinds": ["number"], "by": ["langid"]}]}
    prepare_run(run, progress=False)
    rows = TokenStore(tmp_path / "data").split("web").meta().to_pylist()
    assert [r["language"] for r in rows] == ["en"] * 6
    assert all(0.65 < r["language_score"] <= 1 for r in rows)
