"""The run's start: a warning when a decision reads held-out evaluations averaged over few rows."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from curricle.config import parse_config
from curricle.store.token_store import TokenStore
from curricle.train.command import ADVISED_EVAL_ROWS, build_trainer, eval_noise_warning
from curricle.train.evaluate import eval_rows
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
    assert warnings_at_start(prepared_dir, tmp_path / "run", caplog, TARGETS, rows=4) == [
        "controller targets decides on held-out evaluations averaged over train.eval_rows_per_domain = 4 rows a domain, "
        "so on their noise too (eval/loss_se/<domain> in the metrics; a noisy value can meet a target early, or start or delay a plateau); "
        "64 rows would cut it 4.0x"]
    assert ADVISED_EVAL_ROWS == 64


@pytest.mark.parametrize("controller, plateau, rows, starts", [
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
], ids=["schedule", "drift-aware", "drift-aware-eval-series", "drift-aware-train-series", "group-dro", "plateau", "both", "plateau-no-domains",
        "probe-targets"])
def test_which_runs_are_warned(prepared_dir, tmp_path, caplog, controller, plateau, rows, starts):
    said = warnings_at_start(prepared_dir, tmp_path / "run", caplog, controller, plateau, rows)
    assert said == [] if starts is None else (len(said) == 1 and said[0].startswith(starts))


def test_the_warning_quotes_the_rows_a_short_held_out_split_gives(prepared_dir, tmp_path, caplog):
    """Asked for 10,000 rows a domain, the fixture's held-out splits give far fewer: the line
    names the domain with the fewest and counts from them."""
    store = TokenStore(prepared_dir)
    got = {d: len(eval_rows(store.split(d, "heldout"), 32, 10_000)) for d in store.domains}
    domain, fewest = min(got.items(), key=lambda kv: (kv[1], kv[0]))
    assert fewest < ADVISED_EVAL_ROWS
    said = warnings_at_start(prepared_dir, tmp_path / "run", caplog, TARGETS, rows=10_000)
    assert said == [
        f"controller targets decides on held-out evaluations averaged over train.eval_rows_per_domain = 10000 rows a "
        f"domain ({domain}'s held-out split gives {fewest}), so on their noise too (eval/loss_se/<domain> in the "
        f"metrics; a noisy value can meet a target early, or start or delay a plateau); 64 rows would cut it "
        f"{(ADVISED_EVAL_ROWS / fewest) ** 0.5:.1f}x"]


def test_no_warning_when_every_domain_gives_enough_rows():
    """The fixture's splits are too short for 64 rows, so the rule is checked on the rows directly."""
    config = parse_config(run_config_dict("unused", eval_rows_per_domain=ADVISED_EVAL_ROWS))
    reader = SimpleNamespace(reads_heldout=True, decider="targets")
    assert eval_noise_warning(config, reader, {"a": ADVISED_EVAL_ROWS, "b": 500}) is None
    assert eval_noise_warning(config, reader, {"a": ADVISED_EVAL_ROWS - 1, "b": 500}).endswith(
        f"(a's held-out split gives {ADVISED_EVAL_ROWS - 1}), so on their noise too (eval/loss_se/<domain> in the "
        f"metrics; a noisy value can meet a target early, or start or delay a plateau); 64 rows would cut it 1.0x")
    assert eval_noise_warning(config, SimpleNamespace(reads_heldout=False, decider="x"), {"a": 1}) is None
