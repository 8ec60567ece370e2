"""Two training runs as the sides of ``curricle drift``: the served tokens read from literal
metrics lines, the recorded snapshot, and two tiny real runs (a changed weight is flagged at its
domain's served share; the same config twice drifts nowhere)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from curricle.cli import app
from curricle.config import parse_config
from curricle.drift.config import DriftConfig
from curricle.drift.corpus import Corpus, DomainData, DomainDocs
from curricle.drift.runs import Served, read_served, recorded_snapshot
from curricle.drift.sections.mixture import MixtureSection
from curricle.errors import CurricleError
from curricle.prepare.command import prepare_run
from curricle.report.command import report_command
from curricle.train.command import train_run
from tests.train.conftest import run_config_dict


def test_served_tokens_per_step_from_the_metrics_lines(tmp_path):
    lines = [{"step": 1, "served/code": 10, "served/prose": 0},
             {"step": 2, "served/code": 20, "served/prose": 30},
             {"step": 3, "served/code": 99, "served/prose": 99},   # rewritten below by a resumed run
             {"step": 3, "served/code": 20, "served/prose": 70},
             {"step": 2, "eval/loss": 1.0}]                         # a line without counts changes nothing
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 4, "serv')  # killed mid-line
    served = read_served(path)
    assert served.domains == ["code", "prose"] and served.steps.tolist() == [1, 2, 3]
    assert served.tokens.tolist() == [[10, 0], [10, 30], [0, 40]]
    assert served.totals() == {"code": 20, "prose": 70}
    assert served.shares() == pytest.approx({"code": 20 / 90, "prose": 70 / 90})
    assert served.to_json() == {"steps": 3, "last_step": 3, "tokens": {"code": 20, "prose": 70},
                                "shares": {"code": 0.222222, "prose": 0.777778}}
    path.write_text('{"step": 1, "loss": 2.0}\n')
    with pytest.raises(CurricleError, match="no served/<domain> token counts"):
        read_served(path)


def test_halves_of_a_run_split_its_steps_and_the_mixture_compares_served_shares():
    served = Served(["code", "prose"], np.arange(1, 5), np.array([[1, 3], [2, 2], [3, 1], [4, 0]]))
    a, b = served.halves(np.random.default_rng(0))
    assert sorted(a.steps.tolist() + b.steps.tolist()) == [1, 2, 3, 4] and len(a.steps) == len(b.steps) == 2
    assert {k: a.totals()[k] + b.totals()[k] for k in ("code", "prose")} == {"code": 10, "prose": 6}

    def side(shares_of: Served | None) -> Corpus:
        data = DomainData("code", np.asarray(["c"], dtype=object), np.ones(1, dtype=np.int64),
                          np.arange(2, dtype=np.int64), np.ones(1, dtype=np.int64))
        prose = DomainData("prose", np.asarray(["p"], dtype=object), np.ones(3, dtype=np.int64),
                           np.array([0, 3], dtype=np.int64), np.array([3], dtype=np.int64))
        return Corpus("x", "run", {"code": DomainDocs(data, np.arange(1)), "prose": DomainDocs(prose, np.arange(1))},
                      vocab_size=2, served=shares_of)

    # the store's own shares are 1/4 and 3/4; the run served 10/16 and 6/16
    assert side(None).mixture_shares() == {"code": 0.25, "prose": 0.75}
    measures = {m.statistic + "/" + str(m.domain): m for m in
                MixtureSection(DriftConfig()).measure(side(None), side(served), detail=True)}
    assert measures["share/code"].value == pytest.approx(10 / 16 - 0.25)
    assert measures["share/code"].detail == {"old": 0.25, "new": 0.625, "delta": 0.375}
    half_a, half_b = side(served).halves(np.random.default_rng(0))
    assert half_a.served.steps.tolist() == a.steps.tolist() and half_b.served.steps.tolist() == b.steps.tolist()


def test_the_snapshot_a_run_recorded(tmp_path):
    assert recorded_snapshot(tmp_path, {"kind": "pretrain", "data": {"snapshot_id": "abc"}}) == "abc"
    assert recorded_snapshot(tmp_path, None) is None
    (tmp_path / "data.json").write_text(json.dumps({"snapshot_id": "def", "store": "data"}))
    assert recorded_snapshot(tmp_path, None) == "def"


def config(data_dir, weights: dict[str, float]) -> dict:
    """A 12-step micro run on three synthetic domains of 80 documents, at fixed ``weights``."""
    cfg = run_config_dict(data_dir, steps=12, eval_every=100, checkpoint={"every": 100, "keep_last": 1})
    for source in cfg["sources"]:
        source["n_docs"] = 80
    cfg["mixture"]["schedule"] = {"kind": "static", "weights": weights}
    return cfg


EVEN = {"arithmetic": 1, "copy": 1, "agreement": 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift-runs")
    prepare_run(parse_config(config(root / "data", EVEN)), progress=False)
    out = {}
    for name, weights in (("a", EVEN), ("again", EVEN), ("more_copy", {**EVEN, "copy": 3})):
        train_run(parse_config(config(root / "data", weights)), root / name, progress=False)
        out[name] = root / name
    return out


def drift(old, new, out) -> dict:
    res = CliRunner().invoke(app, ["drift", str(old), str(new), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads((out / "drift.json").read_text())


def test_a_changed_weight_is_flagged_at_its_domains_served_share(runs, tmp_path):
    result = drift(runs["a"], runs["more_copy"], tmp_path / "out")
    flagged = {(d["section"], d["domain"], d["statistic"]): d["verdict"] for d in result["drifted"]}
    assert flagged[("mixture", "copy", "share")] == "DRIFT"
    # the same store on both sides: only what was served moved
    assert {s for s, _, _ in flagged} == {"mixture"}
    old, new = result["old"], result["new"]
    assert old["kind"] == new["kind"] == "run" and old["store"] == new["store"]
    assert old["served"]["steps"] == new["served"]["steps"] == 12
    assert old["served"]["shares"]["copy"] == pytest.approx(1 / 3, abs=0.02)
    assert new["served"]["shares"]["copy"] == pytest.approx(3 / 5, abs=0.02)
    share = next(c for c in result["checks"] if c["statistic"] == "share" and c["domain"] == "copy")
    assert share["detail"]["old"] == old["served"]["shares"]["copy"]
    assert share["detail"]["new"] == new["served"]["shares"]["copy"]
    # the report page says what each run served
    page = report_command(tmp_path / "out", console=Console(file=io.StringIO())).read_text()
    assert "run of 12 steps on" in page and "OLD: served share" in page and "A run&#x27;s side shows" in page


def test_the_same_config_twice_drifts_nowhere(runs, tmp_path):
    result = drift(runs["a"], runs["again"], tmp_path / "out")
    assert result["counts"]["DRIFT"] == 0
    assert result["old"]["served"] == result["new"]["served"]
    assert all(c["value"] == 0 for c in result["checks"] if c["section"] == "mixture")
    assert result["lineage"]["total"]["added"] == result["lineage"]["total"]["removed"] == 0


def test_a_run_of_another_kind_is_refused(runs, tmp_path):
    run = tmp_path / "ft"
    run.mkdir()
    for name in ("config.yaml", "metrics.jsonl"):
        (run / name).write_text((runs["a"] / name).read_text())
    (run / "run.json").write_text(json.dumps({"kind": "finetune", "schema": 1}))
    res = CliRunner().invoke(app, ["drift", str(runs["a"]), str(run), "--out", str(tmp_path / "out")])
    # a finetune run is a task set: this one's config has no tasks to compare
    assert res.exit_code == 2 and "config.yaml: no 'tasks' list" in res.output



def test_drift_md_shows_the_served_shares(runs, tmp_path):
    drift(runs["a"], runs["again"], tmp_path / "out")
    text = (tmp_path / "out" / "drift.md").read_text()
    assert "## Tokens served (runs)" in text and "| copy |" in text.split("## Tokens served (runs)")[1]
