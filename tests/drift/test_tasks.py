"""Task sets as sides of ``curricle drift``: two literal task files (a known prompt-length
shift, a new skill, exact prompt overlap), halves of one task file, a config's tasks, the verb."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from curricle.cli import app
from curricle.drift.command import load_side
from curricle.drift.compare import compare
from curricle.drift.config import DriftConfig
from curricle.drift.stats import js_distance
from curricle.drift.tasks import load_tasks
from curricle.drift.text import share_words
from curricle.errors import CurricleError

INSTRUCTION = "Answer with a number only. "  # five words, 27 characters


def math(i: int, skill: str, instruction: str = "") -> dict:
    a, b = 10 + i, 3 + i % 7
    op, word, value = ("+", "plus", a + b) if skill == "add" else ("-", "minus", a - b)
    # two templates, alternating: 5 words ("What is 12 plus 5?") or 3 ("Compute 12 + 5.")
    prompt = f"What is {a} {word} {b}?" if i % 2 == 0 else f"Compute {a} {op} {b}."
    return {"id": f"{skill}-{i}", "task": "math", "skill": skill, "prompt": instruction + prompt,
            "completion": f" {value}", "difficulty": {"add": 1 + i % 2, "sub": 3}[skill]}


def copy(i: int) -> dict:
    return {"id": f"copy-{i}", "task": "copy", "skill": "copy", "prompt": f"Repeat the word: w{i}",
            "completion": f" w{i}", "difficulty": 1}


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def task_files(tmp_path):
    old = [math(i, "add") for i in range(80)] + [copy(i) for i in range(60)]
    # NEW: every math prompt gets the instruction (+5 words, +27 characters), a new skill (sub),
    # and copy keeps 40 of its 60 items (20..59) and gains 20 new ones (60..79).
    new = ([math(i, "add", INSTRUCTION) for i in range(60)] + [math(i, "sub", INSTRUCTION) for i in range(40)]
           + [copy(i) for i in range(20, 80)])
    return write(tmp_path / "v1.jsonl", old), write(tmp_path / "v2.jsonl", new)


def check(result: dict, section: str, domain: str | None, statistic: str) -> dict:
    return next(c for c in result["checks"]
                if (c["section"], c["domain"], c["statistic"]) == (section, domain, statistic))


def test_two_literal_task_files(task_files):
    old, new = load_tasks(task_files[0]), load_tasks(task_files[1])
    assert (old.kind, sorted(old.domains)) == ("tasks", ["copy", "math"])
    assert {d: docs.n_docs for d, docs in new.domains.items()} == {"copy": 60, "math": 100}
    share_words(old, new)
    result = compare(old, new, DriftConfig(null_splits=20))

    # the prompt-length shift: +5 words and +27 characters at every quantile, in math only
    words = check(result, "metadata", "math", "wasserstein/prompt_words")
    assert (words["detail"]["old_mean"], words["detail"]["new_mean"]) == (4.0, 9.0)
    assert words["detail"]["quantile_shift"] == {"q10": 5.0, "q25": 5.0, "q50": 5.0, "q75": 5.0, "q90": 5.0}
    assert words["value"] == 5.0 and words["verdict"] == "DRIFT"  # W1 = 5 words, OLD's sd is 1
    chars = check(result, "metadata", "math", "wasserstein/prompt_chars")
    # 27 characters more; the top tenth are sub's prompts, whose "minus" is a character longer than "plus"
    assert chars["detail"]["quantile_shift"] == {"q10": 27.0, "q25": 27.0, "q50": 27.0, "q75": 27.0, "q90": 28.0}
    assert chars["verdict"] == "DRIFT"
    assert check(result, "metadata", "copy", "wasserstein/prompt_words")["value"] == 0.0

    # the new skill: in the whole set and in its task
    skills = check(result, "tasks", None, "skill_js")
    assert skills["detail"]["old"] == {"add": round(80 / 140, 6), "copy": round(60 / 140, 6), "sub": 0.0}
    assert skills["detail"]["new"] == {"add": 0.375, "copy": 0.375, "sub": 0.25}
    assert skills["detail"]["only_in_new"] == ["sub"] and skills["detail"]["only_in_old"] == []
    assert skills["value"] == pytest.approx(js_distance([80, 60, 0], [60, 60, 40]), abs=1e-6)
    assert skills["verdict"] == "DRIFT"
    in_math = check(result, "tasks", "math", "skill_js")
    assert in_math["detail"]["new"] == {"add": 0.6, "sub": 0.4} and in_math["verdict"] == "DRIFT"
    levels = check(result, "tasks", "math", "level_js")
    assert levels["detail"]["old"] == {"1.0": 0.5, "2.0": 0.5, "3.0": 0.0}
    assert levels["detail"]["new"] == {"1.0": 0.3, "2.0": 0.3, "3.0": 0.4}
    for statistic in ("skill_js", "level_js"):  # one skill, one level on both sides
        assert (check(result, "tasks", "copy", statistic)["value"], check(result, "tasks", "copy", statistic)["verdict"]) \
            == (0.0, "OK")

    # exact overlap of prompts, and the lineage by item id
    overlap = result["lineage"]["overlap"]["exact"]
    assert overlap["tasks"] == {"copy": {"new": 60, "in_old": 40, "share": round(40 / 60, 6)},
                                "math": {"new": 100, "in_old": 0, "share": 0.0}}
    assert overlap["total"] == {"new": 160, "in_old": 40, "share": 0.25}
    lin = result["lineage"]["domains"]
    assert (lin["copy"]["retained"], lin["copy"]["added"], lin["copy"]["removed"]) == (40, 20, 20)
    assert (lin["math"]["retained"], lin["math"]["added"], lin["math"]["removed"]) == (60, 40, 20)

    # the words that moved most in math, read back from the shared word bins
    moved = check(result, "tokens", "math", "unigram_js")["detail"]["moved"]
    assert sorted(m["text"] for m in moved[:5]) == ["a", "answer", "number", "only", "with"]
    assert {(m["old"], m["new"]) for m in moved[:5]} == {(0.0, 0.1)}  # 100 of NEW's 1000 math words each
    assert "funnels" not in result["lineage"]


def test_halves_of_one_task_file_give_no_drift(tmp_path):
    rng = np.random.default_rng(0)
    records = []
    for i in range(400):
        skill = ["add", "sub", "copy"][int(rng.integers(3))]
        rec = math(int(rng.integers(1000)), skill) if skill != "copy" else copy(int(rng.integers(1000)))
        records.append({**rec, "id": f"item-{i}", "task": "copy" if skill == "copy" else "math",
                        "difficulty": int(rng.integers(1, 4))})
    # each task's items alternately to one half or the other, as the calibration splits OLD
    by_task = [[r for r in records if r["task"] == t] for t in ("copy", "math")]
    a = write(tmp_path / "a.jsonl", [r for rs in by_task for r in rs[0::2]])
    b = write(tmp_path / "b.jsonl", [r for rs in by_task for r in rs[1::2]])
    old, new = load_tasks(a), load_tasks(b)
    share_words(old, new)
    result = compare(old, new, DriftConfig(null_splits=20))
    assert result["counts"]["DRIFT"] == 0
    stats = {(c["section"], c["domain"], c["statistic"]) for c in result["checks"]}
    assert {("tasks", None, "skill_js"), ("tasks", "math", "skill_js"), ("tasks", "math", "level_js"),
            ("tasks", "copy", "level_js"), ("metadata", "math", "wasserstein/completion_words")} <= stats


def test_a_config_or_run_names_its_tasks(tmp_path, task_files):
    cfg = tmp_path / "finetune.yaml"
    cfg.write_text(f"model: {{name: x}}\ntasks:\n"
                   f"  - {{name: arith, skill: arithmetic, source: {{kind: jsonl, path: {task_files[0]}}}}}\n")
    corpus = load_side(cfg, "OLD")
    assert list(corpus.domains) == ["arith"] and corpus.domains["arith"].n_docs == 140
    assert set(corpus.domains["arith"].label("skill")) == {"add", "copy"}  # the records' own skills win
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"kind": "finetune", "schema": 1, "config_hash": "x"}))
    (run / "config.yaml").write_text(cfg.read_text())
    assert load_side(run, "NEW").domains["arith"].n_docs == 140
    cfg.write_text("tasks: []\n")
    with pytest.raises(CurricleError, match="no 'tasks' list"):
        load_side(cfg, "OLD")
    cfg.write_text("tasks:\n  - {name: t, source: {kind: jsonl, path: nowhere.jsonl}}\n")
    with pytest.raises(CurricleError, match="task t: no such file: nowhere.jsonl"):
        load_side(cfg, "OLD")


def test_the_verb_on_two_task_files(task_files, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["drift", str(task_files[0]), str(task_files[1]), "--out", str(out),
                                   "--fail-on", "drift"])
    assert res.exit_code == 1, res.output
    result = json.loads((out / "drift.json").read_text())
    assert (result["old"]["kind"], result["new"]["kind"]) == ("tasks", "tasks")
    assert result["lineage"]["overlap"]["exact"]["total"]["in_old"] == 40


def test_newcombe_interval_on_literal_counts():
    from curricle.drift.stats import newcombe_difference, wilson

    assert wilson(0, 10) == (0.0, pytest.approx(3.8416 / 13.8416, abs=1e-4))  # z^2 / (n + z^2)
    d, lo, hi = newcombe_difference(10, 10, 0, 10)
    assert (d, lo) == (-1.0, -1.0) and hi == pytest.approx(-1 + 2 ** 0.5 * 3.8416 / 13.8416, abs=1e-4)
    d, lo, hi = newcombe_difference(30, 60, 30, 60)
    assert d == 0.0 and lo == pytest.approx(-hi) and 0.17 < hi < 0.18


def pass_and_fail(tmp_path):
    """A tiny checkpoint, and two configs of one task of ten copy items: OLD's grader passes
    every completion, NEW's none."""
    from tests.finetune.conftest import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    items = tmp_path / "ten.jsonl"
    write(items, [copy(i) for i in range(10)])
    configs = {}
    for name, pattern in (("old", ".*"), ("new", "(?!)")):
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(f"tasks:\n  - {{name: t, source: {{kind: jsonl, path: {items}}}, "
                                 f"grader: {{kind: regex, pattern: '{pattern}'}}}}\n")
    return ckpt, configs


