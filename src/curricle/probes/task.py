"""Probe tasks: the YAML schema, loading, and the materialized task the scorers read.

A task file is close to an lm-evaluation-harness task file: a name, an ``output_type``, and
where the items come from::

    task: arithmetic
    output_type: multiple_choice        # multiple_choice | loglikelihood | generate_until
                                        # | loglikelihood_rolling
    dataset: {kind: generator, skill: arithmetic, n: 200}   # or kind: jsonl / heldout-text / code-syntax
    # items: [{prompt: "2+2=", target: "4", distractors: ["5", "3"]}]   (inline, instead of dataset)
    generation: {until: ["\\n"], max_gen_tokens: 8}          # generate_until only

A file holds one task, or several under ``tasks:``; a directory holds task files
(``*.yaml``). Validation happens once, at load time, and errors name the file and field.

A :class:`ProbeTask` is a task with its items built: what scorers, the cache and the
lm-eval export read. Its ``hash`` covers exactly what changes scores (the output type, the
items, generation settings), not names or chance levels, so renaming a task keeps its
cached scores.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from curricle import atomic
from curricle.config import field_path
from curricle.errors import CurricleError
from curricle.probes.datasets import BuildContext, DatasetSpec
from curricle.probes.item import ProbeItem

OutputType = Literal["multiple_choice", "loglikelihood", "generate_until", "loglikelihood_rolling"]


class GenerationConfig(BaseModel):
    """Greedy generation of ``generate_until`` tasks."""

    model_config = ConfigDict(extra="forbid")

    until: list[str] = Field(default_factory=lambda: ["\n"])
    """Generation stops at the first of these strings (and at EOS); the text is cut there."""
    max_gen_tokens: int | None = Field(None, ge=1)
    """Most tokens generated (default: the longest target's UTF-8 bytes + 2, which a
    tokenizer with at least one byte per token can always fit)."""


def gen_token_budget(targets: Iterable[str]) -> int:
    """The default generation budget for ``targets``: the longest one's UTF-8 bytes + 2, so a
    byte-level tokenizer fits it (" 東京" is 7 bytes, 3 characters) and an ASCII target's is its
    characters + 2, as before."""
    return max(len(t.encode("utf-8")) for t in targets) + 2


class TaskConfig(BaseModel):
    """One probe task as written in YAML."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+@-]*$")
    """The task's name (letters, digits, ``_ . + @ -``), unique within a suite; a level of a
    difficulty ladder is ``skill@level`` (``copy@8``)."""
    skill: str | None = None
    """The skill the emergence map reports (default: the task name); the map refuses two tasks
    of one skill."""
    family: str | None = None
    """The family of skills whose levels the map lines up as one ladder (default: what the
    dataset says, e.g. a generator level's skill; else the part of ``skill`` before ``@``)."""
    level: str | None = None
    """This task's level within its family (default: what the dataset says, else the part
    of ``skill`` after ``@``, else none)."""
    in_sample: bool | None = None
    """The items may be training items (default: what the dataset says; inline items: no).
    The map and the contamination check report such tasks as in-sample, not as clean."""
    output_type: OutputType
    """``multiple_choice``: the target against its distractors; ``loglikelihood``: the target
    alone (accuracy: is it the greedy continuation); ``generate_until``: exact match of a
    greedy generation; ``loglikelihood_rolling``: next-token loss on passages."""
    dataset: DatasetSpec | None = None
    """Where the items come from (exclusive with ``items``)."""
    items: list[dict[str, Any]] | None = None
    """Inline items ``{id, prompt, target, distractors}`` (exclusive with ``dataset``)."""
    composite_of: list[str] | None = None
    """Skills this one composes (default: what the dataset says, e.g. a composite generator)."""
    chance: float | None = None
    """Score of guessing on the discrete metric (default: 1 / choices for multiple choice,
    0 for exact match; none for text probes, whose first checkpoint is the baseline)."""
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    """Generation settings (``generate_until``)."""
    description: str = ""
    """Free text."""

    @model_validator(mode="after")
    def _one_source(self) -> "TaskConfig":
        if (self.dataset is None) == (self.items is None):
            raise ValueError("give exactly one of 'dataset' or 'items'")
        return self


