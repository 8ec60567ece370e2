"""The snapshot id of a curate output: stable across reruns and output directories, changed by
a changed source document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curricle.curate.funnel import read_funnel
from curricle.curate.pipeline import curate
from curricle.store.snapshot import ids_sha256, read_snapshot

from tests.curate.conftest import curate_config, make_prose, run_config, write_jsonl


def records(texts: dict[str, str]) -> list[dict]:
    return [{"id": i, "text": t} for i, t in texts.items()]


TEXTS = {f"p{i}": make_prose(200 + i) for i in range(5)}


def curated(tmp_path: Path, name: str, texts: dict[str, str], fmt: str = "jsonl.gz"):
    src = tmp_path / "src" / "a.jsonl"
    if not src.exists() or [json.loads(line) for line in src.read_text().splitlines()] != records(texts):
        write_jsonl(src, records(texts))  # (a rewrite would be a new file time: a changed source)
    sources = run_config(tmp_path, [{"kind": "jsonl", "path": str(tmp_path / "src" / "a.jsonl"),
                                     "domain": "web"}]).sources
    cfg = curate_config(tmp_path / name, format=fmt)
    return curate(cfg, sources, progress=False), Path(cfg.output_dir)


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_the_id_is_stable_across_reruns_and_directories_and_names_the_documents(tmp_path, fmt):
    report, out = curated(tmp_path, "one", TEXTS, fmt)
    snap = read_snapshot(out)
    assert report.snapshot == snap["id"] == read_funnel(out)["snapshot"]
    web = snap["manifest"]["units"]["web"]
    assert web["docs"] == 5 and web["doc_ids"] == ids_sha256(list(TEXTS))
    assert list(web["files"]) == [f"00000.{fmt}"]  # named by shard, not by the fingerprint
    assert snap["manifest"]["config"]["curate"]["format"] == fmt
    before = (out / "snapshot.json").read_bytes()

    again, _ = curated(tmp_path, "one", TEXTS, fmt)
    assert again.up_to_date and again.snapshot == report.snapshot
    assert (out / "snapshot.json").read_bytes() == before
    elsewhere, _ = curated(tmp_path, "two", TEXTS, fmt)
    assert not elsewhere.up_to_date and elsewhere.snapshot == report.snapshot


def test_a_changed_source_document_changes_the_id(tmp_path):
    report, out = curated(tmp_path, "one", TEXTS)
    changed, _ = curated(tmp_path, "one", {**TEXTS, "p2": make_prose(999)})
    assert not changed.up_to_date and changed.snapshot != report.snapshot
    assert read_snapshot(out)["id"] == changed.snapshot
    # The same ids, other content: only the file hashes moved.
    assert read_snapshot(out)["manifest"]["units"]["web"]["doc_ids"] == ids_sha256(list(TEXTS))


def test_a_funnel_from_before_snapshots_gets_one_on_an_up_to_date_rerun(tmp_path):
    report, out = curated(tmp_path, "one", TEXTS)
    funnel = json.loads((out / "funnel.json").read_text())
    del funnel["snapshot"]
    (out / "funnel.json").write_text(json.dumps(funnel))
    (out / "snapshot.json").unlink()
    again, _ = curated(tmp_path, "one", TEXTS)
    assert again.up_to_date and again.snapshot == report.snapshot == read_funnel(out)["snapshot"]
    assert read_snapshot(out)["id"] == report.snapshot
