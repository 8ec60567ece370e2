"""A phased curriculum: warm-up, ramps, domain phasing, consolidation.

Phase ``i`` starts at the sum of the earlier phases' ``steps``. If it has ``ramp: r > 0``,
its weights are interpolated linearly from the previous phase's weights: at the phase's
first step the weights are exactly the previous phase's, at ``start + r`` exactly its own::

    w(step) = prev + (own - prev) * min(1, (step - start) / r)

After the last phase ends the last phase's weights stay (a last phase may leave ``steps``
unset to mean "until the end of the run").
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from curricle.mixture.schedules.base import DomainWeights, ScheduleConfig, WeightSchedule


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


class PhasedSchedule(WeightSchedule):
    config_class = PhasesConfig

    def __init__(self, config: PhasesConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self._starts: list[int] = []
        start = 0
        for p in config.phases:
            self._starts.append(start)
            start += p.steps or 0
        self._w = [p.vector(self.domains, self.natural_tokens) for p in config.phases]

    def phases(self) -> list[tuple[int, str]]:
        return [(s, p.name) for s, p in zip(self._starts, self.config.phases)]

    def weights(self, step: int) -> np.ndarray:
        i = max(j for j, s in enumerate(self._starts) if step >= s or j == 0)
        phase = self.config.phases[i]
        if i == 0 or phase.ramp == 0:
            return self._w[i]
        alpha = min(1.0, (step - self._starts[i]) / phase.ramp)
        if alpha >= 1.0:
            return self._w[i]
        w = self._w[i - 1] + (self._w[i] - self._w[i - 1]) * alpha
        return w / w.sum()
