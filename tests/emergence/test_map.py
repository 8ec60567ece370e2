"""map_runs on probe rows with known curves: order, censoring, composites, phases, files."""

import csv
import json

import numpy as np
import pytest
import yaml

from curricle.emergence.config import MapConfig
from curricle.emergence.map import map_rows, map_runs
from curricle.errors import CurricleError
from curricle.probes.results import SCHEMA, write_rows

STEPS = [10, 20, 40, 80, 160, 320]


def curve(start: int) -> list[float]:
    """Accuracy that jumps from chance (0.25) to 1.0 at checkpoint ``start`` (None: never)."""
    if start is None:
        return [0.25, 0.26, 0.24, 0.25, 0.26, 0.25]
    return [0.25 if i < start else 1.0 for i in range(len(STEPS))]


def rows_for(run: str, starts: dict[str, int | None], composite: dict[str, list[str]] | None = None) -> list[dict]:
    out = []
    for skill, start in starts.items():
        for step, acc in zip(STEPS, curve(start)):
            out.append({
                "schema": SCHEMA, "run": run, "run_name": run.rsplit("/", 1)[-1], "checkpoint": f"{run}/s{step}",
                "step": step, "tokens": step * 1000, "weights_hash": None, "duplicate_of": None,
                "task": skill, "skill": skill, "task_hash": "h", "output_type": "multiple_choice", "n": 100,
                "composite_of": (composite or {}).get(skill, []),
                "metrics": {"acc": acc, "acc_se": 0.02, "prob": acc, "prob_se": 0.02},
                "discrete": "acc", "continuous": "prob", "chance": {"acc": 0.25, "prob": 0.25},
                "seconds": 0.1, "cached": False,
            })
    return out


@pytest.fixture
def probe_files(tmp_path):
    composite = {"a+b": ["a", "b"]}
    starts = [
        {"a": 1, "b": 2, "a+b": 3, "c": 4, "never": None},
        {"a": 1, "b": 2, "a+b": 4, "c": 3, "never": None},  # c and a+b swap
        {"b": 1, "a": 2, "a+b": 3, "c": 5, "never": None},  # a and b swap
    ]
    files = []
    for i, s in enumerate(starts):
        run = tmp_path / f"seed{i}"
        run.mkdir()
        (run / "config.yaml").write_text(yaml.safe_dump({"mixture": {"schedule": {"kind": "phases", "phases": [
            {"name": "warmup", "steps": 30}, {"name": "main", "steps": 100}, {"name": "anneal"}]}}}))
        f = tmp_path / f"probes{i}.jsonl"
        write_rows(f, rows_for(str(run), s, composite))
        files.append(f)
    return files


