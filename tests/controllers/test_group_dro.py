"""``kind: group-dro``: the release's update on literal losses, its reference, refusals, a real run."""

import json
import math
import subprocess

import numpy as np
import pytest
import yaml

from curricle.config import parse_config
from curricle.controllers.base import ControllerContext, DomainStats
from curricle.controllers.config import CONTROLLERS, GroupDROConfig
from curricle.errors import CurricleError
from curricle.train.command import train_run
from tests.train.conftest import PYTHON, run_config_dict, run_killed_then_resumed

DOMAINS = ["a", "b", "c"]
CONTEXT = ControllerContext(DOMAINS, dict.fromkeys(DOMAINS, 1000), doc_counts={"a": 4, "b": 16, "c": 100})


def at(step, eval_loss=None, weights=(1 / 3, 1 / 3, 1 / 3)):
    return DomainStats(step=step, train_loss=np.full(3, 2.0), tokens=np.full(3, 10.0 * step),
                       weights=np.asarray(weights, dtype=float),
                       eval_loss=None if eval_loss is None else np.asarray(eval_loss, dtype=float))


def normalized(v):
    return [x / sum(v) for x in v]


def test_the_update_on_literal_losses_is_q_exp_eta_l_over_z():
    c = CONTROLLERS.build(GroupDROConfig(step_size=0.5), CONTEXT)
    assert c.update(9, at(9)) is None  # no evaluation, no step
    w, entry = c.update(10, at(10, [5.0, 4.0, 6.0]))
    q1 = normalized([math.exp(0.5 * x) / 3 for x in (5.0, 4.0, 6.0)])
    assert w.tolist() == pytest.approx(q1, abs=1e-12)
    assert entry.reason == "group DRO: worst domain 'c' (held-out loss 6.0000); q *= exp(0.5 l)"
    assert c.take_notes().metrics == {"dro/worst_domain": "c", "dro/worst_loss": 6.0}
    w2, _ = c.update(20, at(20, [4.0, 3.5, 3.0], weights=w))
    q2 = normalized([q * math.exp(0.5 * x) for q, x in zip(q1, (4.0, 3.5, 3.0))])
    assert w2.tolist() == pytest.approx(q2, abs=1e-12)
    assert c.take_notes().metrics == {"dro/worst_domain": "a", "dro/worst_loss": 4.0}
    # q keeps its own course when a cap holds the weights back.
    capped = CONTROLLERS.build(GroupDROConfig(step_size=0.5, max_change=0.01), CONTEXT)
    w, _ = capped.update(10, at(10, [5.0, 4.0, 6.0]))
    assert np.max(np.abs(w - 1 / 3)) == pytest.approx(0.01) and capped.q.tolist() == pytest.approx(q1, abs=1e-12)
    # A domain without a held-out loss keeps its share of q; the others share the rest by the step.
    nan = CONTROLLERS.build(GroupDROConfig(step_size=0.5), CONTEXT)
    w, _ = nan.update(10, at(10, [5.0, float("nan"), 6.0]))
    a, c = normalized([math.exp(2.5), math.exp(3.0)])
    assert w.tolist() == pytest.approx([2 / 3 * a, 1 / 3, 2 / 3 * c], abs=1e-12)


def test_a_domain_without_held_out_rows_at_a_later_evaluation_is_not_stepped_on_its_old_loss():
    c = CONTROLLERS.build(GroupDROConfig(step_size=0.5), CONTEXT)
    w1, _ = c.update(10, at(10, [5.0, 4.0, 6.0]))
    q1 = normalized([math.exp(0.5 * x) for x in (5.0, 4.0, 6.0)])
    # At step 20, b has no held-out rows: it keeps q1's share (its loss 4.0 of step 10 is not reused).
    w2, entry = c.update(20, at(20, [4.0, float("nan"), 3.0], weights=w1))
    ac = [q1[0] * math.exp(2.0), q1[2] * math.exp(1.5)]
    expected = [(1 - q1[1]) * ac[0] / sum(ac), q1[1], (1 - q1[1]) * ac[1] / sum(ac)]
    assert w2.tolist() == pytest.approx(expected, abs=1e-12) and c.q.tolist() == pytest.approx(expected, abs=1e-12)
    assert entry.signal == {"a": 4.0, "b": None, "c": 3.0}
    assert entry.reason == "group DRO: worst domain 'a' (held-out loss 4.0000); q *= exp(0.5 l)"
    assert c.state_dict()["smoothed"] == [4.0, None, 3.0]


