"""Temperature sampling over natural domain sizes: p(d) ~ tokens(d) ** (1 / T).

T = 1 is the natural mixture; T -> infinity approaches uniform (as in multilingual LM
pretraining, e.g. XLM-R's alpha = 1 / T = 0.3).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from curricle.mixture.schedules.base import DomainWeights, ScheduleConfig, WeightSchedule


class TemperatureConfig(ScheduleConfig):
    kind: Literal["temperature"] = "temperature"
    temperature: float = Field(1.0, gt=0)
    """1: natural sizes; larger: flatter."""


class TemperatureSchedule(WeightSchedule):
    config_class = TemperatureConfig

    def __init__(self, config: TemperatureConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self._w = DomainWeights(temperature=config.temperature).vector(self.domains, self.natural_tokens)

    def weights(self, step: int) -> np.ndarray:
        return self._w
