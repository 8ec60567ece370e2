"""A stage whose milestone plateaus (curriculum.plateau), on scripted scores (no model)."""

from __future__ import annotations

import json

import pytest

from curricle.errors import CurricleError
from tests.finetune.test_curriculum import curriculum, scores

SE = 0.02  # an improvement must beat 2 * sqrt(2) * 0.02 = 0.057


def two_stages(b_milestone: float = 0.8, b_max: int = 1000) -> list[dict]:
    return [{"name": "a", "tasks": {"a": 1}, "max_steps": 1000, "advance_when": {"task": "a", "at_least": 0.8}},
            {"name": "b", "tasks": {"b": 1}, "max_steps": b_max,
             "advance_when": {"task": "b", "at_least": b_milestone}},
            {"name": "c", "tasks": {"c": 1}, "max_steps": 1000}]


def play(c, script: dict[int, dict[str, float]]) -> tuple[list[dict], dict[int, dict[str, float]]]:
    """Evaluate at each step of ``script`` (task -> exact_match, standard error SE); the log
    records, and the mix's weights from each evaluation on."""
    log, weights = [], {}
    for step, em in script.items():
        records, mix = c.on_evaluate(step, scores(se=SE, **em))
        log += records
        weights[step] = (mix or c.mix(step + 1)).weights
    return log, weights


def b_script(values: list[float]) -> dict[int, dict[str, float]]:
    """Stage a ends at step 10 (its milestone); b's scores every 10 steps from step 20."""
    return {10: {"a": 0.9, "b": 0.0, "c": 0.0},
            **{20 + 10 * i: {"a": 0.9, "b": v, "c": 0.0} for i, v in enumerate(values)}}


def test_a_plateau_below_the_milestone_reinstates_the_earlier_stage_then_returns():
    """b: 0.2, 0.4, 0.5, 0.52, 0.53 at steps 20-60: at 60 the window {50, 60} beats the best before
    it (0.5) by 0.03 < 0.057, a plateau below 0.8. Stage a's task gets 0.3 of the examples for 30
    steps (from 62), unjudged; at 90 b is alone again; 100 and 110 are new evaluations, and at 110
    ({100, 110}: 0.56 against 0.53) the next plateau."""
    c = curriculum(two_stages(), plateau={"patience": 2, "steps": 30, "weight": 0.3})
    log, weights = play(c, b_script([0.2, 0.4, 0.5, 0.52, 0.53, 0.6, 0.1, 0.54, 0.55, 0.56]))
    assert [(r["event"], r["step"]) for r in log] == [("stage", 10), ("plateau", 60), ("reinstate-end", 90),
                                                       ("plateau", 110)]
    p = log[1]
    assert p == {**p, "stage": "b", "task": "b", "metric": "exact_match", "value": 0.53, "at_least": 0.8,
                 "window": [50, 60], "best_window": 0.53, "best_before": 0.5, "best_before_step": 40,
                 "policy": "reinstate", "action": "reinstate", "reinstated": "a", "tasks": ["a"], "weight": 0.3,
                 "until_step": 90, "effective_from_step": 62}
    assert p["improvement"] == pytest.approx(0.03) and p["threshold"] == pytest.approx(2 * 2 ** 0.5 * SE)
    assert log[2] == {"event": "reinstate-end", "step": 90, "reinstated": "a", "since": 60,
                      "why": "its steps are done", "effective_from_step": 92}
    assert weights[50] == {"b": 1.0} and weights[60] == {"b": pytest.approx(0.7), "a": pytest.approx(0.3)}
    assert weights[80] == weights[60] and weights[90] == {"b": 1.0}
    assert log[3]["window"] == [100, 110] and log[3]["best_before"] == 0.53  # 0.6, 0.1 and 0.54 were not judged
    assert c.stage == 1


def test_a_milestone_that_keeps_improving_is_left_alone():
    """b gains 0.07 an evaluation (more than 0.057): no plateau, b reaches 0.8 and advances."""
    c = curriculum(two_stages(), plateau={"patience": 2, "steps": 30})
    log, _ = play(c, b_script([0.2 + 0.07 * i for i in range(10)]))
    assert [(r["event"], r["step"], r["reason"]) for r in log] == [("stage", 10, "milestone"),
                                                                   ("stage", 110, "milestone")]


def test_the_first_stage_has_nothing_to_reinstate():
    c = curriculum(two_stages(), plateau={"patience": 1, "steps": 30})
    log, _ = play(c, {10: {"a": 0.5, "b": 0, "c": 0}, 20: {"a": 0.5, "b": 0, "c": 0}})
    assert [(r["event"], r["action"], r["why"]) for r in log] == [("plateau", "none", "no earlier stage to reinstate")]


