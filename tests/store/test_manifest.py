"""The token store's manifest: one module writes and reads it, byte for byte as before."""

import json

import pytest

from curricle import atomic
from curricle.errors import CurricleError
from curricle.store import TokenStore
from curricle.store.manifest import (FORMAT_VERSION, MANIFEST_FILE, DomainEntry, GroupEntry, Manifest, SplitCounts,
                                     TokenizerEntry, read_manifest, write_manifest)

#: A manifest as ``curricle prepare`` wrote it before the schema had a module: a dict, written
#: with ``atomic.write_json``.
PREPARED = {
    "format": 1,
    "tokenizer": {"fingerprint": "f" * 64, "dir": "tokenizer-ffffffffffffffff", "kind": "bpe",
                  "vocab_size": 300, "eos_id": 0},
    "dtype": "uint16",
    "eos_id": 0,
    "vocab_size": 300,
    "domains": {
        "code": {"dir": "store/code-0123456789abcdef", "group": "code",
                 "train": {"docs": 36, "tokens": 1200}, "heldout": {"docs": 4, "tokens": 130}},
        "prose": {"dir": "store/prose-fedcba9876543210", "group": "prose",
                  "train": {"docs": 27, "tokens": 540}, "heldout": {"docs": 3, "tokens": 60}},
    },
    "groups": {"code": {"fingerprint": "c" * 64, "domains": ["code"]},
               "prose": {"fingerprint": "d" * 64, "domains": ["prose"]}},
    "sources": {"jsonl b.jsonl": {"name": "jsonl b.jsonl", "read": 40, "skipped": {}, "examples": {}},
                "jsonl a.jsonl": {"name": "jsonl a.jsonl", "read": 30, "skipped": {"not-json": 1},
                                  "examples": {"not-json": ["a.jsonl:31"]}}},
}


def test_a_prepared_manifest_reads_and_writes_back_the_same_bytes(tmp_path):
    atomic.write_json(tmp_path / "old" / MANIFEST_FILE, PREPARED)
    m = read_manifest(tmp_path / "old")
    assert m.format == FORMAT_VERSION and (m.dtype, m.eos_id, m.vocab_size) == ("uint16", 0, 300)
    assert m.tokenizer == TokenizerEntry(dir="tokenizer-ffffffffffffffff", fingerprint="f" * 64, kind="bpe",
                                         vocab_size=300, eos_id=0)
    assert m.domains["code"] == DomainEntry("store/code-0123456789abcdef", "code", SplitCounts(36, 1200),
                                            SplitCounts(4, 130))
    assert m.domains["prose"].split("heldout") == SplitCounts(3, 60)
    assert m.groups["prose"] == GroupEntry("d" * 64, ["prose"])
    assert m.sources == PREPARED["sources"]
    write_manifest(tmp_path / "new", m)
    assert (tmp_path / "new" / MANIFEST_FILE).read_bytes() == (tmp_path / "old" / MANIFEST_FILE).read_bytes()


def test_a_hand_built_manifest_names_only_what_it_has(tmp_path):
    m = Manifest(dtype="uint32", eos_id=7, vocab_size=70_000, tokenizer=TokenizerEntry(dir="none"))
    m.domains["d"] = DomainEntry("store/d", "d", SplitCounts(2, 10), SplitCounts(1, 4))
    write_manifest(tmp_path, m)
    assert json.loads((tmp_path / MANIFEST_FILE).read_text()) == {
        "format": 1, "dtype": "uint32", "eos_id": 7, "vocab_size": 70_000, "tokenizer": {"dir": "none"},
        "domains": {"d": {"dir": "store/d", "group": "d", "train": {"docs": 2, "tokens": 10},
                          "heldout": {"docs": 1, "tokens": 4}}},
        "groups": {}, "sources": {}}
    assert read_manifest(tmp_path) == m
    store = TokenStore(tmp_path)
    assert store.domains == ["d"] and store.natural_tokens("heldout") == {"d": 4} and store.eos_id == 7


def _drop(*keys):
    def change(m):
        for k in keys[:-1]:
            m = m[k]
        m.pop(keys[-1])
    return change


@pytest.mark.parametrize("change, message", [
    (_drop("dtype"), "no key 'dtype' in the manifest; rerun 'curricle prepare'"),
    (_drop("domains", "code", "heldout"), "no key 'heldout' in the manifest"),
    (_drop("tokenizer", "dir"), "not a token store manifest"),
    (lambda m: m["tokenizer"].update(colour="blue"), "not a token store manifest"),
    (lambda m: m.update(format=2), "store format 2 is not 1; rerun 'curricle prepare'"),
    (lambda m: m.update(domains=[]), "not a token store manifest"),
])
def test_a_broken_manifest_is_a_one_line_error(tmp_path, change, message):
    m = json.loads(json.dumps(PREPARED))
    change(m)
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(CurricleError, match=message) as e:
        TokenStore(tmp_path)
    assert str(e.value).startswith(str(tmp_path / MANIFEST_FILE)) and "\n" not in str(e.value)


def test_no_manifest_or_not_json(tmp_path):
    with pytest.raises(CurricleError, match="not a prepared data directory"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_FILE).write_text("{")
    with pytest.raises(CurricleError, match="not valid JSON"):
        read_manifest(tmp_path)
