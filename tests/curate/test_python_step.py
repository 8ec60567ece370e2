"""User steps (``{kind: python, ...}``) in a pipeline: counted, quarantined and failing like
built-in steps, in worker processes too; and the one-line errors of bad pipelines."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from curricle.config import parse_config
from curricle.curate.pipeline import curate
from curricle.errors import CurricleError

from tests.curate.conftest import curated_docs, make_prose, quarantine, write_jsonl

USER = "tests.curate.user_steps"


def records() -> list[dict]:
    return [
        {"id": "ok1", "text": make_prose(1) + " Hooray!"},
        {"id": "ad", "text": make_prose(2) + " BUY NOW while stocks last!"},
        {"id": "boom", "text": make_prose(3) + " This one will explode."},
        {"id": "short", "text": "Too short."},
        {"id": "tabs", "text": make_prose(4).replace(" ", "\t", 3)},
        {"id": "ok1-again", "text": make_prose(1) + " Hooray!"},
    ]


def pipeline_run(tmp_path: Path, pipeline: list[dict], files: int = 1, out: str = "curated", **curate: object):
    for k in range(files):
        write_jsonl(tmp_path / "in" / f"{k}.jsonl",
                    [{**r, "id": f"{r['id']}-{k}" if files > 1 else r["id"]} for r in records()])
    return parse_config({"sources": [{"kind": "jsonl", "path": str(tmp_path / "in" / "*.jsonl"), "domain": "web"}],
                         "curate": {"output_dir": str(tmp_path / out), "pipeline": pipeline, **curate}})


MIDDLE = [
    {"kind": "pii"},
    {"kind": "python", "function": f"{USER}:drop_ads"},
    {"kind": "python", "class": f"{USER}:MinWords", "args": {"min_words": 5}, "name": "min-words"},
    {"kind": "exact-dedup"},
]


def test_user_steps_in_the_middle_are_counted_quarantined_and_their_errors_are_drops(tmp_path):
    run = pipeline_run(tmp_path, MIDDLE)
    report = curate(run.curate, run.sources, progress=False)
    out = tmp_path / "curated"

    assert report.check() == []
    rows = report.domains["web"]
    assert [s for s, _ in rows] == ["read", "pii", "drop_ads", "min-words", "exact-dedup"]
    counts = dict(rows)
    assert (counts["pii"].docs_in, counts["pii"].docs_kept) == (6, 6)
    assert (counts["drop_ads"].docs_in, counts["drop_ads"].docs_kept) == (6, 4)
    assert counts["drop_ads"].docs_dropped == Counter({"advert": 1, "error": 1})
    assert (counts["min-words"].docs_in, counts["min-words"].docs_kept) == (4, 3)
    assert counts["min-words"].docs_dropped == Counter({"too-few-words": 1})
    assert counts["min-words"].docs_rewritten == 1
    assert counts["exact-dedup"].docs_dropped == Counter({"duplicate": 1})

    by_id = {e["id"]: e for e in quarantine(out, "drop_ads")}
    assert by_id["ad"]["reason"] == "advert" and by_id["ad"]["detail"] == {"phrase": "BUY NOW"}
    assert by_id["boom"]["reason"] == "error"
    assert by_id["boom"]["detail"] == {"error": "ValueError: this document blows up"}
    assert by_id["boom"]["text"].endswith("This one will explode.")
    assert [(e["id"], e["reason"], e["detail"]) for e in quarantine(out, "min-words")] == [
        ("short", "too-few-words", {"words": 2})]

    kept = {r["id"]: r for r in curated_docs(report)["web"]}
    assert sorted(kept) == ["ok1", "tabs"]
    assert kept["ok1"]["meta"]["bangs"] == 1  # a field a step wrote reaches the curated documents
    assert "\t" not in kept["tabs"]["text"]

    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["pipeline"] == [
        {"step": "read", "kind": "read"}, {"step": "pii", "kind": "pii"},
        {"step": "drop_ads", "kind": "python", "ref": f"{USER}:drop_ads"},
        {"step": "min-words", "kind": "python", "ref": f"{USER}:MinWords"},
        {"step": "exact-dedup", "kind": "exact-dedup"}]


def test_false_drops_under_the_step_name_and_a_wrong_answer_is_an_error(tmp_path):
    write_jsonl(tmp_path / "in" / "0.jsonl", [{"id": "a", "text": "fine words here"},
                                              {"id": "b", "text": "some spam here"}])
    run = parse_config({"sources": [{"kind": "jsonl", "path": str(tmp_path / "in" / "0.jsonl"), "domain": "web"}],
                        "curate": {"output_dir": str(tmp_path / "curated"), "pipeline": [
                            {"kind": "python", "function": f"{USER}:keep_or_false", "name": "no-spam"},
                            {"kind": "python", "function": f"{USER}:returns_a_string"}]}})
    report = curate(run.curate, run.sources, progress=False)
    counts = dict(report.domains["web"])
    assert counts["no-spam"].docs_dropped == Counter({"no-spam": 1})
    assert counts["returns_a_string"].docs_dropped == Counter({"error": 1})
    (entry,) = quarantine(tmp_path / "curated", "returns_a_string")
    assert entry["detail"] == {"error": f"TypeError: {USER}:returns_a_string returned str; expected None, True, "
                                        f"False or a Drop"}


def test_a_drop_detail_json_cannot_hold_is_quarantined_as_strings_and_the_run_completes(tmp_path):
    run = pipeline_run(tmp_path, [{"kind": "python", "function": f"{USER}:numpy_detail"}])
    report = curate(run.curate, run.sources, progress=False)
    assert report.check() == []
    counts = dict(report.domains["web"])["numpy_detail"]
    assert (counts.docs_in, counts.docs_kept, counts.docs_dropped) == (6, 5, Counter({"odd-detail": 1}))
    (entry,) = quarantine(tmp_path / "curated", "numpy_detail")
    assert (entry["id"], entry["reason"], entry["detail"]) == ("boom", "odd-detail", {"score": "0.9", "ids": "{1, 2}"})
    assert sorted(r["id"] for r in curated_docs(report)["web"]) == ["ad", "ok1", "ok1-again", "short", "tabs"]


def test_a_step_that_sets_the_text_to_no_string_drops_the_document_as_an_error(tmp_path):
    run = pipeline_run(tmp_path, [{"kind": "python", "function": f"{USER}:bytes_text"}])
    report = curate(run.curate, run.sources, progress=False)
    assert report.check() == []
    counts = dict(report.domains["web"])["bytes_text"]
    assert (counts.docs_in, counts.docs_kept, counts.docs_dropped) == (6, 5, Counter({"error": 1}))
    (entry,) = quarantine(tmp_path / "curated", "bytes_text")
    assert (entry["id"], entry["detail"]) == ("boom", {"error": "TypeError: the step set the text to bytes, not str"})
    assert entry["text"].endswith("This one will explode.")  # the text as the step got it


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_import_user_steps_by_name(tmp_path, start_method):
    one = pipeline_run(tmp_path, MIDDLE, files=3, out="one")
    two = pipeline_run(tmp_path, MIDDLE, files=3, out="two", workers=2, start_method=start_method)
    a = curate(one.curate, one.sources, progress=False)
    b = curate(two.curate, two.sources, progress=False)
    assert b.shards == 3 and b.workers == 2
    assert b.to_dict()["domains"] == a.to_dict()["domains"]
    assert curated_docs(b) == curated_docs(a)
    assert dict(b.domains["web"])["drop_ads"].docs_dropped == Counter({"advert": 3, "error": 3})
    assert sorted(e["id"] for e in quarantine(tmp_path / "two", "drop_ads")) == [
        "ad-0", "ad-1", "ad-2", "boom-0", "boom-1", "boom-2"]


SOURCES = [{"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 3}]


@pytest.mark.parametrize("curate_block, message", [
    ({"pipeline": [{"kind": "pii"}, {"kind": "toxic"}]},
     r"^config: curate\.pipeline\.1: Input tag 'toxic' found using 'kind' does not match any of the expected tags"),
    ({"pipeline": [{"kind": "pii"}], "langid": {"threshold": 0.5}},
     r"^config: curate: pipeline: give either 'pipeline' or the per-step field 'langid', not both"),
    ({"pipeline": [{"kind": "python", "function": "no_colon"}]},
     r"^config: curate\.pipeline\.0\.function: expected 'package\.module:name', got 'no_colon'$"),
    ({"pipeline": [{"kind": "python"}]},
     r"^config: curate\.pipeline\.0\.python: give exactly one of 'function' and 'class'$"),
    ({"pipeline": [{"kind": "exact-dedup"}, {"kind": "pii"}]},
     r"^config: curate\.pipeline: entry 1 \(pii\): per-document steps come before the dedup steps"),
    ({"pipeline": [{"kind": "near-dedup"}, {"kind": "exact-dedup"}]},
     r"^config: curate\.pipeline: entry 1 \(exact-dedup\): the dedup steps run at most once each, in the order"),
    ({"pipeline": [{"kind": "decontam"}, {"kind": "decontam", "name": "decontam-2"}]},
     r"^config: curate\.pipeline: entry 1 \(decontam\): at most one decontam step"),
    ({"pipeline": [{"kind": "pii"}, {"kind": "pii"}]},
     r"^config: curate\.pipeline: entries 0 and 1 are both named 'pii'; give one a distinct 'name'"),
])
def test_bad_pipelines_are_one_line_errors_naming_the_field(curate_block, message):
    with pytest.raises(CurricleError, match=message) as err:
        parse_config({"sources": SOURCES, "curate": curate_block})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("entry, message", [
    ({"kind": "python", "function": "tests.curate.no_such_module:f"},
     r"^curate\.pipeline\.1\.function: cannot import 'tests\.curate\.no_such_module:f' \(ModuleNotFoundError: "),
    ({"kind": "python", "function": f"{USER}:no_such_function"},
     rf"^curate\.pipeline\.1\.function: cannot import '{USER}:no_such_function' \(AttributeError: "),
    ({"kind": "python", "class": f"{USER}:MinWords", "args": {"min_wrods": 3}},
     rf"^curate\.pipeline\.1\.args: {USER}:MinWords\(min_words: 'int', reason: 'str' = 'too-few-words'\) does not "
     r"take \{'min_wrods': 3\} \(missing a required argument: 'min_words'\)$"),
    ({"kind": "python", "class": f"{USER}:drop_ads"},
     rf"^curate\.pipeline\.1\.class: '{USER}:drop_ads' is not a class with an apply\(doc\) method$"),
    ({"kind": "classifier", "function": "nowhere:score", "field": "toxicity"},
     r"^curate\.pipeline\.1\.function: cannot import 'nowhere:score' \(ModuleNotFoundError: "),
])
def test_an_unimportable_user_step_fails_before_any_work(tmp_path, entry, message):
    run = parse_config({"sources": SOURCES, "curate": {"output_dir": str(tmp_path / "curated"),
                                                       "pipeline": [{"kind": "pii"}, entry]}})
    with pytest.raises(CurricleError, match=message) as err:
        curate(run.curate, run.sources, progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "curated").exists()


def test_editing_a_user_step_recurates_and_an_unchanged_rerun_does_nothing(tmp_path, monkeypatch):
    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "my_filter_mod.py").write_text("def keep(doc):\n    return None\n")
    monkeypatch.syspath_prepend(str(mod))
    run = pipeline_run(tmp_path, [{"kind": "python", "function": "my_filter_mod:keep"}])
    first = curate(run.curate, run.sources, progress=False)
    assert not first.up_to_date and first.kept("web")[0] == 6
    assert curate(run.curate, run.sources, progress=False).up_to_date

    (mod / "my_filter_mod.py").write_text("from curricle.curate.document import Drop\n\n"
                                          "def keep(doc):\n    return Drop('edited') if 'BUY' in doc.text else None\n")
    import importlib
    import sys

    importlib.reload(sys.modules["my_filter_mod"])
    again = curate(run.curate, run.sources, progress=False)
    assert not again.up_to_date and again.fingerprint != first.fingerprint
    assert dict(again.domains["web"])["keep"].docs_dropped == Counter({"edited": 1})
