"""The functions behind `curricle probe` and `curricle map`."""

import pytest
import yaml

from curricle.emergence.command import map_command
from curricle.errors import CurricleError
from curricle.probes import read_rows
from curricle.probes.command import probe_command


def test_probe_command_probes_exports_and_checks(probe_run, tmp_path):
    run_dir, _ = probe_run
    (tmp_path / "probe.yaml").write_text(yaml.safe_dump({"suite": {"n": 4, "tasks": ["copy", "brackets", "prose-loss"],
                                                                   "text_passages": 2}, "batch_size": 8}))
    out = tmp_path / "probes.jsonl"
    res = probe_command([run_dir], out, config_path=tmp_path / "probe.yaml", export_lm_eval=tmp_path / "lm_eval")
    assert res["tasks"] == ["copy", "brackets", "prose-loss"]  # prose-loss: the run's store, from its config
    assert res["scored"] == 9 and res["contamination"] == {}
    assert (tmp_path / "lm_eval" / "curricle_prose_loss.yaml").is_file()
    assert (tmp_path / ".probe-cache" / "scores").is_dir()
    again = probe_command([run_dir], out, config_path=tmp_path / "probe.yaml")
    assert again["scored"] == 0 and again["cached"] == 9

    result = map_command([out], tmp_path / "map")
    assert set(next(iter(result["runs"].values()))["skills"]) == {"copy", "brackets", "prose-loss"}
    assert (tmp_path / "map" / "emergence.csv").is_file()
    assert len(read_rows(out)) == 9


def test_probe_command_errors(tmp_path):
    with pytest.raises(CurricleError, match="--export-lm-eval"):
        probe_command([])
    with pytest.raises(CurricleError, match="--out"):
        probe_command([tmp_path])
    (tmp_path / "bad.yaml").write_text("suite: {n: 1}\n")
    with pytest.raises(CurricleError, match="suite.n"):
        probe_command([], config_path=tmp_path / "bad.yaml", export_lm_eval=tmp_path / "x")
    with pytest.raises(CurricleError, match="at least one probe results file"):
        map_command([], tmp_path / "map")


def test_rows_carry_levels_in_sample_and_contamination_into_the_summary(probe_run, tmp_path):
    """The fixture trains 2-digit sums, a few of them one-digit sums. arithmetic@1
    (15 held-out items, fewer than 20) is in-sample, so its hits are expected, not counted."""
    import json

    from curricle.probes.config import ProbeConfig, SuiteConfig

    run_dir, _ = probe_run
    suite = SuiteConfig(n=20, tasks=["arithmetic", "copy"], levels={"arithmetic": ["1", "2c0"], "copy": ["2"]})
    out = tmp_path / "probes.jsonl"
    res = probe_command([run_dir], out, config=ProbeConfig(suite=suite))
    assert res["tasks"] == ["copy@2", "arithmetic@1", "arithmetic@2c0"]
    found = res["contamination"]
    assert set(found) == {"arithmetic@1"} and found["arithmetic@1"] >= 1
    rows = {r["task"]: r for r in read_rows(out)}
    assert (rows["arithmetic@1"]["family"], rows["arithmetic@1"]["level"], rows["arithmetic@1"]["level_index"]) == (
        "arithmetic", "1", 0)
    assert rows["arithmetic@1"]["in_sample"] and rows["arithmetic@1"]["contaminated"] == found["arithmetic@1"]
    assert not rows["arithmetic@2c0"]["in_sample"] and rows["arithmetic@2c0"]["contaminated"] == 0
    assert rows["copy@2"]["family"] == "copy" and rows["copy@2"]["contaminated"] == 0

    result = map_command([out], tmp_path / "map")
    summary = json.loads((tmp_path / "map" / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result["summary"]))
    assert summary["contaminated_items"] == 0 and summary["in_sample_tasks"] == ["arithmetic@1"]
    assert summary["levels"] == 3 and set(summary["frontiers"]) == {"arithmetic", "copy"}
    assert list(next(iter(result["runs"].values()))["families"]["arithmetic"]["levels"]) == ["1", "2c0"]


def test_one_checkpoint_without_a_step_prints_its_scores_with_their_standard_errors(probe_run, checkpoint, tmp_path,
                                                                                   capsys):
    """A model directory of your own (no trainer_state.json, no step in its name) is a column
    named after it, each score with its standard error, as in the results file."""
    import shutil

    from curricle.probes.config import ProbeConfig, SuiteConfig

    model = tmp_path / "models" / "my-model"
    shutil.copytree(checkpoint, model, ignore=shutil.ignore_patterns("trainer_state.json"))
    out = tmp_path / "probes.jsonl"
    capsys.readouterr()
    suite = SuiteConfig(n=4, tasks=["copy", "brackets", "prose-loss"], text_passages=2)
    probe_command([model], out, config=ProbeConfig(suite=suite), data_dir=probe_run[1])
    printed = capsys.readouterr().out
    rows = read_rows(out)
    assert [(r["task"], r["step"]) for r in rows] == [("copy", None), ("brackets", None), ("prose-loss", None)]
    table = printed[printed.index("models: score by checkpoint"):].splitlines()
    assert table[2].split() == ["┃", "task", "┃", "metric", "┃", "my-model", "┃"]
    metric = {"copy": "exact_match", "brackets": "acc", "prose-loss": "logprob"}
    assert rows[2]["metrics"]["logprob"] < -1 and rows[2]["metrics"]["logprob_se"] > 0.005  # a nonzero error shows
    assert [[c.strip() for c in line.split("│")[1:4]] for line in table[4:7]] == [
        [r["task"], metric[r["task"]], f"{r['metrics'][metric[r['task']]]:.2f} ± "
                                       f"{r['metrics'][metric[r['task']] + '_se']:.2f}"] for r in rows]
