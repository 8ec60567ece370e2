"""The drift-aware wrapper on scripted histories: exact raised weights, floor and cap,
after_alarms, the hold's end, reinstate requests, state, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curricle.config import parse_config
from curricle.controllers.base import WEIGHTS, ControllerContext, DomainStats, DriftSignal
from curricle.controllers.config import CONTROLLERS, NOT_WEIGHTS, DriftAwareConfig
from curricle.controllers.drift_aware import raised_weights
from curricle.errors import CurricleError

DOMAINS = ["a", "b", "c"]
CONTEXT = ControllerContext(DOMAINS, {"a": 1000, "b": 1000, "c": 1000})


def signal(alarm_c=False, consecutive_c=0):
    return DriftSignal(z=np.array([0.1, -0.2, 3.0]), cusum=np.array([0.0, 0.0, 6.5 if alarm_c else 1.0]),
                       alarm=np.array([False, False, alarm_c]), consecutive=np.array([0, 0, consecutive_c]))


def stats(step, weights, drift):
    return DomainStats(step=step, train_loss=np.array([2.0, 2.0, 2.0]), tokens=np.zeros(3),
                       weights=np.asarray(weights, dtype=float), drift=drift)


def test_raised_weights_exact_with_cap_and_floor():
    # c raised by 0.1: [0.4375, 0.2625, 0.3]; the cap 0.05 halves the move (largest change 0.1).
    assert raised_weights(np.array([0.5, 0.3, 0.2]), [2], 0.1, 0.02, 0.05).tolist() == pytest.approx(
        [0.46875, 0.28125, 0.25], abs=1e-12)
    # b raised by 0.1, the others scaled by 0.83 / 0.93; c under the 0.05 floor is raised to it.
    a = 0.9 * 0.83 / 0.93
    free = 0.95 / (a + 0.17)
    assert raised_weights(np.array([0.9, 0.07, 0.03]), [1], 0.1, 0.05, 1.0).tolist() == pytest.approx(
        [a * free, 0.17 * free, 0.05], abs=1e-12)


def build(**kw):
    cfg = DriftAwareConfig.model_validate({"inner": {"kind": "schedule"}, "warmup_steps": 0, "max_change": 0.05,
                                           "hold_steps": 3, **kw})
    return CONTROLLERS.build(cfg, CONTEXT)


def test_one_alarm_does_nothing_the_second_raises_for_hold_steps_then_again_allowed():
    c = build()
    w = [0.5, 0.3, 0.2]
    assert c.update(1, stats(1, w, signal(True, 1))) is None and c.take_notes().window is None
    assert c.update(2, stats(2, w, signal(True, 2))) is None
    req = c.take_notes().window
    assert req.steps == 3 and req.weights.tolist() == pytest.approx([0.46875, 0.28125, 0.25], abs=1e-12)
    assert req.reason == "drift: 'c' (2 alarms in a row, z 3.00, cusum 6.50 > 5); raise by up to 0.1 for 3 steps"
    assert req.signal == {"a": 0.1, "b": -0.2, "c": 3.0} and c.until == 5
    for step in (3, 4):  # the window is open: alarms are not acted on
        c.update(step, stats(step, w, signal(True, 3)))
        assert c.take_notes().window is None
    c.update(5, stats(5, w, signal(True, 4)))  # the window ends at 5: a new one may open
    assert c.take_notes().window is not None and c.until == 8


def test_warmup_steps_hold_back_the_reaction():
    c = build(warmup_steps=10)
    c.update(2, stats(2, [0.5, 0.3, 0.2], signal(True, 2)))
    assert c.take_notes().window is None


def test_reinstate_asks_for_the_phase_and_pacing_and_state_round_trips():
    c = build(reinstate={"phase": "warmup", "pacing_start": True, "steps": 4})
    c.update(2, stats(2, [0.5, 0.3, 0.2], signal(True, 2)))
    req = c.take_notes().window
    assert (req.steps, req.phase, req.pacing_start) == (4, "warmup", True)
    assert req.reason.endswith("reinstate phase 'warmup' and the pacing's start for 4 steps")
    state = json.loads(json.dumps(c.state_dict()))
    again = build(reinstate={"phase": "warmup", "pacing_start": True, "steps": 4})
    again.load_state_dict(state)
    assert again.state_dict() == c.state_dict() and again.until == 6


def test_inner_odm_proposes_from_its_own_weights_and_is_passed_through():
    c = CONTROLLERS.build(DriftAwareConfig.model_validate({"inner": {"kind": "odm"}}), CONTEXT)
    out = c.update(1, stats(1, [0.2, 0.3, 0.5], None))
    assert out is not None and c.inner_weights == pytest.approx(out[0].tolist())
    assert c.state_dict()["inner"]["rewards"] == c.inner.state_dict()["rewards"]


def test_non_weights_inners_are_refused_in_one_line():
    for kind in NOT_WEIGHTS:
        if kind != "drift-aware":
            assert CONTROLLERS[kind].role != WEIGHTS, kind
    with pytest.raises(ValueError, match="inner.kind: drift-aware wraps a controller that proposes mixture "
                                         "weights; hard-examples is a document prioritizer"):
        DriftAwareConfig.model_validate({"inner": {"kind": "hard-examples"}})
    with pytest.raises(ValueError, match="ema: drift-aware reacts at alarms"):
        DriftAwareConfig.model_validate({"inner": {"kind": "odm"}, "ema": 0.5})


def test_run_config_passes_reads_and_checks_to_the_inner(prepared_dir):
    from tests.train.conftest import run_config_dict

    data = run_config_dict(prepared_dir)
    data["controller"] = {"kind": "drift-aware", "inner": {"kind": "targets", "targets": {"copy": {"eval_loss": 1}}},
                          "drift": {"series": "eval"}}
    cfg = parse_config(data)
    assert cfg.controller.reads() == {"drift", "eval"}
    data["controller"] = {"kind": "drift-aware", "inner": {"kind": "targets", "targets": {"nope": {"eval_loss": 1}}}}
    with pytest.raises(CurricleError, match="nope"):
        parse_config(data)
    data["controller"] = {"kind": "drift-aware", "inner": {"kind": "doremi", "reference": {"steps": 5}}}
    with pytest.raises(CurricleError, match=r"^config: controller.drift-aware: inner.kind: drift-aware wraps .* doremi is a "
                                            r"loss-weighting proxy$"):
        parse_config(data)
    data["controller"] = {"kind": "drift-aware", "inner": {"kind": "odm"}, "reinstate": {"phase": "main", "steps": 3}}
    with pytest.raises(CurricleError, match="controller.reinstate.phase: 'main' is the last phase"):
        parse_config(data)


def test_a_metadata_shift_after_new_data_reacts_at_once_only_with_shift_alarm():
    shifted = DriftSignal(z=np.full(3, np.nan), cusum=np.zeros(3), alarm=np.zeros(3, dtype=bool),
                          consecutive=np.zeros(3, dtype=np.int64), shift=np.array([np.nan, 0.4, 1.5]))
    c = build()
    c.update(1, stats(1, [0.5, 0.3, 0.2], shifted))
    assert c.take_notes().window is None  # reported, not acted on
    c = build(shift_alarm=1.0)
    c.update(1, stats(1, [0.5, 0.3, 0.2], shifted))
    req = c.take_notes().window
    assert req.reason == ("drift: 'c' (new data: a metadata mean moved 1.50 sd >= 1); raise by up to 0.1 for 3 steps")
    assert req.weights.tolist() == pytest.approx([0.46875, 0.28125, 0.25], abs=1e-12)
