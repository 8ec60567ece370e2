"""The mixture's config: batch shape, sequence-length schedule, domain-weight schedules,
difficulty pacing and within-domain weights, and the registry of schedule kinds.

Adding a schedule kind: a ``ScheduleConfig`` subclass here (its ``kind`` a ``Literal``), an
implementation in ``mixture/schedules/<kind>.py`` (a
:class:`~curricle.mixture.schedules.base.WeightSchedule` subclass), and one line in
``SCHEDULES``.
"""

from __future__ import annotations

import bisect
import json
import math
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationInfo, field_validator,
                      model_validator)

from curricle.registry import Registry

# -- sequence length -----------------------------------------------------------------------

class SeqLenSchedule(BaseModel):
    """``points: [[0, 64], [500, 256]]``: 64 tokens per row at step 0, 256 from step 500.

    At a point's step the length is that point's, exactly. Between points it is interpolated
    (``linear``), rounded down to a multiple of ``multiple_of`` and kept within the two
    points' lengths (the lower one where rounding down would leave it, e.g. 4 between
    ``[0, 4]`` and ``[100, 6]`` with ``multiple_of: 8``), or held (``step``). Before the first
    point the first length holds, after the last the last.
    """

    model_config = ConfigDict(extra="forbid")

    points: list[tuple[int, int]] = Field(min_length=1)
    """(step, tokens per row) pairs, steps strictly increasing, lengths >= 2."""
    interpolate: Literal["linear", "step"] = "linear"
    """How the length moves between points."""
    multiple_of: int = Field(8, ge=1)
    """Round interpolated lengths down to a multiple of this (kernel-friendly shapes); the
    points' own lengths are used as given."""

    @field_validator("points")
    @classmethod
    def _check(cls, points: list[tuple[int, int]]) -> list[tuple[int, int]]:
        steps = [s for s, _ in points]
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"steps must be strictly increasing, got {steps}")
        if any(s < 0 for s in steps):
            raise ValueError("steps must be >= 0")
        if any(n < 2 for _, n in points):
            raise ValueError("every length must be >= 2")
        return points

    def at(self, step: int) -> int:
        steps = [s for s, _ in self.points]
        i = bisect.bisect_right(steps, step) - 1
        if i < 0:
            return self.points[0][1]
        (s0, n0) = self.points[i]
        if step == s0 or i == len(self.points) - 1 or self.interpolate == "step":
            return n0
        (s1, n1) = self.points[i + 1]
        n = n0 + (n1 - n0) * (step - s0) / (s1 - s0)
        return min(max(n0, n1), max(min(n0, n1), int(n) // self.multiple_of * self.multiple_of))

    @property
    def max_len(self) -> int:
        return max(n for _, n in self.points)


def _seq_len_kind(v: Any) -> str | None:
    """Which of :data:`SeqLenSpec`'s kinds ``v`` is meant as, so a bad schedule's error is its
    own (not that it is no integer): ``int`` for an integer, ``schedule`` for a mapping, else
    None."""
    if isinstance(v, int) and not isinstance(v, bool):
        return "int"
    return "schedule" if isinstance(v, (dict, SeqLenSchedule)) else None


#: A ``seq_len:``: tokens per row, fixed (an integer) or a schedule (a mapping with ``points:``).
SeqLenSpec = Annotated[
    Union[Annotated[int, Tag("int")], Annotated[SeqLenSchedule, Tag("schedule")]],
    Discriminator(_seq_len_kind, custom_error_type="seq_len_spec",
                  custom_error_message="expected tokens per row (an integer) or a schedule (a mapping with points:)")]


def seq_len_at(spec: int | SeqLenSchedule, step: int) -> int:
    return spec if isinstance(spec, int) else spec.at(step)


def max_seq_len(spec: int | SeqLenSchedule) -> int:
    return spec if isinstance(spec, int) else spec.max_len


# -- difficulty pacing (competence-based curriculum, Platanios et al., 2019) -------------

def fixed_linear(t: int, steps: int, start: float, buckets: int) -> float:
    return min(1.0, start + (1.0 - start) * t / steps)


def fixed_root(t: int, steps: int, start: float, buckets: int) -> float:
    return min(1.0, math.sqrt(start**2 + (1.0 - start**2) * t / steps))


def fixed_discrete(t: int, steps: int, start: float, buckets: int) -> float:
    return min(1.0, start + (1.0 - start) * math.floor(buckets * t / steps) / buckets)


PACING: dict[str, Callable[[int, int, float, int], float]] = {
    "fixed_linear": fixed_linear,
    "fixed_root": fixed_root,
    "fixed_discrete": fixed_discrete,
}


class PacingConfig(BaseModel):
    """Pacing of one domain."""

    model_config = ConfigDict(extra="forbid")

    column: str = "n_tokens"
    """Metadata column that measures difficulty (n_tokens, n_chars, compression_ratio,
    mean_token_rarity, reference_loss with ``prepare.reference_model``, a source's
    ``meta_fields`` entry such as quality, or one you added). Numbers or bools; a null value
    ranks last (hardest). A column the store lacks is a one-line error when the sampler is
    built."""
    kind: Literal["fixed_linear", "fixed_root", "fixed_discrete"] = "fixed_root"
    """Competence function (see module doc)."""
    start: float = Field(0.1, gt=0, le=1)
    """Share of the domain's documents (easiest first) available at step 0."""
    steps: int = Field(ge=1)
    """Step at which every document is available."""
    buckets: int = Field(4, ge=1)
    """Number of increments for fixed_discrete."""
    descending: bool = False
    """Rank by the column descending (a larger value is easier), e.g. compression_ratio."""

    def competence(self, step: int) -> float:
        return PACING[self.kind](max(0, step), self.steps, self.start, self.buckets)


# -- within-domain weights (upsampling by a document score, as FineWeb-Edu-style training does) --

class WeightByConfig(BaseModel):
    """Draw one domain's documents by a per-document score: each next document of the domain
    is document ``i`` with probability

        p(i) = exp(s_i / temperature) / sum_j exp(s_j / temperature)

    where ``s_i`` is the document's value of ``column`` (``-value`` with ``prefer: low``; a
    bool counts as 1 / 0; a null gets ``missing``). Draws are independent (with replacement)
    and count documents, not tokens: a long document drawn once serves all its tokens. The
    domain's share of the mixture (its token weight) is unchanged; only which of its documents
    fill its rows changes. Deterministic from the run's seed, and exact on resume (the state
    is the number of documents drawn). A softmax rather than ``s ** (1 / temperature)``: it
    takes any real score (a classifier's probability, a log-probability, a negative loss),
    adding a constant to every score changes nothing, and ``temperature`` is in the score's
    own units (a document scoring ``temperature * ln 2`` more is drawn twice as often).

    With ``mixture.pacing`` on the same domain, the draw is among the documents pacing makes
    available at the step, with the same formula restricted to them (should every available
    document's weight underflow to 0, scores some ``745 * temperature`` below the domain's
    best, the draw among them is uniform). A domain whose documents a controller prioritizes
    (``hard-examples``, ``frontier``) cannot also have ``weight_by`` (one-line error when the
    sampler is built). The table is rebuilt from the config when a run resumes: a changed
    ``weight_by`` draws by the new table from the resumed step on."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)
    """The ``meta.parquet`` column: a number or bool per document, e.g. ``quality`` written
    by a curation step or carried from a source's ``meta_fields``, ``language_score``,
    ``reference_loss``, ``compression_ratio``. A column the store lacks, or one of strings, is
    a one-line error when the sampler is built."""
    temperature: float = Field(gt=0, allow_inf_nan=False)
    """In the score's units: smaller concentrates the draws on the best-scored documents,
    larger flattens them toward uniform (e.g. 0.1 for a quality probability in [0, 1]: the
    best document is drawn e**10 times as often as the worst)."""
    prefer: Literal["high", "low"] = "high"
    """``high``: a larger score is drawn more often; ``low``: a smaller one (e.g. toxicity)."""
    missing: Literal["median", "min", "max"] | float = "median"
    """The score of a document whose value is null: the median (of an even count, the mean
    of the two middle values), minimum or maximum of the domain's non-null values, or a
    number. A domain whose every value is null is a one-line error."""

    @field_validator("missing", mode="before")
    @classmethod
    def _median_min_max_or_a_number(cls, v):
        ok = v in ("median", "min", "max") if isinstance(v, str) else \
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok:
            raise ValueError(f"expected median, min, max or a finite number, got {v!r}")
        return v


# -- weight schedules ----------------------------------------------------------------------

class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str

    def referenced_domains(self) -> set[str]:
        """Domains the config names, checked against the sources / store."""
        return set()


class DomainWeights(BaseModel):
    """A mixture given either as explicit weights or as a temperature over natural sizes."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] | None = None
    """Token weights per domain (normalized; domains left out get 0). Exclusive with temperature."""
    temperature: float | None = Field(None, gt=0)
    """p(d) proportional to tokens(d) ** (1 / temperature): 1 is the natural mixture, larger
    flattens toward uniform. Exclusive with weights."""

    @field_validator("weights")
    @classmethod
    def _weights_valid(cls, w: dict[str, float] | None) -> dict[str, float] | None:
        if w is None:
            return w
        for name, v in w.items():
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"weight of '{name}' is {v}; weights must be finite and >= 0")
        if not any(v > 0 for v in w.values()):
            raise ValueError("all weights are zero; at least one domain needs a positive weight")
        return w

    def model_post_init(self, __context) -> None:
        if (self.weights is None) == (self.temperature is None):
            raise ValueError("give exactly one of 'weights' or 'temperature'")

    def referenced_domains(self) -> set[str]:
        return set(self.weights or {})


class StaticConfig(ScheduleConfig, DomainWeights):
    """``kind: static`` with ``weights: {domain: w}``, ``temperature: T`` (1 = natural), or
    ``weights_from: FILE``: a JSON file whose ``weights`` are the mixture (a DoReMi proxy
    run's ``doremi_weights.json``), read when the config is loaded. The weights read become
    ``weights`` and ``weights_from`` is cleared, so a loaded config written out (``RUN/config.yaml``)
    holds the weights the run used and validates again."""

    kind: Literal["static"] = "static"
    weights_from: Path | None = None
    """A JSON file with ``{"weights": {domain: w}}``; exclusive with weights and temperature (both
    given is an error naming weights_from)."""

    @model_validator(mode="before")
    @classmethod
    def _read_weights(cls, data):
        if not isinstance(data, dict) or data.get("weights_from") is None or any(
                data.get(k) is not None for k in ("weights", "temperature")):
            return data  # nothing to read, or both given: refused by _alone
        path = Path(data["weights_from"])
        try:
            weights = json.loads(path.read_text())["weights"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"weights_from: cannot read weights from {path}: {type(err).__name__}: {err}") from None
        if not isinstance(weights, dict):
            raise ValueError(f"weights_from: 'weights' in {path} is not a mapping of domain to weight")
        return {**data, "weights": weights, "weights_from": None}

    @field_validator("weights_from")
    @classmethod
    def _alone(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        given = [k for k in ("weights", "temperature") if info.data.get(k) is not None]
        if v is not None and given:
            raise ValueError(f"exclusive with weights and temperature (got {' and '.join(given)} too)")
        return v

    def referenced_domains(self) -> set[str]:
        return DomainWeights.referenced_domains(self)


class TemperatureConfig(ScheduleConfig):
    kind: Literal["temperature"] = "temperature"
    temperature: float = Field(1.0, gt=0)
    """1: natural sizes; larger: flatter."""


class Phase(DomainWeights):
    model_config = ConfigDict(extra="forbid")

    name: str
    """Shown in logs and reports (e.g. warmup, ramp, consolidation)."""
    steps: int | None = Field(None, ge=1)
    """Length in optimizer steps; only the last phase may leave it unset (until the end)."""
    ramp: int = Field(0, ge=0)
    """Steps over which weights move linearly from the previous phase's to this one's."""


class PhasesConfig(ScheduleConfig):
    kind: Literal["phases"] = "phases"
    phases: list[Phase] = Field(min_length=1)
    """The phases in order."""

    @model_validator(mode="after")
    def _check(self) -> "PhasesConfig":
        for i, p in enumerate(self.phases):
            if p.steps is None and i != len(self.phases) - 1:
                raise ValueError(f"phases.{i} ('{p.name}'): only the last phase may leave 'steps' unset")
            if p.steps is not None and p.ramp > p.steps:
                raise ValueError(f"phases.{i} ('{p.name}'): ramp {p.ramp} is longer than the phase ({p.steps} steps)")
            if i == 0 and p.ramp:
                raise ValueError(f"phases.0 ('{p.name}'): the first phase has nothing to ramp from; set ramp: 0")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phase names must be unique, got {names}")
        return self

    def referenced_domains(self) -> set[str]:
        return set().union(*(p.referenced_domains() for p in self.phases))


SCHEDULES = Registry("schedule", {
    "static": (StaticConfig, "curricle.mixture.schedules.static:StaticSchedule"),
    "temperature": (TemperatureConfig, "curricle.mixture.schedules.temperature:TemperatureSchedule"),
    "phases": (PhasesConfig, "curricle.mixture.schedules.phases:PhasedSchedule"),
})

#: The config of any schedule kind, told apart by its ``kind`` field.
ScheduleSpec = SCHEDULES.union()


# -- the mixture -----------------------------------------------------------------------------

class MixtureConfig(BaseModel):
    """What the model sees, step by step."""

    model_config = ConfigDict(extra="forbid")

    batch_rows: int = Field(16, ge=1)
    """Global batch: rows per optimizer step over all ranks (must divide by the world size)."""
    seq_len: SeqLenSpec = 128
    """Tokens per row (model inputs), fixed (at least 2) or a schedule; each row carries one
    more token for the shifted labels (an HF ``Trainer``'s ``MixtureDataset`` yields the whole
    row of ``seq_len + 1`` as ``input_ids`` and ``labels``: :mod:`curricle.integrations.hf`)."""
    schedule: ScheduleSpec = Field(default_factory=lambda: StaticConfig(temperature=1.0))
    """Domain weights over time (static / temperature / phases). Default: natural sizes."""
    pacing: dict[str, PacingConfig] = Field(default_factory=dict)
    """Difficulty pacing per domain name (domains not listed are not paced)."""
    weight_by: dict[str, WeightByConfig] = Field(default_factory=dict)
    """Within-domain sampling weights per domain name: documents drawn in proportion to
    ``exp(score / temperature)`` (see :class:`WeightByConfig`); domains not listed are not
    weighted."""
    max_epochs: float = Field(4.0, gt=0)
    """Warn when a domain has been served more than this many times its size."""

    @field_validator("seq_len")
    @classmethod
    def _at_least_two_tokens(cls, v: int | SeqLenSchedule) -> int | SeqLenSchedule:
        # The bound SeqLenSchedule puts on its lengths: a row shorter than 2 trains on nothing.
        if isinstance(v, int) and v < 2:
            raise ValueError(f"expected at least 2 tokens per row, got {v}")
        return v

    def referenced_domains(self) -> set[str]:
        return self.schedule.referenced_domains() | set(self.pacing) | set(self.weight_by)
