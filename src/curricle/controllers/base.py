"""The controller contract, and the machinery every controller shares.

A controller turns the run's telemetry into mixture weights::

    update(step, stats) -> weights | None      None: keep the current weights
    state_dict() / load_state_dict()           small and JSON-able; part of every checkpoint

Subclasses implement two methods: :meth:`Controller.signal` (a per-domain number read from
the step's :class:`DomainStats`, NaN where the step says nothing about a domain) and
:meth:`Controller.propose` (weights from the smoothed signal). This base class does the rest,
the same way for every method, so none of them chases noise:

- the signal is smoothed by an EMA per domain (domains absent from a step keep their value);
- nothing changes before ``warmup_steps``, and then only every ``update_every`` steps;
- the proposal is floored at ``min_weight`` per domain, then moved toward from the current
  weights by at most ``max_change`` (in any one weight) per update;
- every change is returned as an :class:`AuditEntry` (old and new weights, the signal that
  caused it, and a reason) that the trainer appends to ``RUN/mixture_log.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from curricle.controllers.config import ControllerConfig


@dataclass
class DomainStats:
    """What a step tells a controller, per domain (arrays in the sampler's domain order)."""

    step: int
    """The optimizer step just finished (1-based)."""
    train_loss: np.ndarray
    """Mean training loss per domain over this step's rows (NaN: no rows of that domain)."""
    tokens: np.ndarray
    """Tokens served per domain since the start of the run."""
    weights: np.ndarray
    """The weights this step was drawn with."""
    eval_loss: np.ndarray | None = None
    """Held-out loss per domain, on evaluation steps only."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditEntry:
    step: int
    old: list[float]
    new: list[float]
    signal: dict[str, float]
    reason: str

    def to_json(self, domains: list[str]) -> dict[str, Any]:
        return {
            "step": self.step,
            "effective_from_step": self.step + 1,
            "old": dict(zip(domains, self.old)),
            "new": dict(zip(domains, self.new)),
            "signal": self.signal,
            "reason": self.reason,
        }


def apply_floor(w: np.ndarray, floor: float) -> np.ndarray:
    """The closest-in-spirit weights with every entry >= ``floor``: raise the low ones to the
    floor and scale the others down to keep the sum 1."""
    w = np.asarray(w, dtype=np.float64)
    w = w / w.sum()
    if floor <= 0:
        return w
    if floor * len(w) >= 1:
        return np.full(len(w), 1.0 / len(w))
    low = np.zeros(len(w), dtype=bool)
    for _ in range(len(w)):
        low_new = low | (w < floor)
        free = 1.0 - floor * low_new.sum()
        rest = np.where(low_new, 0.0, w)
        w = np.where(low_new, floor, rest / rest.sum() * free)
        if np.array_equal(low_new, low):
            break
        low = low_new
    return w


def limit_change(current: np.ndarray, target: np.ndarray, max_change: float) -> np.ndarray:
    """Move from ``current`` toward ``target`` so no weight changes by more than ``max_change``.

    A convex combination of two points of the simplex stays on it, and keeps a floor both
    respect.
    """
    gap = np.max(np.abs(target - current))
    if gap <= max_change:
        return target.copy()
    return current + (target - current) * (max_change / gap)


class Controller:
    """Base class; see the module doc. ``name`` is the registry key."""

    name: ClassVar[str]
    #: True for controllers that rank documents within a domain (they get per-document losses
    #: through ``observe_docs`` and set draw probabilities through ``doc_priorities``).
    needs_doc_losses: ClassVar[bool] = False

    def __init__(self, config: ControllerConfig, domains: list[str], natural_tokens: dict[str, int]):
        self.config = config
        self.domains = list(domains)
        self.natural = np.array([float(natural_tokens[d]) for d in self.domains])
        self.smoothed = np.full(len(self.domains), np.nan)

    def set_lr_warmup(self, steps: int) -> None:
        """The run's learning-rate warm-up, in optimizer steps, told before the first step.
        Ignored unless a controller's fits leave the warm-up out (ADO)."""

    @property
    def doc_domains(self) -> list[str]:
        """Domains whose documents this controller ranks (the sampler draws their documents one
        at a time, by the controller's priorities); none by default."""
        return []

    # -- what subclasses write ------------------------------------------------------------

    def signal(self, stats: DomainStats) -> np.ndarray:
        """Per-domain signal of this step (NaN where unknown). Default: the training loss."""
        return stats.train_loss

    def propose(self, step: int, signal: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, str] | None:
        """Weights from the smoothed signal, and a one-line reason; None: no opinion."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        return {}

    def array_state(self) -> dict[str, np.ndarray]:
        """Per-document state too large for JSON (saved in the checkpoint's arrays file)."""
        return {}

    def load_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # -- the shared machinery ---------------------------------------------------------------

    def update(self, step: int, stats: DomainStats) -> tuple[np.ndarray, AuditEntry] | None:
        """Ingest one step; at update times return (new weights, audit entry), else None."""
        raw = np.asarray(self.signal(stats), dtype=np.float64)
        seen = np.isfinite(raw)
        fresh = seen & ~np.isfinite(self.smoothed)
        a = self.config.ema
        self.smoothed = np.where(fresh, raw, self.smoothed)
        self.smoothed = np.where(seen & ~fresh, a * self.smoothed + (1 - a) * raw, self.smoothed)
        if step < self.config.warmup_steps or step % self.config.update_every:
            return None
        current = np.asarray(stats.weights, dtype=np.float64)
        proposal = self.propose(step, self.smoothed, current)
        if proposal is None:
            return None
        target, reason = proposal
        # The cap is applied last, so it always holds: a convex combination of the weights in
        # use and a floored target is on the simplex, and above the floor wherever the weights
        # in use were; a domain that starts below the floor (a schedule's zero) is raised
        # toward it by at most max_change an update.
        target = apply_floor(target, self.config.min_weight)
        new = limit_change(current, target, self.config.max_change)
        if np.allclose(new, current, atol=1e-12):
            return None
        signal = {d: (float(s) if np.isfinite(s) else None) for d, s in zip(self.domains, self.smoothed)}
        return new, AuditEntry(step, [float(x) for x in current], [float(x) for x in new], signal, reason)

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "smoothed": [float(x) if np.isfinite(x) else None for x in self.smoothed],
            **self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.smoothed = np.array([np.nan if x is None else float(x) for x in state["smoothed"]])
        self.load_extra_state(state)
