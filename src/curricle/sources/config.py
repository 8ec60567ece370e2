"""The configs of every source kind, and the registry of kinds.

A source yields documents ``{id, text, domain, meta}``; its config says where they come from
and which domain they belong to. Adding a kind: a ``SourceConfig`` subclass here (its
``kind`` a ``Literal``), an implementation in ``sources/<kind>.py`` (a
:class:`~curricle.sources.base.Source` subclass), and one line in ``SOURCES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from curricle.registry import Registry
from curricle.synthetic.config import check_skill, known_skill, ladder


class SourceConfig(BaseModel):
    """Fields every source kind shares. Each kind subclasses this with its own fields."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    """The source kind, a key of ``curricle.sources.SOURCES``."""
    domain: str = Field(min_length=1)
    """The domain its documents belong to (the unit the mixture weights)."""
    max_docs: int | None = Field(None, ge=1)
    """Stop after this many documents (None: all)."""
    license: str | None = Field(None, min_length=1)
    """The licence of the source's documents (e.g. ``cc-by-4.0``; an SPDX id is a good
    choice), carried into each document's ``meta["license"]`` unless the record names its own
    (``license_field``). Curation counts documents per licence and can filter by it
    (``{kind: license, allowed: [...]}`` in ``curate.pipeline``). None: unknown."""


#: Names a ``meta_fields`` entry may not take: the store's own metadata columns and the keys
#: the sources put in a document's ``meta`` to say where it came from.
RESERVED_META = frozenset({"doc_id", "source", "n_tokens", "n_chars", "compression_ratio", "mean_token_rarity",
                           "reference_loss", "line", "row", "curated_file", "curated_line", "curated_row"})


class MetaFieldsConfig(SourceConfig):
    """A source whose records carry per-document scores (``meta_fields``)."""

    meta_fields: list[str] = Field(default_factory=list)
    """Record fields (JSONL keys, Parquet or dataset columns) carried into each domain's
    ``meta.parquet`` under their own names, e.g. ``[quality, toxicity]``: numbers, strings or
    bools. A record that lacks one (or holds null) gets null there, counted per field in the
    source's ``missing_fields``; a list or object value, or a field whose values mix kinds
    within a domain (a number here, a string there), is a one-line error naming the field and
    the file. Pacing and pruning can rank documents by such a column."""

    @field_validator("meta_fields")
    @classmethod
    def _valid_names(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if len(set(v)) != len(v):
            raise ValueError(f"expected each field at most once, got {v}")
        for name in v:
            if not name:
                raise ValueError("a field name must not be empty")
            if name in RESERVED_META:
                raise ValueError(f"'{name}' is a column the store writes itself; rename the field "
                                 f"(reserved: {', '.join(sorted(RESERVED_META))})")
        return v

    license_field: str | None = Field(None, min_length=1)
    """The record field (JSONL key, Parquet or dataset column) holding each record's licence,
    which overrides the source's ``license`` in ``meta["license"]`` where it holds a non-empty
    string (a missing or null value falls back to ``license``; any other value is a one-line
    error naming the field and the record). None: the source's ``license`` only."""

    @property
    def record_fields(self) -> list[str]:
        """The record fields to read: ``meta_fields`` and ``license_field``."""
        extra = [self.license_field] if self.license_field and self.license_field not in self.meta_fields else []
        return [*self.meta_fields, *extra]


class JsonlConfig(MetaFieldsConfig):
    kind: Literal["jsonl"] = "jsonl"
    """Always ``jsonl``."""
    path: str = Field(min_length=1)
    """A ``.jsonl``, ``.jsonl.gz`` or ``.jsonl.zst`` file, or a glob of them (``**`` matches
    subdirectories)."""
    text_field: str = Field("text", min_length=1)
    """The record key holding the document text (a string)."""
    id_field: str = Field("id", min_length=1)
    """The record key holding its id (any JSON value, turned into a string); records without it
    get ``<file>:<line>``."""
    use_record_domain: bool = False
    """Take each record's ``domain_field``, where present, over ``domain``."""
    domain_field: str = Field("domain", min_length=1)
    """The record key holding its domain (read with ``use_record_domain``)."""


