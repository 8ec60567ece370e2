"""``pass-rate-band``: admit a group whose mean graded reward is within ``[low, high]``
(``below-band``, ``above-band`` otherwise) and, with ``min_std`` set, whose rewards' standard
deviation exceeds it (``low-std``; for non-binary rewards), as verl #2791 and prime-rl's
admission gates do. A group with no graded completion is ``ungraded``."""

from __future__ import annotations

import numpy as np

from curricle.rl.curricula.gate import Gate, graded


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
