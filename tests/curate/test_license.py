"""Licences through curation: the source's and the record's licence in ``meta["license"]``,
the ``license`` filter step, and the per-licence counts in ``funnel.json``."""

from __future__ import annotations

import json
from collections import Counter

from curricle.config import parse_config
from curricle.curate.config import LicenseConfig
from curricle.curate.document import Drop
from curricle.curate.pipeline import curate
from curricle.curate.steps.license import LicenseStep

from tests.curate.conftest import context, curated_docs, doc, make_prose, quarantine, write_jsonl


def test_the_license_step_keeps_allowed_licences_case_insensitively():
    step = LicenseStep(LicenseConfig(allowed=["CC-BY-4.0", "mit"]), context())
    step.setup()
    licensed = lambda lic: (d := doc("text"), d.meta.update({"license": lic}), d)[2]  # noqa: E731
    assert step.apply(licensed("cc-by-4.0")) is None
    assert step.apply(licensed("MIT")) is None
    assert step.apply(licensed("gpl-3.0")) == Drop("license", {"license": "gpl-3.0"})
    assert step.apply(doc("no licence")) == Drop("license-missing")


def test_licences_are_filtered_and_counted_kept_and_dropped(tmp_path):
    web = write_jsonl(tmp_path / "web.jsonl", [
        {"id": "w1", "text": make_prose(1)},
        {"id": "w2", "text": make_prose(2), "license": "GPL-3.0"},
        {"id": "w3", "text": make_prose(3), "license": "mit"},
        {"id": "w4", "text": make_prose(1)},  # a duplicate of w1: dropped by exact-dedup, counted under cc-by-4.0
    ])
    notes = write_jsonl(tmp_path / "notes.jsonl", [{"id": "n1", "text": make_prose(4)},
                                                   {"id": "n2", "text": "BUY NOW " + make_prose(5)}])
    run = parse_config({"sources": [
        {"kind": "jsonl", "path": str(web), "domain": "web", "license": "cc-by-4.0", "license_field": "license"},
        {"kind": "jsonl", "path": str(notes), "domain": "notes"},
    ], "curate": {"output_dir": str(tmp_path / "curated"), "pipeline": [
        {"kind": "python", "function": "tests.curate.user_steps:drop_ads"},
        {"kind": "license", "allowed": ["cc-by-4.0", "MIT"], "domains": ["web"]},
        {"kind": "exact-dedup"},
    ]}})
    report = curate(run.curate, run.sources, progress=False)
    out = tmp_path / "curated"

    assert report.check() == []
    assert dict(report.domains["web"])["license"].docs_dropped == Counter({"license": 1})
    assert [(e["id"], e["detail"]) for e in quarantine(out, "license")] == [("w2", {"license": "GPL-3.0"})]
    kept = {r["id"]: r["meta"].get("license") for rows in curated_docs(report).values() for r in rows}
    assert kept == {"w1": "cc-by-4.0", "w3": "mit", "n1": None}

    funnel = json.loads((out / "funnel.json").read_text())
    assert funnel["licenses"] == [
        {"license": "GPL-3.0", "in": 1, "kept": 0, "dropped": {"license": 1}, "tokens_kept": 0},
        {"license": "cc-by-4.0", "in": 2, "kept": 1, "dropped": {"duplicate": 1},
         "tokens_kept": len(make_prose(1).split())},
        {"license": "mit", "in": 1, "kept": 1, "dropped": {}, "tokens_kept": len(make_prose(3).split())},
        {"license": None, "in": 2, "kept": 1, "dropped": {"advert": 1}, "tokens_kept": len(make_prose(4).split())},
    ]


def test_without_the_filter_documents_without_a_licence_are_kept_and_with_it_dropped(tmp_path):
    data = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": "one"}, {"id": "b", "text": "two", "lic": "mit"}])
    source = {"kind": "jsonl", "path": str(data), "domain": "web", "license_field": "lic"}
    run = parse_config({"sources": [source], "curate": {"output_dir": str(tmp_path / "c"), "pipeline": [
        {"kind": "license", "allowed": ["mit"]}]}})
    report = curate(run.curate, run.sources, progress=False)
    assert dict(report.domains["web"])["license"].docs_dropped == Counter({"license-missing": 1})
    assert [e["id"] for e in quarantine(tmp_path / "c", "license")] == ["a"]


def test_a_step_editing_the_licence_leaves_the_document_counted_under_the_licence_it_was_read_with(tmp_path):
    data = write_jsonl(tmp_path / "a.jsonl", [
        {"id": "a", "text": make_prose(1)},
        {"id": "b", "text": "BUY NOW " + make_prose(2)},  # dropped by a per-document step
        {"id": "c", "text": make_prose(1)},  # a duplicate of a: dropped by exact-dedup, after the rewrite
    ])
    run = parse_config({"sources": [{"kind": "jsonl", "path": str(data), "domain": "web", "license": "MIT"}],
                        "curate": {"output_dir": str(tmp_path / "c"), "pipeline": [
                            {"kind": "python", "function": "tests.curate.user_steps:lower_license"},
                            {"kind": "python", "function": "tests.curate.user_steps:drop_ads"},
                            {"kind": "exact-dedup"}]}})
    report = curate(run.curate, run.sources, progress=False)
    assert report.check() == []
    assert [(r["id"], r["meta"]["license"]) for r in curated_docs(report)["web"]] == [("a", "mit")]
    assert json.loads((tmp_path / "c" / "funnel.json").read_text())["licenses"] == [
        {"license": "MIT", "in": 3, "kept": 1, "dropped": {"advert": 1, "duplicate": 1},
         "tokens_kept": len(make_prose(1).split())}]