class ParquetConfig(MetaFieldsConfig):
    kind: Literal["parquet"] = "parquet"
    """Always ``parquet``."""
    path: str = Field(min_length=1)
    """A ``.parquet`` file, or a glob of them (``**`` matches subdirectories)."""
    text_field: str = Field("text", min_length=1)
    """The column holding the document text (string or large_string)."""
    id_field: str | None = None
    """The column holding each row's id (any type, turned into a string). None: ids are
    ``<file>:<row>``."""
    use_record_domain: bool = False
    """Take each row's ``domain_field``, where not null, over ``domain``."""
    domain_field: str = Field("domain", min_length=1)
    """The column holding each row's domain (read with ``use_record_domain``)."""


class TextDirConfig(SourceConfig):
    kind: Literal["text"] = "text"
    """Always ``text``."""
    path: str = Field(min_length=1)
    """The directory to read."""
    glob: str = Field("**/*.txt", min_length=1)
    """Which files under ``path`` to read (``pathlib`` glob; ``**`` matches subdirectories)."""

    @field_validator("glob")
    @classmethod
    def _relative_glob(cls, v: str) -> str:
        if Path(v).is_absolute():
            raise ValueError(f"expected a pattern relative to 'path', got the absolute {v!r}")
        return v


class HFDiskConfig(MetaFieldsConfig):
    kind: Literal["hf-disk"] = "hf-disk"
    """Always ``hf-disk``."""
    path: str = Field(min_length=1)
    """The directory ``save_to_disk`` wrote."""
    split: str = Field("train", min_length=1)
    """Which split to read when the directory holds a ``DatasetDict`` (ignored for a
    ``Dataset``)."""
    text_field: str = Field("text", min_length=1)
    """The column holding the document text (a string feature)."""
    id_field: str | None = None
    """The column holding each row's id (turned into a string). None: the row index."""
    use_record_domain: bool = False
    """Take each row's ``domain_field``, where not null, over ``domain``."""
    domain_field: str = Field("domain", min_length=1)
    """The column holding each row's domain (read with ``use_record_domain``)."""


class PythonCodeConfig(SourceConfig):
    kind: Literal["python-code"] = "python-code"
    """Always ``python-code``."""
    max_file_bytes: int = Field(200_000, gt=0)
    """Skip files larger than this many bytes (counted as ``too-large``)."""
    include: list[str] | None = None
    """Only files whose path relative to the standard library matches one of these fnmatch
    patterns (``*`` also matches ``/``), e.g. ``["json/*", "textwrap.py"]``. None: all."""

Part = Literal["topics", "docstrings"]


class PythonProseConfig(SourceConfig):
    kind: Literal["python-prose"] = "python-prose"
    """Always ``python-prose``."""
    parts: list[Part] = Field(default_factory=lambda: ["topics", "docstrings"], min_length=1)
    """Which parts to read, in this order: ``topics`` (pydoc's documentation topics) and/or
    ``docstrings`` (standard-library docstrings)."""
    min_chars: int = Field(200, ge=0)
    """Skip topics and docstrings shorter than this many characters (counted as ``too-short``)."""
    include: list[str] | None = None
    """Only docstrings of files whose path relative to the standard library matches one of
    these fnmatch patterns, e.g. ``["json/*"]``. None: all. Topics are not filtered."""

    @field_validator("parts")
    @classmethod
    def _no_repeats(cls, v: list[Part]) -> list[Part]:
        if len(set(v)) != len(v):
            raise ValueError(f"expected each part at most once, got {v}")
        return v


