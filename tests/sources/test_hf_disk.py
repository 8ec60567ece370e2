import sys

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
