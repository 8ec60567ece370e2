"""Snapshot ids of token stores: what they hash, and what changes them."""

import gzip
import hashlib
import json

import pytest

from curricle.config import parse_config
from curricle.prepare.command import prepare_run
from curricle.store import TokenStore
from curricle.store.snapshot import (SNAPSHOT_FILE, canonical, file_sha256, ids_sha256, read_snapshot, snapshot_of,
                                     unit_digest)
from tests.conftest import write_store

DOCS = [f"document number {i} of the snapshot test, with a few words." for i in range(24)]


def write_jsonl(path, texts, ids=None):
    ids = ids or [f"d{i}" for i in range(len(texts))]
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts)))
    return path


def config(root, data_dir, vocab_size=300):
    return parse_config({
        "data_dir": str(data_dir),
        "sources": [{"kind": "jsonl", "path": str(root / "a.jsonl"), "domain": "prose"}],
        "tokenizer": {"vocab_size": vocab_size},
        "prepare": {"heldout_fraction": 0.2},
    })


def prepared(root, name, vocab_size=300):
    prepare_run(config(root, root / name, vocab_size), progress=False)
    return TokenStore(root / name)


def test_the_id_hashes_literal_pieces_as_documented(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"abc")
    with gzip.open(tmp_path / "y.jsonl.gz", "wb") as f:
        f.write(b"abc")
    assert file_sha256(tmp_path / "x.bin") == hashlib.sha256(b"abc").hexdigest()
    assert file_sha256(tmp_path / "y.jsonl.gz") == hashlib.sha256(b"abc").hexdigest()  # decompressed
    assert ids_sha256(["b", "a"]) == ids_sha256(["a", "b"]) == hashlib.sha256(b'"a"\n"b"\n').hexdigest()
    assert ids_sha256([1]) != ids_sha256(["1"])
    snap = snapshot_of({"u": {"x": tmp_path / "x.bin"}}, {"u": ["b", "a"]}, {"k": 1})
    manifest = {"format": 1, "curricle": "0.1.0", "config": {"k": 1}, "tokenizer": None,
                "units": {"u": {"files": {"x": hashlib.sha256(b"abc").hexdigest()}, "docs": 2,
                                "doc_ids": ids_sha256(["a", "b"])}}}
    assert snap["manifest"] == manifest
    assert snap["id"] == hashlib.sha256(canonical(manifest)).hexdigest()
    assert unit_digest(snap, "u") == hashlib.sha256(canonical(manifest["units"]["u"])).hexdigest()[:16]


def test_two_prepares_of_one_config_into_two_directories_have_one_id(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", DOCS)
    a, b = prepared(tmp_path, "one"), prepared(tmp_path, "two")
    assert a.snapshot_id == b.snapshot_id
    snap = read_snapshot(tmp_path / "one")
    assert snap["id"] == a.snapshot_id
    assert sorted(snap["manifest"]["units"]) == ["prose/heldout", "prose/train"]
    units = snap["manifest"]["units"]
    assert units["prose/train"]["docs"] + units["prose/heldout"]["docs"] == 24
    assert snap["manifest"]["config"]["prepare"]["heldout_fraction"] == 0.2
    assert "workers" not in snap["manifest"]["config"]["prepare"]  # how the work runs is not hashed


def test_a_rerun_that_rewrites_nothing_keeps_snapshot_json_byte_for_byte(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "a.jsonl", DOCS)
    prepared(tmp_path, "data")
    before = (tmp_path / "data" / SNAPSHOT_FILE).read_bytes()
    import curricle.store.snapshot as snapshot_mod

    hash_file = snapshot_mod.file_sha256

    def only_the_tokenizer(path):  # the store's files come from the cache (the tokenizer's few are read)
        assert "tokenizer-" in str(path), f"{path} was hashed again"
        return hash_file(path)

    monkeypatch.setattr(snapshot_mod, "file_sha256", only_the_tokenizer)
    report = prepare_run(config(tmp_path, tmp_path / "data"), progress=False)
    assert not report.did_work
    assert (tmp_path / "data" / SNAPSHOT_FILE).read_bytes() == before


@pytest.mark.parametrize("change", ["one document", "a removed document", "the tokenizer"])
def test_the_id_changes_with_the_data(tmp_path, change):
    write_jsonl(tmp_path / "a.jsonl", DOCS)
    old = prepared(tmp_path, "old").snapshot_id
    vocab = 300
    if change == "one document":
        write_jsonl(tmp_path / "a.jsonl", DOCS[:5] + ["a changed document"] + DOCS[6:])
    elif change == "a removed document":
        write_jsonl(tmp_path / "a.jsonl", DOCS[:5] + DOCS[6:], ids=[f"d{i}" for i in range(24) if i != 5])
    else:
        vocab = 290
    assert prepared(tmp_path, "new", vocab).snapshot_id != old


def test_a_store_without_snapshot_json_gets_its_id_from_its_files(tmp_path):
    docs = {"a": [[1, 2, 3], [4, 5]], "b": [[6]]}
    one = TokenStore(write_store(tmp_path / "one", docs))
    two = TokenStore(write_store(tmp_path / "two", docs))
    assert not (tmp_path / "one" / SNAPSHOT_FILE).exists()  # computed, never written
    assert one.snapshot_id == two.snapshot_id
    assert one.snapshot["manifest"]["config"] is None
    assert one.snapshot["manifest"]["units"]["a/train"]["docs"] == 2
    assert one.snapshot["manifest"]["units"]["a/train"]["doc_ids"] == ids_sha256(["a-0", "a-1"])
    changed = TokenStore(write_store(tmp_path / "three", {"a": [[1, 2, 3], [4, 6]], "b": [[6]]}))
    assert changed.snapshot_id != one.snapshot_id
    assert unit_digest(changed.snapshot, "b/train") == unit_digest(one.snapshot, "b/train")
    assert unit_digest(changed.snapshot, "a/train") != unit_digest(one.snapshot, "a/train")


def test_a_snapshot_json_of_another_manifest_is_not_believed(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", DOCS)
    store = prepared(tmp_path, "data")
    written = store.snapshot_id
    manifest = tmp_path / "data" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"format": 1', '"format": 1 '))  # as if another commit
    recomputed = TokenStore(tmp_path / "data").snapshot
    assert recomputed["manifest"]["config"] is None  # from the files: not the snapshot.json
    assert recomputed["id"] != written
