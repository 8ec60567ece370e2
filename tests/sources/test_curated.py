"""The ``curated`` source reads what ``curricle curate`` kept, and skips what no store can hold."""

from curricle.config import parse_config
from curricle.curate.pipeline import curate
from curricle.sources.config import CuratedConfig
from curricle.sources.curated import CuratedSource
from tests.curate.conftest import curate_config, write_jsonl


def test_a_lone_surrogate_in_a_curated_meta_field_is_skipped_as_invalid_utf8(tmp_path):
    # curate keeps a document whose text is fine; its "\ud800" field comes back from the
    # curated file as a lone surrogate, which no Arrow column of meta.parquet takes.
    records = [{"id": f"d{i}", "text": f"document {i} about rivers", "topic": "fine"} for i in range(3)]
    path = write_jsonl(tmp_path / "web.jsonl", records,
                       raw_lines=[b'{"id": "d9", "text": "a fine text", "topic": "bad \\ud800"}'])
    run = parse_config({"data_dir": str(tmp_path / "data"),
                        "sources": [{"kind": "jsonl", "path": str(path), "domain": "web", "meta_fields": ["topic"]}]})
    report = curate(curate_config(tmp_path), run.sources, progress=False)
    (name,) = report.files["web"]
    src = CuratedSource(CuratedConfig(path=str(tmp_path / "curated"), domain="web", meta_fields=["topic"]))
    assert [(d.id, d.meta["topic"]) for d in src] == [("d0", "fine"), ("d1", "fine"), ("d2", "fine")]
    assert src.stats.to_dict() == {"name": f"curated {tmp_path / 'curated'} [web]", "read": 3,
                                   "skipped": {"invalid-utf8": 1},
                                   "examples": {"invalid-utf8": [f"{tmp_path / 'curated' / name}:4"]}}
