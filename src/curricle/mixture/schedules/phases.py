"""A phased curriculum: warm-up, ramps, domain phasing, consolidation.

Phase ``i`` starts at the sum of the earlier phases' ``steps``. If it has ``ramp: r > 0``,
its weights are interpolated linearly from the previous phase's weights: at the phase's
first step the weights are exactly the previous phase's, at ``start + r`` exactly its own::

    w(step) = prev + (own - prev) * min(1, (step - start) / r)

After the last phase ends the last phase's weights stay (a last phase may leave ``steps``
unset to mean "until the end of the run").
"""

from __future__ import annotations

import numpy as np

from curricle.mixture.config import PhasesConfig
from curricle.mixture.schedules.base import WeightSchedule, weights_vector


class PhasedSchedule(WeightSchedule):

    def __init__(self, config: PhasesConfig, domains, natural_tokens):
        super().__init__(config, domains, natural_tokens)
        self._starts: list[int] = []
        start = 0
        for p in config.phases:
            self._starts.append(start)
            start += p.steps or 0
        self._w = [weights_vector(p, self.domains, self.natural_tokens) for p in config.phases]

    def phases(self) -> list[tuple[int, str]]:
        return [(s, p.name) for s, p in zip(self._starts, self.config.phases)]

    def phase_weights(self, name: str) -> np.ndarray:
        """Phase ``name``'s own weights (its ramp's end)."""
        return self._w[[p.name for p in self.config.phases].index(name)]

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
