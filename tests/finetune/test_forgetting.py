"""The forgetting matrix's statistics on hand-made matrices with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from curricle.finetune.forgetting import forgetting_report, learned_at, transfer_stats

TASKS = ["t0", "t1", "t2", "probe"]
R = np.array([[0.8, 0.1, 0.0, 0.5],
              [0.6, 0.9, 0.2, 0.4],
              [0.5, 0.7, 0.95, 0.3]])
B = np.array([0.0, 0.05, 0.1, 0.5])
LEARNED = {"t0": 0, "t1": 1, "t2": 2, "probe": None}


def test_acc_bwt_fwt_and_forgetting():
    s = transfer_stats(R, B, TASKS, LEARNED)
    assert s["acc"] == pytest.approx((0.5 + 0.7 + 0.95) / 3)
    assert s["bwt"] == pytest.approx(((0.5 - 0.8) + (0.7 - 0.9)) / 2)  # -0.25
    assert s["fwt"] == pytest.approx(((0.1 - 0.05) + (0.2 - 0.1)) / 2)  # 0.075
    assert s["forgetting"] == pytest.approx({"t0": 0.3, "t1": 0.2})
    assert s["mean_forgetting"] == pytest.approx(0.25)
    assert s["change_from_baseline"] == pytest.approx({"probe": -0.2})


def test_forgetting_is_from_the_best_score_not_the_stage_end():
    r = np.array([[0.5, 0.0], [0.9, 0.6], [0.7, 0.8]])
    s = transfer_stats(r, None, ["a", "b"], {"a": 0, "b": 1})
    assert s["forgetting"] == pytest.approx({"a": 0.2, "b": -0.2})  # b improved after its stage
    assert s["bwt"] == pytest.approx(((0.7 - 0.5) + (0.8 - 0.6)) / 2)
    assert s["fwt"] is None and "change_from_baseline" not in s


def test_tasks_trained_in_several_stages_are_learned_at_the_first():
    assert learned_at([["a"], ["a", "b"], ["c"]], ["a", "b", "c", "d"]) == {"a": 0, "b": 1, "c": 2, "d": None}


def test_one_stage_has_no_backward_transfer():
    s = transfer_stats(np.array([[0.4, 0.6]]), np.array([0.0, 0.1]), ["a", "b"], {"a": 0, "b": 0})
    assert s["acc"] == pytest.approx(0.5) and s["bwt"] is None and s["fwt"] is None and s["forgetting"] == {}


def test_report_of_an_unfinished_run_uses_its_finished_stages():
    rows = [dict(zip(TASKS, R[0])), dict(zip(TASKS, R[1]))]
    rep = forgetting_report(["s0", "s1", "s2"], [["t0"], ["t1"], ["t2"]], TASKS, rows, dict(zip(TASKS, B)), [10, 20])
    assert rep["stages"] == ["s0", "s1"] and rep["steps"] == [10, 20]
    assert rep["learned_at"] == {"t0": 0, "t1": 1, "t2": None, "probe": None}
    assert rep["bwt"] == pytest.approx(0.6 - 0.8) and rep["acc"] == pytest.approx(0.75)
    assert rep["R"] == R[:2].tolist()
