"""``meta_fields``: record fields carried from JSONL, Parquet and curated sources into
``meta.parquet``, and pacing by such a column."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curricle.config import parse_config
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, PacingConfig, StaticConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.prepare.command import prepare_run
from curricle.store import TokenStore

TEXTS = [f"document {w} number {i} talks about tokens and words." for i, w in
         enumerate(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"])]
QUALITY = [0.5, 0.25, None, 0.75, 1, 0.125, 0.875, 0.0]  # doc 2 has none; doc 4 an int among floats
TOXIC = ["low", "high", "low", "low", None, "low", "high", "low"]
FLAG = [True, False, True, True, False, False, True, None]


def records():
    out = []
    for i, text in enumerate(TEXTS):
        r = {"id": f"d{i}", "text": text, "toxicity": TOXIC[i], "flag": FLAG[i]}
        if QUALITY[i] is not None:
            r["quality"] = QUALITY[i]
        out.append(r)
    return out


def cfg(tmp_path, source, **prepare):
    return parse_config({"data_dir": str(tmp_path / "data"), "sources": [source],
                         "tokenizer": {"vocab_size": 300},
                         "prepare": {"heldout_fraction": 0.0, "min_heldout_docs": 0, **prepare}})


def by_id(store, domain="web"):
    rows = store.split(domain).meta().to_pylist()
    return {r["doc_id"]: r for r in rows}


def expected(i):
    q = QUALITY[i]
    return {"quality": None if q is None else float(q), "toxicity": TOXIC[i], "flag": FLAG[i]}


@pytest.mark.parametrize("workers", [0, 1])
def test_jsonl_meta_fields_reach_meta_parquet_with_nulls_counted(tmp_path, workers):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records()))
    report = prepare_run(cfg(tmp_path, {"kind": "jsonl", "path": str(path), "domain": "web",
                                        "meta_fields": ["quality", "toxicity", "flag"]},
                             workers=workers, encode_batch_docs=3), progress=False)
    store = TokenStore(tmp_path / "data")
    rows = by_id(store)
    assert {k: {f: r[f] for f in ("quality", "toxicity", "flag")} for k, r in rows.items()} == \
           {f"d{i}": expected(i) for i in range(8)}
    schema = store.split("web").meta().schema
    assert (schema.field("quality").type, schema.field("toxicity").type, schema.field("flag").type) == \
           (pa.float64(), pa.string(), pa.bool_())
    name = f"jsonl {path}"
    assert report.missing_fields[name] == {"quality": 1, "toxicity": 1, "flag": 1}
    assert json.loads((tmp_path / "data" / "manifest.json").read_text())["sources"][name]["missing_fields"] == \
           {"flag": 1, "quality": 1, "toxicity": 1}


def test_parquet_meta_fields_reach_meta_parquet(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": TEXTS, "quality": pa.array([None if q is None else float(q) for q in QUALITY]),
                             "toxicity": TOXIC, "flag": FLAG, "n": list(range(8))}), path)
    report = prepare_run(cfg(tmp_path, {"kind": "parquet", "path": str(path), "domain": "web",
                                        "meta_fields": ["quality", "toxicity", "flag", "n"]}), progress=False)
    rows = TokenStore(tmp_path / "data").split("web").meta().to_pylist()
    got = {r["doc_id"]: {f: r[f] for f in ("quality", "toxicity", "flag", "n")} for r in rows}
    assert got == {f"a.parquet:{i}": {**expected(i), "n": i} for i in range(8)}
    assert TokenStore(tmp_path / "data").split("web").meta().schema.field("n").type == pa.int64()
    assert report.missing_fields[f"parquet {path}"] == {"quality": 1, "toxicity": 1, "flag": 1}


def test_changing_meta_fields_rewrites_the_domain(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records()))
    source = {"kind": "jsonl", "path": str(path), "domain": "web"}
    prepare_run(cfg(tmp_path, source), progress=False)
    assert "quality" not in TokenStore(tmp_path / "data").split("web").meta().column_names
    report = prepare_run(cfg(tmp_path, {**source, "meta_fields": ["quality"]}), progress=False)
    assert report.did_work and TokenStore(tmp_path / "data").split("web").column("quality")[0] == 0.5


def test_meta_field_errors_are_one_line_and_name_the_field_and_file(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"text": "one doc", "quality": 0.5}) + "\n" +
                    json.dumps({"text": "two doc", "quality": "good"}) + "\n")
    source = {"kind": "jsonl", "path": str(path), "domain": "web", "meta_fields": ["quality"]}
    with pytest.raises(CurricleError) as err:
        prepare_run(cfg(tmp_path, source), progress=False)
    assert str(err.value) == (f"meta field 'quality' is a string at {path}:2 but a number at {path}:1 "
                              f"(domain 'web'); one field holds one kind of value")
    path.write_text(json.dumps({"text": "one doc", "quality": [1, 2]}) + "\n")
    with pytest.raises(CurricleError, match=rf"^source 'jsonl {path}': {path}:1: meta field 'quality' is a list; "
                                            r"expected a number, string or bool$"):
        prepare_run(cfg(tmp_path, source), progress=False)
    pq.write_table(pa.table({"text": ["x"], "tags": pa.array([[1]])}), tmp_path / "b.parquet")
    with pytest.raises(CurricleError, match=r"has no column 'quality' \(columns: text, tags\)$"):
        prepare_run(cfg(tmp_path, {"kind": "parquet", "path": str(tmp_path / "b.parquet"), "domain": "web",
                                   "meta_fields": ["quality"]}), progress=False)
    with pytest.raises(CurricleError, match=r"b.parquet: meta field 'tags' is a list<element: int64> column; "
                                            r"expected numbers, strings or bools$"):
        prepare_run(cfg(tmp_path, {"kind": "parquet", "path": str(tmp_path / "b.parquet"), "domain": "web",
                                   "meta_fields": ["tags"]}), progress=False)
    with pytest.raises(Exception, match="'n_tokens' is a column the store writes itself"):
        cfg(tmp_path, {**source, "meta_fields": ["n_tokens"]})


def test_pacing_by_a_quality_field_from_jsonl_end_to_end(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records()))
    prepare_run(cfg(tmp_path, {"kind": "jsonl", "path": str(path), "domain": "web", "meta_fields": ["quality"]}),
                progress=False)
    store = TokenStore(tmp_path / "data")
    split = store.split("web")
    ids = split.meta().column("doc_id").to_pylist()
    pacing = PacingConfig(column="quality", kind="fixed_linear", start=0.125, steps=80)
    s = MixtureSampler(store, MixtureConfig(batch_rows=2, seq_len=16, schedule=StaticConfig(weights={"web": 1}),
                                            pacing={"web": pacing}))
    # Ranked by quality, easiest (lowest) first; d2 has none and ranks last.
    assert [ids[i] for i in s._pacing[0].order] == ["d7", "d5", "d1", "d0", "d3", "d6", "d4", "d2"]
    # At step 0 one document in eight is available: every row holds only d7's tokens (and EOS).
    b = s.next_batch()
    d7 = set(split.document(ids.index("d7")).tolist()) | {store.eos_id}
    assert set(b.tokens.numpy().ravel().tolist()) <= d7
    with pytest.raises(CurricleError) as err:
        MixtureSampler(store, MixtureConfig(schedule=StaticConfig(weights={"web": 1}),
                                            pacing={"web": PacingConfig(column="qualty", steps=10)}))
    assert str(err.value).startswith("mixture.pacing.web.column: domain 'web' has no metadata column 'qualty' "
                                     "(has: doc_id, source, n_tokens")


def test_pacing_refuses_a_string_column(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records()))
    prepare_run(cfg(tmp_path, {"kind": "jsonl", "path": str(path), "domain": "web", "meta_fields": ["toxicity"]}),
                progress=False)
    with pytest.raises(CurricleError, match=r"^mixture.pacing.web.column: 'toxicity' holds string values; "
                                            r"pacing ranks numbers$"):
        MixtureSampler(TokenStore(tmp_path / "data"),
                       MixtureConfig(schedule=StaticConfig(weights={"web": 1}),
                                     pacing={"web": PacingConfig(column="toxicity", steps=10)}))


def test_curated_documents_keep_their_meta_fields(tmp_path):
    from curricle.curate.pipeline import curate
    from tests.curate.conftest import curate_config

    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records()))
    run = parse_config({"data_dir": str(tmp_path / "data"), "tokenizer": {"vocab_size": 300},
                        "prepare": {"heldout_fraction": 0.0, "min_heldout_docs": 0},
                        "sources": [{"kind": "jsonl", "path": str(path), "domain": "web",
                                     "meta_fields": ["quality", "flag"]}],
                        "curate": curate_config(tmp_path).model_dump(mode="json")})
    curate(run.curate, run.sources, progress=False)
    prepare_run(run, progress=False)
    rows = by_id(TokenStore(tmp_path / "data"))
    assert {k: (r["quality"], r["flag"]) for k, r in rows.items()} == \
           {f"d{i}": (expected(i)["quality"], FLAG[i]) for i in range(8)}
