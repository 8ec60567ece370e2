"""``zero-variance``: DAPO's dynamic-sampling filter (Yu et al. 2025). A group whose graded
rewards are all equal (all pass, all fail: every advantage 0) teaches nothing; it is rejected
as ``zero-variance``. A group with fewer than two graded completions is rejected too."""

from __future__ import annotations

from curricle.rl.curricula.gate import Gate, graded


class ZeroVarianceGate(Gate):
    def admit(self, rewards):
        if len(set(graded(rewards))) <= 1:
            return False, "zero-variance"
        return True, None
