import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curricle.errors import CurricleError
from curricle.sources import parquet as parquet_mod
from curricle.sources.base import Document
from curricle.sources.parquet import ParquetConfig, ParquetSource


def read(**kw):
    src = ParquetSource(ParquetConfig(domain="web", **kw))
    return list(src), src.stats


def write(path, **columns):
    pq.write_table(pa.table(columns), path, row_group_size=3)


def test_rows_in_order_across_batches_and_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_mod, "BATCH_ROWS", 2)
    p = tmp_path / "a.parquet"
    write(p, text=["r0", None, "", "r3", "  ", "r5", "r6"], n=list(range(7)))
    docs, stats = read(path=str(p))
    assert docs == [
        Document(id=f"a.parquet:{i}", text=f"r{i}", domain="web", meta={"source": str(p), "row": i})
        for i in (0, 3, 5, 6)
    ]
    assert dict(stats.skipped) == {"null-text": 1, "empty-text": 2}
    assert stats.examples == {"null-text": [f"{p}:1"], "empty-text": [f"{p}:2", f"{p}:4"]}


def test_id_field_and_large_string(tmp_path):
    p = tmp_path / "a.parquet"
    table = pa.table(
        {
            "body": pa.array(["x", "y", "z"], type=pa.large_string()),
            "key": pa.array([10, None, 12]),
        }
    )
    pq.write_table(table, p)
    docs, stats = read(path=str(p), text_field="body", id_field="key")
    assert [(d.id, d.text) for d in docs] == [("10", "x"), ("12", "z")]
    assert stats.examples == {"missing-id": [f"{p}:1"]}


def test_domain_field(tmp_path):
    p = tmp_path / "a.parquet"
    write(p, body=["x", "y", "z", "w"], src=["news", None, "", "blog"])
    docs, stats = read(path=str(p), text_field="body", use_record_domain=True, domain_field="src")
    assert [(d.text, d.domain) for d in docs] == [("x", "news"), ("y", "web"), ("w", "blog")]
    assert dict(stats.skipped) == {"bad-domain": 1}
    with pytest.raises(CurricleError, match="has no column 'lang'"):
        read(path=str(p), text_field="body", use_record_domain=True, domain_field="lang")


def test_glob_reads_files_in_sorted_order(tmp_path):
    write(tmp_path / "b.parquet", text=["b"])
    write(tmp_path / "a.parquet", text=["a"])
    docs, _ = read(path=str(tmp_path / "*.parquet"))
    assert [d.id for d in docs] == ["a.parquet:0", "b.parquet:0"]


def test_non_string_text_column_is_one_line_error(tmp_path):
    p = tmp_path / "a.parquet"
    write(p, text=[1, 2])
    with pytest.raises(CurricleError) as e:
        read(path=str(p))
    assert str(e.value) == (
        f"source 'parquet {p}': {p}: column 'text' is int64, expected a string column"
    )


def test_missing_column_fails_before_any_document(tmp_path):
    write(tmp_path / "a.parquet", text=["fine"])
    bad = tmp_path / "b.parquet"
    write(bad, body=["x"])
    src = ParquetSource(ParquetConfig(domain="web", path=str(tmp_path / "*.parquet")))
    it = iter(src)
    with pytest.raises(CurricleError) as e:
        next(it)
    assert str(e.value) == (
        f"source 'parquet {tmp_path}/*.parquet': {bad} has no column 'text' (columns: body)"
    )


def test_missing_id_column(tmp_path):
    p = tmp_path / "a.parquet"
    write(p, text=["x"])
    with pytest.raises(CurricleError, match="has no column 'uid'"):
        read(path=str(p), id_field="uid")


def test_not_parquet(tmp_path):
    p = tmp_path / "a.parquet"
    p.write_text("hello")
    with pytest.raises(CurricleError, match=r"a\.parquet: not a Parquet file"):
        read(path=str(p))


def test_missing_path(tmp_path):
    path = str(tmp_path / "none" / "*.parquet")
    with pytest.raises(CurricleError) as e:
        read(path=path)
    assert str(e.value) == f"source 'parquet {path}': no such file or directory: {path}"


def test_max_docs_and_fingerprint(tmp_path):
    p = tmp_path / "a.parquet"
    write(p, text=[f"t{i}" for i in range(10)])
    docs, _ = read(path=str(p), max_docs=4)
    assert [d.text for d in docs] == ["t0", "t1", "t2", "t3"]
    fp = ParquetSource(ParquetConfig(domain="web", path=str(p))).fingerprint()
    assert fp["files"] == [[str(p), p.stat().st_size, p.stat().st_mtime_ns]]
    assert fp["kind"] == "parquet" and fp["id_field"] is None


def test_license_column_overrides_the_source_license(tmp_path):
    p = tmp_path / "a.parquet"
    write(p, text=["a", "b"], lic=["apache-2.0", None])
    docs, _ = read(path=str(p), license="cc0-1.0", license_field="lic")
    assert [d.meta for d in docs] == [{"source": str(p), "row": 0, "license": "apache-2.0"},
                                      {"source": str(p), "row": 1, "license": "cc0-1.0"}]
    with pytest.raises(CurricleError, match="has no column 'licence'"):
        read(path=str(p), license_field="licence")


def invalid_strings(values: list[bytes | None]) -> pa.Array:
    """A string column holding these bytes as they are (as a file may: Arrow checks no UTF-8 it reads)."""
    raw = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers(), null_count=raw.null_count)


def test_a_value_that_is_not_utf8_skips_its_row_as_invalid_utf8(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": invalid_strings([b"r0", b"bad \xff", None, b"r3", b"r4"]),
                             "q": invalid_strings([b"a", b"b", b"c", b"\xfe", b"e"])}), p)
    docs, stats = read(path=str(p), meta_fields=["q"])
    assert [(d.text, d.meta["q"]) for d in docs] == [("r0", "a"), ("r4", "e")]
    assert dict(stats.skipped) == {"invalid-utf8": 2, "null-text": 1}
    assert stats.examples == {"invalid-utf8": [f"{p}:1", f"{p}:3"], "null-text": [f"{p}:2"]}
