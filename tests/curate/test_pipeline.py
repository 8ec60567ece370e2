"""The whole curate run: outputs, quarantine, an exactly reconciled funnel, resume, workers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from curricle.curate.config import CurateConfig
from curricle.curate.funnel import curated_source_configs
from curricle.curate.pipeline import curate
from curricle.curate.document import count_tokens
from curricle.sources.config import CuratedConfig
from curricle.sources.curated import CuratedSource
from curricle.errors import CurricleError
from curricle.store.snapshot import read_snapshot

from tests.curate.conftest import curate_config, curated_docs, make_prose, quarantine, run_config, write_jsonl
from tests.curate.test_steps import GOOD

STEPS_ON = {name: {} for name in (
    "extract", "langid", "quality", "code_quality", "pii", "decontam", "exact_dedup", "near_dedup", "line_dedup")}


def prose_records(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}{i}", "text": make_prose(hash_seed(f"{prefix}{i}"))} for i in range(n)]


def hash_seed(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode())


@pytest.fixture
def corpus(tmp_path):
    """Prose in two JSONL files (with bad lines, duplicates, PII, German, a probe item, HTML),
    notes in a text directory, code from two standard-library packages."""
    web = tmp_path / "web"
    write_jsonl(web / "a.jsonl", prose_records("a", 6) + [
        {"id": "dup", "text": prose_records("a", 1)[0]["text"]},  # exact duplicate of a0
        {"id": "pii", "text": make_prose(101) + " Mail jane.roe@mail.example.com for the minutes."},
        {"id": "german", "text": "Der schnelle braune Fuchs springt über den faulen Hund am Fluss, und die Kinder "
                                 "laufen mit Äpfeln in den Händen über den Markt der kleinen Stadt."},
        {"id": "leak", "text": make_prose(102) + " The answer key says 31+79=110."},
    ], raw_lines=[b"not json", b'{"title": "no text"}', b'{"text": "caf\xe9"}', b'{"text": "   "}'])
    paragraphs = GOOD.replace("\n", "</p><p>")
    write_jsonl(web / "b.jsonl", prose_records("b", 4) + [
        {"id": "html", "text": f"<html><body><nav>Home | About</nav><article><p>{paragraphs} A page.</p>"
                               f"</article></body></html>"},
        {"id": "short", "text": "This page about the weather is far too short to keep."},
    ])
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "n1.txt").write_text(make_prose(103))
    (notes / "n2.txt").write_bytes(b"\x00\x01binary\x00")
    sources = [
        {"kind": "jsonl", "path": str(web / "*.jsonl"), "domain": "web"},
        {"kind": "text", "path": str(notes), "domain": "notes"},
        {"kind": "python-code", "domain": "code", "include": ["json/*", "textwrap.py"]},
    ]
    return run_config(tmp_path, sources)


def test_every_drop_is_quarantined_and_the_funnel_reconciles_exactly(tmp_path, corpus):
    cfg = curate_config(tmp_path, **STEPS_ON)
    report = curate(cfg, corpus.sources, progress=False)
    out = Path(cfg.output_dir)

    assert report.check() == []
    assert json.loads((out / "funnel.json").read_text()) == report.to_dict()
    assert report.shards == 4  # two JSONL files, one chunk of text files, one built-in source

    # The chain: each step's input is the previous step's output, and the last step's output is
    # exactly what the curated files hold.
    docs = curated_docs(report)
    for domain, rows in report.domains.items():
        for (_, prev), (_, cur) in zip(rows, rows[1:]):
            assert (cur.docs_in, cur.tokens_in) == (prev.docs_kept, prev.tokens_kept)
        assert report.kept(domain) == (len(docs.get(domain, [])),
                                       sum(count_tokens(r["text"]) for r in docs.get(domain, [])))

    # Every dropped document is in its step's quarantine file, under its reason.
    for domain, rows in report.domains.items():
        for step, counts in rows:
            entries = [e for e in quarantine(out, step) if e["domain"] == domain]
            assert Counter(e["reason"] for e in entries) == counts.docs_dropped, (domain, step)
            assert all(e["location"] for e in entries)

    web = dict(report.domains["web"])
    a_jsonl = str(tmp_path / "web" / "a.jsonl")
    assert web["read"].docs_in == 14 + 6  # every record of the two files
    assert sorted((e["reason"], e["location"]) for e in quarantine(out, "read") if e["domain"] == "web") == [
        ("empty-text", f"{a_jsonl}:14"), ("invalid-utf8", f"{a_jsonl}:13"),
        ("missing-text", f"{a_jsonl}:12"), ("not-json", f"{a_jsonl}:11")]
    assert {e["text"] for e in quarantine(out, "read") if e["reason"] == "not-json"} == {"not json"}
    assert web["extract"].docs_rewritten == 1
    assert [(e["id"], e["reason"]) for e in quarantine(out, "langid")] == [("german", "lang-de")]
    assert [(e["id"], e["detail"]["matched"]) for e in quarantine(out, "decontam")] == [("leak", "probe:arithmetic")]
    assert [(e["id"], e["detail"]["duplicate_of"]) for e in quarantine(out, "exact-dedup")] == [("dup", "a0")]
    assert web["pii"].replaced == Counter({"email": 1})
    assert [e["id"] for e in quarantine(out, "quality")] == ["short"]
    kept_web = {r["id"]: r for r in docs["web"]}
    assert "jane.roe" not in kept_web["pii"]["text"] and "<EMAIL>" in kept_web["pii"]["text"]
    assert kept_web["html"]["text"].startswith("The river town woke slowly") and "Home" not in kept_web["html"]["text"]
    assert kept_web["a0"]["meta"]["source"] == a_jsonl and kept_web["a0"]["meta"]["line"] == 1
    assert kept_web["a0"]["meta"]["language"] == "en"
    notes = dict(report.domains["notes"])
    assert notes["read"].docs_dropped == Counter({"binary": 1})
    assert [r["id"] for r in docs["notes"]] == ["n1.txt"]
    assert "langid" not in dict(report.domains["code"])  # code domains: no language ID, no prose rules
    assert "code-quality" in dict(report.domains["code"])


def test_rerun_with_unchanged_inputs_does_nothing(tmp_path, corpus, monkeypatch):
    cfg = curate_config(tmp_path, exact_dedup={})
    first = curate(cfg, corpus.sources, progress=False)
    import curricle.curate.pipeline as pipeline

    monkeypatch.setattr(pipeline, "plan_shards", lambda *a: pytest.fail("an up-to-date run planned work"))
    again = curate(cfg, corpus.sources, progress=False)
    assert again.up_to_date and again.to_dict()["domains"] == first.to_dict()["domains"]
    assert not (Path(cfg.output_dir) / ".work").exists()


class Crash(BaseException):
    """Stands in for a kill: not an ``Exception``, so no step swallows it."""


def test_an_interrupted_run_resumes_and_redoes_only_unfinished_shards(tmp_path, monkeypatch):
    import curricle.curate.stages as stages

    files = [write_jsonl(tmp_path / "in" / f"{k}.jsonl", prose_records(f"s{k}-", 3)) for k in range(4)]
    run = run_config(tmp_path, [{"kind": "jsonl", "path": str(tmp_path / "in" / "*.jsonl"), "domain": "web"}])
    cfg = curate_config(tmp_path, pii={}, exact_dedup={}, near_dedup={})

    read_shard = stages.read_shard
    shards_read: list[tuple[str, ...]] = []

    def crash_on_shard_2(sources, shard, *args):
        shards_read.append(shard.files)
        for d in read_shard(sources, shard, *args):
            if shard.files == (str(files[2]),):
                raise Crash()
            yield d

    monkeypatch.setattr(stages, "read_shard", crash_on_shard_2)
    with pytest.raises(Crash):
        curate(cfg, run.sources, progress=False)
    assert shards_read == [(str(f),) for f in files[:3]]
    assert not (Path(cfg.output_dir) / "funnel.json").exists()

    shards_read.clear()
    monkeypatch.setattr(stages, "read_shard", lambda sources, shard, *a: (shards_read.append(shard.files),
                                                                          read_shard(sources, shard, *a))[1])
    resumed = curate(cfg, run.sources, progress=False)
    assert shards_read == [(str(files[2]),), (str(files[3]),)]  # shards 0 and 1 were done

    monkeypatch.setattr(stages, "read_shard", read_shard)
    fresh_cfg = cfg.model_copy(update={"output_dir": tmp_path / "fresh"})
    fresh = curate(fresh_cfg, run.sources, progress=False)
    assert curated_docs(resumed) == curated_docs(fresh)
    drop_timing = lambda d: {k: v for k, v in d.items() if k != "seconds"}  # noqa: E731
    assert drop_timing(resumed.to_dict()) == drop_timing(fresh.to_dict())


def test_a_run_stopped_before_its_funnel_is_redone_and_ends_consistent(tmp_path, monkeypatch):
    import curricle.atomic as atomic
    import curricle.curate.pipeline as pipeline

    records = prose_records("a", 3) + [{"id": "dup", "text": prose_records("a", 1)[0]["text"]},
                                       {"id": "short", "text": "This page is far too short to keep."}]
    write_jsonl(tmp_path / "in" / "a.jsonl", records)
    run = run_config(tmp_path, [{"kind": "jsonl", "path": str(tmp_path / "in" / "a.jsonl"), "domain": "web"}])
    dedup = curate_config(tmp_path, exact_dedup={})  # drops dup
    quality = curate_config(tmp_path, quality={})  # drops short, keeps dup
    out = Path(dedup.output_dir)
    first = curate(dedup, run.sources, progress=False)
    funnel_bytes = (out / "funnel.json").read_bytes()

    write_json = atomic.write_json

    def stop_at_the_funnel(path, obj):
        if Path(path).name == "funnel.json":
            raise Crash()
        write_json(path, obj)

    monkeypatch.setattr(atomic, "write_json", stop_at_the_funnel)
    with pytest.raises(Crash):
        curate(quality, run.sources, progress=False)
    monkeypatch.setattr(atomic, "write_json", write_json)
    # Stopped between the writes: the old funnel, the new quarantine and snapshot.
    assert (out / "funnel.json").read_bytes() == funnel_bytes
    assert sorted(p.name for p in (out / "quarantine").iterdir()) == ["quality.jsonl", "read.jsonl", "run.json"]
    assert read_snapshot(out)["id"] != first.snapshot
    assert len(list((out / "web").iterdir())) == 2  # the stopped run's curated file too

    planned = []
    plan_shards = pipeline.plan_shards
    monkeypatch.setattr(pipeline, "plan_shards", lambda *a: planned.append(1) or plan_shards(*a))
    again = curate(dedup, run.sources, progress=False)
    assert planned == [1] and not again.up_to_date  # the mixed output was not taken as current
    drop_timing = lambda d: {k: v for k, v in d.items() if k != "seconds"}  # noqa: E731
    assert drop_timing(again.to_dict()) == drop_timing(first.to_dict())
    assert json.loads((out / "funnel.json").read_text()) == again.to_dict()
    assert sorted(p.name for p in (out / "quarantine").iterdir()) == ["exact-dedup.jsonl", "read.jsonl", "run.json"]
    assert [e["id"] for e in quarantine(out, "exact-dedup")] == ["dup"]
    assert json.loads((out / "quarantine" / "run.json").read_text()) == {"fingerprint": first.fingerprint}
    assert read_snapshot(out)["id"] == again.snapshot == first.snapshot
    assert sorted(p.relative_to(out).as_posix() for p in (out / "web").iterdir()) == again.files["web"]
    assert sorted(p.name for p in out.iterdir()) == ["funnel.json", "quarantine", "snapshot.json", "web"]

    planned.clear()
    assert curate(dedup, run.sources, progress=False).up_to_date and planned == []


def test_two_workers_write_what_one_does(tmp_path, corpus):
    one = curate(curate_config(tmp_path / "1", pii={}, exact_dedup={}, near_dedup={}, line_dedup={}), corpus.sources,
                 progress=False)
    two = curate(curate_config(tmp_path / "2", pii={}, exact_dedup={}, near_dedup={}, line_dedup={},
                                       workers=2), corpus.sources, progress=False)
    assert curated_docs(one) == curated_docs(two)
    assert one.to_dict()["domains"] == two.to_dict()["domains"]


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_prepare_reads_the_curated_output(tmp_path, corpus, fmt):
    cfg = curate_config(tmp_path, exact_dedup={}, format=fmt)
    report = curate(cfg, corpus.sources, progress=False)
    configs = curated_source_configs(cfg)
    assert configs == [{"kind": "curated", "path": str(cfg.output_dir), "domain": d} for d in ("code", "notes", "web")]
    expected = curated_docs(report)
    for c in configs:
        src = CuratedSource(CuratedConfig(**c))
        docs = list(src)
        assert [(d.id, d.text) for d in docs] == [(r["id"], r["text"]) for r in expected[c["domain"]]]
        assert all(d.domain == c["domain"] and "curated_file" in d.meta for d in docs)
        assert src.fingerprint()["curated"] == report.fingerprint


def test_curated_source_errors(tmp_path):
    with pytest.raises(CurricleError, match="run `curricle curate` first"):
        curated_source_configs(tmp_path / "nowhere")
    with pytest.raises(CurricleError, match="run `curricle curate` first"):
        list(CuratedSource(CuratedConfig(path=str(tmp_path), domain="web")))


def test_a_step_naming_an_unknown_domain_is_a_config_error(tmp_path, corpus):
    cfg = curate_config(tmp_path, langid={"domains": ["wbe"]})
    with pytest.raises(CurricleError, match=r"curate.langid.domains: unknown domain 'wbe'"):
        curate(cfg, corpus.sources, progress=False)


def test_curate_command_reads_the_curate_block(tmp_path, capsys):
    from curricle.curate.command import curate_command

    write_jsonl(tmp_path / "a.jsonl", prose_records("a", 3) + [{"text": "x"}])
    config = tmp_path / "run.yaml"
    config.write_text(
        f"sources:\n  - {{kind: jsonl, path: {tmp_path / 'a.jsonl'}, domain: web}}\n"
        f"curate:\n  output_dir: {tmp_path / 'cur'}\n  quality: {{enabled: false}}\n"
        f"  decontam: {{enabled: false}}\n  langid: {{enabled: false}}\n"
    )
    report = curate_command(config)
    assert report.kept("web")[0] == 4
    out = capsys.readouterr().out
    assert "curation funnel" in out and "exact-dedup" in out
    config.write_text(config.read_text() + "  quality: {min_words: 3}\n")
    with pytest.raises(CurricleError):
        curate_command(config)
    config.write_text(f"sources:\n  - {{kind: jsonl, path: {tmp_path / 'a.jsonl'}, domain: web}}\n"
                      f"curate:\n  near_dedup: {{bands: 0}}\n")
    with pytest.raises(CurricleError, match=r"curate.near_dedup.bands: "):
        curate_command(config)


def test_decontam_finds_an_item_holding_pii_in_a_document_an_earlier_pii_step_redacted(tmp_path):
    """The default pipeline runs pii before decontam: an evaluation item with an e-mail and an IP
    address is found both in a redacted document (web) and in one pii skips (notes)."""
    item = "contact admin@example.org about the server at 8.8.8.8"
    evals = write_jsonl(tmp_path / "evals.jsonl", [{"question": item}])
    web = write_jsonl(tmp_path / "web.jsonl", [{"id": "w-leak", "text": f"Please {item} before noon."},
                                               {"id": "w-clean", "text": make_prose(1)}])
    notes = write_jsonl(tmp_path / "notes.jsonl", [{"id": "n-leak", "text": f"Notes: {item}."}])
    run = run_config(tmp_path, [{"kind": "jsonl", "path": str(web), "domain": "web"},
                                {"kind": "jsonl", "path": str(notes), "domain": "notes"}])
    cfg = curate_config(tmp_path, pii={"domains": ["web"]}, decontam={
        "probes": False, "eval_files": [{"path": str(evals), "text_fields": ["question"]}]})
    report = curate(cfg, run.sources, progress=False)
    assert report.check() == []
    assert dict(report.domains["web"])["pii"].replaced == Counter({"email": 1, "ip_address": 1})
    assert sorted((e["id"], e["detail"]["matched"]) for e in quarantine(cfg.output_dir, "decontam")) == [
        ("n-leak", f"eval:{evals}"), ("w-leak", f"eval:{evals}")]
    assert [r["id"] for rows in curated_docs(report).values() for r in rows] == ["w-clean"]
    assert report.extra["decontam_index"]["items"] == 2  # the item as given and as pii redacts it


@pytest.mark.parametrize("pipeline", [False, True])
def test_a_missing_eval_file_names_the_decontam_steps_config_path(tmp_path, corpus, pipeline):
    step = {"eval_files": [{"path": str(tmp_path / "none.jsonl")}]}
    if pipeline:
        cfg = CurateConfig.model_validate({"output_dir": str(tmp_path / "c"),
                                           "pipeline": [{"kind": "pii"}, {"kind": "decontam", **step}]})
    else:
        cfg = curate_config(tmp_path, decontam=step)
    where = "curate.pipeline.1" if pipeline else "curate.decontam"
    with pytest.raises(CurricleError) as e:
        curate(cfg, corpus.sources, progress=False)
    assert str(e.value) == f"{where}.eval_files: no such file or directory: {tmp_path / 'none.jsonl'}"


def test_an_eval_file_with_no_items_is_refused_in_one_line(tmp_path, corpus):
    evals = tmp_path / "evals.jsonl"
    evals.write_text(json.dumps({"question": "What is the capital of France?"}) + "\nnot json\n")
    cfg = curate_config(tmp_path, decontam={"eval_files": [{"path": str(evals), "text_fields": ["quesiton"]}]})
    with pytest.raises(CurricleError) as e:
        curate(cfg, corpus.sources, progress=False)
    assert str(e.value) == (f"curate.decontam.eval_files: {evals}: no evaluation items (no line has a string in "
                            f"text_fields ['quesiton'])")


def test_synthetic_skill_domains_skip_the_prose_and_near_duplicate_rules(tmp_path):
    run = run_config(tmp_path, [
        {"kind": "synthetic", "skill": "brackets", "domain": "brackets", "n_docs": 30},
        {"kind": "synthetic", "skill": "arithmetic", "domain": "mixed", "n_docs": 5},
        {"kind": "jsonl", "path": str(write_jsonl(tmp_path / "m.jsonl", prose_records("m", 2))), "domain": "mixed"},
    ])
    report = curate(curate_config(tmp_path, **STEPS_ON), run.sources, progress=False)
    assert [s for s, _ in report.domains["brackets"]] == ["read", "pii", "decontam", "exact-dedup"]
    assert report.kept("brackets")[0] == 30  # every document is "close: ..." and brackets: not near-duplicates
    # A domain that also has a non-synthetic source is prose: its arithmetic documents fail language ID.
    assert "langid" in dict(report.domains["mixed"])
    assert report.extra["other_domains"] == ["brackets"]


def test_the_default_pipeline_is_todays_steps_and_its_explicit_list_gives_the_same_funnel(tmp_path):
    """Without ``pipeline:``, curate runs exactly the steps it ran before pipelines existed:
    the same funnel as the explicit equivalent list, and as the code before pipelines wrote
    (``data/default_funnel_before_pipelines.json``, recorded on the built-in sources)."""
    import platform

    from curricle.config import parse_config
    from curricle.curate.config import CurateConfig

    before = json.loads((Path(__file__).parent / "data" / "default_funnel_before_pipelines.json").read_text())
    # the default's enabled steps (quality-model is in the default pipeline, off until given a model)
    explicit = [{"kind": s.kind} for s in CurateConfig().steps()]
    assert [e["kind"] for e in explicit] == ["extract", "langid", "quality", "code-quality", "pii", "decontam",
                                             "exact-dedup", "near-dedup", "line-dedup"]

    def funnel(out: str, **curate_block) -> dict:
        run = parse_config({"data_dir": str(tmp_path / "data"), "sources": before["sources"],
                            "curate": {"output_dir": str(tmp_path / out), **curate_block}})
        assert [s.kind for s in run.curate.steps()] == [e["kind"] for e in explicit]
        report = curate(run.curate, run.sources, progress=False)
        return {d: v["steps"] for d, v in report.to_dict()["domains"].items()}

    default = funnel("default")
    assert funnel("explicit", pipeline=explicit) == default
    if platform.python_version() == before["python"]:  # the built-in sources read this Python's standard library
        assert default == before["domains"]
    # Drops at several steps, so "the same" says something.
    assert sum(sum(s["docs"]["dropped"].values()) for s in default["prose"]) == 42
