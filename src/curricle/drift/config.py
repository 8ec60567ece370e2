"""``curricle drift``'s settings: a YAML file (``--config``); the flags override it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curricle.config import parse_model, read_yaml
from curricle.curate.config import NearDedupConfig
from curricle.registry import Registry

#: The sections a comparison can run, by name, in the order they run (all by default).
SECTIONS = Registry("drift section", {
    "mixture": "curricle.drift.sections.mixture:MixtureSection",
    "metadata": "curricle.drift.sections.metadata:MetadataSection",
    "tokens": "curricle.drift.sections.tokens:TokensSection",
    "content": "curricle.drift.sections.content:ContentSection",
    "near_duplicates": "curricle.drift.sections.near_duplicates:NearDuplicatesSection",
    "reference": "curricle.drift.sections.reference:ReferenceSection",
    "tasks": "curricle.drift.sections.tasks:TasksSection",
    "pass_rate": "curricle.drift.sections.pass_rate:PassRateSection",
})

#: Sections that run only when their setting is given (not part of "all"): the section -> the field.
NEEDS = {"reference": "ref_model", "pass_rate": "ref_model"}

_NEAR = NearDedupConfig.model_fields


class NearDuplicateSettings(BaseModel):
    """The ``near_duplicates`` section's MinHash LSH: curate's near-dedup settings and defaults
    (:class:`~curricle.curate.config.NearDedupConfig`), over token shingles."""

    model_config = ConfigDict(extra="forbid")

    shingle_size: int = Field(_NEAR["shingle_size"].default, ge=1)
    """Tokens per shingle (5, as curate's words per shingle)."""
    bands: int = Field(_NEAR["bands"].default, ge=1)
    """LSH bands (14): two documents are near-duplicates when one band's rows all agree."""
    rows: int = Field(_NEAR["rows"].default, ge=1)
    """Permutations per band (8); about (1/bands)^(1/rows) = 0.72 Jaccard by default."""
    seed: int = _NEAR["seed"].default
    """Seed of the MinHash permutations (datasketch's, as curate's)."""

    @model_validator(mode="after")
    def _not_too_many(self) -> NearDuplicateSettings:
        if self.bands * self.rows > 4096:
            raise ValueError(f"bands * rows = {self.bands * self.rows} permutations; expected at most 4096")
        return self


#: ``--fail-on`` values: the mildest verdict that makes the command exit 1 (``never``: exit 0).
FAIL_ON = ("never", "warn", "drift")


class DriftConfig(BaseModel):
    """How two data versions are compared and judged."""

    model_config = ConfigDict(extra="forbid")

    sections: list[str] | None = None
    """The sections to run (``mixture``, ``metadata``, ``tokens``, ``content``,
    ``near_duplicates``, ``reference``); None: all of them (``reference`` only with ``ref_model``)."""
    null_splits: int = Field(20, ge=2)
    """Random split-halves of OLD the verdicts are calibrated on."""
    seed: int = 0
    """Seeds the split-halves (and anything else drawn at random)."""
    warn_sd: float = Field(2.0, gt=0)
    """WARN above the null's mean + this many of its standard deviations."""
    drift_sd: float = Field(3.0, gt=0)
    """DRIFT above the null's mean + this many of its standard deviations."""
    min_docs: int = Field(50, ge=1)
    """A statistic on fewer documents than this on a side is unreliable (at most WARN)."""
    bigram_buckets: int = Field(1 << 16, ge=16)
    """Hash bins of the token-bigram distribution."""
    top_tokens: int = Field(10, ge=0)
    """Tokens listed per domain among those whose share moved most."""
    content_max_docs: int = Field(1000, ge=10)
    """``content``: documents per side and domain the classifier reads (a sample drawn by a seeded
    hash of their content; the split-halves read half of OLD's)."""
    content_folds: int = Field(2, ge=2, le=10)
    """``content``: cross-validation folds (every document is scored by a model not trained on it)."""
    content_buckets: int = Field(1 << 18, ge=16)
    """``content``: hash bins of the token unigram + bigram features."""
    content_l2: float = Field(1e-4, gt=0)
    """``content``: the logistic regression's L2 penalty (on the mean log-loss)."""
    near_duplicates: NearDuplicateSettings = Field(default_factory=NearDuplicateSettings)
    """``near_duplicates``: the MinHash LSH settings."""
    ref_model: Path | None = None
    """``reference``: an HF checkpoint (or a curricle run: its newest checkpoint) whose mean token
    loss per document is compared; the section runs only when it is set (``--ref-model``)."""
    ref_max_docs: int = Field(200, ge=1)
    """``reference``: documents per side and domain scored (a sample drawn by a seeded hash of
    their content); ``pass_rate``: items per side and task."""
    ref_max_tokens: int | None = Field(None, ge=1)
    """``reference``: the window a document is read in (None: the checkpoint's position limit)."""
    ref_batch_docs: int = Field(8, ge=1)
    """``reference``: windows per forward pass."""
    ref_samples: int = Field(4, ge=1)
    """``pass_rate`` (two task sets): completions sampled per item from ``ref_model``."""
    ref_temperature: float = Field(1.0, gt=0)
    """``pass_rate``: the sampling temperature (1: sampled pass@1)."""
    fail_on: str = "never"
    """The mildest verdict that makes ``curricle drift`` exit with status 1: ``warn``,
    ``drift`` or ``never`` (exit 0 whatever it finds). ``--fail-on`` overrides it."""

    @field_validator("fail_on")
    @classmethod
    def _fail_on(cls, v: str) -> str:
        v = v.lower()
        if v not in FAIL_ON:
            raise ValueError(f"expected one of {', '.join(FAIL_ON)}")
        return v

    @field_validator("sections")
    @classmethod
    def _sections(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        unknown = [s for s in v if s not in SECTIONS]
        if unknown:
            raise ValueError(f"unknown section '{unknown[0]}' (known: {', '.join(SECTIONS)})")
        if not v:
            raise ValueError("empty: leave it out to run every section")
        return v

    @model_validator(mode="after")
    def _levels(self) -> DriftConfig:
        if self.warn_sd > self.drift_sd:
            raise ValueError(f"warn_sd ({self.warn_sd}) is above drift_sd ({self.drift_sd})")
        for name, needs in NEEDS.items():
            if name in (self.sections or []) and getattr(self, needs) is None:
                raise ValueError(f"sections: '{name}' needs {needs}")
        return self

    def section_names(self) -> list[str]:
        """The sections that run, in order: ``sections`` (default every one but those that
        need a setting, :data:`NEEDS`), and each of those whose setting is given."""
        names = list(self.sections or [s for s in SECTIONS if s not in NEEDS])
        return names + [s for s, needs in NEEDS.items() if getattr(self, needs) is not None and s not in names]


def load_drift_config(path: Path | None) -> DriftConfig:
    """The settings in ``path`` (a YAML mapping of :class:`DriftConfig`'s fields, or one with a
    ``drift:`` block), or the defaults."""
    if path is None:
        return DriftConfig()
    return parse_drift_config(read_yaml(path, "drift config"), str(path))


def parse_drift_config(data, where: str) -> DriftConfig:
    """``data`` (parsed YAML: the fields, or a mapping with just a ``drift:`` block) validated."""
    if isinstance(data, dict) and set(data) == {"drift"}:
        data = data["drift"]
    return parse_model(data, DriftConfig, where)
