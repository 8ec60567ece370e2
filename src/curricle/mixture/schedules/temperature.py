"""Temperature sampling over natural domain sizes: p(d) ~ tokens(d) ** (1 / T).

T = 1 is the natural mixture; T -> infinity approaches uniform (as in multilingual LM
pretraining, e.g. XLM-R's alpha = 1 / T = 0.3).
"""

from __future__ import annotations

import numpy as np

from curricle.mixture.config import DomainWeights, TemperatureConfig
from curricle.mixture.schedules.base import WeightSchedule, weights_vector


class TemperatureSchedule(WeightSchedule):

    def __init__(self, config: TemperatureConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self._w = weights_vector(DomainWeights(temperature=config.temperature), self.domains, self.natural_tokens)

    def weights(self, step: int) -> np.ndarray:
        return self._w
