"""``kind: targets``: the rule on a scripted history, its refusals, and in a real run."""

import json

import numpy as np
import pytest
import yaml

from curricle.config import parse_config
from curricle.controllers.base import ControllerContext, DomainStats, ProbeSignal
from curricle.controllers.config import CONTROLLERS, TargetsConfig
from curricle.errors import CurricleError
from curricle.train.command import train_run
from tests.train.conftest import PYTHON, run_config_dict, run_killed_then_resumed

DOMAINS = ["code", "copy", "flat", "met", "other"]
CONTEXT = ControllerContext(DOMAINS, {d: 1000 for d in DOMAINS})
TARGETS = {"code": {"eval_loss": 1.0}, "flat": {"eval_loss": 1.0}, "met": {"eval_loss": 1.0},
           "copy@2": {"exact_match": 0.9}}
TRAIN_BY = {"copy@2": ["copy", "code"]}
# Held-out losses at the evaluations (code falls, flat gets worse, met reaches 1.0 at step 30)
# and copy@2's exact match at the probe steps.
EVALS = {10: {"code": 3.0, "flat": 2.0, "met": 1.5}, 20: {"code": 2.6, "flat": 2.1, "met": 1.2},
         30: {"code": 2.0, "flat": 2.2, "met": 0.9}, 40: {"code": 1.7, "flat": 2.2, "met": 0.8}}
PROBES = {15: 0.1, 25: 0.4, 35: 0.5}


def probe(task, score, step):
    return ProbeSignal(task=task, skill=task, family=task.split("@")[0], level="2", level_index=0,
                       metric="exact_match", score=score, stderr=0.05, chance=0.0, continuous="prob",
                       continuous_score=score, continuous_stderr=0.01, step=step, n=64)


def step_stats(step, weights):
    evals = EVALS.get(step)
    eval_loss = None if evals is None else np.array([evals.get(d, 2.0) for d in DOMAINS])
    probes = {"copy@2": probe("copy@2", PROBES[step], step)} if step in PROBES else None
    return DomainStats(step=step, train_loss=np.full(5, 2.0), tokens=np.full(5, 100.0 * step),
                       weights=np.asarray(weights, dtype=float), eval_loss=eval_loss,
                       eval_ece=None if evals is None else np.zeros(5), probes=probes, eval_tokens=7 * step)


def build(**kw):
    config = TargetsConfig(targets=TARGETS, train_by=TRAIN_BY, min_weight=0.05, max_change=1.0, **kw)
    return CONTROLLERS.build(config, CONTEXT)


def formula(history, w, min_weight, window=3):
    """The module doc's rule, computed afresh: ``history`` maps each target (name, metric) to its
    measured values so far; returns the proposal or None."""
    lower = {"eval_loss"}
    priority, unmet, targeted = dict.fromkeys(DOMAINS, 0.0), set(), set()
    for (name, metric), values in history.items():
        d = [(v - TARGETS[name][metric]) if metric in lower else (TARGETS[name][metric] - v) for v in values]
        unmet_at = [x for x in d if x > 0]
        d0 = unmet_at[0] if unmet_at else None
        g = [max(0.0, x) / d0 if d0 else 0.0 for x in d][-window:]
        r = max(0.0, np.polyfit(np.arange(len(g)), 1 - np.array(g), 1)[0]) if len(g) >= 2 else 0.0
        trains = TRAIN_BY.get(name, [name])
        for dom in trains:
            targeted.add(dom)
            priority[dom] += g[-1] * r / len(trains)
            if not d or d[-1] > 0:
                unmet.add(dom)
    pushed = [d for d in DOMAINS if priority[d] > 0]
    if not pushed:
        return None
    released = [d for d in targeted if d not in unmet]
    new = {d: w[DOMAINS.index(d)] for d in DOMAINS if d not in pushed and d not in released}
    new.update({d: min_weight for d in released})
    rest = 1 - sum(new.values())
    new.update({d: rest * priority[d] / sum(priority[p] for p in pushed) for d in pushed})
    return np.array([new[d] for d in DOMAINS])


