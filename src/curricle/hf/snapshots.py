"""States by step for a data loader that draws ahead of the trainer.

HF's ``Trainer`` (through accelerate) draws the next step's batch before the current step
ends, so when a checkpoint is saved after step ``s`` the sampler has already moved past it.
A sampler therefore records its state before each step it draws (``record(k, state)``) and the
checkpoint takes the state that continues at ``s`` (``state_at(s)``). The ring keeps the last
``keep + 1`` steps, enough for any prefetch depth a trainer uses; asking for a step it no
longer holds is a one-line error rather than a silent wrong resume.
"""

from __future__ import annotations

from typing import Any

from curricle.errors import CurricleError

#: Steps kept (how far a data loader may have drawn ahead of the trainer's checkpoint).
KEEP = 8


class StepSnapshots:
    """A bounded ring of states by step: recording step ``k`` forgets the steps before
    ``k - keep``. ``owner`` and ``hint`` make the error for a step no longer held say whose
    state it was and what to check."""

    def __init__(self, keep: int = KEEP, owner: str = "step snapshots", hint: str = ""):
        self.keep = keep
        self.owner = owner
        self.hint = hint
        self._states: dict[int, Any] = {}

    def record(self, step: int, state: Any) -> None:
        """Hold ``state`` for ``step`` and forget the steps before ``step - keep``."""
        self._states[step] = state
        for old in [s for s in self._states if s < step - self.keep]:
            del self._states[old]

    def state_at(self, step: int) -> Any:
        """The state recorded for ``step``, or a one-line error saying which steps are held."""
        if step not in self._states:
            held = f"steps {min(self._states)} to {max(self._states)}" if self._states else "none"
            hint = f"; {self.hint}" if self.hint else ""
            raise CurricleError(f"{self.owner}: no state for step {step} (held: {held}){hint}")
        return self._states[step]

    __getitem__ = state_at

    def get(self, step: int, default: Any = None) -> Any:
        return self._states.get(step, default)

    def __contains__(self, step: int) -> bool:
        return step in self._states

    def __len__(self) -> int:
        return len(self._states)

    def items(self):
        return self._states.items()

    def clear(self) -> None:
        self._states.clear()
