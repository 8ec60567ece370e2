"""The weight-schedule contract: ``weights(step)`` -> a probability vector over domains.

Weights count tokens. The vector is in the order of ``domains`` (the store's sorted domain
names). Schedules are pure functions of the step, so they need no state to resume.
"""

from __future__ import annotations

import numpy as np

from curricle.mixture.config import DomainWeights, ScheduleConfig


class WeightSchedule:
    """Base class. Subclasses implement :meth:`weights` (their config is registered with them
    in :data:`curricle.mixture.config.SCHEDULES`)."""

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


def weights_vector(mix: DomainWeights, domains: list[str], natural_tokens: dict[str, int]) -> np.ndarray:
    """The token weights ``mix`` gives ``domains`` (normalized), from explicit weights or a
    temperature over the domains' natural token counts."""
    if mix.weights is not None:
        v = np.array([float(mix.weights.get(d, 0.0)) for d in domains])
    else:
        sizes = np.array([float(natural_tokens[d]) for d in domains])
        v = np.where(sizes > 0, sizes ** (1.0 / mix.temperature), 0.0)
    total = v.sum()
    if total <= 0:
        raise ValueError("the mixture gives every domain in the store zero weight")
    return v / total
