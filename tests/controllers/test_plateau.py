"""The plateau detector on literal and seeded series."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from curricle.controllers.plateau import PlateauDetector
from curricle.errors import CurricleError

SE = 0.01


def series(slope_se: float, seed: int, n: int = 20) -> list[tuple[int, float, float]]:
    """``n`` evaluations, every 100 steps, of a loss of 3.0 falling by ``slope_se`` standard
    errors an evaluation, with Gaussian noise of one standard error (``SE``)."""
    rng = np.random.default_rng(seed)
    return [(100 * (i + 1), 3.0 - slope_se * SE * i + float(rng.normal(0, SE)), SE) for i in range(n)]


def verdict_steps(points, **kw) -> list[int]:
    d = PlateauDetector(**kw)
    return [s for s, v, se in points if d.observe(s, v, se) is not None]


def test_the_verdict_on_literal_values_is_the_formula():
    d = PlateauDetector(patience=2, z=2.0)
    assert d.observe(10, 3.0, 0.1) is None and d.observe(20, 2.5, 0.1) is None  # no evaluation before a window
    # Window {20: 2.5, 30: 2.6} against the best before it, 3.0: 0.5 > 2 * sqrt(0.1**2 + 0.1**2) = 0.283.
    assert d.observe(30, 2.6, 0.1) is None
    # Window {30: 2.6, 40: 2.4} against 2.5 (step 20): 0.1 <= 0.283, a plateau.
    p = d.observe(40, 2.4, 0.1)
    assert p is not None and p.step == 40 and p.value == 2.4 and p.window == (30, 40)
    assert (p.best_window, p.best_before, p.best_before_step) == (2.4, 2.5, 20)
    assert p.improvement == pytest.approx(0.1) and p.threshold == pytest.approx(2 * math.hypot(0.1, 0.1))
    # Higher is better: an accuracy going down never improves.
    up = PlateauDetector(patience=1, z=1.0, higher_is_better=True)
    assert up.observe(1, 0.5, 0.05) is None
    assert up.observe(2, 0.7, 0.05) is None  # +0.2 > 0.0707
    p = up.observe(3, 0.6, 0.05)
    assert p is not None and p.improvement == pytest.approx(-0.1) and p.best_before == 0.7


def test_without_standard_errors_min_delta_alone_judges():
    d = PlateauDetector(patience=1, min_delta=0.05)
    assert [d.observe(s, v) for s, v in ((1, 1.0), (2, 0.9))] == [None, None]
    p = d.observe(3, 0.87)  # 0.03 below the best before, not more than 0.05
    assert p is not None and p.threshold == 0.05 and p.improvement == pytest.approx(0.03)
    assert d.observe(4, float("nan")) is None and d.window == [(3, 0.87, 0.0)]  # a missing value is skipped


def test_a_flat_noisy_series_plateaus_and_a_slowly_improving_one_does_not():
    """Seed 0: the flat series is judged a plateau at its first verdict (step 400, the 4th
    evaluation) and every one after; falling by 3 standard errors an evaluation (0.03 a time on
    a loss near 3, 1%), never. Over 200 seeds: every flat series plateaus, 189 at the first
    verdict and all by the 6th evaluation; no improving one ever does."""
    assert verdict_steps(series(0, 0)) == list(range(400, 2001, 100))
    assert verdict_steps(series(3, 0)) == []
    flat = [verdict_steps(series(0, seed)) for seed in range(200)]
    assert all(flat) and sum(f[0] == 400 for f in flat) == 189 and max(f[0] for f in flat) == 600
    assert [seed for seed in range(200) if verdict_steps(series(3, seed))] == []


def test_reset_needs_patience_new_evaluations_and_the_state_round_trips():
    points = series(0, 0)
    d = PlateauDetector()
    for s, v, se in points[:4]:
        last = d.observe(s, v, se)
    assert last is not None and last.step == 400
    d.reset()
    assert [d.observe(s, v, se) is None for s, v, se in points[4:6]] == [True, True]
    state = json.loads(json.dumps(d.state_dict()))
    again = PlateauDetector()
    again.load_state_dict(state)
    assert again.state_dict() == d.state_dict()
    a, b = d.observe(*points[6]), again.observe(*points[6])  # the third new evaluation: a verdict again
    assert a is not None and a == b and a.window == (500, 700)
    assert json.loads(json.dumps(d.state_dict())) == again.state_dict()
    assert again.last == a  # the latest verdict is state too
    restored = PlateauDetector()
    restored.load_state_dict(json.loads(json.dumps(again.state_dict())))
    assert restored.last == a


# -- pretraining: the run config's plateau block, and its hook on scripted evaluations ------------

SOURCES = [{"kind": "jsonl", "path": "a.jsonl", "domain": "a"}, {"kind": "jsonl", "path": "b.jsonl", "domain": "b"}]
PHASES = {"kind": "phases", "phases": [{"name": "warm", "steps": 5, "weights": {"a": 1}},
                                       {"name": "main", "weights": {"a": 1, "b": 1}}]}


def config_error(**sections) -> str:
    from curricle.config import parse_config

    with pytest.raises(CurricleError) as exc:
        parse_config({"sources": SOURCES, "mixture": {"schedule": PHASES}, **sections}, "run.yaml")
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_a_plateau_block_asking_for_what_the_run_lacks_is_refused_in_one_line():
    reinstate = {"phase": "warm", "steps": 10}
    assert config_error(plateau={"domains": ["c"], "reinstate": reinstate}) == (
        "run.yaml: plateau.domains: unknown domain 'c' (the sources declare: a, b)")
    assert config_error(plateau={"domains": [], "probes": ["copy"], "reinstate": reinstate}) == (
        "run.yaml: plateau.probes: probe scores are watched; set train.probe (with those tasks in train.probe.suite)")
    assert config_error(plateau={"probes": ["arithmetic@9"], "reinstate": reinstate},
                        train={"probe": {"suite": {"tasks": ["arithmetic"], "levels": {"arithmetic": [1, 3]}}}}) == (
        "run.yaml: plateau.probes: train.probe.suite has no task 'arithmetic@9' (its tasks: arithmetic@1, "
        "arithmetic@3)")
    assert config_error(plateau={"reinstate": {"phase": "warmup", "steps": 10}}) == (
        "run.yaml: plateau.reinstate.phase: no phase 'warmup' in mixture.schedule (phases: warm, main)")
    assert config_error(plateau={"reinstate": {"phase": "main", "steps": 10}}) == (
        "run.yaml: plateau.reinstate.phase: 'main' is the last phase of mixture.schedule; the run is never past it, "
        "so it is never easier material")
    assert config_error(plateau={"reinstate": {"pacing_start": True, "steps": 10}}) == (
        "run.yaml: plateau.reinstate.pacing_start: mixture.pacing paces no domain")
    assert config_error(plateau={"reinstate": {"steps": 10}}) == (
        "run.yaml: plateau.reinstate: name the easier material: 'phase' (an earlier phase of mixture.schedule) "
        "and/or 'pacing_start: true'")
    assert config_error(plateau={"policy": "reinstate"}) == (
        "run.yaml: plateau: policy: reinstate needs reinstate: {phase: <an earlier phase> and/or pacing_start: true, "
        "steps: N}")
    assert config_error(plateau={"policy": "stop", "reinstate": reinstate}) == (
        "run.yaml: plateau: reinstate: only policy: reinstate reads it (policy is stop)")
    assert config_error(plateau={"domains": [], "policy": "stop"}) == (
        "run.yaml: plateau: nothing to watch: give domains (held-out loss) and/or probes")
    assert config_error(plateau={"policy": "stop"}, prepare={"heldout_fraction": 0, "min_heldout_docs": 0}) == (
        "run.yaml: plateau.domains: held-out loss is watched, but prepare.heldout_fraction and "
        "prepare.min_heldout_docs are 0 (no held-out split); set plateau.domains: [] to watch probes only")


class Run:
    """A hook's view of a run without a model: a real sampler over a literal store, a
    TrainState writing events, and one optimizer step at a time."""

    def __init__(self, store, tmp_path, plateau: dict):
        import torch

        from curricle.controllers.config import PlateauConfig
        from curricle.controllers.plateau_hook import PlateauHook
        from curricle.mixture.config import MixtureConfig, PhasesConfig
        from curricle.mixture.sampler import MixtureSampler
        from curricle.train.distributed import DistInfo
        from curricle.train.hooks import TrainState

        self.sampler = MixtureSampler(store, MixtureConfig(batch_rows=4, seq_len=4,
                                                           schedule=PhasesConfig.model_validate(PHASES)))
        self.state = TrainState(run_dir=tmp_path, domains=self.sampler.domains, total_steps=1000,
                                dist=DistInfo(0, 1, 0, torch.device("cpu")), model=None, sampler=self.sampler)
        self.hook = PlateauHook(PlateauConfig.model_validate(plateau), self.sampler.domains)
        self.weights = []  # the weights each step drew with

    def step(self, eval_loss: dict[str, tuple[float, float]] | None = None, controller: list[float] | None = None,
             probes: dict[str, tuple[float, float]] | None = None):
        from curricle.controllers.base import ProbeSignal

        batch = self.sampler.next_batch()
        self.weights.append(batch.weights.tolist())
        self.state.step += 1
        metrics = {"step": self.state.step}
        if probes is not None:  # the probe hook's scores this step (every rank has them)
            self.state.probes = {t: ProbeSignal(task=t, skill=t.split("@")[0], family=None, level=None,
                                                level_index=None, metric="acc", score=v, stderr=se, chance=0.25,
                                                continuous="logprob", continuous_score=-1.0, continuous_stderr=0.1,
                                                step=self.state.step, n=64) for t, (v, se) in probes.items()}
            self.state.probes_step = self.state.step
        if eval_loss is not None:
            metrics["eval/loss"] = 0.0
            for d, (v, se) in eval_loss.items():
                metrics[f"eval/loss/{d}"], metrics[f"eval/loss_se/{d}"] = v, se
        if controller is not None:  # an adaptive controller's update this step (it runs before the hook)
            self.sampler.set_weights(np.asarray(controller))
            metrics["mixture_updated"] = True
        self.hook.on_step_end(self.state, batch, metrics)

    def events(self) -> list[dict]:
        path = self.state.run_dir / "events.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def ab_store(make_store):
    from curricle.store import TokenStore

    return TokenStore(make_store({"a": [[1, 2, 3]] * 20, "b": [[4, 5, 6, 7]] * 20}))


def test_a_plateau_reinstates_an_earlier_phase_then_returns_to_the_controllers_weights(ab_store, tmp_path):
    """Held-out loss of a every 10 steps (se 0.05, so an improvement must beat 0.141): 3.0, 2.5,
    then 2.45 at step 30, a plateau. Steps 31-45 draw with phase warm's mixture (a only), over a
    controller's update at step 40 that is held for the return; the evaluation at 40 is not
    judged. From step 46 the controller's weights; the next verdict needs one new evaluation."""
    run = Run(ab_store, tmp_path, {"domains": ["a"], "patience": 1, "reinstate": {"phase": "warm", "steps": 15}})
    losses = {10: 3.0, 20: 2.5, 30: 2.45, 40: 2.44, 50: 2.0, 60: 1.99}
    for s in range(1, 61):
        run.step({"a": (losses[s], 0.05)} if s in losses else None, controller=[0.3, 0.7] if s == 40 else None)
    half = [0.5, 0.5]
    assert run.weights[5:30] == [half] * 25 and run.weights[30:45] == [[1.0, 0.0]] * 15
    assert run.weights[45:60] == [[0.3, 0.7]] * 15
    events = run.events()
    assert [(e["step"], e["event"]) for e in events] == [(30, "plateau"), (45, "reinstate-end"), (60, "plateau")]
    p = events[0]
    assert p == {**p, "series": "eval/loss/a", "value": 2.45, "window": [30, 30], "best_before": 2.5,
                 "best_before_step": 20, "policy": "reinstate", "action": "reinstate", "phase": "warm",
                 "pacing_start": False, "until_step": 45}
    assert p["improvement"] == pytest.approx(0.05) and p["threshold"] == pytest.approx(2 * math.hypot(0.05, 0.05))
    assert events[1] == {"step": 45, "event": "reinstate-end", "since": 30, "phase": "warm", "pacing_start": False,
                         "returned_to": "controller weights", "controller_updates_held": 1}
    assert events[2]["window"] == [60, 60] and events[2]["best_before"] == 2.0
    # The state is JSON and round-trips mid-window.
    state = json.loads(json.dumps(run.hook.state_dict()))
    assert state["window"]["until"] == 75 and state["window"]["saved"] == [0.3, 0.7]
    again = Run(ab_store, tmp_path / "again", {"domains": ["a"], "patience": 1,
                                               "reinstate": {"phase": "warm", "steps": 15}})
    again.hook.load_state_dict(state)
    assert again.hook.state_dict() == state


