"""``RUN/run.json``: what kind of run a directory holds, so nothing has to guess it from its files.

Every command that makes a run directory writes it (``train``, ``finetune``, ``rl``, ``dpo``,
``pipeline``; ``demo``, ``study`` and ``mix-search`` through ``train``), atomically, each time
it starts or resumes::

    {"kind": "rl", "schema": 1, "config_hash": "<sha256>", "curricle_version": "0.1.0",
     "code": {"version": "0.1.0", "commit": "<git commit>", "dirty": false}}

``kind`` is one of :data:`KINDS`; ``schema`` is this file's version (a reader refuses a newer
one); ``config_hash`` is the sha256 of the validated config as canonical JSON (keys sorted,
no spaces), the same config the run writes to ``RUN/config.yaml``, so two runs with the same
hash were configured alike. ``curricle report`` draws the page of the run's kind.

``code`` is the code that started the run (:func:`code_record`): curricle's ``version``
(``curricle_version`` repeats it, for the readers that take it from there), the ``commit`` of
the git checkout the imported ``curricle`` package is in, and ``dirty``: whether the package's
files differ from that commit (changed, staged or untracked files). Both are null when the
package is not a tracked part of a git checkout (an installed wheel) or git cannot be run;
finding them never fails a run. Two runs with the same config hash were trained alike only
when their code is the same: a run kept and read back by its config (the benchmarks' caches)
may be an older code's, and this says so. A ``code`` of null is a run resumed from one started
before run.json recorded it.

A run that reads a token store (``pretrain``) adds the data it reads now::

    "data": {"snapshot": "<store snapshot id>", "data_dir": "<path>", "sampler_seed": 0}

(:mod:`curricle.store.snapshot`). Each checkpoint keeps the snapshot id with the sampler's
state, and a run resumed on another snapshot logs a ``snapshot-changed`` event in
``RUN/events.jsonl``, so the data of every stretch of the run is on record.

A resumed run adds a line to ``resumes``, one per start with ``--resume``, oldest first.
``finetune``, ``rl`` and ``dpo`` check the checkpoint's task items before they write anything,
so a resume refused on changed items leaves ``run.json`` and ``config.yaml`` as they were; one
refused later, when training starts (say on other RL gates), has its line::

    "resumes": [{"checkpoint": "step_20", "config_changed": ["mixture.weight_by.code.temperature"],
                 "code": {"version": "0.1.0", "commit": "<git commit>", "dirty": false}}]

``config_changed``: the dotted paths where the validated config differs from the one the run
last started with (its ``config.yaml``, before this start rewrites it; empty when none, null
when there was no readable ``config.yaml``). A resumed run is what the uninterrupted one
would have been only when it is empty; a resume that changed something says so in a warning
(and, for pretraining, a ``config-changed`` event in ``RUN/events.jsonl``), so the config of
every stretch of the run is on record. ``code`` is the resuming code (as above); the run's
own ``code`` stays the one that started it, so a run trained across commits says which
trained each stretch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import yaml

from curricle import __version__, atomic
from curricle.errors import CurricleError

log = logging.getLogger(__name__)

FILE = "run.json"
#: The version of run.json's fields; bump it when a field changes meaning.
SCHEMA = 1
#: The kinds of run a command writes: pretraining (``train``), ``finetune``, ``rl``, ``dpo``, ``pipeline``.
KINDS = ("pretrain", "finetune", "rl", "dpo", "pipeline")
#: The imported ``curricle`` package's directory: whose git checkout :func:`code_record` names.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Seconds each git command may take before the commit is left unknown.
GIT_TIMEOUT_S = 10


def git_state(package_dir: Path) -> tuple[str | None, bool | None]:
    """The commit of the git checkout holding ``package_dir``, and whether the files under it
    differ from that commit (changed, staged or untracked; ignored files such as ``__pycache__``
    aside); ``(None, None)`` when the directory is not tracked by a checkout (a package
    installed into an ignored virtual environment inside one included) or git fails or is
    missing."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(package_dir), *args], capture_output=True, text=True, check=True,
                              timeout=GIT_TIMEOUT_S).stdout.strip()

    try:
        commit = git("rev-parse", "--verify", "HEAD")
        if not git("ls-files", "--", "__init__.py"):  # a checkout's ignored or untracked copy: not its commit's code
            return None, None
        return commit, bool(git("status", "--porcelain", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return None, None


@functools.lru_cache(maxsize=1)
def code_record() -> dict[str, Any]:
    """The code of this process, as run.json records it: ``{"version", "commit", "dirty"}``
    (:func:`git_state` of :data:`PACKAGE_DIR`). Asked of git once per process: the code a process
    imported does not change under it (so every caller gets one dict: read it, never change it)."""
    commit, dirty = git_state(PACKAGE_DIR)
    return {"version": __version__, "commit": commit, "dirty": dirty}


def config_hash(config: Any) -> str:
    """The sha256 of a validated (pydantic) config as canonical JSON."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The dotted paths where two configs (as JSON-like dicts) differ: a key only one has, or
    a value (a list is one value), sorted."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            out += [path] if key not in old or key not in new else changed_fields(old[key], new[key], path)
        return out
    return [] if old == new else [prefix or "(the whole config)"]


def config_changes(run_dir: Path | str, config: Any) -> list[str] | None:
    """Where ``config`` differs from the config ``run_dir`` last started with (its
    ``config.yaml``): :func:`changed_fields`. None when there is no readable ``config.yaml``."""
    old = read_run_config(run_dir)
    return None if old is None else changed_fields(old, config.model_dump(mode="json"))


def resume_record(run_dir: Path | str, config: Any, checkpoint: str) -> dict[str, Any]:
    """The ``resumes`` line of a run resumed from ``checkpoint`` with ``config`` (read before
    ``config.yaml`` is rewritten), with the resuming code (:func:`code_record`); a warning names
    what changed in the config."""
    changed = config_changes(run_dir, config)
    if changed:
        log.warning("--resume: the config differs from the one %s last started with (%s): the resumed run is not "
                    "what the uninterrupted one would have been", run_dir, ", ".join(changed))
    return {"checkpoint": checkpoint, "config_changed": changed, "code": code_record()}


def write_run_info(run_dir: Path | str, kind: str, config: Any, data: dict[str, Any] | None = None,
                   resumed: dict[str, Any] | None = None) -> Path:
    """Write ``run_dir/run.json`` for a run of ``kind`` configured by ``config`` (and reading
    ``data``: its ``snapshot``, ``data_dir`` and ``sampler_seed``); ``resumed``: this start's
    :func:`resume_record`, added to the earlier ones, the run's ``code`` kept from the start
    (null when the start did not record it). Returns its path."""
    if kind not in KINDS:
        raise ValueError(f"run kind {kind!r}: expected one of {', '.join(KINDS)}")
    path = Path(run_dir) / FILE
    code, resumes = code_record(), None
    if resumed is not None:
        try:
            before = read_run_info(run_dir) or {}
        except CurricleError:
            before = {}
        code, resumes = before.get("code"), [*before.get("resumes", []), resumed]
    atomic.write_json(path, {"kind": kind, "schema": SCHEMA, "config_hash": config_hash(config),
                             "curricle_version": __version__, "code": code,
                             **({"data": data} if data is not None else {}),
                             **({"resumes": resumes} if resumes is not None else {})})
    return path


def read_run_info(run_dir: Path | str) -> dict[str, Any] | None:
    """``run_dir/run.json``, or None for a run without one (written before it existed, or by a
    user's own trainer through curricle's callbacks). A file this curricle cannot read, from a
    newer curricle or of an unknown kind, is a one-line error naming it."""
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CurricleError(f"{path}: not a run.json curricle can read ({err})") from None
    if not isinstance(info, dict) or not isinstance(info.get("schema"), int):
        raise CurricleError(f"{path}: not a run.json curricle can read (no integer 'schema')")
    if info["schema"] > SCHEMA:
        raise CurricleError(f"{path}: schema {info['schema']} is newer than this curricle reads ({SCHEMA}); "
                            f"upgrade curricle")
    if info.get("kind") not in KINDS:
        raise CurricleError(f"{path}: kind {info.get('kind')!r} is not one curricle knows "
                            f"({', '.join(KINDS)})")
    return info


def read_run_config(run_dir: Path | str) -> dict[str, Any] | None:
    """``RUN/config.yaml`` as a dict, or None when there is none or it is not a readable
    mapping: for readers that can do without it (the emergence map's phases, the RL report, a
    resume's comparison). :func:`run_config` is the strict one."""
    try:
        data = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def run_config(run_dir: Path) -> dict[str, Any]:
    """``RUN/config.yaml`` as a dict; a one-line error when the run has none."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CurricleError(f"{run_dir}: no config.yaml: not a curricle training run")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise CurricleError(f"{path}: not a readable run config ({err})") from None
    return data if isinstance(data, dict) else {}


def resolve_data_dir(run_dir: Path, config: dict[str, Any], data_dir: Path | None) -> Path:
    """The run's token store: ``data_dir`` if given, else its config's ``data_dir`` (a relative
    one tried from here, then from the run's ancestors: where the run was started)."""
    if data_dir is not None:
        candidates = [Path(data_dir)]
    else:
        raw = config.get("data_dir")
        if not raw:
            raise CurricleError(f"{run_dir}/config.yaml: no data_dir; pass --data-dir")
        raw = Path(raw)
        candidates = [raw] if raw.is_absolute() else [Path.cwd() / raw, *(a / raw for a in run_dir.resolve().parents)]
    for c in candidates:
        if (c / "manifest.json").is_file():
            return c
    raise CurricleError(f"{candidates[0]}: no token store (manifest.json) there; pass --data-dir")


__all__ = ["FILE", "SCHEMA", "KINDS", "code_record", "git_state", "config_hash", "write_run_info", "read_run_info",
           "run_config", "resolve_data_dir"]
