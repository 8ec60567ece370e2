"""The prefetch-aware ring of states by step."""

from __future__ import annotations

import pytest

from curricle.errors import CurricleError
from curricle.hf.snapshots import StepSnapshots


def test_a_recorded_state_is_returned_for_its_step():
    ring = StepSnapshots(keep=2)
    for step in range(3):
        ring.record(step, {"position": 10 * step})
    assert ring.state_at(0) == {"position": 0} and ring.state_at(2) == {"position": 20}
    assert ring[1] == {"position": 10} and 1 in ring and ring.get(7) is None


def test_recording_a_step_forgets_the_steps_before_step_minus_keep():
    ring = StepSnapshots(keep=2, owner="TheSampler", hint="is the batch size right?")
    for step in range(6):
        ring.record(step, step)
    assert sorted(s for s, _ in ring.items()) == [3, 4, 5] and len(ring) == 3
    with pytest.raises(CurricleError) as err:
        ring.state_at(2)
    assert str(err.value) == "TheSampler: no state for step 2 (held: steps 3 to 5); is the batch size right?"
    with pytest.raises(CurricleError, match=r"no state for step 9 \(held: steps 3 to 5\)"):
        ring.state_at(9)  # not drawn yet


def test_a_cleared_ring_holds_nothing():
    ring = StepSnapshots()
    ring.record(-1, "initial")  # steps may start below 0 (a state before any step)
    assert ring.state_at(-1) == "initial"
    ring.clear()
    with pytest.raises(CurricleError) as err:
        ring.state_at(-1)
    assert str(err.value) == "step snapshots: no state for step -1 (held: none)"
