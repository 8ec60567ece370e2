"""The run config: one YAML file, validated once by pydantic.

Each stage's typed config lives in its own config module, next to the stage (``sources/config.py``,
``mixture/config.py``, ``controllers/config.py``, ``train/config.py``, ...), and imports only
pydantic and other config modules; this module composes them into :class:`RunConfig`, checks
the rules that span sections (in one place), and turns validation errors into one line naming
the field. Parsing a config imports no implementation and no torch. Relative paths are
relative to the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from curricle.augment.config import AugmentConfig
from curricle.controllers.config import ControllerSpec, PlateauConfig, ScheduleControllerConfig, suite_task_names
from curricle.curate.config import CurateConfig
from curricle.errors import CurricleError
from curricle.mixture.config import MixtureConfig, max_seq_len
from curricle.model.config import ModelConfig
from curricle.prepare.config import PrepareConfig, TokenizerConfig
from curricle.search.config import MixSearchConfig
from curricle.sources.config import SourceSpec
from curricle.train.config import PRETRAINED_LR, TrainConfig


class RunConfig(BaseModel):
    """A curricle run: where the data comes from, how it is tokenized, and how it is mixed."""

    model_config = ConfigDict(extra="forbid")

    #: Keys that were renamed -> their new path (refused with a one-line error naming it).
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"train.telemetry.trace_data": "train.trace"}

    name: str = "run"
    """A name for logs and reports."""
    seed: int = 0
    """The run seed; every random stream is derived from it (and the step and rank)."""
    data_dir: Path = Path("runs/data")
    """Where ``prepare`` writes the tokenizer and token store."""
    sources: list[SourceSpec] = Field(min_length=1)
    """Where documents come from; each source names its domain."""
    curate: CurateConfig | None = None
    """Curation between the sources and ``prepare`` (``curricle curate``): when set, ``prepare``
    reads the curated documents instead of the sources."""
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    """Train a BPE or load a local HF tokenizer. With a model that starts trained (``model.path``,
    ``model.gguf``, a pretrained ``model.preset``) the default is its own tokenizer
    (``{kind: pretrained, path: <its checkpoint directory>}``)."""
    prepare: PrepareConfig = Field(default_factory=PrepareConfig)
    """Held-out split and encoding."""
    mixture: MixtureConfig = Field(default_factory=MixtureConfig)
    """Batch shape, domain schedule and pacing."""
    controller: ControllerSpec = Field(default_factory=ScheduleControllerConfig)
    """Who sets the mixture during training: the schedule, or an adaptive controller."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """The causal LM: a preset or a local HF checkpoint."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Optimizer, loop intervals, checkpoints, guard and telemetry."""
    mix_search: MixSearchConfig = Field(default_factory=MixSearchConfig)
    """Offline mixture search (curricle mix-search)."""
    augment: AugmentConfig | None = None
    """Targeted augmentation during ``curricle train``: every ``every`` steps, more training
    documents like the ones the model fails (:mod:`curricle.augment`). None: off."""
    plateau: PlateauConfig | None = None
    """Watch held-out losses and probe scores for plateaus and act on one: reinstate easier
    material for a while, or stop (:class:`~curricle.controllers.config.PlateauConfig`). None:
    off."""

    @model_validator(mode="before")
    @classmethod
    def _trained_model_defaults(cls, data: Any) -> Any:
        """A model that starts trained brings its own tokenizer, and continues at
        :data:`~curricle.train.config.PRETRAINED_LR` unless ``train.lr`` is given."""
        if not isinstance(data, dict) or data.get("model") is None:
            return data
        try:
            model = ModelConfig.model_validate(data["model"])
        except ValidationError:
            return data  # reported where the model section is validated
        if model.checkpoint is None:
            return data
        if "tokenizer" not in data:
            data = {**data, "tokenizer": {"kind": "pretrained", "path": str(model.checkpoint)}}
        train = data.get("train")
        if train is None or isinstance(train, dict) and "lr" not in train:
            data = {**data, "train": {**(train or {}), "lr": PRETRAINED_LR}}
        elif isinstance(train, TrainConfig) and "lr" not in train.model_fields_set:
            data = {**data, "train": train.model_copy(update={"lr": PRETRAINED_LR})}
        return data

    @property
    def longest_row(self) -> int:
        """The most tokens a training or evaluation row feeds the model."""
        return max(max_seq_len(self.mixture.seq_len), self.train.eval_seq_len or 0)

    @property
    def domains(self) -> list[str]:
        """Domains the sources declare (sorted)."""
        return sorted({s.domain for s in self.sources})

    def phase_starts(self) -> dict[str, int]:
        """The first step (0-based) of each phase of ``mixture.schedule`` (none if unphased)."""
        starts, at = {}, 0
        for p in getattr(self.mixture.schedule, "phases", []):
            starts[p.name] = at
            at += p.steps or 0
        return starts

    def lr_decay_start(self) -> int | None:
        """The step where a ``wsd`` decay starts, when ``train.lr_schedule.decay_phase`` ties it
        to a phase (validated to exist)."""
        phase = self.train.lr_schedule.decay_phase
        return None if phase is None else self.phase_starts()[phase]

    @model_validator(mode="after")
    def _model_fits_rows(self) -> "RunConfig":
        longest = self.longest_row
        if self.model.pretrained and self.tokenizer.kind == "bpe":
            raise ValueError(f"tokenizer.kind: 'bpe' trains a new vocabulary, but {self.model.source} "
                             f"was trained with its own; leave tokenizer out to use it")
        if not self.model.pretrained and longest > self.model.max_position_embeddings:
            raise ValueError(f"model.max_position_embeddings: {self.model.max_position_embeddings} is shorter "
                             f"than the longest row ({longest} tokens)")
        phase = self.train.lr_schedule.decay_phase
        names = list(self.phase_starts())
        if phase is not None and phase not in names:
            raise ValueError(f"train.lr_schedule.decay_phase: no phase '{phase}' in mixture.schedule "
                             f"(phases: {', '.join(names) or 'none'})")
        return self

    @model_validator(mode="after")
    def _augment_has_its_signals(self) -> "RunConfig":
        a = self.augment
        if a is None:
            return self
        if a.target == "failing-levels" and self.train.probe is None:
            raise ValueError("augment.target: failing-levels reads the in-loop probe scores; set train.probe "
                             "(with the skill's levels in train.probe.suite.levels)")
        if a.target != "failing-levels" and self.controller.kind != "hard-examples":
            raise ValueError(f"augment.target: {a.target} reads the hard-examples controller's document losses; "
                             f"set controller.kind: hard-examples")
        if a.domains and not any(getattr(s, "use_record_domain", False) for s in self.sources):
            unknown = sorted(set(a.domains) - set(self.domains))
            if unknown:
                raise ValueError(f"augment.domains: unknown domain '{unknown[0]}' (the sources declare: "
                                 f"{', '.join(self.domains)})")
        return self

    @model_validator(mode="after")
    def _controller_fits_the_run(self) -> "RunConfig":
        """The signals the controller reads are collected; then its own checks against the run
        (``check_run``: the domains and probe tasks it names), and what it resolves from it (the
        domains that train a skill)."""
        reads = getattr(self.controller, "reads", None)
        wanted = reads() if reads is not None else frozenset()
        kind = self.controller.kind
        if "probes" in wanted and self.train.probe is None:
            raise ValueError(f"controller.kind: {kind} reads in-loop probe scores; set train.probe (with the "
                             f"skills it reads in train.probe.suite)")
        if "eval" in wanted and not self.prepare.holds_out:
            raise ValueError(f"controller.kind: {kind} reads held-out loss; prepare.heldout_fraction and "
                             f"prepare.min_heldout_docs are 0, so there is no held-out split to evaluate on")
        check = getattr(self.controller, "check_run", None)
        if check is not None:
            self.controller = check(self)
        return self

    @model_validator(mode="after")
    def _plateau_watches_what_the_run_has(self) -> "RunConfig":
        p = self.plateau
        if p is None:
            return self
        records = any(getattr(s, "use_record_domain", False) for s in self.sources)
        unknown = sorted(set(p.domains or []) - set(self.domains))
        if unknown and not records:
            raise ValueError(f"plateau.domains: unknown domain '{unknown[0]}' (the sources declare: "
                             f"{', '.join(self.domains)})")
        if p.domains != [] and not self.prepare.holds_out:
            raise ValueError("plateau.domains: held-out loss is watched, but prepare.heldout_fraction and "
                             "prepare.min_heldout_docs are 0 (no held-out split); set plateau.domains: [] to watch "
                             "probes only")
        probe = self.train.probe
        if p.probes and probe is None:
            raise ValueError("plateau.probes: probe scores are watched; set train.probe (with those tasks in "
                             "train.probe.suite)")
        if p.probes and probe.suite is not None and not probe.task_files:
            names = set(suite_task_names(probe.suite, self.domains))
            missing = [t for t in p.probes if t not in names]
            if missing:
                raise ValueError(f"plateau.probes: train.probe.suite has no task '{missing[0]}' (its tasks: "
                                 f"{', '.join(sorted(names))})")
        if p.reinstate is not None:
            p.reinstate.check_run(self, "plateau.reinstate")
        return self

    @model_validator(mode="after")
    def _mixture_names_known_domains(self) -> "RunConfig":
        if any(getattr(s, "use_record_domain", False) for s in self.sources):
            return self  # domains come from the records; checked against the store instead
        known = set(self.domains)
        schedule = self.mixture.schedule
        places: list[tuple[str, set[str]]] = []
        if getattr(schedule, "phases", None):
            places += [(f"mixture.schedule.phases.{i}.weights", p.referenced_domains())
                       for i, p in enumerate(schedule.phases)]
        else:
            places.append(("mixture.schedule.weights", schedule.referenced_domains()))
        places.append(("mixture.pacing", set(self.mixture.pacing)))
        places.append(("mixture.weight_by", set(self.mixture.weight_by)))
        for where, names in places:
            unknown = sorted(names - known)
            if unknown:
                raise ValueError(
                    f"{where}: unknown domain '{unknown[0]}' (the sources declare: {', '.join(sorted(known))})"
                )
        return self


