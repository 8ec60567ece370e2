"""Weight schedules, registered by ``kind``. One file per kind."""

from __future__ import annotations

from curricle.mixture.schedules.base import (
    DomainWeights,
    ScheduleConfig,
    WeightSchedule,
)
from curricle.mixture.schedules.phases import PhasedSchedule, PhasesConfig
from curricle.mixture.schedules.static import StaticConfig, StaticSchedule
from curricle.mixture.schedules.temperature import (
    TemperatureConfig,
    TemperatureSchedule,
)
from curricle.registry import config_union

SCHEDULES: dict[str, type[WeightSchedule]] = {
    "static": StaticSchedule,
    "temperature": TemperatureSchedule,
    "phases": PhasedSchedule,
}

ScheduleSpec = config_union(SCHEDULES)


def build_schedule(config: ScheduleConfig, domains: list[str], natural_tokens: dict[str, int]) -> WeightSchedule:
    return SCHEDULES[config.kind](config, domains, natural_tokens)


__all__ = [
    "SCHEDULES", "ScheduleSpec", "ScheduleConfig", "WeightSchedule", "DomainWeights",
    "StaticConfig", "TemperatureConfig", "PhasesConfig", "build_schedule",
]