def test_no_reinstatement_before_the_run_is_past_the_phase(ab_store, tmp_path):
    """A flat loss evaluated every step: judged a plateau at steps 2 to 5; phase warm is steps
    1-5, so only after step 5 (the next batch is main's) is it reinstated."""
    run = Run(ab_store, tmp_path, {"domains": ["a"], "patience": 1, "reinstate": {"phase": "warm", "steps": 15}})
    for _ in range(5):
        run.step({"a": (3.0, 0.05)})
    events = run.events()
    assert [(e["step"], e["action"], e.get("why")) for e in events] == [
        *[(s, "none", "the run is in phase 'warm', not past 'warm'") for s in (2, 3, 4)], (5, "reinstate", None)]
    assert run.sampler.weights_override.tolist() == [1.0, 0.0]


def test_stop_waits_for_every_watched_series(ab_store, tmp_path):
    run = Run(ab_store, tmp_path, {"patience": 1, "policy": "stop"})
    a = {10: 3.0, 20: 2.99, 30: 2.98, 40: 2.97}
    b = {10: 3.0, 20: 2.0, 30: 1.0, 40: 0.99}
    for s in range(1, 41):
        run.step({"a": (a[s], 0.05), "b": (b[s], 0.05)} if s in a else None)
    events = run.events()
    assert [(e["step"], e["event"], e.get("series"), e.get("action")) for e in events] == [
        (20, "plateau", "eval/loss/a", "none"), (40, "plateau", "eval/loss/b", "stop"),
        (40, "stop", ["eval/loss/a", "eval/loss/b"], None)]
    assert events[0]["why"] == "not on a plateau: eval/loss/b"
    assert events[2] == {"step": 40, "event": "stop", "reason": "plateau", "series": ["eval/loss/a", "eval/loss/b"]}
    assert run.state.stopped["step"] == 40


