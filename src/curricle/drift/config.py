"""``curricle drift``'s settings: a YAML file (``--config``); the flags override it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curricle.config import parse_model, read_yaml
from curricle.registry import Registry

#: The sections a comparison can run, by name, in the order they run (all by default).
SECTIONS = Registry("drift section", {
    "mixture": "curricle.drift.sections.mixture:MixtureSection",
    "metadata": "curricle.drift.sections.metadata:MetadataSection",
    "tokens": "curricle.drift.sections.tokens:TokensSection",
    "tasks": "curricle.drift.sections.tasks:TasksSection",
})

#: ``--fail-on`` values: the mildest verdict that makes the command exit 1 (``never``: exit 0).
FAIL_ON = ("never", "warn", "drift")


class DriftConfig(BaseModel):
    """How two data versions are compared and judged."""

    model_config = ConfigDict(extra="forbid")

    sections: list[str] | None = None
    """The sections to run (``mixture``, ``metadata``, ``tokens``, ...); None: all of them."""
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
        return self


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
