"""The contract of a gate before generation: it judges a prompt the policy chose, before any
rollout is spent on it.

::

    skip(state, row, p, step, u) -> None | reason   pure: the gate's state in the policy's snapshot,
                                                     the row, its pass rate (tracked, else the
                                                     profile's; None: unknown), the step, and a
                                                     uniform draw u in [0, 1) for a random rule
    observe(step, groups)                            every generated group of the step, after it
    state_dict() / load_state_dict()                 JSON-able; part of the policy's snapshot (the
                                                     policy's state records each gate's config, and
                                                     refuses a checkpoint's made under another)

The policy's :meth:`~curricle.rl.curricula.base.PromptPolicy.draw` applies them, replaces a
skipped prompt by its next choice and counts every skip under ``gate/reason``; a skipped prompt
is never generated, so it costs no rollout. The trainer's fresh prompts (a refill after gates
after generation, LILO's pool) pass them the same way
(:meth:`~curricle.rl.curricula.base.PromptPolicy.draw_more`).
"""

from __future__ import annotations

from typing import Any, Sequence


class PromptGate:
    """Base class (stateless); see the module doc. ``steps``: the run's steps."""

    def __init__(self, config, steps: int = 1):
        self.config = config
        self.steps = steps

    @property
    def kind(self) -> str:
        return self.config.kind

    def skip(self, state: dict[str, Any], row: int, p: float | None, step: int, u: float) -> str | None:
        raise NotImplementedError

    def observe(self, step: int, groups: Sequence[tuple[int, Sequence[float | None]]]) -> None:
        pass

    def configuration(self) -> dict[str, Any]:
        """The gate's config as JSON: a checkpoint records it, and a resumed run configured
        otherwise is refused (as gates after generation are)."""
        return self.config.model_dump(mode="json")

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
