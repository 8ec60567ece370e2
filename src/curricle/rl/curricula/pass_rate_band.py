"""``pass-rate-band``: admit a group whose mean graded reward is within ``[low, high]``
(``below-band``, ``above-band`` otherwise) and, with ``min_std`` set, whose rewards' standard
deviation exceeds it (``low-std``; for non-binary rewards), as verl #2791 and prime-rl's
admission gates do. A group with no graded completion is ``ungraded``. With ``before_rollout``
it judges the prompt's pass rate before generation instead (:class:`PassRateBandPromptGate`)."""

from __future__ import annotations

import numpy as np

from curricle.rl.curricula.gate import Gate, graded
from curricle.rl.curricula.prompt_gate import PromptGate


class PassRateBandGate(Gate):
    def admit(self, rewards):
        got = graded(rewards)
        if not got:
            return False, "ungraded"
        mean = float(np.mean(got))
        if mean < self.config.low:
            return False, "below-band"
        if mean > self.config.high:
            return False, "above-band"
        if self.config.min_std is not None and float(np.std(got)) <= self.config.min_std:
            return False, "low-std"
        return True, None


class PassRateBandPromptGate(PromptGate):
    """``pass-rate-band`` with ``before_rollout``: skip a prompt whose pass rate (tracked, else the
    profile's) is below ``low`` or above ``high``; a prompt with neither is admitted."""

    def skip(self, state, row, p, step, u):
        if p is None:
            return None
        if p < self.config.low:
            return "below-band"
        if p > self.config.high:
            return "above-band"
        return None
