import gzip

import zstandard

import pytest
from pydantic import ValidationError

from curricle.errors import CurricleError
from curricle.sources.base import Document
from curricle.sources.jsonl import JsonlConfig, JsonlSource


def read(**kw):
    src = JsonlSource(JsonlConfig(domain="web", **kw))
    return list(src), src.stats


MIXED = (
    b'{"text": "alpha", "id": 7}\n'  # 1 ok, id from the record
    b"not json\n"  # 2
    b"[1, 2]\n"  # 3
    b'{"body": "x"}\n'  # 4
    b'{"text": 5}\n'  # 5
    b'{"text": "   "}\n'  # 6
    b'{"text": "caf\xe9"}\n'  # 7 latin-1, not UTF-8
    b"\n"  # 8 blank: not a record, not counted
    b'{"text": "beta", "domain": "news"}\n'  # 9 ok, id from file:line
)


def test_reads_good_records_and_counts_each_bad_line(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(MIXED)
    docs, stats = read(path=str(p))
    assert docs == [
        Document(id="7", text="alpha", domain="web", meta={"source": str(p), "line": 1}),
        Document(id="a.jsonl:9", text="beta", domain="web", meta={"source": str(p), "line": 9}),
    ]
    assert stats.read == 2
    assert dict(stats.skipped) == {
        "not-json": 1,
        "not-object": 1,
        "missing-text": 2,
        "empty-text": 1,
        "invalid-utf8": 1,
    }
    assert stats.examples == {
        "not-json": [f"{p}:2"],
        "not-object": [f"{p}:3"],
        "missing-text": [f"{p}:4", f"{p}:5"],
        "empty-text": [f"{p}:6"],
        "invalid-utf8": [f"{p}:7"],
    }


def test_record_domain_only_when_asked(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "x", "domain": "news"}\n{"text": "y"}\n{"text": "z", "domain": 3}\n')
    docs, stats = read(path=str(p))
    assert [d.domain for d in docs] == ["web", "web", "web"]
    docs, stats = read(path=str(p), use_record_domain=True)
    assert [(d.text, d.domain) for d in docs] == [("x", "news"), ("y", "web")]
    assert dict(stats.skipped) == {"bad-domain": 1}
    assert stats.examples == {"bad-domain": [f"{p}:3"]}


def test_glob_reads_files_in_path_order_with_ids_relative_to_the_glob_root(tmp_path):
    for sub, text in [("y", "second"), ("x", "first")]:
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "a.jsonl").write_text(f'{{"text": "{text}"}}\n')
    (tmp_path / "x" / "notes.txt").write_text("ignored")
    docs, _ = read(path=str(tmp_path / "**" / "*.jsonl"))
    assert [(d.id, d.text) for d in docs] == [("x/a.jsonl:1", "first"), ("y/a.jsonl:1", "second")]


def test_gzip_and_custom_text_field_and_bom(tmp_path):
    p = tmp_path / "b.jsonl.gz"
    with gzip.open(p, "wb") as f:
        f.write('\ufeff{"content": "één"}\n{"content": "two", "id": "k"}\n'.encode())
    docs, stats = read(path=str(p), text_field="content")
    assert [(d.id, d.text) for d in docs] == [("b.jsonl.gz:1", "één"), ("k", "two")]
    assert stats.total_skipped == 0


def test_corrupt_gzip_is_one_line_error(tmp_path):
    p = tmp_path / "c.jsonl.gz"
    p.write_bytes(b"not gzip at all\n")
    with pytest.raises(CurricleError, match=r"c\.jsonl\.gz: corrupt gzip file"):
        read(path=str(p))


def test_a_gzip_file_whose_compressed_data_is_corrupt_is_one_line_error(tmp_path):
    # A valid gzip header over damaged deflate data: zlib, not gzip, raises.
    data = gzip.compress(b'{"text": "one two three"}\n' * 200, mtime=0)
    p = tmp_path / "c.jsonl.gz"
    p.write_bytes(data[:10] + b"\xff" * 8 + data[18:])
    with pytest.raises(CurricleError) as err:
        read(path=str(p))
    assert str(err.value) == (f"source 'jsonl {p}': {p}: corrupt gzip file "
                              f"(Error -3 while decompressing data: invalid block type)")