def test_map_orders_censors_and_checks_composites(probe_files, tmp_path):
    out = tmp_path / "map"
    result = map_runs(probe_files, out, MapConfig(sigma=0.0, bootstrap=100, permutations=200))
    runs = list(result["runs"].values())
    assert [r["order"] for r in runs] == [["a", "b", "a+b", "c", "never"], ["a", "b", "c", "a+b", "never"],
                                         ["b", "a", "a+b", "c", "never"]]
    first = runs[0]["skills"]
    # a jumps between checkpoints 0 and 1: the 0.625 threshold is half way, in log-tokens.
    assert first["a"]["emergence"]["tokens"] == pytest.approx(np.sqrt(10_000 * 20_000))
    assert first["a"]["emergence"]["step"] == pytest.approx(np.sqrt(10 * 20))
    assert first["never"]["emergence"] is None and not first["never"]["emerged"]
    assert first["never"]["censored_after"] == {"tokens": 320_000.0, "step": 320.0}
    # Phases: warmup is steps 1-30, main 31-130, anneal after.
    # a, b, a+b, c emerge at steps sqrt(10*20), sqrt(20*40), sqrt(40*80), sqrt(80*160).
    assert [first[s]["phase"] for s in ("a", "b", "a+b", "c")] == ["warmup", "warmup", "main", "main"]
    assert first["a+b"]["nearest_boundary"] == "main"
    assert first["c"]["nearest_boundary"] == "anneal"
    assert first["c"]["steps_from_boundary"] == pytest.approx(np.sqrt(80 * 160) - 130)
    summary = {p["phase"]: p["emerged"] for p in runs[0]["phase_summary"]}
    assert summary == {"warmup": 2, "main": 2, "anneal": 0}

    comp = result["composites"]
    assert comp["decided"] == 3 and comp["fraction_no_earlier"] == 1.0

    o = result["ordering"]
    assert o["skills"] == ["a", "a+b", "b", "c", "never"]
    # Pairwise Kendall by hand over (a, a+b, b, c, never): runs 0-1 and 0-2 differ by one swap
    # (tau 0.8), runs 1-2 by two (tau 0.6).
    assert [p["kendall"] for p in o["kendall"]["pairs"]] == pytest.approx([0.8, 0.8, 0.6])
    assert o["kendall"]["mean"] == pytest.approx(2.2 / 3)
    assert o["kendall"]["ci95"][0] <= o["kendall"]["mean"] <= o["kendall"]["ci95"][1]
    assert 0 < o["kendall"]["p_value"] <= 1 and o["spearman"]["mean"] > 0.5

    saved = json.loads((out / "emergence.json").read_text())
    assert saved["schema"] == "curricle.map/1" and saved["ordering"]["kendall"]["mean"] == o["kendall"]["mean"]
    with open(out / "emergence.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 15 and table[0]["skill"] == "a" and table[4]["emerged"] == "False"
    with open(out / "ordering.csv") as f:
        assert len(list(csv.DictReader(f))) == 3


def test_composite_emerging_first_is_caught(tmp_path):
    f = tmp_path / "p.jsonl"
    write_rows(f, rows_for("r", {"a": 3, "b": 1, "a+b": 2}, {"a+b": ["a", "b"]}))
    result = map_runs([f], None, MapConfig(sigma=0.0, bootstrap=0, permutations=0))
    (check,) = result["composites"]["checks"]
    assert check["no_earlier"] is False and result["composites"]["fraction_no_earlier"] == 0.0
    assert "note" in result["ordering"]  # one run: no consistency


def test_variants_and_metrics_are_selectable(probe_files):
    result = map_runs(probe_files[:1], None, MapConfig(sigma=0.0, metric="prob", variant="elbow",
                                                        bootstrap=0, permutations=0))
    a = next(iter(result["runs"].values()))["skills"]["a"]
    assert a["metric"] == "prob"
    assert a["emergence"] == a["emergence_by_variant"]["elbow"]


# --- Ladders: the not-learned rule, frontiers per family, the summary -----------------

NEAR_CHANCE = [0.25, 0.27, 0.24, 0.38, 0.25, 0.26]  # best 0.38: 2.7 SE of 100 items, the old false emergence
SMALL_GAIN = [0.25, 0.28, 0.30, 0.32, 0.33, 0.33]   # 0.08 over chance, far above the noise (SE 0.01)


def level_rows(run: str, name: str, ys: list[float], se: float | None = None, *, level_index: int | None = None,
               composite: list[str] | None = None, in_sample: bool = False, contaminated: int | None = 0) -> list[dict]:
    family, _, level = name.partition("@")
    out = []
    for step, acc in zip(STEPS, ys):
        s = se if se is not None else (acc * (1 - acc) / 100) ** 0.5
        out.append({
            "schema": SCHEMA, "run": run, "run_name": run, "checkpoint": None, "step": step, "tokens": step * 1000,
            "weights_hash": None, "duplicate_of": None, "task": name, "skill": name, "task_hash": "h",
            "output_type": "multiple_choice", "n": 100, "composite_of": composite or [],
            "family": family, "level": level or None, "level_index": level_index, "in_sample": in_sample,
            "contaminated": contaminated,
            "metrics": {"acc": acc, "acc_se": s}, "discrete": "acc", "continuous": "acc", "chance": {"acc": 0.25},
            "seconds": 0.1, "cached": False,
        })
    return out


def ladder_rows(run: str = "r") -> list[dict]:
    return [
        # copy: 2 and 4 emerge, 8 is noise near chance (listed first, placed by its level_index).
        *level_rows(run, "copy@8", NEAR_CHANCE, level_index=2),
        *level_rows(run, "copy@2", curve(1), 0.02, level_index=0),
        *level_rows(run, "copy@4", curve(3), 0.02, level_index=1),
        # brackets: both levels emerge, no frontier.
        *level_rows(run, "brackets@1", curve(1), 0.02, level_index=0),
        *level_rows(run, "brackets@2", curve(2), 0.02, level_index=1),
        # agreement: 0 emerges; 1 learns a little, above the noise but under min_gain.
        *level_rows(run, "agreement@0", curve(2), 0.02, level_index=0),
        *level_rows(run, "agreement@1", SMALL_GAIN, 0.01, level_index=1),
        # arithmetic: an in-sample level emerges (and is found in training), 2c0 does not.
        *level_rows(run, "arithmetic@1", curve(1), 0.02, level_index=0, in_sample=True, contaminated=7),
        *level_rows(run, "arithmetic@2c0", curve(None), 0.02, level_index=1),
        # A composite of two levels, after both; a skill without a level.
        *level_rows(run, "r@2", curve(1), 0.02), *level_rows(run, "u@2", curve(2), 0.02),
        *level_rows(run, "r+u@2", curve(4), 0.02, composite=["r@2", "u@2"]),
        *level_rows(run, "code-syntax", curve(3), 0.02),
    ]


def test_the_not_learned_rule_and_the_status_of_each_level():
    result = map_rows(ladder_rows(), MapConfig(sigma=0.0, bootstrap=0, permutations=0))
    skills = result["runs"]["r"]["skills"]
    assert skills["copy@8"]["status"] == "not_learned" and skills["copy@8"]["emergence"] is None
    assert skills["copy@8"]["z_score"] == pytest.approx(0.13 / (0.38 * 0.62 / 100) ** 0.5)  # 2.68
    assert skills["agreement@1"]["status"] == "below_min_gain"
    assert skills["copy@4"]["status"] == "emerged" and skills["copy@4"]["z_score"] == pytest.approx(0.75 / 0.02)
    assert (skills["copy@8"]["family"], skills["copy@8"]["level"]) == ("copy", "8")
    assert skills["code-syntax"]["family"] == "code-syntax" and skills["code-syntax"]["level"] is None
    # At z = 2 the noisy level would have emerged.
    loose = map_rows(ladder_rows(), MapConfig(sigma=0.0, bootstrap=0, permutations=0, z=2.0))
    assert loose["runs"]["r"]["skills"]["copy@8"]["status"] == "emerged"


def test_families_line_up_their_levels_and_find_the_frontier():
    families = map_rows(ladder_rows(), MapConfig(sigma=0.0, bootstrap=0, permutations=0))["runs"]["r"]["families"]
    assert list(families) == ["copy", "brackets", "agreement", "arithmetic", "r", "u", "r+u"]
    copy = families["copy"]
    assert copy["levels"] == ["2", "4", "8"] and copy["skills"] == ["copy@2", "copy@4", "copy@8"]
    assert (copy["emerged"], copy["censored"], copy["frontier"], copy["has_frontier"], copy["monotone"]) == (
        ["2", "4"], ["8"], "4", True, True)
    assert families["brackets"]["frontier"] == "2" and not families["brackets"]["has_frontier"]
    assert families["agreement"]["has_frontier"] and families["agreement"]["censored"] == ["1"]
    arith = families["arithmetic"]
    assert arith["in_sample"] == ["1"] and arith["emerged"] == [] and arith["frontier"] is None
    assert not arith["has_frontier"]


def test_the_summary_counts_from_the_map(tmp_path):
    f = tmp_path / "p.jsonl"
    write_rows(f, ladder_rows())
    result = map_runs([f], tmp_path / "map", MapConfig(sigma=0.0, bootstrap=0, permutations=0))
    summary = result["summary"]
    # Emerged levels: copy@2, copy@4, brackets@1, brackets@2, agreement@0, r@2, u@2, r+u@2 (8);
    # not arithmetic@1 (in-sample), not code-syntax (no level).
    assert summary["emerged_levels"] == 8 and summary["emerged_tasks"] == 10 and summary["levels"] == 12
    assert summary["families_with_frontier"] == 2  # copy, agreement
    assert summary["contaminated_items"] == 0  # arithmetic@1's 7 are in-sample
    assert (summary["composites_after_components"], summary["composite_checks"]) == (1, 1)
    assert summary["in_sample_tasks"] == ["arithmetic@1"] and summary["z"] == 3.0
    assert summary["frontiers"]["copy"] == "4" and summary["frontiers"]["arithmetic"] is None
    line = (tmp_path / "map" / "summary.json").read_text()
    assert line.count("\n") == 1 and json.loads(line) == summary

    # A held-out item found in training counts; rows that never checked give null, not 0.
    rows = ladder_rows()
    for r in rows:
        if r["task"] == "copy@2":
            r["contaminated"] = 2
    assert map_rows(rows, MapConfig(bootstrap=0, permutations=0))["summary"]["contaminated_items"] == 2
    # ...counted from the rows even where a curve is too short to map (one checkpoint).
    first = map_rows([r for r in rows if r["step"] == STEPS[-1]], MapConfig(bootstrap=0, permutations=0))
    assert first["summary"]["contaminated_items"] == 2 and first["summary"]["levels"] == 0
    assert first["contamination"] == {"items": 2, "by_task": {"copy@2": 2}, "in_sample": ["arithmetic@1"]}
    for r in rows:
        r["contaminated"] = None
    assert map_rows(rows, MapConfig(bootstrap=0, permutations=0))["summary"]["contaminated_items"] is None


def test_two_tasks_of_one_skill_are_refused():
    rows = [{**r, "skill": "arithmetic"} for r in rows_for("r", {"arith_mc": 1, "arith_gen": 3, "copy": 2})
            if r["task"] != "copy"] + [r for r in rows_for("r", {"copy": 2})]
    config = MapConfig(sigma=0.0, bootstrap=0, permutations=0)
    with pytest.raises(CurricleError) as err:
        map_rows(rows, config)
    assert str(err.value) == ("run r: tasks arith_mc and arith_gen both have skill 'arithmetic' (the map has one "
                              "entry per skill: give one its own skill, or map one with tasks:)")
    # mapping one of them is fine
    one = map_rows(rows, MapConfig(sigma=0.0, bootstrap=0, permutations=0, tasks=["arith_gen", "copy"]))
    skills = one["runs"]["r"]["skills"]
    assert set(skills) == {"arithmetic", "copy"} and skills["arithmetic"]["task"] == "arith_gen"


def axis_row(task: str, step: int, tokens: int | None, acc: float, composite_of: list[str] | None = None) -> dict:
    return {"run": None, "task": task, "skill": task, "step": step, "tokens": tokens, "composite_of": composite_of or [],
            "output_type": "multiple_choice", "discrete": "acc", "continuous": "prob",
            "metrics": {"acc": acc, "acc_se": 0.01}, "chance": {"acc": 0.25}}


def test_a_checkpoint_without_tokens_puts_the_curve_in_step_order():
    # the last checkpoint has no token count: the curve is read in steps, in step order
    rows = [axis_row("t", 1000, 4_000, 0.25), axis_row("t", 2000, 8_000, 0.25), axis_row("t", 4000, 16_000, 1.0),
            axis_row("t", 8000, None, 1.0)]
    s = map_rows(rows, MapConfig(sigma=0.0, bootstrap=0, permutations=0))["runs"]["-"]["skills"]["t"]
    assert s["axis"] == "step"
    assert s["positions"] == [{"step": st, "tokens": None} for st in (1000, 2000, 4000, 8000)]
    assert s["scores"] == [0.25, 0.25, 1.0, 1.0]
    assert s["emergence"] == {"tokens": None, "step": pytest.approx(2000 * 2 ** 0.5)}
    assert s["left_censored"] is False


def test_one_axis_per_run_when_one_skill_lacks_tokens():
    # "early" has tokens everywhere, "late" lacks them at its first checkpoint: both are read in
    # steps, so early (between 200 and 300) orders before late (between 300 and 400), and the
    # composite late is no earlier than its component
    rows = [axis_row("early", 100 * (i + 1), 100_000 * (i + 1), a) for i, a in enumerate([0.25, 0.25, 1.0, 1.0])]
    rows += [axis_row("late", 100 * (i + 1), 100_000 * (i + 1) if i else None, a, ["early"])
             for i, a in enumerate([0.25, 0.25, 0.25, 1.0])]
    result = map_rows(rows, MapConfig(sigma=0.0, bootstrap=0, permutations=0))
    run = result["runs"]["-"]
    assert [run["skills"][s]["axis"] for s in ("early", "late")] == ["step", "step"]
    assert run["skills"]["early"]["emergence"] == {"tokens": None, "step": pytest.approx(200 * 1.5 ** 0.5)}
    assert run["skills"]["late"]["emergence"] == {"tokens": None, "step": pytest.approx(300 * (4 / 3) ** 0.5)}
    assert run["order"] == ["early", "late"]
    check, = result["composites"]["checks"]
    assert check["no_earlier"] is True
    assert check["composite_at"] == pytest.approx(300 * (4 / 3) ** 0.5)
    assert check["components_at"] == {"early": pytest.approx(200 * 1.5 ** 0.5)}
