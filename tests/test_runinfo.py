"""``RUN/run.json``: what it holds, what a reader refuses, and that every command writing a run
directory writes it (fine-tuning, RL and the pipeline here, before any model is loaded; a
pretraining run in ``tests/train/test_run_info.py``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

import curricle
from curricle import runinfo
from curricle.errors import CurricleError
from curricle.runinfo import (FILE, KINDS, SCHEMA, changed_fields, code_record, config_changes, config_hash,
                              git_state, read_run_info, resume_record, write_run_info)

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
                    "curricle_version": curricle.__version__, "code": code_record()}
    assert set(info["code"]) == {"version", "commit", "dirty"} and info["code"]["version"] == curricle.__version__
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
    assert same == {"checkpoint": "checkpoint-4", "config_changed": [], "code": code_record()} and not caplog.records
    write_run_info(tmp_path, "finetune", Config(), resumed=same)
    changed = Config(section=Section(lr=2e-3), tags=["x"])
    record = resume_record(tmp_path, changed, "checkpoint-8")
    assert record == {"checkpoint": "checkpoint-8", "config_changed": ["section.lr", "tags"], "code": code_record()}
    assert "section.lr, tags" in caplog.text and "not what the uninterrupted one would have been" in caplog.text
    write_run_info(tmp_path, "finetune", changed, resumed=record)
    assert read_run_info(tmp_path)["resumes"] == [same, record]
    write_run_info(tmp_path, "finetune", changed)  # a fresh start: no resumes
    assert "resumes" not in read_run_info(tmp_path)


@pytest.fixture
def fresh_code_record():
    """:func:`code_record` asked anew (it is cached per process), and its cache cleared after,
    so a test's package directory does not outlive it."""
    code_record.cache_clear()
    yield
    code_record.cache_clear()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A git checkout with a committed package at ``src/pkg`` (and a ``.gitignore`` keeping out
    ``venv/`` and ``*.pyc``); git looks for no repository above ``tmp_path``. Returns (root, commit)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "repo"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "__init__.py").write_text("x = 1\n")
    (root / "README.md").write_text("readme\n")
    (root / ".gitignore").write_text("venv/\n*.pyc\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root, git(root, "rev-parse", "HEAD")


def test_git_state_is_the_checkouts_commit_and_whether_the_package_differs_from_it(checkout, tmp_path):
    root, commit = checkout
    package = root / "src" / "pkg"
    assert len(commit) == 40 and git_state(package) == (commit, False)
    (root / "README.md").write_text("changed\n")  # outside the package: not its code
    (package / "pkg.pyc").write_text("")  # ignored (*.pyc): not code the package's files differ in
    assert git_state(package) == (commit, False)
    (package / "new.py").write_text("y = 2\n")  # an untracked module is code the commit does not have
    assert git_state(package) == (commit, True)
    (package / "new.py").unlink()
    (package / "__init__.py").write_text("x = 2\n")
    assert git_state(package) == (commit, True)
    git(root, "commit", "-q", "-am", "second")
    assert git_state(package) == (git(root, "rev-parse", "HEAD"), False) and git(root, "rev-parse", "HEAD") != commit
    # Not a checkout; a copy in an ignored directory of one (an installed package); no git at all.
    (tmp_path / "elsewhere").mkdir()
    assert git_state(tmp_path / "elsewhere") == (None, None)
    (root / "venv" / "pkg").mkdir(parents=True)
    (root / "venv" / "pkg" / "__init__.py").write_text("x = 1\n")
    assert git_state(root / "venv" / "pkg") == (None, None)
    assert git_state(tmp_path / "nowhere") == (None, None)


def test_git_state_without_git_is_unknown(checkout, monkeypatch):
    root, _ = checkout
    monkeypatch.setenv("PATH", "")
    assert git_state(root / "src" / "pkg") == (None, None)


def test_run_json_names_the_commit_of_the_package_that_wrote_it(checkout, tmp_path, monkeypatch, fresh_code_record):
    root, commit = checkout
    monkeypatch.setattr(runinfo, "PACKAGE_DIR", root / "src" / "pkg")
    write_run_info(tmp_path / "run", "pretrain", Config())
    assert read_run_info(tmp_path / "run")["code"] == {"version": curricle.__version__, "commit": commit,
                                                       "dirty": False}
    # Asked once a process: a commit made since does not change what this process records.
    (root / "src" / "pkg" / "__init__.py").write_text("x = 2\n")
    git(root, "commit", "-q", "-am", "second")
    assert code_record()["commit"] == commit


def test_run_json_outside_a_checkout_has_a_null_commit(tmp_path, monkeypatch, fresh_code_record):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "pkg").mkdir()
    monkeypatch.setattr(runinfo, "PACKAGE_DIR", tmp_path / "pkg")
    write_run_info(tmp_path / "run", "rl", Config())
    assert read_run_info(tmp_path / "run")["code"] == {"version": curricle.__version__, "commit": None, "dirty": None}


def test_a_resume_keeps_the_starting_code_and_adds_the_resuming_one(tmp_path, monkeypatch):
    started = {"version": "0.1.0", "commit": "a" * 40, "dirty": False}
    resuming = {"version": "0.1.0", "commit": "b" * 40, "dirty": True}
    monkeypatch.setattr(runinfo, "code_record", lambda: started)
    write_run_info(tmp_path, "rl", Config())
    monkeypatch.setattr(runinfo, "code_record", lambda: resuming)
    write_run_info(tmp_path, "rl", Config(), resumed=resume_record(tmp_path, Config(), "checkpoint-8"))
    info = read_run_info(tmp_path)
    assert info["code"] == started
    assert info["resumes"] == [{"checkpoint": "checkpoint-8", "config_changed": None, "code": resuming}]
    # A run started before run.json recorded its code: null, the resume's code on its line.
    (tmp_path / FILE).write_text(json.dumps({"kind": "rl", "schema": 1, "config_hash": "x",
                                             "curricle_version": "0.1.0"}))
    write_run_info(tmp_path, "rl", Config(), resumed=resume_record(tmp_path, Config(), "checkpoint-9"))
    info = read_run_info(tmp_path)
    assert info["code"] is None and info["resumes"][-1]["code"] == resuming


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
                                              "curricle_version": curricle.__version__, "code": code_record()}
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
