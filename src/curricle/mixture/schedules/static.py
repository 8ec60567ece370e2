"""Fixed weights for the whole run."""

from __future__ import annotations

from typing import Literal

import numpy as np

from curricle.mixture.schedules.base import DomainWeights, ScheduleConfig, WeightSchedule


class StaticConfig(ScheduleConfig, DomainWeights):
    """``kind: static`` with ``weights: {domain: w}``, or ``temperature: T`` (1 = natural)."""

    kind: Literal["static"] = "static"

    def referenced_domains(self) -> set[str]:
        return DomainWeights.referenced_domains(self)


class StaticSchedule(WeightSchedule):
    config_class = StaticConfig

    def __init__(self, config: StaticConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self._w = config.vector(self.domains, self.natural_tokens)

    def weights(self, step: int) -> np.ndarray:
        return self._w