@dataclass(frozen=True)
class ProbeTask:
    """A task with its items: the unit that is scored, cached and exported."""

    name: str
    output_type: str
    items: tuple[ProbeItem, ...]
    skill: str
    composite_of: tuple[str, ...] = ()
    chance_override: float | None = None
    until: tuple[str, ...] = ("\n",)
    max_gen_tokens: int | None = None
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict, compare=False)
    family: str = ""
    """The ladder this task is a level of (default: the skill)."""
    level: str | None = None
    level_index: int | None = None
    """The level's place in its family's ladder, easiest first (None: not known, e.g. a
    task file's level; the map then keeps the tasks' order)."""
    in_sample: bool = False
    """Some items may be training items (declared, or a generator level too small to hold
    items out)."""
    contaminated: int | None = field(default=None, compare=False)
    """Items found verbatim in the training data (None: not checked); set by ``curricle
    probe`` before scoring, carried into the result rows."""

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", self.skill)
        if not self.items:
            raise CurricleError(f"task {self.name}: no items")
        for item in self.items:
            where = f"task {self.name}, item {item.id}"
            if self.output_type == "multiple_choice" and not item.distractors:
                raise CurricleError(f"{where}: multiple_choice items need distractors")
            if self.output_type == "loglikelihood_rolling" and item.prompt:
                raise CurricleError(f"{where}: loglikelihood_rolling items have an empty prompt")
            if self.output_type != "loglikelihood_rolling" and not item.prompt:
                raise CurricleError(f"{where}: an empty prompt is only for loglikelihood_rolling")

    @property
    def gen_tokens(self) -> int:
        """Most tokens a ``generate_until`` task generates."""
        return self.max_gen_tokens or gen_token_budget(i.target for i in self.items)

    @cached_property
    def hash(self) -> str:
        """A digest of what determines the scores: output type, items, generation settings."""
        body: dict[str, Any] = {"output_type": self.output_type,
                                "items": [[i.id, i.prompt, i.target, list(i.distractors)] for i in self.items]}
        if self.output_type == "generate_until":
            body["generation"] = {"until": list(self.until), "max_gen_tokens": self.gen_tokens}
        blob = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.blake2b(blob, digest_size=10).hexdigest()

    def config_dict(self) -> dict[str, Any]:
        """The task as a self-contained YAML-able dict (items inline)."""
        out: dict[str, Any] = {"task": self.name, "skill": self.skill, "output_type": self.output_type}
        if self.composite_of:
            out["composite_of"] = list(self.composite_of)
        if self.family != self.skill:
            out["family"] = self.family
        if self.level is not None:
            out["level"] = self.level
        if self.in_sample:
            out["in_sample"] = True
        if self.chance_override is not None:
            out["chance"] = self.chance_override
        if self.output_type == "generate_until":
            out["generation"] = {"until": list(self.until), "max_gen_tokens": self.gen_tokens}
        if self.description:
            out["description"] = self.description
        out["items"] = [i.to_dict() for i in self.items]
        return out


def build_task(config: TaskConfig, context: BuildContext | None = None) -> ProbeTask:
    """Build a validated config's items."""
    context = context or BuildContext()
    skill = config.skill or config.task
    if config.items is not None:
        items = [ProbeItem.from_dict({"id": str(n), **r} if isinstance(r, dict) else r, f"task {config.task}, item {n}")
                 for n, r in enumerate(config.items)]
        composite, source = tuple(config.composite_of or ()), {"kind": "inline"}
        ladder, in_sample = None, False
    else:
        items = config.dataset.build(context)
        composite = tuple(config.composite_of if config.composite_of is not None
                          else config.dataset.default_composite_of())
        source = config.dataset.model_dump(mode="json")
        ladder, in_sample = config.dataset.default_ladder(), config.dataset.in_sample(items)
    named_family, _, named_level = skill.partition("@")
    family = config.family or (ladder[0] if ladder else named_family)
    level = config.level or (ladder[1] if ladder else (named_level or None))
    index = ladder[2] if ladder and (family, level) == ladder[:2] else None
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids):
        raise CurricleError(f"task {config.task}: item ids are not unique")
    return ProbeTask(
        name=config.task, output_type=config.output_type, items=tuple(items), skill=skill,
        composite_of=composite, chance_override=config.chance, until=tuple(config.generation.until),
        max_gen_tokens=config.generation.max_gen_tokens, description=config.description, source=source,
        family=family, level=level, level_index=index,
        in_sample=config.in_sample if config.in_sample is not None else in_sample,
    )


def _format(err: ValidationError, data: Any) -> str:
    first = err.errors()[0]
    loc = field_path(first["loc"], data)
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def parse_task(data: Any, where: str, context: BuildContext | None = None) -> ProbeTask:
    """Validate one task mapping and build its items; errors are one line naming ``where``."""
    if not isinstance(data, dict):
        raise CurricleError(f"{where}: expected a task mapping, got {type(data).__name__}")
    try:
        config = TaskConfig.model_validate(data)
    except ValidationError as err:
        raise CurricleError(f"{where}: {_format(err, data)}") from None
    return build_task(config, context)


def load_tasks(path: Path | str, data_dir: Path | None = None) -> list[ProbeTask]:
    """Tasks from a YAML file (one task, or a list under ``tasks:``) or a directory of them.

    ``data_dir`` is the token store for text probes that do not name one.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        if not files:
            raise CurricleError(f"{path}: no task files (*.yaml)")
        return check_unique([t for f in files for t in load_tasks(f, data_dir)])
    if not path.is_file():
        raise CurricleError(f"{path}: no such task file or directory")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise CurricleError(f"{path}:{line}: not valid UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CurricleError(f"{path}: not valid YAML ({getattr(err, 'problem', err)})") from None
    context = BuildContext(base_dir=path.parent, data_dir=data_dir)
    if isinstance(data, dict) and set(data) == {"tasks"}:
        if not isinstance(data["tasks"], list):
            raise CurricleError(f"{path}: 'tasks' must be a list of task mappings")
        return check_unique([parse_task(t, f"{path}: tasks.{i}", context) for i, t in enumerate(data["tasks"])])
    return [parse_task(data, str(path), context)]


def check_unique(tasks: list[ProbeTask]) -> list[ProbeTask]:
    names = [t.name for t in tasks]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CurricleError(f"task '{dup[0]}' is defined more than once")
    return tasks


def write_tasks(tasks: list[ProbeTask], path: Path) -> None:
    """Write tasks (items inline) as one YAML file that :func:`load_tasks` reads back."""
    text = yaml.safe_dump({"tasks": [t.config_dict() for t in tasks]}, sort_keys=False, allow_unicode=True)
    atomic.write_text(Path(path), text)