def field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """A pydantic error's ``loc`` as the path of the field in ``data``, dotted. Where a union
    told its members apart, pydantic puts the member's tag in the path (the ``kind``:
    ``sources.2.synthetic.foo``, ``mixture.schedule.phases.phases.0``); a step that is no key
    of the mapping there (no index of a list), or is the mapping's ``kind``, is such a tag and
    is left out, one per level. The last step is kept: it names a field the input lacks."""
    parts: list[str] = []
    here, tag_dropped = data, False
    for i, step in enumerate(loc):
        is_tag = (isinstance(here, dict) and (step not in here or step == here.get("kind"))
                  or isinstance(here, (list, tuple)) and not isinstance(step, int))
        if is_tag and not tag_dropped and isinstance(step, str) and i < len(loc) - 1:
            tag_dropped = True
            continue
        parts.append(str(step))
        if isinstance(here, dict):
            here = here.get(step)
        elif isinstance(here, (list, tuple)) and isinstance(step, int) and -len(here) <= step < len(here):
            here = here[step]
        else:
            here = None
        tag_dropped = False
    return ".".join(parts)


def _format_error(err: ValidationError, data: Any, renamed: dict[str, str] | None = None) -> str:
    """The first error in one line, ``field.path: what is wrong``, the path as written in
    ``data`` (:func:`field_path`). A key of ``renamed`` (a dotted path whose key has a new
    name, the model's ``RENAMED_KEYS``) is reported first, as ``old.path was renamed: use
    new.path``."""
    errors = err.errors()
    loc_of = [field_path(e["loc"], data) for e in errors]
    old = [i for i, e in enumerate(errors) if e["type"] == "extra_forbidden" and loc_of[i] in (renamed or {})]
    more = len(errors) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    if old:
        return f"{loc_of[old[0]]} was renamed: use {renamed[loc_of[old[0]]]}{tail}"
    first, loc = errors[0], loc_of[0]
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{loc}: {msg}{tail}" if loc else f"{msg}{tail}"


