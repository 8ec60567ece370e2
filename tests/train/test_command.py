"""The run's start: a warning when a decision reads held-out losses averaged over few rows."""

from __future__ import annotations

import logging

import pytest

from curricle.config import parse_config
from curricle.train.command import ADVISED_EVAL_ROWS, build_trainer
from tests.train.conftest import run_config_dict

TARGETS = {"kind": "targets", "targets": {"arithmetic": {"eval_loss": 1.0}}}
PLATEAU = {"patience": 3, "policy": "stop"}


def warnings_at_start(prepared_dir, run_dir, caplog, controller=None, plateau=None, rows=16) -> list[str]:
    data = run_config_dict(prepared_dir, eval_rows_per_domain=rows)
    probe_targets = controller is not None and any("@" in name for name in controller.get("targets", {}))
    if (plateau is not None and plateau.get("probes")) or probe_targets:
        data["train"]["probe"] = {"every": 10, "suite": {"tasks": ["arithmetic"], "levels": {"arithmetic": [1]}}}
    if controller is not None:
        data["controller"] = controller
    if plateau is not None:
        data["plateau"] = plateau
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="curricle.train.command"):
        build_trainer(parse_config(data), run_dir, progress=False)
    return [r.getMessage() for r in caplog.records if r.name == "curricle.train.command"]


def test_a_run_that_decides_on_few_held_out_rows_is_warned_in_one_line(prepared_dir, tmp_path, caplog):
    assert warnings_at_start(prepared_dir, tmp_path / "run", caplog, TARGETS) == [
        "controller targets decides on held-out losses averaged over train.eval_rows_per_domain = 16 rows a domain, "
        "so on their noise too (eval/loss_se/<domain> in the metrics; a noisy value can meet a target early, or start or delay a plateau); "
        "64 rows would cut it 2.0x"]
    assert ADVISED_EVAL_ROWS == 64


@pytest.mark.parametrize("controller, plateau, rows, starts", [
    (TARGETS, None, ADVISED_EVAL_ROWS, None),  # enough rows
    (None, None, 16, None),  # a schedule reads no held-out loss
    ({"kind": "drift-aware", "inner": TARGETS}, None, 16, "controller targets decides "),  # its inner one decides
    ({"kind": "drift-aware", "inner": {"kind": "schedule"}, "drift": {"series": "eval"}}, None, 16,
     "controller drift-aware decides "),  # its own signal reads held-out losses
    ({"kind": "drift-aware", "inner": {"kind": "schedule"}}, None, 16, None),  # nor does its train-loss signal
    ({"kind": "group-dro"}, None, 16, "controller group-dro decides "),
    (None, PLATEAU, 16, "plateau decides "),
    (TARGETS, PLATEAU, 16, "controller targets and plateau decide "),
    (None, {**PLATEAU, "domains": [], "probes": ["arithmetic@1"]}, 16, None),  # it watches no held-out loss
    ({"kind": "targets", "targets": {"arithmetic@1": {"acc": 0.9}}}, None, 16, None),  # probe targets only
], ids=["enough-rows", "schedule", "drift-aware", "drift-aware-eval-series", "drift-aware-train-series", "group-dro", "plateau", "both", "plateau-no-domains",
        "probe-targets"])
def test_which_runs_are_warned(prepared_dir, tmp_path, caplog, controller, plateau, rows, starts):
    said = warnings_at_start(prepared_dir, tmp_path / "run", caplog, controller, plateau, rows)
    assert said == [] if starts is None else (len(said) == 1 and said[0].startswith(starts))