def test_a_lone_surrogate_in_text_or_a_meta_field_is_skipped_as_invalid_utf8(tmp_path):
    # Valid UTF-8 bytes and valid JSON, but "\ud800" decodes to a lone surrogate, which no
    # tokenizer or Arrow column takes.
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "fine", "q": "a"}\n'
                  b'{"text": "bad \\ud800 x", "q": "b"}\n'
                  b'{"text": "ok", "q": "m\\udc00"}\n'
                  b'{"text": "pair \\ud83d\\ude00", "q": 1}\n'  # a surrogate pair is one character
                  b'{"text": "id", "id": "k\\ud800"}\n')
    docs, stats = read(path=str(p), meta_fields=["q"])
    assert [(d.id, d.text, d.meta["q"]) for d in docs] == [("a.jsonl:1", "fine", "a"),
                                                            ("a.jsonl:4", "pair \U0001f600", 1)]
    assert stats.read == 2 and dict(stats.skipped) == {"invalid-utf8": 3}
    assert stats.examples == {"invalid-utf8": [f"{p}:2", f"{p}:3", f"{p}:5"]}
    # Without meta_fields, a surrogate in a field the store never holds is no reason to skip.
    docs, stats = read(path=str(p))
    assert [d.text for d in docs] == ["fine", "ok", "pair \U0001f600"]
    assert stats.examples == {"invalid-utf8": [f"{p}:2", f"{p}:5"]}


def test_zstd_is_read_and_a_corrupt_one_is_one_line_error(tmp_path):
    p = tmp_path / "c.jsonl.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(b'{"text": "one"}\n{"text": "two"}\n' * 3000))
    docs, stats = read(path=str(p))
    assert [d.text for d in docs[:3]] == ["one", "two", "one"] and len(docs) == 6000
    assert docs[-1].id == "c.jsonl.zst:6000" and stats.read == 6000
    bad = tmp_path / "d.jsonl.zst"
    bad.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 16)
    with pytest.raises(CurricleError, match=r"d\.jsonl\.zst: corrupt zstd file"):
        read(path=str(bad))


def test_id_and_domain_fields_are_configurable(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"body": "alpha", "uid": 3, "src": "news"}\n{"body": "beta", "id": 9, "src": null}\n'
                 '{"body": "gamma", "src": 4}\n')
    docs, stats = read(path=str(p), text_field="body", id_field="uid", use_record_domain=True, domain_field="src")
    assert [(d.id, d.text, d.domain) for d in docs] == [("3", "alpha", "news"), ("a.jsonl:2", "beta", "web")]
    assert dict(stats.skipped) == {"bad-domain": 1}


def test_max_docs(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("".join(f'{{"text": "t{i}"}}\n' for i in range(10)))
    docs, stats = read(path=str(p), max_docs=3)
    assert [d.text for d in docs] == ["t0", "t1", "t2"]
    assert stats.read == 3


@pytest.mark.parametrize("name", ["missing.jsonl", "*.jsonl"])
def test_missing_path_is_one_line_error(tmp_path, name):
    path = str(tmp_path / name)
    src = JsonlSource(JsonlConfig(domain="web", path=path))
    with pytest.raises(CurricleError) as e:
        list(src)
    assert str(e.value) == f"source 'jsonl {path}': no such file or directory: {path}"


def test_nothing_usable_raises(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("nope\n")
    with pytest.raises(CurricleError, match=r"yielded no documents \(1 skipped: \{'not-json': 1\}\)"):
        read(path=str(p))


def test_fingerprint_tracks_file_changes(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "a"}\n')
    src = JsonlSource(JsonlConfig(domain="web", path=str(p)))
    fp = src.fingerprint()
    assert fp["path"] == str(p) and fp["kind"] == "jsonl"
    assert fp["files"] == [[str(p), p.stat().st_size, p.stat().st_mtime_ns]]
    p.write_text('{"text": "ab"}\n')
    assert src.fingerprint() != fp


def test_describe_and_config():
    cfg = JsonlConfig(domain="web", path="data/*.jsonl")
    assert cfg.kind == "jsonl"
    assert JsonlSource(cfg).describe() == "jsonl data/*.jsonl"
    with pytest.raises(ValidationError):
        JsonlConfig(domain="web", path="x.jsonl", textfield="t")


def test_directory_path_gets_a_hint(tmp_path):
    with pytest.raises(CurricleError, match=r"no such file or directory: .* \(a directory: give a glob"):
        read(path=str(tmp_path))


def test_license_of_the_source_and_of_each_record(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"id": 1, "text": "a", "lic": "MIT"}\n{"id": 2, "text": "b"}\n{"id": 3, "text": "c", "lic": null}\n'
                 '{"id": 4, "text": "d", "lic": " "}\n')
    docs, _ = read(path=str(p), license="cc-by-4.0", license_field="lic")
    assert [d.meta.get("license") for d in docs] == ["MIT", "cc-by-4.0", "cc-by-4.0", "cc-by-4.0"]
    docs, _ = read(path=str(p), license_field="lic")  # no source licence: only records that name one
    assert [d.meta.get("license") for d in docs] == ["MIT", None, None, None]
    docs, _ = read(path=str(p))
    assert all("license" not in d.meta for d in docs)  # nothing said, nothing added
    p.write_text('{"id": 1, "text": "a", "lic": ["MIT"]}\n')
    with pytest.raises(CurricleError, match=rf"^source 'jsonl {p}': {p}:1: license field 'lic' is a list; "
                                            r"expected a string$"):
        read(path=str(p), license_field="lic")