def test_pass_rates_under_a_checkpoint(tmp_path, task_files):
    from curricle.drift.passrate import pass_rate_shift, pass_rates

    ckpt, configs = pass_and_fail(tmp_path)
    sides = {name: pass_rates(ckpt, load_side(cfg, name), samples=2, batch_size=8) for name, cfg in configs.items()}
    assert sides["old"] == {"t": {"items": 10, "samples": 2, "passed": 20, "graded": 20, "ungraded": {}}}
    assert sides["new"]["t"]["passed"] == 0
    shift = pass_rate_shift(sides["old"], sides["new"])
    u = 3.8416 / 23.8416  # Wilson's upper bound of 0 of 20
    assert shift["tasks"]["t"]["difference"] == -1.0 and shift["tasks"]["t"]["interval"][0] == -1.0
    assert shift["tasks"]["t"]["interval"][1] == pytest.approx(-1 + 2 ** 0.5 * u, abs=1e-4)
    assert shift["total"] == shift["tasks"]["t"]


def test_two_task_sets_compared_on_a_checkpoint_s_pass_rate(tmp_path):
    from curricle.drift.compare import compare
    from curricle.drift.config import DriftConfig

    ckpt, configs = pass_and_fail(tmp_path)
    sides = {name: load_side(cfg, name) for name, cfg in configs.items()}
    result = compare(sides["old"], sides["new"], DriftConfig(ref_model=ckpt, ref_samples=2, null_splits=5))
    rates = {c["domain"]: c for c in result["checks"] if c["section"] == "pass_rate"}
    assert set(rates) == {"t", None}  # the task and the whole set
    t = rates["t"]
    assert (t["value"], t["detail"]["old"], t["detail"]["new"], t["detail"]["difference"]) == (1.0, 1.0, 0.0, -1.0)
    assert t["detail"]["graded"] == [20, 20] and t["detail"]["interval"][0] == -1.0
    assert t["verdict"] == "WARN" and not t["reliable"]  # 10 items a side: too few to say DRIFT
    assert not [c for c in result["checks"] if c["section"] == "reference"]  # hashed words: no model loss


def test_drift_md_shows_the_pass_rates(tmp_path):
    from typer.testing import CliRunner

    from curricle.cli import app

    ckpt, configs = pass_and_fail(tmp_path)
    cfg = tmp_path / "drift.yaml"
    cfg.write_text("null_splits: 5\nref_samples: 2\n")
    res = CliRunner().invoke(app, ["drift", str(configs["old"]), str(configs["new"]), "--out", str(tmp_path / "out"),
                                   "--ref-model", str(ckpt), "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "out" / "drift.md").read_text()
    assert "| t | 1.0 | 0.0 | -1.0 | [-1.0, " in text


def test_ref_model_may_be_a_post_training_run(tmp_path):
    from curricle.drift.sections.pass_rate import checkpoint_of
    from curricle.errors import CurricleError

    (tmp_path / "run" / "final").mkdir(parents=True)
    (tmp_path / "run" / "final" / "config.json").write_text("{}")
    assert checkpoint_of(tmp_path / "run") == tmp_path / "run" / "final"
    assert checkpoint_of(tmp_path / "run" / "final") == tmp_path / "run" / "final"
    with pytest.raises(CurricleError, match="--ref-model: .* neither an HF checkpoint"):
        checkpoint_of(tmp_path)
