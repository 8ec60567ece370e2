import json
import logging
import shutil

import numpy as np
import pytest

from curricle.prepare import pipeline as prepare_mod
from curricle.config import parse_config
from curricle.errors import CurricleError
from curricle.prepare.command import prepare_run
from curricle.store import TokenStore

A_DOCS = [f"alpha document number {i} says hello to the world of tokens." for i in range(30)]
B_DOCS = [f"def f{i}(x):\n    return x * {i} + {i * 7}\n" for i in range(40)]


def write_jsonl(path, texts, bad_lines=()):
    lines = [json.dumps({"text": t, "id": f"{path.stem}-{i}"}) for i, t in enumerate(texts)]
    lines.extend(bad_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def corpus(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", A_DOCS)
    write_jsonl(tmp_path / "b.jsonl", B_DOCS)
    return tmp_path


def config(root, **kw):
    data = {
        "data_dir": str(root / "data"),
        "sources": [{"kind": "jsonl", "path": str(root / "a.jsonl"), "domain": "prose"},
                    {"kind": "jsonl", "path": str(root / "b.jsonl"), "domain": "code"}],
        "tokenizer": {"vocab_size": 300},
        "prepare": {"heldout_fraction": 0.1},
    }
    data.update(kw)
    return parse_config(data)


def test_prepare_writes_a_store_that_round_trips(corpus):
    report = prepare_run(config(corpus), progress=False)
    assert report.tokenizer_trained and report.did_work
    store = TokenStore(corpus / "data")
    assert store.domains == ["code", "prose"]
    assert store.dtype == np.uint16 and store.vocab_size == 300
    tok = store.load_tokenizer()
    for domain, texts in (("prose", A_DOCS), ("code", B_DOCS)):
        train, held = store.split(domain, "train"), store.split(domain, "heldout")
        assert train.n_docs + held.n_docs == len(texts)
        assert held.n_docs >= 1
        decoded = sorted(tok.decode(s.document(i).tolist()) for s in (train, held) for i in range(s.n_docs))
        assert decoded == sorted(texts)
        # Every document ends with EOS in the token array.
        assert np.all(train.tokens[train.index[1:] - 1] == store.eos_id)
        meta = train.meta()
        assert meta.column_names == ["doc_id", "source", "n_tokens", "n_chars", "compression_ratio", "mean_token_rarity"]
        assert meta.column("n_tokens").to_pylist() == (train.doc_lengths - 1).tolist()
        assert all(0 < r < 2 for r in meta.column("compression_ratio").to_pylist())
    assert sum(d.train_docs + d.heldout_docs for d in report.domains) == 70
    # The saved tokenizer loads with transformers' AutoTokenizer.
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(store.tokenizer_dir))
    assert auto.eos_token == "<|endoftext|>" and auto.eos_token_id == store.eos_id


def test_rerun_with_same_inputs_does_no_work(corpus):
    prepare_run(config(corpus), progress=False)
    before = {p: p.stat().st_mtime_ns for p in (corpus / "data").rglob("*") if p.is_file()}
    report = prepare_run(config(corpus), progress=False)
    assert not report.did_work and all(d.up_to_date for d in report.domains)
    after = {p: p.stat().st_mtime_ns for p in (corpus / "data").rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert after == {p: t for p, t in before.items() if p.name != "manifest.json"}


def test_changed_source_rewrites_only_its_domain(corpus):
    import shutil

    prepare_run(config(corpus), progress=False)
    tok_dir = shutil.copytree(TokenStore(corpus / "data").tokenizer_dir, corpus / "my-tokenizer")
    # With a fixed (pretrained) tokenizer, a changed source only touches its own domain.
    cfg2 = config(corpus, tokenizer={"kind": "pretrained", "path": str(tok_dir)})
    prepare_run(cfg2, progress=False)
    write_jsonl(corpus / "b.jsonl", B_DOCS + ["def extra():\n    pass\n"])
    report = prepare_run(cfg2, progress=False)
    status = {d.domain: d.up_to_date for d in report.domains}
    assert status == {"code": False, "prose": True}
    store = TokenStore(corpus / "data")
    assert store.split("code").n_docs + store.split("code", "heldout").n_docs == 41


def test_with_the_default_bpe_tokenizer_a_changed_source_rewrites_every_domain(corpus):
    # The BPE is trained on a sample of every source: a changed one retrains it, and every
    # domain is written again with the new tokenizer (the README says so).
    first = prepare_run(config(corpus), progress=False)
    old_dirs = {d: TokenStore(corpus / "data").split(d).path.parent.name for d in ("code", "prose")}
    write_jsonl(corpus / "b.jsonl", B_DOCS + ["def extra():\n    pass\n"])
    report = prepare_run(config(corpus), progress=False)
    assert first.tokenizer_trained and report.tokenizer_trained
    assert {d.domain: d.up_to_date for d in report.domains} == {"code": False, "prose": False}
    new_dirs = {d: TokenStore(corpus / "data").split(d).path.parent.name for d in ("code", "prose")}
    assert all(new_dirs[d] != old_dirs[d] for d in new_dirs)


def ids_by_split(root, domain):
    store = TokenStore(root)
    return {split: set(store.split(domain, split).meta().column("doc_id").to_pylist())
            for split in ("train", "heldout")}


def test_a_split_is_stable_under_additions_only_where_the_hash_alone_meets_min_heldout_docs(corpus):
    # Hashes (pipeline._heldout_u) of these ids, against heldout_fraction 0.1: prose d7 0.197,
    # d2 0.262, its other d* >= 0.35, n16 0.027; code c27 0.020, c19 0.023, c26 0.078, its
    # other c* >= 0.15, x14 0.011.
    def run(prose_ids, code_ids):
        for name, ids in (("p", prose_ids), ("c", code_ids)):
            (corpus / f"{name}.jsonl").write_text("".join(json.dumps({"id": i, "text": f"text of {i}"}) + "\n"
                                                          for i in ids))
        sources = [{"kind": "jsonl", "path": str(corpus / "p.jsonl"), "domain": "prose"},
                   {"kind": "jsonl", "path": str(corpus / "c.jsonl"), "domain": "code"}]
        prepare_run(config(corpus, sources=sources, prepare={"heldout_fraction": 0.1, "min_heldout_docs": 2}),
                    progress=False)
        return ids_by_split(corpus / "data", "prose"), ids_by_split(corpus / "data", "code")

    prose_ids, code_ids = [f"d{i}" for i in range(8)], [f"c{i}" for i in range(30)]
    prose, code = run(prose_ids, code_ids)
    assert prose["heldout"] == {"d7", "d2"}  # no hash under 0.1: the two lowest make up the minimum
    assert code["heldout"] == {"c27", "c19", "c26"}  # the hash alone holds out more than the minimum
    prose, code = run(prose_ids + ["n16"], code_ids + ["x14"])
    # prose is below the minimum: n16 is held out by its hash and d2, no longer among the two
    # lowest, moves to train. code is above it: every document keeps its split.
    assert prose == {"heldout": {"n16", "d7"}, "train": set(prose_ids) - {"d7"}}
    assert code == {"heldout": {"c27", "c19", "c26", "x14"}, "train": set(code_ids) - {"c27", "c19", "c26"}}


def test_bad_jsonl_lines_are_skipped_and_counted_with_file_and_line(corpus, caplog):
    write_jsonl(corpus / "a.jsonl", A_DOCS[:5], bad_lines=["{not json", json.dumps({"txt": "no text"})])
    with caplog.at_level(logging.WARNING):
        report = prepare_run(config(corpus), progress=False)
    skipped = report.skipped[f"jsonl {corpus / 'a.jsonl'}"]
    assert skipped == {"not-json": 1, "missing-text": 1}
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "a.jsonl:6: not json, skipped" in messages and "a.jsonl:7: missing text, skipped" in messages


def test_a_lone_surrogate_is_skipped_as_invalid_utf8_with_either_tokenizer(corpus):
    # "\ud800" is valid JSON and decodes to a string no tokenizer takes (BPE training raised
    # UnicodeEncodeError, a pretrained tokenizer TypeError).
    bad = ['{"text": "bad \\ud800 surrogate", "id": "s1"}', '{"text": "fine", "id": "s2", "q": "x\\udc00"}']
    write_jsonl(corpus / "a.jsonl", A_DOCS, bad_lines=bad)
    sources = [{"kind": "jsonl", "path": str(corpus / "a.jsonl"), "domain": "prose", "meta_fields": ["q"]},
               {"kind": "jsonl", "path": str(corpus / "b.jsonl"), "domain": "code"}]
    report = prepare_run(config(corpus, sources=sources), progress=False)
    assert report.skipped[f"jsonl {corpus / 'a.jsonl'}"] == {"invalid-utf8": 2}
    store = TokenStore(corpus / "data")
    assert store.split("prose").n_docs + store.split("prose", "heldout").n_docs == 30
    tok_dir = shutil.copytree(store.tokenizer_dir, corpus / "my-tokenizer")
    pretrained = config(corpus, sources=sources, data_dir=str(corpus / "data2"),
                        tokenizer={"kind": "pretrained", "path": str(tok_dir)})
    report = prepare_run(pretrained, progress=False)
    assert report.skipped[f"jsonl {corpus / 'a.jsonl'}"] == {"invalid-utf8": 2}
    manifest = json.loads((corpus / "data2" / "manifest.json").read_text())
    assert manifest["sources"][f"jsonl {corpus / 'a.jsonl'}"]["examples"] == {
        "invalid-utf8": [f"{corpus / 'a.jsonl'}:31", f"{corpus / 'a.jsonl'}:32"]}


def test_one_file_read_as_two_domains_keeps_each_sources_skip_counts(corpus):
    # Both sources describe themselves as "jsonl .../x.jsonl": each is keyed with its domain,
    # in the report and the manifest, on a first run and a rerun that reuses the store.
    path = corpus / "x.jsonl"
    records = [{"title": f"title {i}", "body": f"body of document {i}"} for i in range(6)]
    records[1]["title"] = ""  # title: one empty-text
    del records[2]["body"], records[3]["body"]  # body: two missing-text
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    sources = [{"kind": "jsonl", "path": str(path), "domain": "body", "text_field": "body"},
               {"kind": "jsonl", "path": str(path), "domain": "title", "text_field": "title"},
               {"kind": "jsonl", "path": str(corpus / "a.jsonl"), "domain": "prose"}]
    cfg = config(corpus, sources=sources)
    body, title, prose = f"jsonl {path} [body]", f"jsonl {path} [title]", f"jsonl {corpus / 'a.jsonl'}"
    report = prepare_run(cfg, progress=False)
    assert report.skipped == {body: {"missing-text": 2}, title: {"empty-text": 1}, prose: {}}
    manifest = json.loads((corpus / "data" / "manifest.json").read_text())["sources"]
    assert {k: (v["name"], v["read"], v["skipped"]) for k, v in manifest.items()} == {
        body: (f"jsonl {path}", 4, {"missing-text": 2}), title: (f"jsonl {path}", 5, {"empty-text": 1}),
        prose: (prose, 30, {})}
    assert not prepare_run(cfg, progress=False).did_work
    assert json.loads((corpus / "data" / "manifest.json").read_text())["sources"] == manifest
    # The same file and domain twice (another text field): their place in the config tells them apart.
    twice = [{**sources[0], "domain": "both"}, {**sources[1], "domain": "both"}]
    report = prepare_run(config(corpus, sources=twice), progress=False)
    assert report.skipped == {f"jsonl {path} [both] [sources.0]": {"missing-text": 2},
                              f"jsonl {path} [both] [sources.1]": {"empty-text": 1}}


def test_empty_or_missing_source_fails_and_leaves_the_previous_store(corpus):
    prepare_run(config(corpus), progress=False)
    manifest = (corpus / "data" / "manifest.json").read_text()
    (corpus / "b.jsonl").write_text(json.dumps({"text": ""}) + "\n")
    with pytest.raises(CurricleError, match="yielded no documents"):
        prepare_run(config(corpus), progress=False)
    assert (corpus / "data" / "manifest.json").read_text() == manifest
    (corpus / "b.jsonl").unlink()
    with pytest.raises(CurricleError, match="no such file or directory"):
        prepare_run(config(corpus), progress=False)
    assert TokenStore(corpus / "data").split("code").n_docs > 0


def test_a_crash_while_writing_leaves_the_previous_store_intact(corpus, monkeypatch):
    prepare_run(config(corpus), progress=False)
    manifest = (corpus / "data" / "manifest.json").read_text()
    write_jsonl(corpus / "a.jsonl", A_DOCS + ["one more document"])
    real = prepare_mod._write_domain
    calls = []

    def crash_on_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if killed mid-write
        return real(*args, **kw)

    monkeypatch.setattr(prepare_mod, "_write_domain", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        prepare_run(config(corpus), progress=False)
    assert (corpus / "data" / "manifest.json").read_text() == manifest
    store = TokenStore(corpus / "data")
    assert store.split("prose").n_docs + store.split("prose", "heldout").n_docs == 30
    assert not list((corpus / "data").rglob("*.tmp"))
    monkeypatch.setattr(prepare_mod, "_write_domain", real)
    prepare_run(config(corpus), progress=False)
    store = TokenStore(corpus / "data")
    assert store.split("prose").n_docs + store.split("prose", "heldout").n_docs == 31


def test_uint32_tokens_for_large_vocabularies():
    from curricle.store.tokenizer import token_dtype

    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32


def test_store_errors_are_one_line(tmp_path):
    with pytest.raises(CurricleError, match="not a prepared data directory"):
        TokenStore(tmp_path)


def test_worker_processes_write_the_same_store(corpus):
    """Encoding over two worker processes (small batches, many in flight) writes the very
    bytes that encoding in this process does, and reusing the store ignores the worker count."""
    local = prepare_run(config(corpus, data_dir=str(corpus / "local"), prepare={"heldout_fraction": 0.1, "workers": 0,
                                                                                 "encode_batch_docs": 3}),
                        progress=False)
    pooled_cfg = config(corpus, data_dir=str(corpus / "pooled"),
                        prepare={"heldout_fraction": 0.1, "workers": 2, "encode_batch_docs": 3})
    pooled = prepare_run(pooled_cfg, progress=False)
    for d in ("prose", "code"):
        a, b = TokenStore(corpus / "local").split(d), TokenStore(corpus / "pooled").split(d)
        assert (a.path / "tokens.bin").read_bytes() == (b.path / "tokens.bin").read_bytes()
        assert a.meta().to_pylist() == b.meta().to_pylist()
    assert [(r.domain, r.train_docs, r.heldout_docs) for r in local.domains] == \
           [(r.domain, r.train_docs, r.heldout_docs) for r in pooled.domains]
    again = prepare_run(pooled_cfg.model_copy(update={"prepare": pooled_cfg.prepare.model_copy(update={"workers": 1})}),
                        progress=False)
    assert not again.did_work


def test_rarity_counts_only_the_train_documents_whatever_the_read_blocks(corpus, monkeypatch):
    monkeypatch.setattr(prepare_mod, "_BLOCK_TOKENS", 40)  # many small blocks, held-out documents between
    prepare_run(config(corpus, prepare={"heldout_fraction": 0.3}), progress=False)
    store = TokenStore(corpus / "data")
    for d in ("prose", "code"):
        train = store.split(d)
        counts = np.bincount(np.concatenate([train.document(i) for i in range(train.n_docs)]).astype(np.int64),
                             minlength=store.vocab_size).astype(np.float64)
        surprisal = -np.log((counts + 1.0) / (counts.sum() + store.vocab_size))
        for split in (train, store.split(d, "heldout")):
            want = [float(surprisal[split.document(i)].mean()) for i in range(split.n_docs)]
            assert split.column("mean_token_rarity").tolist() == want
        assert store.split(d, "heldout").n_docs > 0


def test_up_to_date_says_whether_prepare_has_work_without_reading_documents(corpus):
    from curricle.prepare.command import run_sources
    from curricle.prepare.pipeline import up_to_date

    cfg = config(corpus)
    check = lambda c: up_to_date(run_sources(c), c.tokenizer, c.prepare, c.data_dir)  # noqa: E731
    assert not check(cfg)
    prepare_run(cfg, progress=False)
    assert check(cfg)
    assert not check(config(corpus, prepare={"heldout_fraction": 0.2}))
    write_jsonl(corpus / "a.jsonl", A_DOCS + ["one more"])
    assert not check(cfg)
    prepare_run(cfg, progress=False)
    assert check(cfg)