def parse_config(data: Any, where: str = "config") -> RunConfig:
    """Validate a dict as a :class:`RunConfig`; errors become one-line ``CurricleError``."""
    if not isinstance(data, dict):
        raise CurricleError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise CurricleError(f"{where}: {_format_error(err, data, RunConfig.RENAMED_KEYS)}") from None


def read_yaml(path: Path | str, what: str = "config file") -> Any:
    """A YAML file's content (None for an empty one); one-line errors for a missing file,
    bad YAML (with its line) or bad UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise CurricleError(f"{path}: no such {what}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise CurricleError(f"{path}{line}: not valid YAML ({getattr(err, 'problem', err)})") from None
    except UnicodeDecodeError as err:
        raise CurricleError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None


def parse_model(data: Any, model: type[BaseModel], where: str) -> Any:
    """``data`` validated as ``model``; errors are one line naming ``where`` and the field."""
    data = data or {}
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise CurricleError(f"{where}: {_format_error(err, data, getattr(model, 'RENAMED_KEYS', None))}") from None


def load_model_file(path: Path | str, model: type[BaseModel], what: str = "config file") -> Any:
    """A YAML file validated as ``model`` (an empty file: the defaults), errors in one line."""
    return parse_model(read_yaml(path, what), model, str(path))


def load_config(path: Path | str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a YAML run config; ``overrides`` are merged on top (top-level keys)."""
    data = read_yaml(path)
    if data is None:
        data = {}
    if isinstance(data, dict) and overrides:
        data = {**data, **overrides}
    return parse_config(data, str(path))