def test_the_adjustment_adds_c_over_root_n():
    c = CONTROLLERS.build(GroupDROConfig(step_size=1.0, adjustment=2.0), CONTEXT)
    w, _ = c.update(10, at(10, [1.0, 1.0, 1.0]))
    assert w.tolist() == pytest.approx(normalized([math.exp(1 + 2 / 2), math.exp(1 + 2 / 4), math.exp(1 + 2 / 10)]),
                                       abs=1e-12)


def write_reference(run_dir, losses_by_step):
    run_dir.mkdir(parents=True)
    lines = [{"step": s, "loss": 3.0, "eval/loss": 3.0, **{f"eval/loss/{d}": v for d, v in losses.items()}}
             for s, losses in losses_by_step.items()]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in [{"step": 1, "loss": 9.0}, *lines]))
    return run_dir


def test_with_a_reference_it_steps_on_the_excess_over_the_references_final_loss(tmp_path):
    """``reference_at: final`` (the default): every evaluation is measured against the
    reference's last one, whatever step it is at."""
    ref = write_reference(tmp_path / "ref", {10: {"a": 9.0, "b": 9.0, "c": 9.0}, 40: {"a": 4.0, "b": 4.5, "c": 5.0}})
    assert GroupDROConfig(reference=ref).reference_at == "final"
    c = CONTROLLERS.build(GroupDROConfig(step_size=1.0, reference=ref), CONTEXT)
    w, entry = c.update(10, at(10, [5.0, 4.0, 6.0]))
    assert w.tolist() == pytest.approx(normalized([math.exp(1.0), math.exp(-0.5), math.exp(1.0)]), abs=1e-12)
    assert c.take_notes().metrics == {"dro/worst_domain": "a", "dro/worst_loss": 5.0, "dro/worst_excess": 1.0}
    w, _ = c.update(20, at(20, [4.5, 4.0, 5.5]))  # a step the reference never evaluated at
    assert w.tolist() == pytest.approx(normalized([math.exp(1.5), math.exp(-1.0), math.exp(1.5)]), abs=1e-12)
    empty = write_reference(tmp_path / "empty", {})
    with pytest.raises(CurricleError, match=r"^controller.reference: .*empty has no held-out evaluation to measure "
                                            r"against$"):
        CONTROLLERS.build(GroupDROConfig(reference=empty), CONTEXT)


def test_with_a_same_step_reference_it_steps_on_the_excess_at_that_step(tmp_path):
    ref = write_reference(tmp_path / "ref", {10: {"a": 4.0, "b": 4.5, "c": 5.0}, 40: {"a": 1.0, "b": 1.0, "c": 1.0}})
    c = CONTROLLERS.build(GroupDROConfig(step_size=1.0, reference=ref, reference_at="same-step"), CONTEXT)
    w, entry = c.update(10, at(10, [5.0, 4.0, 6.0]))
    assert w.tolist() == pytest.approx(normalized([math.exp(1.0), math.exp(-0.5), math.exp(1.0)]), abs=1e-12)
    # a and c are both 1.0 over: the first is the worst; the excess is not clipped (b's -0.5 counts)
    assert c.take_notes().metrics == {"dro/worst_domain": "a", "dro/worst_loss": 5.0, "dro/worst_excess": 1.0}
    assert entry.reason == ("group DRO: worst domain 'a' (held-out loss 5.0000, +1.0000 over the reference); "
                            "q *= exp(1 l)")
    with pytest.raises(CurricleError, match=r"^controller.reference: .*ref has no held-out loss of 'a' at step 20$"):
        c.update(20, at(20, [5.0, 4.0, 6.0]))


