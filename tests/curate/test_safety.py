"""The safety steps on literal documents: ``blocklist`` (words, regexes, URL domains) and the
``classifier`` hook (a user's scoring function, a document field, thresholds)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from curricle.config import parse_config
from curricle.curate.config import BlocklistConfig, ClassifierConfig
from curricle.curate.document import Drop
from curricle.curate.pipeline import curate
from curricle.curate.steps.blocklist import BlocklistStep
from curricle.curate.steps.classifier import ClassifierStep
from curricle.errors import CurricleError

from tests.curate.conftest import context, curated_docs, doc, quarantine, write_jsonl

USER = "tests.curate.user_steps"


def lists(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "words.txt").write_text("# words, whole and in any case\nheck\n\ndang it\nf*ck\n")
    (tmp_path / "regexes.txt").write_text("# card-like numbers\n\\b\\d{4}-\\d{4}-\\d{4}\\b\n(?i)casino\\s+bonus\n")
    (tmp_path / "domains.txt").write_text("spam.example\n# comment\nBadSite.org\n")
    return {"words": str(tmp_path / "words.txt"), "regexes": str(tmp_path / "regexes.txt"),
            "url_domains": str(tmp_path / "domains.txt")}


def blocklist(tmp_path: Path, **kw) -> BlocklistStep:
    step = BlocklistStep(BlocklistConfig(**{**lists(tmp_path), **kw}), context())
    step.setup()
    return step


@pytest.mark.parametrize("text, verdict", [
    ("What the heck is this?", Drop("blocklist-word", {"match": "heck", "matches": ["heck"]})),
    ("HECK, no.", Drop("blocklist-word", {"match": "HECK", "matches": ["HECK"]})),  # any case
    ("Dang   it all.", Drop("blocklist-word", {"match": "Dang   it", "matches": ["Dang   it"]})),  # a phrase
    ("Oh f*ck.", Drop("blocklist-word", {"match": "f*ck", "matches": ["f*ck"]})),  # not a \w word, still whole
    ("A checkered past, heckling crowds, Heckman.", None),  # inside longer words: no match
    ("Order 1234-5678-9012 today.", Drop("blocklist-regex", {"match": "1234-5678-9012",
                                                             "matches": ["1234-5678-9012"]})),
    ("Claim your CASINO  bonus", Drop("blocklist-regex", {"match": "CASINO  bonus", "matches": ["CASINO  bonus"]})),
    ("See https://www.Spam.Example/offer for more.", Drop("blocklist-url", {"match": "www.spam.example",
                                                                           "matches": ["www.spam.example"]})),
    ("Go to www.badsite.org now", Drop("blocklist-url", {"match": "www.badsite.org",
                                                         "matches": ["www.badsite.org"]})),
    ("Log in at http://user@mail.badsite.org:8080/x", Drop("blocklist-url", {"match": "mail.badsite.org",
                                                                             "matches": ["mail.badsite.org"]})),
    ("https://notspam.example and https://spam.example.com are other domains; spam.example is no link.", None),
])
def test_blocklist_matches_words_regexes_and_url_domains(tmp_path, text, verdict):
    assert blocklist(tmp_path).apply(doc(text)) == verdict


def test_blocklist_drops_at_max_hits_under_the_reason_of_the_last_match(tmp_path):
    step = blocklist(tmp_path, max_hits=3)
    assert step.apply(doc("heck and heck again")) is None  # 2 hits
    assert step.apply(doc("heck, heck, and see https://spam.example")) == Drop(
        "blocklist-url", {"match": "spam.example", "matches": ["heck", "heck", "spam.example"]})


def test_blocklist_files_are_checked_before_any_work(tmp_path):
    run = parse_config({"sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 3}],
                        "curate": {"output_dir": str(tmp_path / "curated"), "pipeline": [
                            {"kind": "blocklist", "words": str(tmp_path / "missing.txt")}]}})
    with pytest.raises(CurricleError, match=rf"^curate\.pipeline\.0\.words: no such file: {tmp_path}/missing\.txt$"):
        curate(run.curate, run.sources, progress=False)
    (tmp_path / "bad.txt").write_text("fine\n# ok\n(unclosed\n")
    run = parse_config({"sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 3}],
                        "curate": {"output_dir": str(tmp_path / "curated"), "pipeline": [
                            {"kind": "blocklist", "regexes": [str(tmp_path / "bad.txt")]}]}})
    with pytest.raises(CurricleError, match=rf"^curate\.pipeline\.0\.regexes: {tmp_path}/bad\.txt:3: not a regular "
                                            r"expression \(missing \), unterminated subpattern at position 0\)$"):
        curate(run.curate, run.sources, progress=False)
    (tmp_path / "bad.txt").write_text("fine\na{4294967296}\n")  # compiles to an OverflowError, not re.error
    with pytest.raises(CurricleError, match=rf"^curate\.pipeline\.0\.regexes: {tmp_path}/bad\.txt:2: not a regular "
                                            r"expression \("):
        curate(run.curate, run.sources, progress=False)
    assert not (tmp_path / "curated").exists()


def classifier(**kw) -> ClassifierStep:
    step = ClassifierStep(ClassifierConfig(function=f"{USER}:toxicity", field="toxicity", **kw), context())
    step.setup()
    return step


def test_the_classifier_writes_its_field_and_drops_by_threshold():
    step = classifier(drop_above=0.3)
    assert step.name == "classifier-toxicity"
    kept = doc("darn it is a fine day")
    assert step.apply(kept) is None and kept.meta == {"toxicity": pytest.approx(1 / 6)}
    dropped = doc("darn darn darn it")
    assert step.apply(dropped) == Drop("classifier-toxicity", {"toxicity": 0.75, "drop_above": 0.3})
    low = classifier(drop_below=0.2)
    assert low.apply(doc("a clean sentence")) == Drop("classifier-toxicity", {"toxicity": 0.0, "drop_below": 0.2})
    assert classifier().apply(doc("darn darn")) is None  # no bounds: score only


def test_a_classifier_in_a_pipeline_counts_bad_scores_as_errors(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [
        {"id": "ok", "text": "a calm text"}, {"id": "nan", "text": "gives nan"}, {"id": "boom", "text": "goes boom"},
        {"id": "str", "text": "a string score"}, {"id": "inf", "text": "an infinite score"}])
    run = parse_config({"sources": [{"kind": "jsonl", "path": str(tmp_path / "a.jsonl"), "domain": "web"}],
                        "curate": {"output_dir": str(tmp_path / "curated"), "pipeline": [
                            {"kind": "classifier", "function": f"{USER}:bad_score", "field": "risk",
                             "drop_above": 0.9},
                            {"kind": "classifier", "function": f"{USER}:toxicity", "field": "toxicity"}]}})
    report = curate(run.curate, run.sources, progress=False)
    rows = dict(report.domains["web"])
    assert [s for s, _ in report.domains["web"]] == ["read", "classifier-risk", "classifier-toxicity"]
    assert rows["classifier-risk"].docs_dropped == Counter({"error": 4})
    assert {e["id"]: e["detail"]["error"] for e in quarantine(tmp_path / "curated", "classifier-risk")} == {
        "nan": f"TypeError: {USER}:bad_score returned nan; expected a finite number",
        "boom": "RuntimeError: model crashed",
        "str": f"TypeError: {USER}:bad_score returned 'high'; expected a finite number",
        "inf": f"TypeError: {USER}:bad_score returned inf; expected a finite number"}
    (kept,) = curated_docs(report)["web"]
    assert kept["meta"]["risk"] == 0.5 and kept["meta"]["toxicity"] == 0.0  # both fields reach the output


@pytest.mark.parametrize("entry, message", [
    ({"kind": "classifier", "function": f"{USER}:toxicity", "field": "source"},
     r"^config: curate\.pipeline\.0\.field: 'source' is a field curricle writes itself"),
    ({"kind": "classifier", "function": f"{USER}:toxicity", "field": "t", "drop_below": 0.9, "drop_above": 0.1},
     r"^config: curate\.pipeline\.0\.classifier: drop_below \(0\.9\) is above drop_above \(0\.1\)"),
    ({"kind": "blocklist"},
     r"^config: curate\.pipeline\.0\.blocklist: give at least one of 'words', 'regexes', 'url_domains' \(files\)$"),
    ({"kind": "blocklist", "words": "w.txt", "max_hits": 0},
     r"^config: curate\.pipeline\.0\.max_hits: Input should be greater than or equal to 1$"),
])
def test_bad_safety_configs_are_one_line_errors(entry, message):
    with pytest.raises(CurricleError, match=message):
        parse_config({"sources": [{"kind": "synthetic", "skill": "copy", "domain": "copy"}],
                      "curate": {"pipeline": [entry]}})