def test_stop_ends_a_stuck_stage_then_the_run_when_every_milestone_holds_and_nothing_improves():
    """policy stop: b plateaus at 0.47, below its 0.5 (step 50): the next stage, c (the last, no
    milestone), starts. c's score stops improving at 90 while a's milestone fails (0.7): nothing
    is done; at 110 every milestone holds again (a 0.9, b 0.6) and c is still flat: the run ends."""
    stages = two_stages(b_milestone=0.5)
    c = curriculum(stages, plateau={"patience": 2, "policy": "stop"})
    script = {10: {"a": 0.9, "b": 0.0, "c": 0.0}, 20: {"a": 0.9, "b": 0.2, "c": 0.0},
              30: {"a": 0.9, "b": 0.45, "c": 0.0}, 40: {"a": 0.9, "b": 0.46, "c": 0.0},
              50: {"a": 0.9, "b": 0.47, "c": 0.0},  # plateau below 0.5: b ends
              60: {"a": 0.9, "b": 0.6, "c": 0.3}, 70: {"a": 0.9, "b": 0.6, "c": 0.5},
              80: {"a": 0.7, "b": 0.6, "c": 0.51}, 90: {"a": 0.7, "b": 0.6, "c": 0.52},  # c flat, a fails
              100: {"a": 0.9, "b": 0.6, "c": 0.52}, 110: {"a": 0.9, "b": 0.6, "c": 0.53}}  # c flat, all hold
    log, _ = play(c, script)
    assert [(r["event"], r["step"], r.get("action") or r.get("reason")) for r in log] == [
        ("stage", 10, "milestone"), ("plateau", 50, "next stage"), ("stage", 50, "plateau"),
        ("plateau", 90, "none"), ("plateau", 110, "stop"),
        ("stop", 110, "every milestone holds and nothing improves")]
    assert log[3]["why"] == "milestones that do not hold: a (a 0.7 < 0.8)"
    assert log[4] == {**log[4], "stage": "c", "task": "c", "at_least": None, "window": [100, 110],
                      "best_before": 0.52}
    assert c.stopped == {"step": 110, "reason": "every milestone holds and nothing improves"} and c.stage == 2


def test_stop_in_the_last_stage_below_its_milestone_ends_the_run():
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 1000, "advance_when": {"task": "a", "at_least": 0.8}}]
    c = curriculum(stages, plateau={"patience": 1, "policy": "stop"})
    log, _ = play(c, {10: {"a": 0.5}, 20: {"a": 0.51}})
    assert [(r["event"], r.get("action")) for r in log] == [("plateau", "stop"), ("stop", None)]
    assert c.stopped == {"step": 20, "reason": "the last stage's milestone plateaued below its threshold"}


def test_a_reinstatement_under_way_when_the_run_ends_is_closed_with_it():
    """The run ends at step 70, inside the window the plateau at 60 opened (until 90): the end
    closes it, with no effective step (nothing follows), and only once."""
    c = curriculum(two_stages(), plateau={"patience": 2, "steps": 30})
    script = b_script([0.2, 0.4, 0.5, 0.52, 0.53, 0.6])
    play(c, script)
    assert c.reinstated == {"stage": 0, "since": 60, "until": 90}
    assert c.on_end(70, scores(se=SE, a=0.9, b=0.6, c=0.0)) == [
        {"event": "reinstate-end", "step": 70, "reinstated": "a", "since": 60, "why": "the run ended"}]
    assert c.reinstated is None and c.on_end(70, None) == []


def test_the_state_round_trips_mid_reinstatement():
    script = b_script([0.2, 0.4, 0.5, 0.52, 0.53, 0.6, 0.1, 0.54, 0.55, 0.56])
    c = curriculum(two_stages(), plateau={"patience": 2, "steps": 30})
    steps = list(script)
    first, _ = play(c, {s: script[s] for s in steps[:7]})  # to step 70, inside the window
    state = json.loads(json.dumps(c.state_dict()))
    assert state["plateau"]["reinstated"] == {"stage": 0, "since": 60, "until": 90}
    resumed = curriculum(two_stages(), plateau={"patience": 2, "steps": 30})
    resumed.load_state_dict(state)
    rest = {s: script[s] for s in steps[7:]}
    assert play(resumed, rest) == play(c, rest)
    assert "plateau" not in curriculum(two_stages()).state_dict()  # off: the state is as before


@pytest.mark.parametrize("curriculum, message", [
    ({"plateau": {}}, "ft: curriculum.plateau: policy: reinstate needs steps (how long the earlier stage's tasks "
                      "come back)"),
    ({"plateau": {"policy": "stop", "steps": 10}}, "ft: curriculum.plateau: steps: only policy: reinstate reads it "
                                                   "(policy is stop)"),
    ({"plateau": {"steps": 10, "weight": 0.5}, "review": {"kind": "replay", "fraction": 0.5}},
     "ft: curriculum: plateau.weight: review.fraction + revisit_when.weight + plateau.weight must be < 1 (the stage's "
     "own tasks need a share)"),
    ({"plateau": {"steps": 10, "patience": 0}}, "ft: curriculum.plateau.patience: Input should be greater than or "
                                                "equal to 1"),
])
def test_plateau_config_errors_are_one_line(curriculum, message):
    from curricle.config import parse_model
    from curricle.finetune.config import FinetuneConfig
    from tests.finetune.test_config import config

    with pytest.raises(CurricleError) as err:
        parse_model(config(**curriculum), FinetuneConfig, "ft")
    assert str(err.value) == message
    assert parse_model(config(), FinetuneConfig, "ft").curriculum.plateau is None  # off by default


