"""The weight-schedule contract: ``weights(step)`` -> a probability vector over domains.

Weights count tokens. The vector is in the order of ``domains`` (the store's sorted domain
names). Schedules are pure functions of the step, so they need no state to resume.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator


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
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"weight of '{name}' is {v}; weights must be finite and >= 0")
        if not any(v > 0 for v in w.values()):
            raise ValueError("all weights are zero; at least one domain needs a positive weight")
        return w

    def model_post_init(self, __context) -> None:
        if (self.weights is None) == (self.temperature is None):
            raise ValueError("give exactly one of 'weights' or 'temperature'")

    def referenced_domains(self) -> set[str]:
        return set(self.weights or {})

    def vector(self, domains: list[str], natural_tokens: dict[str, int]) -> np.ndarray:
        if self.weights is not None:
            v = np.array([float(self.weights.get(d, 0.0)) for d in domains])
        else:
            sizes = np.array([float(natural_tokens[d]) for d in domains])
            v = np.where(sizes > 0, sizes ** (1.0 / self.temperature), 0.0)
        total = v.sum()
        if total <= 0:
            raise ValueError("the mixture gives every domain in the store zero weight")
        return v / total


class WeightSchedule:
    """Base class. Subclasses set ``config_class`` and implement :meth:`weights`."""

    config_class: ClassVar[type[ScheduleConfig]] = ScheduleConfig

    def __init__(self, config: ScheduleConfig, domains: list[str], natural_tokens: dict[str, int]):
        self.config = config
        self.domains = list(domains)
        self.natural_tokens = dict(natural_tokens)

    def weights(self, step: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def phases(self) -> list[tuple[int, str]]:
        """(start step, name) of each phase, for reports. One phase for unphased schedules."""
        return [(0, self.config.kind)]

    def phase_at(self, step: int) -> str:
        name = self.phases()[0][1]
        for start, n in self.phases():
            if step >= start:
                name = n
        return name
