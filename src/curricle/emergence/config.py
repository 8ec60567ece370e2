"""The emergence map's settings (``curricle map --config``) and a study's file
(``curricle study``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from curricle.config import RunConfig, load_model_file, parse_config
from curricle.probes.config import ProbeConfig


@dataclass
class CurveSettings:
    fraction: float = 0.5
    saturation: float = 0.9
    sigma: float = 0.15
    stable_k: int = 3
    min_gain: float = 0.1
    z: float = 3.0


class MapConfig(BaseModel):
    """How the map reads curves (``curricle map --config``)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = "discrete"
    """``discrete`` (accuracy / exact match), ``continuous`` (normalized probability, or
    log-probability for text probes), or a metric name (``prob``, ``margin``)."""
    variant: Literal["fixed", "stable", "elbow"] = "fixed"
    """Which emergence point orders skills."""
    fraction: float = Field(0.5, gt=0, lt=1)
    """Emergence: this fraction of the way from chance to best."""
    saturation: float = Field(0.9, gt=0, le=1)
    """Saturation: this fraction of the way from chance to best."""
    sigma: float = Field(0.15, ge=0)
    """Gaussian smoothing bandwidth, in natural-log tokens (0: none)."""
    stable_k: int = Field(3, ge=1)
    """``stable``: the curve stays above the threshold for this many checkpoints."""
    min_gain: float = Field(0.1, ge=0)
    """A skill emerges only if best - chance is at least this..."""
    z: float = Field(3.0, ge=0)
    """...and at least this many standard errors of its best raw score: a skill whose best
    stays within ``z`` standard errors of chance is *not learned* (censored). 3, not 2: the
    best of a dozen noisy checkpoints clears 2 standard errors of pure noise often, across
    tens of skill levels nearly always."""
    tasks: list[str] | None = None
    """Only these tasks (default: all)."""
    bootstrap: int = Field(1000, ge=0)
    """Bootstrap resamples: of skills, for the consistency intervals; and of each curve
    (its scores redrawn from their standard errors), for the emergence and saturation
    intervals (0: no intervals)."""
    permutations: int = Field(1000, ge=0)
    """Shuffles for the consistency p-values."""
    seed: int = 0
    """Seed of the resampling (a curve's draws: this seed and the skill's name)."""

    def curve_settings(self) -> CurveSettings:
        return CurveSettings(self.fraction, self.saturation, self.sigma, self.stable_k, self.min_gain, self.z)


class StudyConfig(BaseModel):
    """Runs that differ in seed (and, optionally, in a named variant such as the model's size),
    and how to probe and map them."""

    model_config = ConfigDict(extra="forbid")

    name: str = "study"
    """A name for output."""
    out_dir: Path
    """Where the runs, the probe results and the map go."""
    seeds: list[int] = Field(min_length=2)
    """One run per seed."""
    run: dict[str, Any]
    """The run config (``curricle train``'s); ``seed`` is set per run, and ``data_dir``
    defaults to ``OUT/data`` (shared: the seeds train on the same store)."""
    variants: dict[str, dict[str, Any]] | None = None
    """Named changes to ``run`` (e.g. ``{small: {model: {preset: tiny-1m}}, large: {model:
    {preset: tiny-5m}, train: {lr: 0.002}}}``): each section given replaces or updates that
    section of ``run`` (mappings are merged one level deep). Every variant runs every seed,
    into ``OUT/<variant>-seed<N>``; without variants, ``OUT/seed<N>``."""
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    """``curricle probe`` settings."""
    map: MapConfig = Field(default_factory=MapConfig)
    """``curricle map`` settings."""

    @field_validator("variants")
    @classmethod
    def _some(cls, v: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        if v is not None and not v:
            raise ValueError("give at least one variant, or leave 'variants' out")
        return v

    def runs(self) -> list[tuple[str, str | None, int]]:
        """(run directory name, variant, seed) of every run, variant by variant."""
        if self.variants is None:
            return [(f"seed{s}", None, s) for s in self.seeds]
        return [(f"{v}-seed{s}", v, s) for v in self.variants for s in self.seeds]

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("seeds must be distinct")
        return v

    def run_config(self, seed: int, variant: str | None = None) -> RunConfig:
        data = dict(self.run)
        if variant is not None:
            for key, value in self.variants[variant].items():
                merge = isinstance(value, dict) and isinstance(data.get(key), dict)
                data[key] = {**data[key], **value} if merge else value
        name = f"{self.name}-{variant}-seed{seed}" if variant else f"{self.name}-seed{seed}"
        data.update(seed=seed, name=name)
        data.setdefault("data_dir", str(self.out_dir / "data"))
        return parse_config(data, f"study run ({variant + ', ' if variant else ''}seed {seed})")


def load_map_config(path: Path | None) -> MapConfig:
    """``curricle map --config``'s file (None: the default settings)."""
    return MapConfig() if path is None else load_model_file(path, MapConfig, "map config")
