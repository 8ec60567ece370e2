import json
import shutil

import pytest

from curricle.errors import CurricleError
from curricle.probes import SuiteConfig, builtin_tasks, parse_task, probe_checkpoints, read_rows
from curricle.probes.checkpoints import find_checkpoints, position_from_name


@pytest.fixture(scope="module")
def tasks():
    return builtin_tasks(SuiteConfig(n=6, tasks=["copy", "agreement", "arithmetic"]))


def test_probe_a_run_then_rerun_scores_nothing_new(probe_run, tasks, tmp_path):
    run_dir, _ = probe_run
    out, cache = tmp_path / "probes.jsonl", tmp_path / "cache"
    first = probe_checkpoints([run_dir], tasks, out, cache)
    assert (first.checkpoints, first.scored, first.cached) == (3, 9, 0)
    rows = read_rows(out)
    assert [(r["step"], r["task"]) for r in rows] == [(s, t.name) for s in (4, 8, 12) for t in tasks]
    assert [r["tokens"] for r in rows[::3]] == [4 * 8 * 32, 8 * 8 * 32, 12 * 8 * 32]  # from trainer_state.json
    assert all(r["run"] == str(run_dir) and not r["cached"] and r["duplicate_of"] is None for r in rows)
    r = next(x for x in rows if x["task"] == "agreement")
    assert r["schema"] == "curricle.probe/1" and r["discrete"] == "acc" and r["continuous"] == "prob"
    assert r["chance"]["acc"] == 0.5 and 0 <= r["metrics"]["acc"] <= 1 and "acc_se" in r["metrics"]

    again = probe_checkpoints([run_dir], tasks, out, cache)
    assert (again.scored, again.cached) == (0, 9)
    assert [x["metrics"] for x in read_rows(out)] == [x["metrics"] for x in rows]
    assert all(x["cached"] for x in read_rows(out))

    # A new task: only it is scored.
    extra = parse_task({"task": "sum", "output_type": "multiple_choice",
                        "items": [{"prompt": "1+1=", "target": "2", "distractors": ["3", "11"]}]}, "t")
    grown = probe_checkpoints([run_dir], [*tasks, extra], tmp_path / "p.json", cache)
    assert (grown.scored, grown.cached) == (3, 9)
    assert len(read_rows(tmp_path / "p.json")) == 12  # .json: {"schema", "rows"}
    assert json.loads((tmp_path / "p.json").read_text())["schema"] == "curricle.probe/1"


def test_identical_checkpoints_are_flagged_not_rescored(probe_run, tasks, tmp_path):
    run_dir, _ = probe_run
    series = tmp_path / "series"
    for name, src in (("step100", "step_4"), ("step200", "step_8"), ("step300-tokens1.5M", "step_8")):
        shutil.copytree(run_dir / "checkpoints" / src, series / name)
        (series / name / "trainer_state.json").unlink()  # an external series: positions from names
    res = probe_checkpoints([series], tasks, tmp_path / "p.jsonl")
    assert res.duplicates == {str(series / "step300-tokens1.5M"): str(series / "step200")}
    assert (res.scored, res.cached) == (6, 3)
    rows = read_rows(tmp_path / "p.jsonl")
    dup = [r for r in rows if r["duplicate_of"]]
    assert len(dup) == 3 and all(r["cached"] and r["step"] == 300 and r["tokens"] == 1_500_000 for r in dup)
    orig = {r["task"]: r["metrics"] for r in rows if r["step"] == 200}
    assert all(r["metrics"] == orig[r["task"]] for r in dup)
    assert {r["run"] for r in rows} == {str(series)}


def test_find_checkpoints_accepts_runs_series_and_single_checkpoints(probe_run, tmp_path):
    run_dir, _ = probe_run
    refs = find_checkpoints([run_dir, run_dir / "checkpoints" / "step_8"])  # deduplicated
    assert [(r.step, r.run) for r in refs] == [(4, run_dir), (8, run_dir), (12, run_dir)]
    with pytest.raises(CurricleError, match="no such"):
        find_checkpoints([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurricleError, match="not a run"):
        find_checkpoints([tmp_path / "empty"])


@pytest.mark.parametrize("name, expected", [
    ("step1000", (1000, None)), ("step_20", (20, None)), ("global_step300", (300, None)),
    ("step1000-tokens4B", (1000, 4_000_000_000)), ("step20000-tokens84B", (20000, 84_000_000_000)),
    ("step5-tokens2.5M", (5, 2_500_000)), ("main", (None, None)), ("checkpoint-tokens512K", (None, 512_000)),
])
def test_position_from_directory_names(name, expected):
    assert position_from_name(name) == expected
