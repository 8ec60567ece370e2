"""Curated outputs as sides of ``curricle drift``: their kept documents by id (the lineage), their
metadata columns, and the two funnels side by side."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from curricle.cli import app
from curricle.curate.funnel import FunnelReport, StepCounts
from curricle.drift.command import load_side
from curricle.drift.compare import compare
from curricle.drift.config import DriftConfig
from curricle.drift.curated import load_curated
from curricle.drift.text import share_words

WORDS = ("river town morning boats weather market apples valley church tower road hills lamps bread "
         "letter bridge garden herbs rain story journey snow mountain winter").split()
CODE = "def return import class self for while if else print range len list dict".split()


def text(rng: np.random.Generator, vocab: list[str], n: int) -> str:
    return " ".join(rng.choice(vocab, size=n)) + "."


def step(docs_in: int, dropped: dict[str, int]) -> StepCounts:
    """A funnel row: ``docs_in`` documents of 10 words each, ``dropped`` by reason, the rest kept."""
    kept = docs_in - sum(dropped.values())
    return StepCounts(docs_in=docs_in, docs_kept=kept, docs_dropped=Counter(dropped), tokens_in=10 * docs_in,
                      tokens_kept=10 * kept, tokens_dropped=Counter({r: 10 * n for r, n in dropped.items()}))


def write_curated(root: Path, docs: dict[str, list[dict]], steps: dict[str, list[tuple[str, dict[str, int]]]]) -> Path:
    """A curate output by hand: one ``.jsonl.gz`` per domain and a funnel whose last step kept them."""
    root.mkdir(parents=True)
    files, rows = {}, {}
    for domain, records in docs.items():
        name = f"{domain}/part-0.jsonl.gz"
        (root / domain).mkdir()
        with gzip.open(root / name, "wt", encoding="utf-8") as f:
            f.writelines(json.dumps({"id": r["id"], "text": r["text"], "domain": domain, "meta": r["meta"]}) + "\n"
                         for r in records)
        files[domain] = [name]
        rows[domain], n = [], None
        for s, dropped in steps[domain]:
            n = n if n is not None else len(records) + sum(sum(d.values()) for _, d in steps[domain])
            rows[domain].append((s, step(n, dropped)))
            n -= sum(dropped.values())
        assert n == len(records)
    report = FunnelReport(root, "fp-" + root.name, rows, files)
    assert report.check() == []
    (root / "funnel.json").write_text(json.dumps(report.to_dict()))
    return root


def web(rng, i: int, score: float) -> dict:
    return {"id": f"w{i}", "text": text(rng, WORDS, 10), "meta": {"source": "web.jsonl", "line": i + 1,
                                                                  "language": "en", "language_score": score}}


def code(rng, i: int) -> dict:
    return {"id": f"c{i}", "text": text(rng, CODE, 10), "meta": {"source": "lib.py"}}


def test_two_curated_outputs(tmp_path):
    rng = np.random.default_rng(0)
    old_web = [web(rng, i, 0.9) for i in range(60)]
    new_web = old_web[20:] + [web(rng, i, 0.6) for i in range(60, 80)]  # 40 kept, 20 new with lower scores
    codes = [code(rng, i) for i in range(60)]
    notes = [{"id": f"n{i}", "text": text(rng, WORDS, 10), "meta": {}} for i in range(55)]
    old = write_curated(tmp_path / "v1", {"web": old_web, "code": codes},
                        {"web": [("read", {"not-json": 2}), ("quality", {"short": 8})], "code": [("read", {})]})
    new = write_curated(tmp_path / "v2", {"web": new_web, "code": codes, "notes": notes},
                        {"web": [("read", {}), ("langid", {"lang-de": 3}), ("quality", {"short": 15, "too-long": 5})],
                         "code": [("read", {})], "notes": [("read", {"binary": 1})]})
    a, b = load_curated(old), load_curated(new)
    assert (a.kind, sorted(a.domains), a.snapshot) == ("curated", ["code", "web"], None)
    data = b.domains["web"].data
    assert sorted(data.columns) == ["language_score", "n_chars", "n_words"]  # no locations (line, curated_line)
    assert data.columns["n_words"].tolist() == [10.0] * 60 and data.text(0) == new_web[0]["text"]
    assert b.domains["notes"].data.columns["n_chars"].tolist() == [float(len(r["text"])) for r in notes]
    share_words(a, b)
    result = compare(a, b, DriftConfig(null_splits=20))

    lin = result["lineage"]
    assert {d: (e["old"], e["new"], e["retained"], e["added"], e["removed"]) for d, e in lin["domains"].items()} == {
        "code": (60, 60, 60, 0, 0), "notes": (0, 55, 0, 55, 0), "web": (60, 60, 40, 20, 20)}
    assert lin["domains"]["web"]["examples"] == {"added": ["w60", "w61", "w62", "w63", "w64"],
                                                 "removed": ["w0", "w1", "w10", "w11", "w12"]}
    assert lin["funnels"] == {
        "code": [{"step": "read", "old": {"in": 60, "kept": 60, "dropped": {}},
                  "new": {"in": 60, "kept": 60, "dropped": {}}}],
        "notes": [{"step": "read", "old": None, "new": {"in": 56, "kept": 55, "dropped": {"binary": 1}}}],
        "web": [{"step": "read", "old": {"in": 70, "kept": 68, "dropped": {"not-json": 2}},
                 "new": {"in": 83, "kept": 83, "dropped": {}}},
                {"step": "langid", "old": None, "new": {"in": 83, "kept": 80, "dropped": {"lang-de": 3}}},
                {"step": "quality", "old": {"in": 68, "kept": 60, "dropped": {"short": 8}},
                 "new": {"in": 80, "kept": 60, "dropped": {"short": 15, "too-long": 5}}}]}
    assert "overlap" not in lin

    score = next(c for c in result["checks"] if (c["domain"], c["statistic"]) == ("web", "wasserstein/language_score"))
    assert (score["detail"]["old_mean"], score["detail"]["new_mean"]) == (0.9, 0.8)
    assert score["value"] == "inf"  # OLD's scores were all 0.9: no spread, and NEW moved
    assert score["verdict"] == "DRIFT"
    code_checks = [c for c in result["checks"] if c["domain"] == "code" and c["section"] != "mixture"]
    # the same documents: every distance 0, and the classifier cannot tell them apart (AUC 0.5)
    assert code_checks and all(c["value"] == (0.5 if c["section"] == "content" else 0.0) and c["verdict"] == "OK"
                               for c in code_checks)


def test_the_verb_on_two_curated_outputs(tmp_path):
    rng = np.random.default_rng(1)
    docs = [web(rng, i, 0.9) for i in range(60)]
    one = write_curated(tmp_path / "v1", {"web": docs}, {"web": [("read", {})]})
    two = write_curated(tmp_path / "v2", {"web": docs[:50]}, {"web": [("read", {"not-json": 10})]})
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["drift", str(one), str(two), "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "drift.json").read_text())
    assert result["lineage"]["funnels"]["web"][0]["new"]["dropped"] == {"not-json": 10}
    assert result["lineage"]["total"]["removed"] == 10
    task_file = tmp_path / "tasks.jsonl"
    task_file.write_text(json.dumps({"prompt": "2+2=", "completion": "4"}) + "\n")
    assert load_side(task_file, "NEW").kind == "tasks"
    res = CliRunner().invoke(app, ["drift", str(one), str(task_file), "--out", str(out)])
    assert res.exit_code == 2 and "compare two of a kind" in res.output


def test_outputs_of_curricle_curate(tmp_path):
    """Two real ``curate`` runs on literal JSONL (exact dedup on): what its files and funnel hold."""
    from tests.curate.conftest import curate_config, run_config, write_jsonl
    from curricle.curate.pipeline import curate

    rng = np.random.default_rng(2)
    texts = [text(rng, WORDS, 12) for _ in range(8)]
    sides = {}
    for version, records in (("v1", [{"id": f"d{i}", "text": texts[i]} for i in range(6)]),
                             ("v2", [{"id": f"d{i}", "text": texts[i]} for i in range(2, 8)]
                              + [{"id": "copy", "text": texts[7]}])):
        src = write_jsonl(tmp_path / version / "web.jsonl", records)
        cfg = curate_config(tmp_path / version, exact_dedup={}, format="parquet" if version == "v2" else "jsonl.gz")
        curate(cfg, run_config(tmp_path / version, [{"kind": "jsonl", "path": str(src), "domain": "web"}]).sources,
               progress=False)
        sides[version] = load_side(Path(cfg.output_dir), version)
    lin = compare(sides["v1"], sides["v2"], DriftConfig(null_splits=2))["lineage"]
    assert (lin["domains"]["web"]["retained"], lin["domains"]["web"]["added"], lin["domains"]["web"]["removed"]) == \
        (4, 2, 2)
    assert [(s["step"], s["old"]["dropped"], s["new"]["dropped"]) for s in lin["funnels"]["web"]] == [
        ("read", {}, {}), ("exact-dedup", {}, {"duplicate": 1})]
    assert sorted(sides["v2"].domains["web"].data.columns) == ["n_chars", "n_words"]