def _level_names(v: Any) -> Any:
    """``[2, 4]`` as YAML writes it -> ``["2", "4"]``."""
    return [str(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for x in v] \
        if isinstance(v, list) else v


class SyntheticConfig(SourceConfig):
    kind: Literal["synthetic"] = "synthetic"
    """Always ``synthetic``."""
    skill: Annotated[str, AfterValidator(known_skill)]
    """The generator, a key of ``curricle.synthetic.GENERATORS`` (e.g. ``arithmetic``)."""
    seed: int = 0
    """The generator's seed: it fixes the items (and, for ``facts``, the entities)."""
    n_docs: int = Field(500, gt=0)
    """How many documents to generate."""
    items_per_doc: int = Field(16, gt=0)
    """Train items per document, one per line."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword parameters of the generator (e.g. ``{digits: 3}`` for ``arithmetic``; each
    skill's are in :mod:`curricle.synthetic.config`)."""
    levels: Annotated[list[str] | None, BeforeValidator(_level_names)] = None
    """Levels of the skill's difficulty ladder (its generator's ``levels``, e.g. ``[2, 4, 8]``
    for ``copy``), kept in the ladder's order whatever the order given (``[16, 2]`` is
    ``["2", "16"]``): ``n_docs`` are split evenly between them, written easiest first (the
    extra documents of an uneven split to the easiest), each level's documents made with its
    parameters and ``params`` (not the same ones). Document ids name the level
    (``copy@8-0-3``). None: one generator with ``params``."""

    @model_validator(mode="after")
    def _valid_params(self) -> "SyntheticConfig":
        # Check the parameters as the generator will (without importing it), so bad ones fail
        # at load time, not mid-prepare.
        for level in self.levels or [None]:
            check_skill(self.skill, level, self.params)
        if self.levels is not None and (not self.levels or len(set(self.levels)) != len(self.levels)):
            raise ValueError("levels must be a non-empty list of distinct levels")
        if self.levels is not None and len(self.levels) > self.n_docs:
            raise ValueError(f"n_docs ({self.n_docs}) must be at least one per level ({len(self.levels)})")
        if self.levels is not None:
            self.levels = sorted(self.levels, key=list(ladder(self.skill)).index)
        return self


class CuratedConfig(MetaFieldsConfig):
    kind: Literal["curated"] = "curated"
    """Always ``curated``."""
    path: str = Field(min_length=1)
    """The curate output directory (``curate.output_dir``, holding ``funnel.json``)."""
    meta_fields: list[str] | None = None
    """Fields of each curated document's ``meta`` carried into ``meta.parquet``: the ones the
    original sources read (their ``meta_fields``) and the ones curation steps wrote (langid's
    ``language`` and ``language_score``, a quality classifier's ``quality``), which curate
    records per domain in ``funnel.json`` (``fields``). None: every recorded field of the
    domain that holds numbers, strings or bools, by name, less the store's own column names.
    A list: those, each one curate recorded (else a one-line error naming it). With a
    ``curate:`` block in the run config, ``prepare`` gives each domain the ``meta_fields`` of
    its sources and then the fields the steps wrote on it."""

SOURCES = Registry("source", {
    "jsonl": (JsonlConfig, "curricle.sources.jsonl:JsonlSource"),
    "parquet": (ParquetConfig, "curricle.sources.parquet:ParquetSource"),
    "text": (TextDirConfig, "curricle.sources.text_dir:TextDirSource"),
    "hf-disk": (HFDiskConfig, "curricle.sources.hf_disk:HFDiskSource"),
    "python-code": (PythonCodeConfig, "curricle.sources.python_code:PythonCodeSource"),
    "python-prose": (PythonProseConfig, "curricle.sources.python_prose:PythonProseSource"),
    "synthetic": (SyntheticConfig, "curricle.sources.synthetic:SyntheticSource"),
    "curated": (CuratedConfig, "curricle.sources.curated:CuratedSource"),
})

#: The config of any source kind, told apart by its ``kind`` field.
SourceSpec = SOURCES.union()