def _config(data_dir, controller, **train):
    return {**run_config_dict(data_dir, **train), "controller": controller}


def test_a_run_without_what_it_reads_is_refused_in_one_line(tmp_path):
    data = _config(tmp_path, {"kind": "group-dro"})
    data["prepare"] = {"heldout_fraction": 0, "min_heldout_docs": 0}
    with pytest.raises(CurricleError) as err:
        parse_config(data)
    assert str(err.value) == ("config: controller.kind: group-dro reads held-out loss; prepare.heldout_fraction and "
                              "prepare.min_heldout_docs are 0, so there is no held-out split to evaluate on")
    ref = write_reference(tmp_path / "ref", {s: dict.fromkeys(("agreement", "arithmetic", "copy"), 1.0)
                                             for s in (10, 20, 30)})
    parse_config(_config(tmp_path, {"kind": "group-dro", "reference": str(ref)}))  # final: its step 30 will do
    with pytest.raises(CurricleError) as err:
        parse_config(_config(tmp_path, {"kind": "group-dro", "reference": str(ref), "reference_at": "same-step"}))
    assert str(err.value) == (f"config: controller.reference: {ref} has no held-out loss of 'agreement' at step 40, "
                              f"where this run evaluates (it has steps 10, 20, 30)")
    partial = write_reference(tmp_path / "partial", {10: {"agreement": 1.0, "copy": 1.0}})
    with pytest.raises(CurricleError) as err:
        parse_config(_config(tmp_path, {"kind": "group-dro", "reference": str(partial)}))
    assert str(err.value) == (f"config: controller.reference: {partial} has no held-out loss of 'arithmetic' at its "
                              f"last evaluation (step 10)")
    with pytest.raises(CurricleError) as err:
        parse_config(_config(tmp_path, {"kind": "group-dro", "ema": 0.5}))
    assert str(err.value) == ("config: controller.group-dro: ema: group-dro updates when its held-out or probe "
                              "signals are measured, unsmoothed; leave ema out")


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_in_a_run_q_is_the_exponentiated_sum_of_the_held_out_losses(tmp_path, prepared_dir):
    ref_dir = tmp_path / "uniform"
    train_run(parse_config(run_config_dict(prepared_dir)), ref_dir, progress=False)
    for reference, at_ in ((None, None), (ref_dir, "final"), (ref_dir, "same-step")):
        run = tmp_path / (f"excess-{at_}" if reference else "loss")
        ctrl = {"kind": "group-dro", "step_size": 0.5,
                **({"reference": str(reference), "reference_at": at_} if reference else {})}
        train_run(parse_config(_config(prepared_dir, ctrl)), run, progress=False)
        metrics = {m["step"]: m for m in _read(run / "metrics.jsonl")}
        ref = {m["step"]: m for m in _read(ref_dir / "metrics.jsonl")}
        log = _read(run / "mixture_log.jsonl")
        assert [e["step"] for e in log] == [10, 20, 30, 40]
        total = {d: 0.0 for d in ("agreement", "arithmetic", "copy")}
        for e in log:
            m = metrics[e["step"]]
            against = {None: None, "final": 40, "same-step": e["step"]}[at_]
            l = {d: m[f"eval/loss/{d}"] - (ref[against][f"eval/loss/{d}"] if reference else 0.0) for d in total}
            total = {d: total[d] + l[d] for d in total}
            # q from uniform after these evaluations: exp(eta * the sum of l) / Z
            z = sum(math.exp(0.5 * v) for v in total.values())
            assert e["new"] == pytest.approx({d: math.exp(0.5 * v) / z for d, v in total.items()}, abs=1e-12)
            worst = max(l, key=l.get)
            assert (m["dro/worst_domain"], m["dro/worst_loss"]) == (worst, m[f"eval/loss/{worst}"])
            assert f"worst domain '{worst}'" in e["reason"]
            if e["step"] < 40:  # the weights the next step used
                used = {d: metrics[e["step"] + 1][f"weight/{d}"] for d in total}
                assert used == pytest.approx(e["new"], abs=1e-12)