def test_weights_on_a_scripted_history_follow_the_formula():
    c = build()
    w = np.full(5, 0.2)
    history: dict[tuple[str, str], list[float]] = {}
    changes = {}
    for step in range(1, 41):
        for name in ("code", "flat", "met"):
            if step in EVALS:
                history.setdefault((name, "eval_loss"), []).append(EVALS[step][name])
        if step in PROBES:
            history.setdefault(("copy@2", "exact_match"), []).append(PROBES[step])
        out = c.update(step, step_stats(step, w))
        expected = formula(history, w, 0.05) if step in EVALS or step in PROBES else None
        if expected is None:
            assert out is None, step
            continue
        new, entry = out
        assert new.tolist() == pytest.approx(expected.tolist(), abs=1e-12), step
        assert entry.old == pytest.approx(w.tolist()) and entry.new == pytest.approx(new.tolist())
        changes[step] = (w, new, entry)
        w = new
    assert sorted(changes) == [20, 25, 30, 35, 40]  # one measurement of each: no rate yet at 10 and 15
    # Step 20, by hand: code's gap 0.8 and rate 0.2 (p 0.16), met's 0.4 and 0.6 (p 0.24); flat got
    # worse (rate 0) and copy@2 has one measurement: they hold 0.2 each, as does other; code and
    # met share the 0.4 left in proportion, 0.16 and 0.24.
    assert changes[20][1].tolist() == pytest.approx([0.16, 0.2, 0.2, 0.24, 0.2], abs=1e-12)
    assert changes[20][2].signal == pytest.approx({"code": 0.16, "copy": 0.0, "flat": 0.0, "met": 0.24,
                                                   "other": None})
    # Step 30: the lagging, moving code gains; the lagging flat one holds; met is released to the floor.
    old, new, entry = changes[30]
    i = DOMAINS.index
    assert new[i("code")] > old[i("code")] and new[i("flat")] == old[i("flat")] and new[i("met")] == 0.05
    assert entry.reason == ("targets: lagging code.eval_loss gap 0.500 rate 0.250, flat.eval_loss gap 1.200 "
                            "rate 0.000, copy@2.exact_match gap 0.625 rate 0.375; met met.eval_loss "
                            "(released to 0.05)")


def test_nothing_moves_while_no_unmet_target_moves():
    w = np.full(5, 0.2)
    flat = CONTROLLERS.build(TargetsConfig(targets={"flat": {"eval_loss": 1.0}}), CONTEXT)
    assert [flat.update(step, step_stats(step, w)) for step in (10, 20, 30, 40)] == [None] * 4
    moving = CONTROLLERS.build(TargetsConfig(targets={"code": {"eval_loss": 1.0}}), CONTEXT)
    assert moving.update(10, step_stats(10, w)) is None  # one measurement: no rate yet


def test_a_met_domain_that_slips_back_is_restored_to_the_weight_that_met_it():
    c = CONTROLLERS.build(TargetsConfig(targets={"code": {"eval_loss": 1.0}, "met": {"eval_loss": 1.0}},
                                        min_weight=0.05, max_change=1.0), CONTEXT)

    def at(step, code, met, w):
        losses = np.array([code, 2.0, 2.0, met, 2.0])
        return c.update(step, DomainStats(step, np.full(5, 2.0), np.full(5, 1.0), np.asarray(w, dtype=float),
                                          eval_loss=losses, eval_ece=np.zeros(5)))

    w = np.array([0.3, 0.1, 0.1, 0.4, 0.1])
    assert at(10, 3.0, 1.5, w) is None  # one measurement each: no rate yet
    # met is met at weight 0.4: released to the floor; code pushed with what the others leave.
    w, _ = at(20, 2.5, 0.9, w)
    assert c.met_weight == [None, None, None, 0.4, None]
    assert w.tolist() == pytest.approx([0.65, 0.1, 0.1, 0.05, 0.1], abs=1e-12)
    # met slips back above its target: restored to 0.4 (not pushed by its window's slope);
    # code, still moving, shares what is left.
    w, entry = at(30, 2.5, 1.1, w)
    assert w.tolist() == pytest.approx([0.3, 0.1, 0.1, 0.4, 0.1], abs=1e-12)
    assert entry.reason.endswith("; relapsed, restored: met to 0.4")
    # Nothing pushed (code stalls, held at 0.3), met still restored: no change.
    assert at(40, 3.2, 1.2, w) is None
    # From other weights in use, the held ones and met's 0.4 are scaled to sum 1.
    w2, _ = at(50, 3.3, 1.2, np.array([0.5, 0.1, 0.1, 0.2, 0.1]))
    assert w2.tolist() == pytest.approx((np.array([0.5, 0.1, 0.1, 0.4, 0.1]) / 1.2).tolist(), abs=1e-12)
    # A relapse to a weight of 0 with nothing else held: nothing to scale, no change (not NaN).
    c.met_weight = [None, None, None, 0.0, None]
    assert c.plan(np.array([0.0, 0.0, 0.0, 0.0, 0.0])) is None


def test_the_floor_and_the_cap_apply_last():
    c = CONTROLLERS.build(TargetsConfig(targets={"code": {"eval_loss": 1.0}, "met": {"eval_loss": 1.0}}), CONTEXT)
    w = np.array([0.5, 0.1, 0.1, 0.2, 0.1])
    c.update(10, step_stats(10, w))
    new, _ = c.update(20, step_stats(20, w))
    # Proposal: the held 0.3 stays, code and met split 0.7 as 0.16 : 0.24 -> 0.28, 0.42; met's
    # +0.22 is the largest change, capped at 0.1 (default max_change): everything moves 0.1 / 0.22
    # of the way.
    proposal = np.array([0.28, 0.1, 0.1, 0.42, 0.1])
    assert new.tolist() == pytest.approx((w + (proposal - w) * (0.1 / 0.22)).tolist(), abs=1e-12)


