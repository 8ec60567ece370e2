import re
import sys

import pyarrow as pa
import pytest

from curricle.errors import CurricleError
from curricle.sources.base import Document
from curricle.sources.hf_disk import HFDiskConfig, HFDiskSource

datasets = pytest.importorskip("datasets")


def read(**kw):
    src = HFDiskSource(HFDiskConfig(domain="hf", **kw))
    return list(src), src.stats


def test_dataset(tmp_path):
    path = str(tmp_path / "ds")
    datasets.Dataset.from_dict({"text": ["one", None, " ", "four"], "n": [1, 2, 3, 4]}).save_to_disk(path)
    docs, stats = read(path=path)
    assert docs == [
        Document(id="0", text="one", domain="hf", meta={"source": path, "row": 0}),
        Document(id="3", text="four", domain="hf", meta={"source": path, "row": 3}),
    ]
    assert stats.examples == {"null-text": [f"{path}:1"], "empty-text": [f"{path}:2"]}


def test_dataset_dict_split_and_id_field(tmp_path):
    path = str(tmp_path / "dd")
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"body": ["a", "b"], "uid": ["u1", "u2"]}),
            "validation": datasets.Dataset.from_dict({"body": ["v"], "uid": ["u9"]}),
        }
    ).save_to_disk(path)
    docs, _ = read(path=path, text_field="body", id_field="uid")
    assert [(d.id, d.text) for d in docs] == [("u1", "a"), ("u2", "b")]
    docs, _ = read(path=path, text_field="body", split="validation", max_docs=1)
    assert [(d.id, d.text) for d in docs] == [("0", "v")]
    with pytest.raises(CurricleError) as e:
        read(path=path, text_field="body", split="test")
    assert str(e.value) == f"source 'hf-disk {path}': no split 'test' (splits: train, validation)"


def test_domain_field(tmp_path):
    path = str(tmp_path / "d")
    datasets.Dataset.from_dict({"text": ["a", "b"], "lang": ["de", None]}).save_to_disk(path)
    docs, _ = read(path=path, use_record_domain=True, domain_field="lang")
    assert [(d.text, d.domain) for d in docs] == [("a", "de"), ("b", "hf")]


def test_wrong_columns(tmp_path):
    path = str(tmp_path / "ds")
    datasets.Dataset.from_dict({"text": [1, 2]}).save_to_disk(path)
    with pytest.raises(CurricleError, match="column 'text' is .*int64.*, expected a string column"):
        read(path=path)
    with pytest.raises(CurricleError) as e:
        read(path=path, text_field="body")
    assert str(e.value) == f"source 'hf-disk {path}': no column 'body' (columns: text)"


def test_missing_and_not_a_dataset(tmp_path):
    path = str(tmp_path / "nope")
    with pytest.raises(CurricleError) as e:
        read(path=path)
    assert str(e.value) == f"source 'hf-disk {path}': no such file or directory: {path}"
    with pytest.raises(CurricleError, match="is not a dataset written by save_to_disk"):
        read(path=str(tmp_path))


def test_missing_package_message(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(CurricleError) as e:
        read(path=str(tmp_path))
    assert str(e.value) == "source hf-disk needs the 'datasets' package: pip install 'curricle[hf]'"


def test_fingerprint_covers_the_saved_files(tmp_path):
    path = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": ["x"]}).save_to_disk(str(path))
    fp = HFDiskSource(HFDiskConfig(domain="hf", path=str(path))).fingerprint()
    names = [f[0] for f in fp["files"]]
    assert names == sorted(str(p) for p in path.rglob("*") if p.is_file())
    assert any(n.endswith(".arrow") for n in names)


def test_meta_fields_reach_the_documents_meta(tmp_path):
    path = str(tmp_path / "m")
    datasets.Dataset.from_dict({"text": ["a", "b"], "quality": [0.5, None], "tag": ["x", "y"]}).save_to_disk(path)
    docs, stats = read(path=path, meta_fields=["quality", "tag"])
    assert [d.meta for d in docs] == [{"source": path, "row": 0, "quality": 0.5, "tag": "x"},
                                      {"source": path, "row": 1, "quality": None, "tag": "y"}]
    assert dict(stats.missing) == {"quality": 1}
    with pytest.raises(CurricleError) as e:
        read(path=path, meta_fields=["toxicity"])
    assert str(e.value) == f"source 'hf-disk {path}': no column 'toxicity' (columns: text, quality, tag)"


def test_license_field_and_source_license(tmp_path):
    path = str(tmp_path / "l")
    datasets.Dataset.from_dict({"text": ["a", "b"], "lic": ["mit", None]}).save_to_disk(path)
    docs, _ = read(path=path, license="cc-by-4.0", license_field="lic")
    assert [d.meta["license"] for d in docs] == ["mit", "cc-by-4.0"]


def invalid_strings(values: list[bytes | None]) -> pa.Array:
    """A string column holding these bytes as they are (Arrow checks no UTF-8 a saved file holds)."""
    raw = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers(), null_count=raw.null_count)


def test_a_value_that_is_not_utf8_skips_its_row_as_invalid_utf8(tmp_path):
    # As the Parquet source: the row is skipped and counted, the rows around it are read.
    path = str(tmp_path / "u")
    datasets.Dataset(pa.table({"text": invalid_strings([b"r0", b"bad \xff", None, b"r3", b"r4"]),
                               "q": invalid_strings([b"a", b"b", b"c", b"\xfe", b"e"])})).save_to_disk(path)
    docs, stats = read(path=path, meta_fields=["q"])
    assert [(d.id, d.text, d.meta["q"]) for d in docs] == [("0", "r0", "a"), ("4", "r4", "e")]
    assert dict(stats.skipped) == {"invalid-utf8": 2, "null-text": 1}
    assert stats.examples == {"invalid-utf8": [f"{path}:1", f"{path}:3"], "null-text": [f"{path}:2"]}


def test_a_corrupt_or_truncated_dataset_is_a_one_line_error(tmp_path):
    path = tmp_path / "c"
    datasets.Dataset.from_dict({"text": ["some text"] * 1000}).save_to_disk(str(path))
    (arrow,) = path.glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    with pytest.raises(CurricleError, match=rf"^source 'hf-disk {re.escape(str(path))}': {re.escape(str(path))}: "
                                            rf"a corrupt or truncated dataset \([^\n]+\)$"):
        read(path=str(path))
    arrow.write_bytes(b"not an arrow stream")
    with pytest.raises(CurricleError, match="a corrupt or truncated dataset"):
        read(path=str(path))
    (path / "state.json").write_text("{not json")
    with pytest.raises(CurricleError, match=r"a corrupt or truncated dataset \(Expecting property name"):
        read(path=str(path))
