"""Mixture controllers, registered by name. One file per method.

Adding one: write ``controllers/<name>.py`` with a ``ControllerConfig`` subclass (its ``kind``
a ``Literal``) and a ``Controller`` subclass implementing ``propose`` (and ``signal`` if the
training loss is not its signal), then add one line to ``CONTROLLERS``.
"""

from __future__ import annotations

from curricle.controllers.base import (
    AuditEntry,
    Controller,
    ControllerConfig,
    DomainStats,
)
from curricle.controllers.doremi import DoReMi
from curricle.controllers.hard_examples import HardExamples
from curricle.controllers.learning_progress import LearningProgress
from curricle.controllers.odm import ODM
from curricle.controllers.schedule import ScheduleController, ScheduleControllerConfig
from curricle.registry import config_union

CONTROLLERS: dict[str, type[Controller]] = {
    "schedule": ScheduleController,
    "doremi": DoReMi,
    "odm": ODM,
    "learning-progress": LearningProgress,
    "hard-examples": HardExamples,
}

ControllerSpec = config_union(CONTROLLERS)


def build_controller(config: ControllerConfig, domains: list[str], natural_tokens: dict[str, int]) -> Controller:
    return CONTROLLERS[config.kind](config, domains, natural_tokens)


__all__ = ["CONTROLLERS", "ControllerSpec", "Controller", "ControllerConfig", "DomainStats", "AuditEntry",
           "ScheduleControllerConfig", "build_controller"]
