"""Admission gates: each gate's verdict on literal groups, their counts and state, and the
curriculum config that composes them with any policy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from curricle.errors import CurricleError
from curricle.rl.config import DynamicFilterCurriculum, LearnabilityCurriculum, PassRateBandGate, RLConfig, ZeroVarianceGate
from curricle.rl.curricula import GATES, build_gates, verdicts


def test_zero_variance_rejects_groups_whose_graded_rewards_are_all_equal():
    gate = GATES["zero-variance"](ZeroVarianceGate())
    assert gate.admit([1, 1, 1, 1]) == (False, "zero-variance")
    assert gate.admit([0.0, 0.0, None, 0.0]) == (False, "zero-variance")  # ungraded left out
    assert gate.admit([1, None, None, None]) == (False, "zero-variance")
    assert gate.admit([1, 0, 1, 1]) == (True, None)
    assert gate.admit([0.5, None, 0.25, None]) == (True, None)


def test_the_band_admits_mean_rewards_within_it_and_enough_spread():
    gate = GATES["pass-rate-band"](PassRateBandGate(low=0.25, high=0.75))
    assert gate.admit([1, 0, 0, 0]) == (True, None)          # 0.25: the band is inclusive
    assert gate.admit([1, 1, 1, 0]) == (True, None)          # 0.75
    assert gate.admit([0, 0, 0, 0]) == (False, "below-band")
    assert gate.admit([1, 1, 1, 1]) == (False, "above-band")
    assert gate.admit([None, None]) == (False, "ungraded")
    spread = GATES["pass-rate-band"](PassRateBandGate(min_std=0.1))
    assert spread.admit([0.5, 0.55, 0.5, 0.55]) == (False, "low-std")   # std 0.025
    assert spread.admit([0.2, 0.8, 0.5, 0.5]) == (True, None)           # std ~0.21
    with pytest.raises(ValidationError, match="low \\(0.9\\) is above high \\(0.1\\)"):
        PassRateBandGate(low=0.9, high=0.1)


def test_gates_judge_in_order_and_count_every_verdict():
    gates = build_gates(LearnabilityCurriculum(gates=[{"kind": "pass-rate-band", "low": 0.2},
                                                       {"kind": "zero-variance"}]))
    assert [g.kind for g in gates] == ["pass-rate-band", "zero-variance"]
    assert verdicts(gates, [0, 0, 0, 0]) == [(0, False, "below-band")]       # the second never sees it
    assert verdicts(gates, [1, 1, 1, 1]) == [(0, True, None), (1, False, "zero-variance")]
    assert verdicts(gates, [1, 0, 1, 0]) == [(0, True, None), (1, True, None)]
    for group in ([0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 0]):
        for i, ok, reason in verdicts(gates, group):
            gates[i].count(ok, reason)
    assert gates[0].metrics() == {"gate/pass-rate-band/admitted": 2, "gate/pass-rate-band/rejected/below-band": 2}
    assert gates[1].metrics() == {"gate/zero-variance/admitted": 1, "gate/zero-variance/rejected/zero-variance": 1}


def test_dynamic_filter_is_uniform_with_the_zero_variance_gate():
    assert [g.kind for g in build_gates(DynamicFilterCurriculum())] == ["zero-variance"]
    assert [g.kind for g in build_gates(DynamicFilterCurriculum(gates=[{"kind": "pass-rate-band", "high": 0.9}]))] \
        == ["zero-variance", "pass-rate-band"]
    config = RLConfig.model_validate({"model": {"path": "m"}, "tasks": [{"name": "t", "source": {
        "kind": "builtin", "skill": "reverse"}}], "curriculum": {"kind": "learnability", "gates": [{"kind": "zero-variance"}]}})
    assert [g.kind for g in config.curriculum.all_gates()] == ["zero-variance"]


def test_a_gates_state_resumes_and_another_configurations_is_refused():
    gate = GATES["pass-rate-band"](PassRateBandGate(low=0.2))
    gate.judge([0, 0])
    gate.judge([1, 0])
    state = gate.state_dict()
    assert state == {"config": {"kind": "pass-rate-band", "low": 0.2, "high": 1.0, "min_std": None,
                                "before_rollout": False},
                     "admitted": 1, "rejected": {"below-band": 1}}
    twin = GATES["pass-rate-band"](PassRateBandGate(low=0.2))
    twin.load_state_dict(state)
    assert twin.metrics() == gate.metrics()
    other = GATES["pass-rate-band"](PassRateBandGate(low=0.3))
    with pytest.raises(CurricleError) as err:
        other.load_state_dict(state)
    assert str(err.value) == ("curriculum.gates: the checkpoint's 'pass-rate-band' gate was configured as "
                              '{"before_rollout": false, "high": 1.0, "kind": "pass-rate-band", "low": 0.2, "min_std": null}, '
                              'this run\'s as {"before_rollout": false, "high": 1.0, "kind": "pass-rate-band", "low": 0.3, '
                              '"min_std": null}: resume with the same gates')
