"""Aioli (``controllers/aioli.py``): the release's update on literal held-out losses, computed
by hand here; the sweep schedule; refusals; and in a real run: the evaluations it asks for,
counted, and resume after SIGKILL."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from curricle.controllers.base import ControllerContext, DomainStats
from curricle.controllers.config import CONTROLLERS, AioliConfig
from curricle.errors import CurricleError

DOMAINS = ["a", "b", "c"]
CONTEXT = ControllerContext(DOMAINS, {"a": 1000, "b": 1000, "c": 1000}, seed=5)


def build(**cfg):
    return CONTROLLERS.build(AioliConfig(**cfg), CONTEXT)


def drive(controller, steps, eval_loss, start=(0.5, 0.3, 0.2)):
    """Feed ``steps`` steps, with held-out loss ``eval_loss(step)`` where the controller asks for
    it; returns the weights each step trained on (step -> weights) and the audit entries."""
    w = np.array(start)
    used, log = {}, []
    for step in range(1, steps + 1):
        used[step] = w.copy()
        loss = eval_loss(step) if controller.wants_eval(step) else None
        out = controller.update(step, DomainStats(step, np.full(3, np.nan), np.zeros(3), w, eval_loss=loss))
        if out is not None:
            w, entry = out
            log.append(entry)
    return used, log


def scripted_losses(seed=11):
    """Held-out losses that fall at different, noisy rates per domain (so some estimated
    entries come out negative and the normalization's shift matters)."""
    rng = np.random.default_rng(seed)
    table = {s: np.array([4.0, 3.5, 3.0]) - 0.02 * s * np.array([1.0, 0.5, 0.2]) + rng.normal(0, 0.03, 3)
             for s in range(1, 200)}
    return lambda step: table[step]


def by_hand(losses, order, k, rounds, f, normalize):
    """The release's ``learn_params_subroutine`` (and normalization) for one round, written out:
    ``losses`` are the held-out losses at the round's start and after each sweep."""
    g = [[0.0] * k for _ in range(k)]
    for m, j in enumerate(order):
        for i in range(k):
            g[i][j] += losses[m][i] - losses[m + 1][i]
    g = [[x / rounds for x in row] for row in g]
    if f != 1:
        # W = (f - o) I + o 11^T with o = (1 - f) / (k - 1); its inverse (Sherman-Morrison):
        # W^-1 v = (v - c sum(v)) / (f - o), c = o / (f - o + k o).
        o = (1 - f) / (k - 1)
        c = o / (f - o + k * o)
        g = [[(row[j] - c * sum(row)) / (f - o) for j in range(k)] for row in g]
    if normalize:
        low = min(min(row) for row in g)
        if low < 0:
            g = [[x - low for x in row] for row in g]
        total = sum(sum(row) for row in g)
        g = [[x / total for x in row] for row in g]
    return g


def column_sums(a):
    return [sum(row[j] for row in a) for j in range(len(a))]


def normalized(v):
    return [x / sum(v) for x in v]


@pytest.mark.parametrize("ema,f,normalize", [(0.1, 0.625, True), (None, 0.625, True), (0.5, 1.0, False)],
                         ids=["release-defaults", "no-ema", "one-hot-raw"])
def test_the_update_on_literal_losses_is_the_releases_formula(ema, f, normalize):
    cfg = dict(update_every=10, warmup_steps=2, lp_rounds=2, lp_steps=1, eta=0.7, ema=ema, one_hot_factor=f,
               normalize_a=normalize)
    c = build(**cfg)
    loss = scripted_losses()
    used, log = drive(c, 22, loss)
    k, n_sweeps = 3, 6
    # Round t starts at step 2 + 10 t; its sweeps end at the 6 steps after; the update follows the last.
    rounds = []
    for t in range(2):
        start = 2 + 10 * t
        losses = [loss(start + m) for m in range(n_sweeps + 1)]
        rounds.append(by_hand(losses, c.sweep_order(t), k, 2, f, normalize))
    eta = 0.7
    if ema is None:  # p ~ p_prev * exp(eta colsum(A)), from uniform
        s1 = column_sums(rounds[0])
        s2 = [x + y for x, y in zip(s1, column_sums(rounds[1]))]
    else:  # p ~ exp(eta colsum(S)), S the EMA of A
        s1 = column_sums(rounds[0])
        smoothed = [[(1 - ema) * x + ema * y for x, y in zip(r1, r0)] for r1, r0 in zip(rounds[1], rounds[0])]
        s2 = column_sums(smoothed)
    p1 = normalized([math.exp(eta * x) for x in s1])
    p2 = normalized([math.exp(eta * x) for x in s2])
    updates = [e for e in log if "exponentiated-gradient" in e.reason]
    assert [e.step for e in updates] == [8, 18]
    assert updates[0].new == pytest.approx(p1, abs=1e-12, rel=0)
    assert updates[1].new == pytest.approx(p2, abs=1e-12, rel=0)
    assert list(updates[1].signal.values()) == pytest.approx(s2 if ema is not None else column_sums(rounds[1]),
                                                             abs=1e-12, rel=0)
    # The new mixture trains until the next round's start (step 12 is its first sweep).
    assert all(used[s].tolist() == pytest.approx(p1, abs=1e-12, rel=0) for s in range(9, 13))
    assert used[22].tolist() == pytest.approx(p2, abs=1e-12, rel=0)
    # Round 0's released A (and the EMA's first value) is what the state keeps for round 1.
    if ema is not None:
        assert np.array(c.state_dict()["smoothed_a"]) == pytest.approx(np.array(smoothed), abs=1e-12, rel=0)


def test_the_sweep_schedule_on_a_scripted_run():
    c = build(update_every=16, warmup_steps=3, lp_rounds=2, lp_steps=2)
    used, log = drive(c, 35, scripted_losses())
    # Evaluations: each round's start (3, 19, 35) and the end of each of its 6 sweeps of 2 steps.
    assert [s for s in range(1, 36) if c.wants_eval(s)] == [3, 5, 7, 9, 11, 13, 15, 19, 21, 23, 25, 27, 29, 31, 35]
    # Each round's order: two permutations of the domains, from the run's seed and the round.
    for t in range(2):
        order = c.sweep_order(t)
        assert sorted(order[:3]) == sorted(order[3:]) == [0, 1, 2]
        assert order == c.sweep_order(t)
    other = CONTROLLERS.build(AioliConfig(update_every=16, warmup_steps=3, lp_rounds=2, lp_steps=2),
                              ControllerContext(DOMAINS, CONTEXT.natural_tokens, seed=6))
    assert [other.sweep_order(t) for t in range(4)] != [c.sweep_order(t) for t in range(4)]
    # Steps 1-3 train on the run's own mixture; then each sweep's mixture for its 2 steps.
    for s in (1, 2, 3):
        assert used[s].tolist() == [0.5, 0.3, 0.2]
    for t, start in ((0, 3), (1, 19)):
        for m, j in enumerate(c.sweep_order(t)):
            expected = [0.625 if i == j else 0.1875 for i in range(3)]
            assert used[start + 2 * m + 1].tolist() == expected == used[start + 2 * m + 2].tolist()
    # After the last sweep (step 15), the learned mixture up to and including the next round's start.
    updates = [e for e in log if "exponentiated-gradient" in e.reason]
    assert [e.step for e in updates] == [15, 31]
    assert all(used[s].tolist() == updates[0].new for s in range(16, 20))
    assert all(used[s].tolist() == updates[1].new for s in range(32, 36))


def test_audit_lines_name_the_round_the_sweep_and_the_column_sums():
    c = build(update_every=10, warmup_steps=1, lp_rounds=1, lp_steps=1)
    _, log = drive(c, 10, scripted_losses())
    sweeps = [e for e in log if "sweep" in e.reason]
    order = c.sweep_order(0)
    assert [e.step for e in sweeps] == [1, 2, 3]
    assert sweeps[0].reason == (f"aioli round 0: sweep 1/3, 1 steps with 0.625 of the tokens from "
                                f"'{DOMAINS[order[0]]}' (signal: held-out loss now)")
    assert list(sweeps[0].signal.values()) == scripted_losses()(1).tolist()
    update = next(e for e in log if "exponentiated-gradient" in e.reason)
    sums = list(update.signal.values())
    assert update.step == 4 and sum(sums) == pytest.approx(1.0, abs=1e-12)  # a normalized A sums to 1
    top = DOMAINS[int(np.argmax(sums))]
    assert update.reason.startswith("aioli round 0: exponentiated-gradient step (eta 0.2)")
    assert update.reason.endswith(f"largest '{top}' {max(sums):.4g}")


def test_a_round_with_a_sweep_not_measured_in_order_makes_no_update():
    c = build(update_every=10, warmup_steps=1, lp_rounds=1, lp_steps=1)
    loss = scripted_losses()
    w = np.array([0.5, 0.3, 0.2])
    for step in (1, 2):  # the round starts, one sweep is measured
        w, _ = c.update(step, DomainStats(step, np.zeros(3), np.zeros(3), w, eval_loss=loss(step)))
    state = c.state_dict()
    w, _ = c.update(3, DomainStats(3, np.zeros(3), np.zeros(3), w, eval_loss=loss(3)))
    c.load_state_dict(json.loads(json.dumps(state)))  # rolled back to after step 2; step 3 is gone
    out = c.update(4, DomainStats(4, np.zeros(3), np.zeros(3), w, eval_loss=loss(4)))
    assert out is not None
    new, entry = out
    assert new.tolist() == [1 / 3, 1 / 3, 1 / 3]  # no round learned yet: uniform
    assert entry.reason.startswith("aioli round 0: not every sweep was measured in order")
    assert c.rounds_done == 0


def test_state_round_trips_through_json_mid_round():
    loss = scripted_losses()
    a = build(update_every=10, warmup_steps=1, lp_rounds=1, lp_steps=2)
    used_a, log_a = drive(a, 25, loss)
    b = build(update_every=10, warmup_steps=1, lp_rounds=1, lp_steps=2)
    used_b, _ = drive(b, 14, loss)  # stops mid-sweep of round 1
    c = build(update_every=10, warmup_steps=1, lp_rounds=1, lp_steps=2)
    c.load_state_dict(json.loads(json.dumps(b.state_dict())))
    w = used_a[15]
    log_c = []
    for step in range(15, 26):
        out = c.update(step, DomainStats(step, np.zeros(3), np.zeros(3), w,
                                         eval_loss=loss(step) if c.wants_eval(step) else None))
        if out is not None:
            w, entry = out
            log_c.append(entry)
    assert [(e.step, e.new, e.signal, e.reason) for e in log_c] == \
        [(e.step, e.new, e.signal, e.reason) for e in log_a if e.step >= 15]


def test_refusals_are_one_line_errors():
    with pytest.raises(CurricleError, match=r"^controller.update_every: a round of 12 steps leaves no steps after "
                                            r"its sweeps \(3 domains x lp_rounds 4 x lp_steps 1 = 12\)"):
        build(update_every=12, lp_rounds=4, lp_steps=1)
    with pytest.raises(CurricleError, match=r"^controller.one_hot_factor: 0.3 does not emphasize"):
        build(one_hot_factor=0.3)
    with pytest.raises(CurricleError, match="^controller.kind: aioli mixes domains; the run has only one$"):
        CONTROLLERS.build(AioliConfig(), ControllerContext(["a"], {"a": 10}))
    c = build(update_every=10, lp_rounds=1, lp_steps=1)
    with pytest.raises(CurricleError, match="domain 'b' has none"):
        c.update(1, DomainStats(1, np.zeros(3), np.zeros(3), np.full(3, 1 / 3), eval_loss=np.array([1.0, np.nan, 2.0])))


def test_a_run_without_a_held_out_split_is_refused_at_load(prepared_dir):
    from curricle.config import parse_config
    from tests.train.conftest import run_config_dict

    data = run_config_dict(prepared_dir)
    data.update({"controller": {"kind": "aioli"}, "prepare": {"heldout_fraction": 0.0, "min_heldout_docs": 0}})
    with pytest.raises(CurricleError) as err:
        parse_config(data)
    assert "controller.kind: aioli reads held-out loss; prepare.heldout_fraction and prepare.min_heldout_docs are 0" \
        in str(err.value)
    assert "\n" not in str(err.value).strip()


def test_the_hf_trainer_refuses_it():
    from curricle.controllers.base import refusal_in_hf_trainer

    assert refusal_in_hf_trainer({"kind": "aioli"}) == (
        "controller.kind: aioli needs held-out evaluations at the ends of its sweeps, which curricle's loop runs on "
        "request; train it with `curricle train`")


# -- in a real run ---------------------------------------------------------------------------

AIOLI = {"kind": "aioli", "update_every": 12, "warmup_steps": 3, "lp_rounds": 1, "lp_steps": 2}


def read(run_dir, name):
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def _ctrl(data):
    from pydantic import TypeAdapter

    from curricle.controllers.config import ControllerSpec

    return TypeAdapter(ControllerSpec).validate_python(data)


def test_in_a_run_it_evaluates_where_it_asks_counts_those_tokens_and_trains_the_sweeps(tmp_path, make_config):
    from curricle.train.command import train_run

    cfg = make_config(steps=30).model_copy(update={"controller": _ctrl(AIOLI)})
    train_run(cfg, tmp_path / "run", progress=False)
    metrics = {m["step"]: m for m in read(tmp_path / "run", "metrics.jsonl")}
    # Its evaluations (round starts 3, 15, 27; sweeps end 2, 4, 6 steps later) and the run's own (10, 20, 30).
    evaluated = sorted(s for s, m in metrics.items() if "eval/loss" in m)
    assert evaluated == [3, 5, 7, 9, 10, 15, 17, 19, 20, 21, 27, 29, 30]
    per_eval = metrics[10]["eval/tokens"]
    assert all(metrics[s]["eval/tokens"] == per_eval for s in evaluated)
    assert metrics[30]["eval_tokens"] == per_eval * len(evaluated)
    # The mixture each step trained on is the audit log's.
    log = read(tmp_path / "run", "mixture_log.jsonl")
    assert all(e["controller"] == "aioli" for e in log)
    assert [e["step"] for e in log] == [3, 5, 7, 9, 15, 17, 19, 21, 27, 29]
    for e in log[:-1]:
        used = {d: metrics[e["effective_from_step"]][f"weight/{d}"] for d in e["new"]}
        assert used == pytest.approx(e["new"], abs=1e-12)
    sweep = log[0]["new"]
    assert sorted(sweep.values()) == pytest.approx([0.1875, 0.1875, 0.625])
    assert sum(log[3]["signal"].values()) == pytest.approx(1.0)  # the normalized A's column sums
    assert log[3]["reason"].startswith("aioli round 0: exponentiated-gradient step")


@pytest.mark.slow
def test_sigkill_mid_round_then_resume_equals_uninterrupted(tmp_path, prepared_dir):
    import os
    import subprocess

    import yaml

    from tests.train.conftest import PYTHON, run_config_dict, run_killed_then_resumed

    data = run_config_dict(prepared_dir)  # 40 steps, a checkpoint every 10
    data["controller"] = AIOLI  # round 1 starts at 15, its last sweep runs steps 20-21: killed inside it
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data))

    def cmd(run):
        return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run)]

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(cmd(tmp_path / "full"), check=True, env=env, capture_output=True)
    r = run_killed_then_resumed(cmd(tmp_path / "killed"), tmp_path / "killed")
    assert r.returncode == 0, r.stderr

    def steps(run):
        return [(m["step"], m["loss"], m.get("eval/loss"), m["eval_tokens"],
                 [m[k] for k in sorted(m) if k.startswith("weight/")]) for m in read(tmp_path / run, "metrics.jsonl")]

    assert steps("killed") == steps("full") and len(steps("full")) == 40
    assert read(tmp_path / "killed", "mixture_log.jsonl") == read(tmp_path / "full", "mixture_log.jsonl")
    assert [e["step"] for e in read(tmp_path / "full", "mixture_log.jsonl")] == [3, 5, 7, 9, 15, 17, 19, 21, 27, 29,
                                                                               31, 33, 39]
