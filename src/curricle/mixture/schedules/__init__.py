"""Weight schedules: one file per kind; their configs and the registry of kinds
(``SCHEDULES``) are in :mod:`curricle.mixture.config`."""

from __future__ import annotations

from curricle.mixture.config import SCHEDULES, ScheduleConfig
from curricle.mixture.schedules.base import WeightSchedule


def build_schedule(config: ScheduleConfig, domains: list[str], natural_tokens: dict[str, int]) -> WeightSchedule:
    return SCHEDULES.build(config, domains, natural_tokens)


__all__ = ["SCHEDULES", "WeightSchedule", "build_schedule"]
