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
