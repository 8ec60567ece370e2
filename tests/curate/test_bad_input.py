"""Bad input never crashes a curate run and is never lost: each kind is quarantined with its
reason and location, and counted by the ``read`` step of the funnel."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curricle.curate.pipeline import curate

from tests.curate.conftest import curate_config, curated_docs, make_prose, quarantine, run_config, write_jsonl

GOOD_RECORD = {"id": "good", "text": make_prose(1)}


def run(tmp_path, sources, **cfg):
    config = curate_config(tmp_path, exact_dedup={}, **cfg)
    report = curate(config, run_config(tmp_path, sources).sources, progress=False)
    assert report.check() == []
    return report, quarantine(config.output_dir, "read")


def read_row(report, domain="web"):
    return dict(report.domains[domain])["read"]


@pytest.mark.parametrize("raw, reason, text", [
    (b"this line is not JSON", "not-json", "this line is not JSON"),
    (b'{"title": "a record without text"}', "missing-text", '{"title": "a record without text"}'),
    (b'{"text": "caf\xe9 au lait"}', "invalid-utf8", '{"text": "caf\\xe9 au lait"}'),
    (b'{"text": "  \\n  "}', "empty-text", '{"text": "  \\n  "}'),
    (b'{"text": "lone \\ud800 surrogate"}', "invalid-unicode", "lone \ud800 surrogate"),
])
def test_bad_jsonl_lines(tmp_path, raw, reason, text):
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD_RECORD], raw_lines=[raw])
    report, entries = run(tmp_path, [{"kind": "jsonl", "path": str(path), "domain": "web"}])
    assert [(e["reason"], e["location"], e["text"]) for e in entries] == [(reason, f"{path}:2", text)]
    assert read_row(report).docs_dropped == Counter({reason: 1})
    assert [r["id"] for r in curated_docs(report)["web"]] == ["good"]


def test_a_20_mb_document_is_quarantined_by_the_size_limit(tmp_path):
    big = "word " * 4_000_000  # 20 MB
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD_RECORD, {"id": "big", "text": big}])
    report, entries = run(tmp_path, [{"kind": "jsonl", "path": str(path), "domain": "web"}])
    (entry,) = entries
    assert (entry["reason"], entry["id"], entry["location"]) == ("too-large", "big", f"{path}:2")
    assert entry["detail"] == {"bytes": 20_000_000, "max_doc_bytes": 1_000_000}
    assert entry["text"] == big  # nothing is lost
    assert read_row(report).docs_dropped == Counter({"too-large": 1})
    assert read_row(report).tokens_dropped == Counter({"too-large": 4_000_000})
    report, entries = run(tmp_path / "capped", [{"kind": "jsonl", "path": str(path), "domain": "web"}],
                          max_doc_bytes=30_000_000, quarantine_text_chars=10)
    assert entries == [] and len(curated_docs(report)["web"]) == 2


def test_a_binary_file_in_a_text_directory(tmp_path):
    d = tmp_path / "notes"
    d.mkdir()
    (d / "a.txt").write_text(make_prose(2))
    (d / "b.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00binary")
    (d / "c.txt").write_text("   \n")
    report, entries = run(tmp_path, [{"kind": "text", "path": str(d), "domain": "notes"}])
    assert [(e["reason"], e["location"]) for e in entries] == [("binary", str(d / "b.txt")),
                                                               ("empty-text", str(d / "c.txt"))]
    assert read_row(report, "notes").docs_dropped == Counter({"binary": 1, "empty-text": 1})
    assert [r["id"] for r in curated_docs(report)["notes"]] == ["a.txt"]


def test_a_parquet_file_with_the_wrong_schema_costs_only_itself(tmp_path):
    d = tmp_path / "pq"
    d.mkdir()
    pq.write_table(pa.table({"text": [make_prose(3), None, "  "]}), d / "a.parquet")
    pq.write_table(pa.table({"body": ["no text column"]}), d / "b.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), d / "c.parquet")
    (d / "d.parquet").write_bytes(b"PAR1 this is not parquet")
    report, entries = run(tmp_path, [{"kind": "parquet", "path": str(d / "*.parquet"), "domain": "web"}])
    assert [(e["reason"], e["location"]) for e in entries] == [
        ("null-text", f"{d / 'a.parquet'}:1"), ("empty-text", f"{d / 'a.parquet'}:2"),
        ("bad-schema", str(d / "b.parquet")), ("bad-schema", str(d / "c.parquet")),
        ("unreadable-file", str(d / "d.parquet"))]
    assert "has no column 'text'" in entries[2]["detail"]["error"]
    assert read_row(report).docs_dropped == Counter({"null-text": 1, "empty-text": 1, "bad-schema": 2,
                                                     "unreadable-file": 1})
    assert len(curated_docs(report)["web"]) == 1


def test_a_truncated_gzip_file_keeps_what_it_yielded(tmp_path):
    good = tmp_path / "good.jsonl.gz"
    with gzip.open(good, "wt") as f:
        f.write(json.dumps(GOOD_RECORD) + "\n")
    data = gzip.compress(b"".join(json.dumps({"id": f"r{i}", "text": make_prose(10 + i)}).encode() + b"\n"
                                  for i in range(200)))
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(data[: len(data) // 2])
    report, entries = run(tmp_path, [{"kind": "jsonl", "path": str(tmp_path / "*.jsonl.gz"), "domain": "web"}])
    (entry,) = entries
    assert (entry["reason"], entry["location"]) == ("unreadable-file", str(bad))
    kept = len(curated_docs(report)["web"])
    assert read_row(report).docs_in == kept + 1 and kept > 1  # the first half of bad.jsonl.gz survives



def test_a_row_of_an_hf_disk_dataset_that_is_not_utf8_costs_only_itself(tmp_path):
    datasets = pytest.importorskip("datasets")
    texts = [make_prose(20 + i).encode() for i in range(4)]
    texts[1] = b"caf\xe9 au lait " + texts[1]
    raw = pa.array(texts, pa.binary())
    path = tmp_path / "ds"
    datasets.Dataset(pa.table({"text": pa.Array.from_buffers(pa.string(), 4, raw.buffers())})).save_to_disk(str(path))
    report, entries = run(tmp_path, [{"kind": "hf-disk", "path": str(path), "domain": "web"}])
    assert [(e["reason"], e["location"]) for e in entries] == [("invalid-unicode", f"{path}:1")]
    assert read_row(report).docs_dropped == Counter({"invalid-unicode": 1})
    assert [r["id"] for r in curated_docs(report)["web"]] == ["0", "2", "3"]

def test_a_document_that_breaks_a_step_is_dropped_not_fatal(tmp_path, monkeypatch):
    from curricle.curate.steps.pii import PIIStep

    original = PIIStep.apply

    def fragile(self, doc):
        if "poison" in doc.text:
            raise ValueError("cannot handle this one")
        return original(self, doc)

    monkeypatch.setattr(PIIStep, "apply", fragile)
    path = write_jsonl(tmp_path / "a.jsonl", [GOOD_RECORD, {"id": "p", "text": "a poison pill"}])
    report, _ = run(tmp_path, [{"kind": "jsonl", "path": str(path), "domain": "web"}], pii={})
    (entry,) = quarantine(tmp_path / "curated", "pii")
    assert (entry["id"], entry["reason"], entry["detail"]) == ("p", "error", {"error": "ValueError: cannot handle this one"})
    assert entry["text"] == "a poison pill"
