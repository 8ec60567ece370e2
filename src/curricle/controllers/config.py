"""Every controller's config, and the registry of controllers.

Adding a controller: a ``ControllerConfig`` subclass here (its ``kind`` a ``Literal``, its
fields documented), ``controllers/<name>.py`` with a
:class:`~curricle.controllers.base.Controller` subclass, and one line in ``CONTROLLERS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curricle.registry import Registry


class ControllerConfig(BaseModel):
    """Knobs every controller shares."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    update_every: int = Field(10, ge=1)
    """Steps between weight updates."""
    warmup_steps: int = Field(50, ge=0)
    """No change before this step (the signal is still collected)."""
    ema: float = Field(0.9, ge=0, lt=1)
    """EMA factor of the signal: smoothed = ema * smoothed + (1 - ema) * new."""
    min_weight: float = Field(0.02, ge=0, lt=1)
    """Floor on every domain's weight, so none is starved."""
    max_change: float = Field(0.1, gt=0, le=1)
    """Largest change of any one weight in one update."""


class ScheduleControllerConfig(ControllerConfig):
    kind: Literal["schedule"] = "schedule"


class ReferenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: Path | None = None
    """A finished curricle run whose last held-out losses are the reference."""
    checkpoint: Path | None = None
    """An HF checkpoint to evaluate on this run's held-out rows."""
    steps: int | None = Field(None, ge=1)
    """Train a uniform-mixture reference run of this many steps first (into RUN/reference)."""

    @model_validator(mode="after")
    def _one(self) -> "ReferenceConfig":
        if sum(x is not None for x in (self.run, self.checkpoint, self.steps)) != 1:
            raise ValueError("give exactly one of 'run', 'checkpoint' or 'steps'")
        return self


class DoReMiConfig(ControllerConfig):
    kind: Literal["doremi"] = "doremi"
    step_size: float = Field(1.0, gt=0)
    """eta of the exponentiated-gradient step (paper: 1)."""
    smoothing: float = Field(1e-3, ge=0, lt=1)
    """c: mix with uniform after each step (paper: 1e-3)."""
    reference: ReferenceConfig
    """Where the reference per-domain losses come from."""


class ODMConfig(ControllerConfig):
    kind: Literal["odm"] = "odm"
    update_every: int = Field(1, ge=1)
    warmup_steps: int = Field(0, ge=0)
    reward_smoothing: float = Field(0.9, ge=0, lt=1)
    """alpha: weight of the past in the estimated reward."""


class LearningProgressConfig(ControllerConfig):
    kind: Literal["learning-progress"] = "learning-progress"
    history: int = Field(200, ge=10)
    """Most recent (tokens, loss) points per domain used for the fit."""
    tokens: Literal["total", "domain"] = "total"
    """The laws' x axis: the run's total tokens (ADO) or each domain's own tokens."""
    prior: Literal["initial", "natural"] = "initial"
    """mu: the mixture the run started with, or the domains' natural token shares."""
    credit_power: float = Field(0.5, ge=0)
    """s: exponent on the credit h (0: no credit assignment)."""
    credit_smoothing: float = Field(0.1, gt=0, le=1)
    """gamma1: EMA factor of the credit h toward each step's weights."""
    policy_smoothing: float = Field(0.1, gt=0, le=1)
    """gamma2: share of the new preference in the policy (1: the preference alone)."""


class HardExamplesConfig(ControllerConfig):
    kind: Literal["hard-examples"] = "hard-examples"
    domains: list[str] | None = None
    """Domains whose documents are prioritized (default: all)."""
    priority: Literal["rank", "loss"] = "rank"
    """How estimates become draw probabilities: by rank (Loshchilov & Hutter) or by value."""
    selection_pressure: float = Field(100.0, ge=1)
    """rank: how many times as often the hardest document is drawn as the easiest."""
    temperature: float = Field(1.0, gt=0)
    """loss: p ~ estimate ** (1 / temperature); lower is greedier."""
    staleness: float = Field(0.98, gt=0, le=1)
    """Per step since a document was seen, its loss estimate moves this much toward the mean."""
    max_serves: int = Field(8, ge=1)
    """A document served this many times is no longer drawn (until all are)."""
    update_every: int = Field(10, ge=1)
    warmup_steps: int = Field(10, ge=0)


CONTROLLERS = Registry("controller", {
    "schedule": (ScheduleControllerConfig, "curricle.controllers.schedule:ScheduleController"),
    "doremi": (DoReMiConfig, "curricle.controllers.doremi:DoReMi"),
    "odm": (ODMConfig, "curricle.controllers.odm:ODM"),
    "learning-progress": (LearningProgressConfig, "curricle.controllers.learning_progress:LearningProgress"),
    "hard-examples": (HardExamplesConfig, "curricle.controllers.hard_examples:HardExamples"),
})

#: The config of any controller, told apart by its ``kind`` field.
ControllerSpec = CONTROLLERS.union()
