"""Fixed weights for the whole run."""

from __future__ import annotations

import numpy as np

from curricle.mixture.config import StaticConfig
from curricle.mixture.schedules.base import WeightSchedule, weights_vector


class StaticSchedule(WeightSchedule):

    def __init__(self, config: StaticConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self._w = weights_vector(config, self.domains, self.natural_tokens)

    def weights(self, step: int) -> np.ndarray:
        return self._w
