"""``curricle report`` draws the page of a run's kind, named by its ``run.json``; a run from
before ``run.json`` (or written by a user's own trainer through curricle's callbacks) is still
recognised by its files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import BaseModel
from rich.console import Console

from curricle.errors import CurricleError
from curricle.report.command import REPORTS, report_command
from curricle.report.kind import kind_from_files, run_kind
from curricle.runinfo import KINDS, write_run_info
from tests.report.conftest import embedded, write_fake_run
from tests.report.test_finetune_report import write_finetune_run
from tests.report.test_rl_report import write_pipeline_run, write_rl_run

#: The data each kind's page embeds is marked with its schema.
PAGE_SCHEMA = {"pretrain": "curricle.report/1", "finetune": "curricle.finetune-report/1",
               "rl": "curricle.rl-report/1", "pipeline": "curricle.pipeline-report/1",
               "dpo": "curricle.finetune-report/1"}  # a DPO run's page is fine-tuning's, with its pairs


def write_run(kind: str, root: Path) -> Path:
    """The report tests' run of ``kind``, with the files its command writes (no run.json)."""
    return {"pretrain": write_fake_run, "finetune": write_finetune_run, "rl": write_rl_run,
            "pipeline": write_pipeline_run, "dpo": write_dpo_run}[kind](root)


def write_dpo_run(root: Path) -> Path:
    """A fine-tuning run's files and the pairs.json only ``curricle dpo`` writes."""
    run = write_finetune_run(root)
    pairs = {"sources": [{"source": 0, "kind": "from_samples", "built": 5, "dropped": {"no_margin": 3}}],
             "pairs": 5, "kept": 4, "dropped": {"identical": 1}, "order": "margin",
             "bands": {"clear": {"train": 2, "heldout": 0, "margin": [1.0, 1.0]},
                       "subtle": {"train": 1, "heldout": 1, "margin": [0.5, 0.5]}}}
    (run / "pairs.json").write_text(json.dumps(pairs))
    return run


class FixtureConfig(BaseModel):
    name: str = "fixture"


def stamp(run: Path, kind: str) -> Path:
    write_run_info(run, kind, FixtureConfig())
    return run


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def test_every_kind_a_command_writes_has_a_page():
    assert set(REPORTS) == set(KINDS) | {"drift"} and set(KINDS) == set(PAGE_SCHEMA)


@pytest.mark.parametrize("kind", KINDS)
def test_report_draws_the_page_run_json_names(kind, tmp_path, monkeypatch):
    run = stamp(write_run(kind, tmp_path), kind)
    if kind == "pipeline":
        stamp(run / "rl", "rl")  # its RL stage, as `curricle rl` left it

    def no_sniffing(run_dir):
        raise AssertionError(f"{run_dir} has run.json: its files need not be read for its kind")

    monkeypatch.setattr("curricle.report.kind.kind_from_files", no_sniffing)
    assert run_kind(run) == kind
    data = embedded(report_command(run, run / "report.html", console=quiet()).read_text())
    assert data["schema"] == PAGE_SCHEMA[kind]
    if kind == "pipeline":
        assert data["stage_reports"] == {"rl": "rl/report.html"}
        assert embedded((run / "rl" / "report.html").read_text())["schema"] == PAGE_SCHEMA["rl"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_from_before_run_json_is_recognised_by_its_files(kind, tmp_path):
    run = write_run(kind, tmp_path)
    assert not (run / "run.json").exists()
    assert run_kind(run) == kind_from_files(run) == kind
    data = embedded(report_command(run, run / "report.html", console=quiet()).read_text())
    assert data["schema"] == PAGE_SCHEMA[kind]


def test_run_json_decides_where_the_files_would_mislead(tmp_path):
    """A fine-tuning run whose curriculum log happens to start with a group size: sniffed, it
    looks like an RL run; its run.json says what it is."""
    run = write_finetune_run(tmp_path)
    log = run / "curriculum_log.jsonl"
    first, rest = log.read_text().split("\n", 1)
    log.write_text(json.dumps({**json.loads(first), "num_generations": 4}) + "\n" + rest)
    assert run_kind(run) == "rl"
    stamp(run, "finetune")
    assert run_kind(run) == "finetune"
    data = embedded(report_command(run, tmp_path / "report.html", console=quiet()).read_text())
    assert data["kind"] == "finetune" and data["forgetting"]["bwt"] == 0.125


def test_a_run_json_of_an_unknown_kind_is_refused_by_name(tmp_path):
    run = write_rl_run(tmp_path)
    (run / "run.json").write_text(json.dumps({"kind": "orpo", "schema": 1}))
    with pytest.raises(CurricleError, match=r"run\.json: kind 'orpo' is not one curricle knows"):
        report_command(run, tmp_path / "report.html", console=quiet())
    assert not (tmp_path / "report.html").exists()


def test_a_dpo_page_shows_its_pairs(tmp_path):
    run = stamp(write_dpo_run(tmp_path), "dpo")
    page = report_command(run, run / "report.html", console=quiet()).read_text()
    data = embedded(page)
    assert data["kind"] == "dpo" and data["pairs"]["kept"] == 4
    assert "curricle DPO:" in page and "Preference pairs" in page
    assert "4 pairs kept of 5 (margin order); dropped: identical 1, no_margin 3" in page


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "pretrain"])
def test_probes_and_map_config_are_refused_for_a_page_without_a_skill_map(kind, tmp_path):
    run = write_run(kind, tmp_path)
    with pytest.raises(CurricleError) as err:
        report_command(run, run / "report.html", probes=[tmp_path / "p.jsonl"], console=quiet())
    assert str(err.value) == f"--probes: only a pretraining run's page uses it (its skill map); {run} is a {kind} run"
    with pytest.raises(CurricleError) as err:
        report_command(run, run / "report.html", probes=[tmp_path / "p.jsonl"], map_config=tmp_path / "m.yaml",
                       console=quiet())
    assert str(err.value) == (f"--probes and --map-config: only a pretraining run's page uses them (its skill map); "
                              f"{run} is a {kind} run")
    assert not (run / "report.html").exists()


def test_map_config_is_refused_for_a_drift_output(tmp_path):
    out = tmp_path / "drift"
    out.mkdir()
    (out / "drift.json").write_text("{}")
    with pytest.raises(CurricleError) as err:
        report_command(out, map_config=tmp_path / "m.yaml", console=quiet())
    assert str(err.value) == (f"--map-config: only a pretraining run's page uses it (its skill map); "
                              f"{out} is a drift output")