def test_every_target_met_is_one_event_and_a_stop_when_asked():
    c = CONTROLLERS.build(TargetsConfig(targets={"met": {"eval_loss": 1.0}}, stop_when_met=True), CONTEXT)
    w = np.full(5, 0.2)
    notes = []
    for step in (10, 20, 30, 40):
        c.update(step, step_stats(step, w))
        notes.append(c.take_notes())
    assert [n.metrics for n in notes] == [
        {"target/met/gap": 1.0, "target/met/met": 0}, {"target/met/gap": pytest.approx(0.4), "target/met/met": 0},
        {"target/met/gap": 0.0, "target/met/met": 1}, {"target/met/gap": 0.0, "target/met/met": 1}]
    assert [n.events for n in notes] == [[], [], [("targets-met", {"values": {"met.eval_loss": pytest.approx(0.9)},
                                                                   "eval_tokens": 210})], []]
    assert [n.stop for n in notes] == [None, None, ("targets-met", {}), None]
    # A name with two metrics: its gap is the larger, met when both are; each metric's gap too.
    two = CONTROLLERS.build(TargetsConfig(targets={"met": {"eval_loss": 1.0, "eval_ece": 0.5}}), CONTEXT)
    two.update(10, step_stats(10, w))
    assert two.take_notes().metrics == {"target/met/gap": 1.0, "target/met/met": 0,
                                        "target/met/eval_loss/gap": 1.0, "target/met/eval_ece/gap": 0.0}


def test_state_round_trips_exactly():
    c, w = build(), np.full(5, 0.2)
    for step in (10, 15, 20):
        c.update(step, step_stats(step, w))
    again = build()
    again.load_state_dict(json.loads(json.dumps(c.state_dict())))
    for step in (25, 30):
        assert again.update(step, step_stats(step, w))[0].tolist() == c.update(step, step_stats(step, w))[0].tolist()


def _config(data_dir, controller, **train):
    return {**run_config_dict(data_dir, **train), "controller": controller}


@pytest.mark.parametrize("controller, train, message", [
    ({"kind": "targets", "targets": {"copy@2": {"exact_match": 0.8}}}, {},
     "config: controller.kind: targets reads in-loop probe scores; set train.probe (with the skills it reads in "
     "train.probe.suite)"),
    ({"kind": "targets", "targets": {"copy@2": {"exact_match": 0.8}}}, {"probe": {"suite": {"tasks": ["copy"]}}},
     "config: controller.targets.copy@2: no such task in train.probe.suite (it probes: copy)"),
    ({"kind": "targets", "targets": {"code": {"eval_loss": 2.0}}}, {},
     "config: controller.targets.code: unknown domain 'code' (the sources declare: agreement, arithmetic, copy)"),
    ({"kind": "targets", "targets": {"facts": {"acc": 0.5}}}, {"probe": {"suite": {"tasks": ["facts"]}}},
     "config: controller.targets.facts: no synthetic source trains skill 'facts'; name the domains that train it "
     "in controller.train_by.facts"),
    ({"kind": "targets", "targets": {"copy@16": {"exact_match": 0.5}}},
     {"probe": {"suite": {"tasks": ["copy"], "levels": {"copy": [16]}}}},
     None),
    ({"kind": "targets", "targets": {"copy": {"acc": 0.5}}, "train_by": {"copy": ["prose"]}}, {"probe": {}},
     "config: controller.train_by.copy: unknown domain 'prose' (the sources declare: agreement, arithmetic, copy)"),
    ({"kind": "targets", "targets": {"copy": {"eval_loss": 2.0}}, "update_every": 5}, {},
     "config: controller.targets: update_every: targets updates when its held-out or probe signals are measured, "
     "unsmoothed; leave update_every out"),
    ({"kind": "targets", "targets": {"copy": {"loss": 2.0}}}, {},
     "config: controller.targets: targets.copy.loss: unknown metric (a domain's: eval_loss, eval_ece; a probe "
     "task's: acc, exact_match, prob, logprob)"),
])
def test_a_config_naming_what_the_run_does_not_have_is_refused_in_one_line(tmp_path, controller, train, message):
    data = _config(tmp_path, controller, **train)
    if message is None:  # copy@16: the copy source trains copy at its default parameters
        assert parse_config(data).controller.train_by == {"copy@16": ["copy"]}
        return
    with pytest.raises(CurricleError) as err:
        parse_config(data)
    assert str(err.value) == message


