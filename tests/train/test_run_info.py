"""A training run writes ``RUN/run.json``: kind ``pretrain``, and the hash of the config it
wrote to ``RUN/config.yaml``; ``curricle report`` takes its kind from it."""

from __future__ import annotations

import hashlib
import io
import json

import yaml
from rich.console import Console

import curricle
from curricle.report.command import report_command
from curricle.runinfo import SCHEMA, code_record, config_hash, read_run_info
from curricle.store import TokenStore
from curricle.store.snapshot import read_snapshot
from curricle.train.command import train_run
from tests.report.conftest import embedded


def test_a_training_run_writes_run_json(make_config, tmp_path, monkeypatch):
    config = make_config(steps=2)
    run = tmp_path / "run"
    train_run(config, run, progress=False)
    info = json.loads((run / "run.json").read_text())
    assert info == {"kind": "pretrain", "schema": SCHEMA, "config_hash": config_hash(config),
                    "curricle_version": curricle.__version__, "code": code_record(),
                    "data": {"snapshot": TokenStore(config.data_dir).snapshot_id, "data_dir": str(config.data_dir),
                             "sampler_seed": config.seed}}
    # The data's id is the one prepare wrote, and each checkpoint keeps it with the sampler's state.
    assert info["data"]["snapshot"] == read_snapshot(config.data_dir)["id"]
    saved = json.loads((run / "checkpoints" / "step_2" / "trainer_state.json").read_text())
    assert saved["sampler"]["snapshot"]["id"] == info["data"]["snapshot"]
    # The hash is of the config the run wrote beside it, read back as canonical JSON.
    written = yaml.safe_load((run / "config.yaml").read_text())
    canonical = json.dumps(written, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == info["config_hash"]

    def no_sniffing(run_dir):
        raise AssertionError(f"{run_dir} has run.json: its files need not be read for its kind")

    monkeypatch.setattr("curricle.report.kind.kind_from_files", no_sniffing)
    page = report_command(run, tmp_path / "report.html", console=Console(file=io.StringIO()))
    data = embedded(page.read_text())
    assert data["schema"] == "curricle.report/1" and data["progress"]["step"] == 2
    assert read_run_info(run)["kind"] == "pretrain"