def test_probe_scores_are_watched_higher_being_better(ab_store, tmp_path):
    run = Run(ab_store, tmp_path, {"domains": [], "probes": ["copy@8"], "patience": 2, "policy": "stop"})
    acc = {10: 0.30, 20: 0.40, 30: 0.55, 40: 0.60, 50: 0.62}  # se 0.05: gains must beat 0.141
    for s in range(1, 51):
        run.step(probes={"copy@8": (acc[s], 0.05), "other": (0.0, 0.0)} if s in acc else None)
    events = run.events()
    # At 30 the window {20, 30} beats 0.30 by 0.25, at 40 {30, 40} beats 0.40 by 0.20; at 50 {40, 50}
    # beats 0.55 by only 0.07.
    assert [(e["step"], e["event"]) for e in events] == [(50, "plateau"), (50, "stop")]
    assert events[0] == {**events[0], "series": "probe/copy@8/acc", "best_window": 0.62, "best_before": 0.55,
                         "window": [40, 50]}
    missing = Run(ab_store, tmp_path / "m", {"domains": [], "probes": ["copy@2"], "policy": "stop"})
    with pytest.raises(CurricleError, match=r"^plateau.probes: the in-loop probes have no task 'copy@2' "
                                            r"\(they have: copy@8\)$"):
        missing.step(probes={"copy@8": (0.5, 0.05)})
    metric = Run(ab_store, tmp_path / "x", {"domains": [], "probes": ["copy@8"], "probe_metric": "prob",
                                            "policy": "stop"})
    with pytest.raises(CurricleError, match=r"^plateau.probe_metric: probe task copy@8 has no metric 'prob' "
                                            r"\(it has acc, logprob\)$"):
        metric.step(probes={"copy@8": (0.5, 0.05)})
