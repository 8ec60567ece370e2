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
    """A finished curricle run: its last checkpoint is the reference model."""
    checkpoint: Path | None = None
    """An HF checkpoint directory (same tokenizer as this run)."""
    steps: int | None = Field(None, ge=1)
    """Train a reference run of this many steps first (into RUN/reference), on the run's own
    mixture, as the paper's reference is trained on the baseline mixture."""

    @model_validator(mode="after")
    def _one(self) -> "ReferenceConfig":
        if sum(x is not None for x in (self.run, self.checkpoint, self.steps)) != 1:
            raise ValueError("give exactly one of 'run', 'checkpoint' or 'steps'")
        return self


class DoReMiConfig(BaseModel):
    """DoReMi's proxy run (``sangmichaelxie/doremi``); see :mod:`curricle.controllers.doremi`.

    The run samples from its own (static) mixture and learns domain weights; its product is
    ``RUN/doremi_weights.json``, the weights averaged over its steps, for a fresh run to train
    on (``mixture.schedule: {kind: static, weights_from: RUN/doremi_weights.json}``).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["doremi"] = "doremi"
    step_size: float = Field(1.0, gt=0)
    """eta of the exponentiated-gradient step (paper and release: 1)."""
    smoothing: float = Field(1e-3, ge=0, lt=1)
    """c: mix with uniform after each step (paper and release: 1e-3)."""
    reference: ReferenceConfig
    """The reference model, run on every batch beside the proxy."""
    rounds: int = Field(1, ge=1)
    """Iterated DoReMi: round k > 1 trains its reference on round k-1's averaged weights
    (``reference.steps`` only), then a new proxy against it, under ``RUN/round-<k>``."""

    @model_validator(mode="after")
    def _rounds_need_steps(self) -> "DoReMiConfig":
        if self.rounds > 1 and self.reference.steps is None:
            raise ValueError("rounds > 1 needs reference.steps: each round trains its own reference")
        return self


class AsReleasedConfig(ControllerConfig):
    """Defaults of a controller that follows a release which changes its weights every step,
    with none of the shared machinery on top: no EMA, no floor, no cap."""

    update_every: int = Field(1, ge=1)
    ema: float = Field(0.0, ge=0, lt=1)
    min_weight: float = Field(0.0, ge=0, lt=1)
    max_change: float = Field(1.0, gt=0, le=1)


class ODMConfig(AsReleasedConfig):
    """The release's smoothed-mean updater: every step, no extra smoothing, floor or cap."""

    kind: Literal["odm"] = "odm"
    warmup_steps: int = Field(0, ge=0)
    reward_smoothing: float = Field(0.9, ge=0, lt=1)
    """alpha: weight of the past in the smoothed perplexity (the release's smoothing_factor)."""


class ADOConfig(AsReleasedConfig):
    """ADO as released (``yidingjiang/ado``); see :mod:`curricle.controllers.ado`."""

    kind: Literal["ado"] = "ado"
    warmup_steps: int = Field(50, ge=0)
    """ADO's ``start_step``: the first fit and policy (the signal is collected from step 1)."""
    ignore_steps: int | None = Field(None, ge=0)
    """Steps left out of every fit (ADO's ``ignore_steps``); default: the run's LR warm-up."""
    refit_every: int = Field(10, ge=1)
    """Steps between fits (ADO's ``update_interval``); the policy changes every step."""
    fit_stride: int = Field(10, ge=1)
    """Every this-many-th step of the (filtered) history enters the fit (ADO: 10)."""
    savgol_window: int = Field(101, ge=3)
    """Savitzky-Golay window over the training-loss history (ADO: 101 steps)."""
    savgol_order: int = Field(3, ge=1)
    exponent_floor: float = Field(0.05, ge=0)
    """Lower bound on each law's exponent in the predicted slope (ADO: 0.05)."""
    min_probability: float = Field(0.01, ge=0, lt=1)
    """ADO's minimum probability per domain (its ``clip_min_probability``)."""


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
    "ado": (ADOConfig, "curricle.controllers.ado:ADO"),
    "hard-examples": (HardExamplesConfig, "curricle.controllers.hard_examples:HardExamples"),
})

#: The config of any controller, told apart by its ``kind`` field.
ControllerSpec = CONTROLLERS.union()