def test_train_by_defaults_to_the_sources_of_the_skill_and_level(tmp_path):
    data = _config(tmp_path, {"kind": "targets", "targets": {"copy@4": {"exact_match": 0.5}, "arithmetic": {"acc": 0.2},
                                                             "copy": {"eval_loss": 3.0}}},
                   probe={"suite": {"tasks": ["copy", "arithmetic"], "levels": {"copy": [4]}}})
    data["sources"] += [{"kind": "synthetic", "skill": "copy", "domain": "copy-long", "levels": [8, 16], "n_docs": 4},
                        {"kind": "synthetic", "skill": "copy", "domain": "copy-short", "levels": [2, 4], "n_docs": 4}]
    controller = parse_config(data).controller
    assert controller.train_by == {"copy@4": ["copy", "copy-short"], "arithmetic": ["arithmetic"]}
    assert controller.reads() == {"eval", "probes"}


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_in_a_run_every_target_met_is_an_event_and_stops_the_run(tmp_path, prepared_dir):
    plain = tmp_path / "plain"
    train_run(parse_config(run_config_dict(prepared_dir)), plain, progress=False)
    loss = {m["step"]: m["eval/loss/copy"] for m in _read(plain / "metrics.jsonl") if "eval/loss" in m}
    assert loss[20] < loss[10]
    # Unmet at step 10, met at 20: before its first change (two measurements) the run is the plain one.
    goal = (loss[10] + loss[20]) / 2
    ctrl = {"kind": "targets", "targets": {"copy": {"eval_loss": goal}}, "stop_when_met": True}
    run = tmp_path / "run"
    train_run(parse_config(_config(prepared_dir, ctrl)), run, progress=False)
    metrics = _read(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(1, 21))
    assert [(m["step"], m["target/copy/gap"], m["target/copy/met"]) for m in metrics if "target/copy/gap" in m] == [
        (10, 1.0, 0), (20, 0.0, 1)]
    events = _read(run / "events.jsonl")
    assert [(e["step"], e["event"]) for e in events] == [(20, "targets-met"), (20, "stop")]
    assert events[0]["values"] == {"copy.eval_loss": pytest.approx(loss[20], abs=1e-12)}
    assert events[0]["eval_tokens"] == metrics[19]["eval_tokens"] and events[1]["reason"] == "targets-met"
    assert not (run / "checkpoints" / "step_30").exists() and (run / "checkpoints" / "step_20").is_dir()


def _cmd(config, run_dir):
    return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run_dir)]


@pytest.mark.slow
def test_sigkill_then_resume_with_targets_equals_the_uninterrupted_run(tmp_path, prepared_dir):
    import subprocess

    # Held-out targets far off (lagging, moving) and a probe target on copy@2, measured at the
    # evaluations (every 5 steps) and the probes (every 10).
    ctrl = {"kind": "targets", "targets": {"copy": {"eval_loss": 0.5}, "arithmetic": {"eval_loss": 0.5},
                                           "copy@2": {"prob": 0.99}}, "max_change": 0.3}
    data = _config(prepared_dir, ctrl, eval_every=5, probe={
        "every": 10, "suite": {"tasks": ["copy"], "levels": {"copy": [2]}, "n": 8}})
    # Uniform from the start: a domain the mixture does not train does not move, so is not pushed.
    data["mixture"]["schedule"] = {"kind": "static", "weights": {"arithmetic": 1, "copy": 1, "agreement": 1}}
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(data))
    subprocess.run(_cmd(config, tmp_path / "full"), check=True, capture_output=True)
    r = run_killed_then_resumed(_cmd(config, tmp_path / "killed"), tmp_path / "killed")
    assert r.returncode == 0, r.stderr

    def line(m):
        return m["step"], m["loss"], {k: v for k, v in m.items() if k.startswith(("weight/", "target/"))}

    full, killed = (_read(tmp_path / run / "metrics.jsonl") for run in ("full", "killed"))
    assert [line(m) for m in killed] == [line(m) for m in full]
    log = _read(tmp_path / "full" / "mixture_log.jsonl")
    assert _read(tmp_path / "killed" / "mixture_log.jsonl") == log
    assert [e["step"] for e in log] == [10, 15, 20, 25, 30, 35, 40]  # from the second evaluation on
    assert any("target/copy@2/gap" in m for m in full if m["step"] == 30)


def test_an_hf_trainer_refuses_it_in_one_line():
    from curricle.controllers.base import refusal_in_hf_trainer

    assert refusal_in_hf_trainer({"kind": "targets"}) == (
        "controller.kind: targets reads the held-out losses and in-loop probe scores of curricle's own loop, which "
        "an HF Trainer does not give its controller; train with `curricle train`")
