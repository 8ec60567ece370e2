"""``RUN/run.json``: what it holds, what a reader refuses, and that every command writing a run
directory writes it (fine-tuning, RL and the pipeline here, before any model is loaded; a
pretraining run in ``tests/train/test_run_info.py``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

import curricle
from curricle.errors import CurricleError
from curricle.runinfo import (FILE, KINDS, SCHEMA, changed_fields, config_changes, config_hash, read_run_info,
                              resume_record, write_run_info)

ROOT = Path(__file__).resolve().parents[1]


class Section(BaseModel):
    steps: int = 10
    lr: float = 1e-3


class Config(BaseModel):
    name: str = "run"
    section: Section = Section()
    tags: list[str] = []


def canonical_sha256(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_run_json_holds_the_kind_schema_config_hash_and_version(tmp_path):
    path = write_run_info(tmp_path, "rl", Config())
    assert path == tmp_path / FILE
    info = json.loads(path.read_text())
    assert info == {"kind": "rl", "schema": SCHEMA, "config_hash": config_hash(Config()),
                    "curricle_version": curricle.__version__}
    assert read_run_info(tmp_path) == info
    # The hash: sha256 of the validated config as canonical JSON (keys sorted, no spaces).
    assert info["config_hash"] == canonical_sha256({"name": "run", "section": {"lr": 0.001, "steps": 10}, "tags": []})
    assert config_hash(Config(section=Section(steps=11))) != info["config_hash"]
    assert config_hash(Config.model_validate({"section": {"lr": 1e-3, "steps": 10}})) == info["config_hash"]
    assert [p.name for p in tmp_path.iterdir()] == [FILE]  # written through a temporary file, renamed


def test_a_second_write_replaces_the_first(tmp_path):
    write_run_info(tmp_path, "pretrain", Config())
    write_run_info(tmp_path, "pretrain", Config(name="resumed"))
    assert read_run_info(tmp_path)["config_hash"] == config_hash(Config(name="resumed"))


def test_changed_fields_are_the_dotted_paths_where_two_configs_differ():
    old = {"seed": 0, "train": {"lr": 0.001, "steps": 10, "eval": {"every": 5}}, "tags": ["a"], "gone": 1}
    new = {"seed": 0, "train": {"lr": 0.002, "steps": 10, "eval": {"every": 5, "rows": 8}}, "tags": ["a", "b"],
           "added": None}
    assert changed_fields(old, new) == ["added", "gone", "tags", "train.eval.rows", "train.lr"]
    assert changed_fields(old, old) == [] and changed_fields({"a": {"b": 1}}, {"a": None}) == ["a"]


def test_each_resume_adds_its_line_with_what_changed_in_the_config(tmp_path, caplog):
    import yaml

    assert config_changes(tmp_path, Config()) is None  # no config.yaml yet
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(Config().model_dump(mode="json")))
    write_run_info(tmp_path, "finetune", Config())
    assert "resumes" not in read_run_info(tmp_path)
    same = resume_record(tmp_path, Config(), "checkpoint-4")
    assert same == {"checkpoint": "checkpoint-4", "config_changed": []} and not caplog.records
    write_run_info(tmp_path, "finetune", Config(), resumed=same)
    changed = Config(section=Section(lr=2e-3), tags=["x"])
    record = resume_record(tmp_path, changed, "checkpoint-8")
    assert record == {"checkpoint": "checkpoint-8", "config_changed": ["section.lr", "tags"]}
    assert "section.lr, tags" in caplog.text and "not what the uninterrupted one would have been" in caplog.text
    write_run_info(tmp_path, "finetune", changed, resumed=record)
    assert read_run_info(tmp_path)["resumes"] == [same, record]
    write_run_info(tmp_path, "finetune", changed)  # a fresh start: no resumes
    assert "resumes" not in read_run_info(tmp_path)


def test_a_run_without_run_json_reads_as_none(tmp_path):
    assert read_run_info(tmp_path) is None and read_run_info(tmp_path / "nowhere") is None


@pytest.mark.parametrize("text, message", [
    ('{"kind": "rl", "schema": 99}', "schema 99 is newer than this curricle reads"),
    ('{"kind": "orpo", "schema": 1}', "kind 'orpo' is not one curricle knows"),
    ('{"kind": "rl"}', "no integer 'schema'"),
    ('{"kind": "rl", "sch', "not a run.json curricle can read"),
])
def test_a_run_json_this_curricle_cannot_read_is_a_one_line_error_naming_it(tmp_path, text, message):
    (tmp_path / FILE).write_text(text)
    with pytest.raises(CurricleError, match=message) as err:
        read_run_info(tmp_path)
    assert str(tmp_path / FILE) in str(err.value) and "\n" not in str(err.value)


def test_only_known_kinds_are_written(tmp_path):
    assert KINDS == ("pretrain", "finetune", "rl", "dpo", "pipeline")
    with pytest.raises(ValueError, match="run kind 'sft'"):
        write_run_info(tmp_path, "sft", Config())
    assert not (tmp_path / FILE).exists()


class Stop(Exception):
    """Raised where a command would load a model: what it wrote before is what is checked."""


def stop(*args, **kwargs):
    raise Stop


class StoppingTrainer:
    """What a post-training verb's build returns, whose ``train`` stops the run."""

    def train(self, **kwargs):
        raise Stop


