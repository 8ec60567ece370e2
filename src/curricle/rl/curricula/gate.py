"""The admission-gate contract: a gate admits or rejects each generated group, with a reason.

::

    admit(rewards) -> (True, None) | (False, reason)    one group's graded rewards (None: ungraded); pure
    state_dict() / load_state_dict()                    the counts, and the configuration they were made under
    metrics()                                           admitted and rejected-by-reason counts, for the logs

A gate counts every group it judged (:meth:`Gate.count`, or :meth:`Gate.judge` for admit and
count in one; subclasses write :meth:`Gate.admit`). Its state records its configuration, and :meth:`Gate.load_state_dict`
refuses the state of a gate configured differently, so a resumed run cannot continue one
gate's counts under another's rule.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from curricle.errors import CurricleError


class Gate:
    """Base class; see the module doc. ``config``: the gate's config model."""

    def __init__(self, config):
        self.config = config
        self.admitted = 0
        self.rejected: dict[str, int] = {}

    @property
    def kind(self) -> str:
        return self.config.kind

    def admit(self, rewards: Sequence[float | None]) -> tuple[bool, str | None]:
        raise NotImplementedError

    def count(self, ok: bool, reason: str | None) -> None:
        """Count one verdict (a trainer with several processes counts every process's)."""
        if ok:
            self.admitted += 1
        else:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def judge(self, rewards: Sequence[float | None]) -> tuple[bool, str | None]:
        """:meth:`admit`, counted."""
        ok, reason = self.admit(rewards)
        self.count(ok, reason)
        return ok, reason


    def metrics(self) -> dict[str, int]:
        out = {f"gate/{self.kind}/admitted": self.admitted}
        out.update({f"gate/{self.kind}/rejected/{r}": n for r, n in sorted(self.rejected.items())})
        return out

    def _configuration(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    def state_dict(self) -> dict[str, Any]:
        return {"config": self._configuration(), "admitted": self.admitted, "rejected": dict(self.rejected)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_configuration(self.kind, state["config"], self._configuration())
        self.admitted = int(state["admitted"])
        self.rejected = {str(k): int(v) for k, v in state["rejected"].items()}


def check_configuration(kind: str, saved: dict[str, Any], now: dict[str, Any]) -> None:
    """Refuse (one line) a checkpoint's gate ``kind`` configured as ``saved``, not as ``now`` (its
    config model dumped as JSON); gates before generation are checked the same way."""
    if saved != now:
        raise CurricleError(f"curriculum.gates: the checkpoint's '{kind}' gate was configured as "
                            f"{json.dumps(saved, sort_keys=True)}, this run's as {json.dumps(now, sort_keys=True)}: "
                            f"resume with the same gates")


def graded(rewards: Sequence[float | None]) -> list[float]:
    """The rewards a grader gave (ungraded completions left out)."""
    return [float(r) for r in rewards if r is not None]


def verdicts(gates: Sequence[Gate], rewards: Sequence[float | None]) -> list[tuple[int, bool, str | None]]:
    """One group through ``gates`` in order, up to the first that rejects it: ``(gate index,
    admitted, reason)`` for each gate that judged it (uncounted)."""
    out = []
    for i, gate in enumerate(gates):
        ok, reason = gate.admit(rewards)
        out.append((i, ok, reason))
        if not ok:
            break
    return out
