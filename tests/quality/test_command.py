"""``curricle quality train``: its inputs, its outputs, and its one-line errors."""

from __future__ import annotations

import json

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from curricle.cli import app
from curricle.errors import CurricleError
from curricle.quality.classifier import QualityClassifier, file_sha256
from curricle.quality.command import balanced, print_metrics, read_texts, reservoir, train_quality_model
from curricle.quality.config import QualityTrainConfig

from tests.curate.conftest import write_jsonl
from tests.quality.corpus import planted
from tests.quality.test_classifier import SMALL

runner = CliRunner()


def files(tmp_path, n=60):
    pos, neg = planted(range(n))
    p = write_jsonl(tmp_path / "ref.jsonl", [{"body": t} for t in pos])
    q = write_jsonl(tmp_path / "web.jsonl", [{"body": t} for t in neg])
    settings = tmp_path / "settings.yaml"
    settings.write_text(yaml.safe_dump({**SMALL.model_dump(), "text_field": "body"}))
    return p, q, settings


def test_the_cli_trains_writes_the_model_and_its_metrics(tmp_path):
    p, q, settings = files(tmp_path)
    out = tmp_path / "models" / "q.zip"
    r = runner.invoke(app, ["quality", "train", "--positive", str(p), "--negative", str(q), "--out", str(out),
                            "--config", str(settings)])
    assert r.exit_code == 0, r.output
    assert "precision" in r.output and "AUC" in r.output
    metrics = json.loads((tmp_path / "models" / "q.metrics.json").read_text())
    assert metrics["model"]["sha256"] == file_sha256(out)
    assert (metrics["heldout"]["positives"], metrics["heldout"]["negatives"]) == (6, 6)
    assert metrics["data"]["positives_read"] == metrics["data"]["negatives_read"] == 60
    assert QualityClassifier.load(out).info["trained_on"]["positive_files"] == [str(p)]


def test_negatives_from_a_domain_of_the_run_config_are_a_seeded_balanced_sample(tmp_path):
    pos, neg = planted(range(40))
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"text": t} for t in pos])
    # The corpus: 100 junk and 50 prose documents (reference-like, as DCLM's random sample of the pool).
    web = write_jsonl(tmp_path / "web.jsonl", [{"text": t} for t in planted(range(100, 200))[1] +
                                               planted(range(300, 350))[0]])
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "sources": [
        {"kind": "jsonl", "path": str(web), "domain": "web"}]}))
    a = train_quality_model([str(ref)], tmp_path / "a.zip", negative_from="web", run_config=run, cfg=SMALL)
    b = train_quality_model([str(ref)], tmp_path / "b.zip", negative_from="web", run_config=run, cfg=SMALL)
    assert a.metrics["data"]["negatives_read"] == 150
    assert a.metrics["train"]["positives"] == a.metrics["train"]["negatives"] == 36  # 40 each, 4 held out
    assert file_sha256(tmp_path / "a.zip") == file_sha256(tmp_path / "b.zip")
    # The printed table says why the held-out AUC is bounded with a corpus sample as negatives.
    console = Console(record=True, width=300)
    print_metrics(a, console)
    assert "a classifier that finds every junk document has a held-out AUC of about 1 - (their share) / 2" in \
        console.export_text()
    given = train_quality_model([str(ref)], tmp_path / "c.zip", negative=[str(web)], cfg=SMALL)
    console = Console(record=True, width=300)
    print_metrics(given, console)
    assert "finds every junk document" not in console.export_text()


def test_sampling_helpers_are_uniform_seeded_and_keep_order():
    import numpy as np

    s, n = reservoir(iter(str(i) for i in range(1000)), 10, np.random.default_rng(0))
    assert n == 1000 and len(s) == 10 and [int(x) for x in s] == sorted(int(x) for x in s)
    assert s == reservoir(iter(str(i) for i in range(1000)), 10, np.random.default_rng(0))[0]
    p, q = balanced(list("abcdef"), list("xy"), None, np.random.default_rng(0))
    assert len(p) == 2 and q == ["x", "y"] and p == sorted(p)
    p, q = balanced(list("abcdef"), list("uvwxyz"), 3, np.random.default_rng(0))
    assert len(p) == len(q) == 3


def test_text_files_and_directories_are_documents(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("first document")
    (tmp_path / "d" / "b.txt").write_text("second document")
    (tmp_path / "one.md").write_text("a whole file")
    assert read_texts([str(tmp_path / "d"), str(tmp_path / "one.md")], "text", "--positive") == [
        "first document", "second document", "a whole file"]
    assert read_texts([str(tmp_path / "d" / "*.txt")], "text", "--positive") == ["first document", "second document"]


def one_line_error(args) -> str:
    r = runner.invoke(app, ["quality", "train", *args, "--text-field", "body"])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return lines[0]


def test_bad_inputs_are_one_line_errors_naming_the_flag_and_file(tmp_path):
    p, q, _ = files(tmp_path, n=10)
    out = str(tmp_path / "m.zip")
    missing = tmp_path / "missing.jsonl"
    assert one_line_error(["--positive", str(missing), "--negative", str(q), "--out", out]) == \
        f"error: --positive: no such file or directory: {missing}"
    assert one_line_error(["--positive", str(p), "--negative", str(missing), "--out", out]) == \
        f"error: --negative: no such file or directory: {missing}"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert one_line_error(["--positive", str(empty), "--negative", str(q), "--out", out]).startswith(
        f"error: --positive: source 'jsonl {empty}' (domain 'positive')")
    assert one_line_error(["--positive", str(p), "--out", out]) == \
        "error: --negative or --negative-from: give the documents to tell the reference from"
    assert one_line_error(["--positive", str(p), "--negative", str(q), "--negative-from", "web", "--out", out]) == \
        "error: --negative and --negative-from: give one of them, not both"
    assert one_line_error(["--positive", str(p), "--negative-from", "web", "--out", out]) == \
        "error: --negative-from: needs a run config (CONFIG) whose sources hold the domain"
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({"sources": [{"kind": "jsonl", "path": str(q), "domain": "web"}]}))
    assert one_line_error([str(run), "--positive", str(p), "--negative-from", "wiki", "--out", out]) == \
        f"error: --negative-from: no source of domain 'wiki' in {run} (its domains: web)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("epoch: 0\n")
    assert one_line_error(["--positive", str(p), "--negative", str(q), "--out", out, "--config", str(bad)]).startswith(
        f"error: {bad}: epoch:")
    assert not (tmp_path / "m.zip").exists()


def test_positives_with_no_text_are_an_error(tmp_path):
    _, q, _ = files(tmp_path, n=10)
    blank = write_jsonl(tmp_path / "blank.jsonl", [{"other": "x"}])
    with pytest.raises(CurricleError, match=r"^--positive: "):
        train_quality_model([str(blank)], tmp_path / "m.zip", negative=[str(q)], cfg=SMALL)
    with pytest.raises(CurricleError, match=r"^--positive: give at least one file"):
        train_quality_model([], tmp_path / "m.zip", negative=[str(q)], cfg=QualityTrainConfig())


def test_quality_train_has_help():
    r = runner.invoke(app, ["quality", "train", "--help"])
    assert r.exit_code == 0 and "--negative-from" in r.output