class ClosingCallback:
    """A verb's callback as its run ends: an evaluator (``evaluator``, and RL's ``check.evaluator``)
    whose graders' workers it closes."""

    def __init__(self):
        self.evaluator = self
        self.check = self
        self.closed = 0

    def close(self):
        self.closed += 1


def built(*parts):
    """A stand-in for a verb's build: the trainer above, then ``parts``."""
    return lambda *args, **kwargs: (StoppingTrainer(), *parts)


def test_finetune_writes_run_json_beside_its_config(tmp_path, monkeypatch):
    from curricle.finetune import command
    from curricle.finetune.config import load_finetune_config

    config = load_finetune_config(ROOT / "configs" / "finetune.yaml")
    callback = ClosingCallback()
    monkeypatch.setattr(command, "build_finetune", built(callback, None))
    with pytest.raises(Stop):
        command.finetune_run(config, tmp_path / "ft")
    assert callback.closed == 1  # the evaluator's graders' workers, even when training raises
    assert read_run_info(tmp_path / "ft") == {"kind": "finetune", "schema": SCHEMA,
                                              "config_hash": config_hash(config),
                                              "curricle_version": curricle.__version__}
    assert (tmp_path / "ft" / "config.yaml").is_file()


def test_rl_writes_run_json_beside_its_config(tmp_path, monkeypatch):
    from curricle.rl import command
    from curricle.rl.config import load_rl_config

    config = load_rl_config(ROOT / "configs" / "post" / "rl.yaml")
    callback = ClosingCallback()
    monkeypatch.setattr(command, "build_rl", built(callback, {}))
    with pytest.raises(Stop):
        command.rl_run(config, tmp_path / "rl")
    assert callback.closed == 1
    info = read_run_info(tmp_path / "rl")
    assert info["kind"] == "rl" and info["config_hash"] == config_hash(config)


def test_a_pipeline_writes_run_json_before_its_first_stage(tmp_path, monkeypatch):
    from curricle.pipeline import command
    from curricle.pipeline.config import load_pipeline_config

    config = load_pipeline_config(ROOT / "configs" / "post" / "pipeline.yaml")
    monkeypatch.setattr(command, "run_stage", stop)
    with pytest.raises(Stop):
        command.pipeline_run(config, tmp_path / "line")
    info = read_run_info(tmp_path / "line")
    assert info["kind"] == "pipeline" and info["config_hash"] == config_hash(config)