def test_reference_train_trains_the_reference_first_at_seed_plus_one_and_reuses_it(tmp_path, prepared_dir):
    """``reference: train``: RUN/reference is this run without the controller at seed + 1; the
    run steps on the excess over it; a second call finds it finished and trains it no more;
    the controller itself refuses the unresolved value."""
    run = tmp_path / "run"
    ctrl = {"kind": "group-dro", "step_size": 0.5, "reference": "train"}
    config = parse_config(_config(prepared_dir, ctrl))
    train_run(config, run, progress=False)
    ref_cfg = yaml.safe_load((run / "reference" / "config.yaml").read_text())
    assert ref_cfg["seed"] == config.seed + 1 and ref_cfg["controller"]["kind"] == "schedule"
    assert ref_cfg["train"] == yaml.safe_load((run / "config.yaml").read_text())["train"]
    assert yaml.safe_load((run / "config.yaml").read_text())["controller"]["reference"] == str(run / "reference")
    ref = {m["step"]: m for m in _read(run / "reference" / "metrics.jsonl")}
    metrics = {m["step"]: m for m in _read(run / "metrics.jsonl")}
    log = _read(run / "mixture_log.jsonl")
    assert [e["step"] for e in log] == [10, 20, 30, 40]
    excess = {d: metrics[10][f"eval/loss/{d}"] - ref[40][f"eval/loss/{d}"] for d in ("agreement", "arithmetic", "copy")}
    z = sum(math.exp(0.5 * v) for v in excess.values())
    assert log[0]["new"] == pytest.approx({d: math.exp(0.5 * v) / z for d, v in excess.items()}, abs=1e-12)
    assert "over the reference" in log[0]["reason"]
    before = (run / "reference" / "metrics.jsonl").read_text()
    train_run(config, run, resume=True, progress=False)  # finished: nothing trains again
    assert (run / "reference" / "metrics.jsonl").read_text() == before
    with pytest.raises(CurricleError, match=r"^controller.reference: train: the reference run is trained by"):
        CONTROLLERS.build(GroupDROConfig(reference="train"), CONTEXT)


@pytest.mark.slow
def test_sigkill_then_resume_with_group_dro_equals_the_uninterrupted_run(tmp_path, prepared_dir):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_config(prepared_dir, {"kind": "group-dro", "step_size": 0.5, "max_change": 0.2},
                                             eval_every=5)))

    def cmd(run_dir):
        return [PYTHON, "-m", "curricle.cli", "train", str(config), "--run-dir", str(run_dir)]

    subprocess.run(cmd(tmp_path / "full"), check=True, capture_output=True)
    r = run_killed_then_resumed(cmd(tmp_path / "killed"), tmp_path / "killed")
    assert r.returncode == 0, r.stderr

    def line(m):
        return m["step"], m["loss"], {k: v for k, v in m.items() if k.startswith(("weight/", "dro/"))}

    full, killed = (_read(tmp_path / run / "metrics.jsonl") for run in ("full", "killed"))
    assert [line(m) for m in killed] == [line(m) for m in full]
    log = _read(tmp_path / "full" / "mixture_log.jsonl")
    assert _read(tmp_path / "killed" / "mixture_log.jsonl") == log
    assert [e["step"] for e in log] == list(range(5, 41, 5))


def test_an_hf_trainer_refuses_it_in_one_line():
    from curricle.controllers.base import refusal_in_hf_trainer

    assert refusal_in_hf_trainer({"kind": "group-dro"}) == (
        "controller.kind: group-dro reads the held-out losses of curricle's own evaluations, which an HF Trainer "
        "does not give its controller; train with `curricle train`")