# -- in curricle finetune, on the tiny checkpoint -----------------------------------------------

#: Every evaluation is a plateau once there is one before it (scores are in [0, 1]).
ALWAYS = {"patience": 1, "min_delta": 2.0}


def _rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_finetune_stops_early_when_every_milestone_holds_and_stays_stopped_on_resume(tmp_path, checkpoint):
    """Both milestones hold from the start (at least 0): components advances at the first
    evaluation (step 2), composite is on a plateau at its second (step 6): the run ends there,
    checkpointed, instead of at step 12; resumed, it trains nothing more."""
    from curricle.config import parse_model
    from curricle.finetune.command import finetune_run
    from curricle.finetune.config import FinetuneConfig
    from tests.finetune.conftest import finetune_config

    cfg = finetune_config(checkpoint, steps=12, plateau={**ALWAYS, "policy": "stop"})
    for stage in cfg["curriculum"]["stages"]:
        stage["advance_when"] = {"metric": "exact_match", "at_least": 0.0}
    config = parse_model(cfg, FinetuneConfig, "ft")
    run = tmp_path / "run"
    result = finetune_run(config, run)
    assert result["final"]["step"] == 6 and result["final"]["stage"] == "composite"
    assert sum(result["final"]["served"].values()) == 6 * 4  # 4 examples a step, the 7th drawn ahead not counted
    log = _rows(run / "curriculum_log.jsonl")
    assert [(e["event"], e["step"]) for e in log] == [("start", 0), ("stage", 2), ("milestone", 4), ("plateau", 6),
                                                       ("stop", 6)]
    assert log[3]["action"] == "stop" and log[4]["reason"] == "every milestone holds and nothing improves"
    assert [m["step"] for m in _rows(run / "metrics.jsonl") if "eval/mean" in m] == [0, 2, 4, 6]
    assert (run / "checkpoints" / "checkpoint-6" / "curricle_curriculum.json").is_file()
    metrics = (run / "metrics.jsonl").read_text()
    again = finetune_run(config, run, resume=True)
    assert again["final"]["step"] == 6 and (run / "metrics.jsonl").read_text() == metrics
    assert _rows(run / "curriculum_log.jsonl") == log


@pytest.mark.slow
def test_a_killed_finetune_run_resumes_its_reinstatement_exactly(tmp_path, checkpoint):
    """components runs to its max_steps (4); composite's milestone (at least 2) never holds, so
    it plateaus at step 8 (its second evaluation) and at 14: components' tasks get 0.5 of the
    examples for steps 10-12 and from 16 (decided at 8 and 14, effective two steps on). Killed
    at its step-8 checkpoint, just after the first decision, the resumed run draws the same
    examples, logs the same decisions and the same losses."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from tests.finetune.conftest import finetune_config

    cfg = finetune_config(checkpoint, steps=16, plateau={**ALWAYS, "steps": 4, "weight": 0.5})
    cfg["curriculum"]["stages"][0]["max_steps"] = 4
    cfg["curriculum"]["stages"][1]["advance_when"] = {"metric": "exact_match", "at_least": 2.0}
    cfg["train"].update(trace=True, checkpoint={"every": 4}, max_steps=16)
    config = tmp_path / "ft.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}

    def cli(run, *extra):
        return [sys.executable, "-m", "curricle.cli", "finetune", str(config), "--run-dir", str(run), *extra]

    subprocess.run(cli(tmp_path / "full"), env=env, check=True, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(cli(run), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (run / "checkpoints" / "checkpoint-8" / "curricle_curriculum.json").is_file():
        assert proc.poll() is None, "the run ended before its step-8 checkpoint"
        assert time.time() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = subprocess.run(cli(run, "--resume"), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    full = tmp_path / "full"
    log = _rows(full / "curriculum_log.jsonl")
    assert [(e["event"], e["step"]) for e in log] == [("start", 0), ("stage", 4), ("plateau", 8),
                                                       ("reinstate-end", 12), ("plateau", 14), ("reinstate-end", 16)]
    assert log[-1]["why"] == "the run ended"  # the reinstatement decided at 14 (until 18) closes with the run
    assert (log[2]["action"], log[2]["tasks"], log[2]["until_step"]) == ("reinstate", ["reverse", "uppercase"], 12)
    assert _rows(run / "curriculum_log.jsonl") == log
    assert _rows(run / "trace/examples.jsonl") == _rows(full / "trace/examples.jsonl")
    weights = {m["step"]: m for m in _rows(full / "metrics.jsonl") if "eval/mean" in m}
    assert weights[8]["weight/reverse"] == 0.25 and weights[8]["weight/rev-upper"] == 0.5
    assert "weight/reverse" not in weights[12] and weights[12]["weight/rev-upper"] == 1.0
    a, b = _rows(full / "metrics.jsonl"), _rows(run / "metrics.jsonl")
    assert [m["step"] for m in a] == [m["step"] for m in b]
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            want = x[k] if isinstance(x[k], str) else pytest.approx(x[k], rel=1e-5, abs=1e-6)
            assert y[k] == want, (x["step"], k)
