import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from curricle.controllers.ado import ado_objective, clip_min_probability, fit_scaling_law
from curricle.controllers.base import ControllerContext, DomainStats, apply_floor, limit_change
from curricle.controllers.config import CONTROLLERS, ADOConfig, DoReMiConfig, ODMConfig
from curricle.controllers.odm import smoothed_mean_update

DOMAINS = ["a", "b", "c"]
NATURAL = {"a": 1000, "b": 1000, "c": 1000}
# A DoReMi proxy's context: a fixed mixture and a reference (never built by these tests).
DOREMI_CONTEXT = ControllerContext(DOMAINS, NATURAL, fixed_mixture=np.full(3, 1 / 3), reference=Path("x"),
                                   build_model=lambda path: None)


def stats(step, loss, weights, tokens=None):
    return DomainStats(step=step, train_loss=np.asarray(loss, dtype=float),
                       tokens=np.asarray(tokens if tokens is not None else [step * 100.0] * 3),
                       weights=np.asarray(weights, dtype=float))


def run(controller, losses_at, steps, start=(1 / 3, 1 / 3, 1 / 3), tokens_at=None):
    """Feed ``steps`` steps; apply every returned update; return weights and audit entries."""
    w = np.array(start)
    log = []
    for step in range(1, steps + 1):
        out = controller.update(step, stats(step, losses_at(step), w, tokens_at(step) if tokens_at else None))
        if out is not None:
            w, entry = out
            log.append(entry)
    return w, log


def test_doremi_step_is_the_releases_formula_on_literal_inputs():
    c = CONTROLLERS.build(DoReMiConfig(reference={"run": "x"}), DOREMI_CONTEXT)
    # Step 1: excess sums 3.0 over 10 tokens of a, none of b, 1.0 over 5 tokens of c.
    alpha = c.step(np.array([3.0, 0.0, 1.0]), np.array([10, 0, 5]))
    z = [math.exp(0.3), math.exp(0.0), math.exp(0.2)]  # from alpha_0 = 1/3 each: softmax(lambda)
    expected = [0.999 * v / sum(z) + 0.001 / 3 for v in z]
    assert alpha.tolist() == pytest.approx(expected, abs=1e-12)
    # Step 2: only b is present; a and c keep their lambda (0.3, 0.2), b's is 2.0.
    alpha2 = c.step(np.array([0.0, 4.0, 0.0]), np.array([0, 2, 0]))
    z2 = [e * math.exp(s) for e, s in zip(expected, [0.3, 2.0, 0.2])]
    assert alpha2.tolist() == pytest.approx([0.999 * v / sum(z2) + 0.001 / 3 for v in z2], abs=1e-12)
    assert c.scores.tolist() == pytest.approx([0.3, 2.0, 0.2])
    # The product: the mean of the weights of every step.
    assert c.average.tolist() == pytest.approx([(a + b) / 2 for a, b in zip(expected, alpha2)], abs=1e-12)


class _FixedReference(torch.nn.Module):
    """A reference whose per-token losses are given (the hook's arithmetic is under test)."""

    def __init__(self, losses):
        super().__init__()
        self.losses = torch.tensor(losses)
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.losses.mean(), self.losses


def _doremi_proxy_hook():
    """DoReMi on three domains (a, b and c absent), its proxy hook against a fixed reference,
    a one-process training state whose logged lines land in ``lines``, and a batch of a and b."""
    from types import SimpleNamespace

    from curricle.controllers.hook import DoReMiProxyHook
    from curricle.train.distributed import DistInfo

    c = CONTROLLERS.build(DoReMiConfig(reference={"run": "x"}, smoothing=0.0), DOREMI_CONTEXT)
    hook = DoReMiProxyHook(c, _FixedReference([[1.0, 2.0], [2.0, 1.0]]), np.array([0.5, 0.25, 0.25]), "ref")
    lines = []
    state = SimpleNamespace(domains=DOMAINS, dist=DistInfo(rank=0, world_size=1, local_rank=0,
                                                           device=torch.device("cpu")), autocast=None,
                            append_log=lambda name, line: lines.append(line))
    batch = SimpleNamespace(tokens=torch.zeros(2, 3, dtype=torch.long), domain_ids=torch.tensor([0, 1]))
    return c, hook, state, batch, lines


def test_doremi_proxy_clips_excess_per_token_and_weighs_the_loss_by_alpha_over_pi():
    c, hook, state, batch, lines = _doremi_proxy_hook()
    hook.on_step_start(state, batch)
    proxy = torch.tensor([[3.0, 1.0], [2.0, 2.0]])
    w = hook.token_weights(state, batch, slice(0, 2), True, proxy)
    assert c.updates == 0  # applied at the step's end, once the guard let the step through
    hook.on_step_end(state, batch, {"step": 1})
    # a: max(3-1, 0), max(1-2, 0) -> mean 1.0 (clipping after averaging would give 0.5);
    # b: max(2-2, 0), max(2-1, 0) -> 0.5; c absent -> 0.
    assert c.scores.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert c.updates == 1 and [line["step"] for line in lines] == [1]
    z = np.exp([1.0, 0.5, 0.0])
    assert c.alpha.tolist() == pytest.approx((z / z.sum()).tolist())
    ratio = c.alpha / np.array([0.5, 0.25, 0.25])  # alpha / pi, normalized over the tokens
    expected = np.array([[ratio[0]] * 2, [ratio[1]] * 2]) / (2 * ratio[0] + 2 * ratio[1])
    assert w.numpy() == pytest.approx(expected.astype(np.float32))
    assert float(w.sum()) == pytest.approx(1.0)


def test_a_step_the_guard_skipped_leaves_doremis_weights_as_they_were():
    c, hook, state, batch, lines = _doremi_proxy_hook()
    # A spike: excess 99 on a's tokens (the guard skips the step after the weights were computed).
    hook.on_step_start(state, batch)
    hook.token_weights(state, batch, slice(0, 2), True, torch.tensor([[100.0, 101.0], [2.0, 1.0]]))
    metrics = {"step": 1, "skipped": "spike"}
    hook.on_step_end(state, batch, metrics)
    assert c.updates == 0 and lines == [] and metrics == {"step": 1, "skipped": "spike"}
    assert c.alpha.tolist() == [1 / 3] * 3 and c.scores.tolist() == [0.0] * 3 and c.average.tolist() == [0.0] * 3
    # The next step is the first update, from its own excess alone: a 1.0, b 0.0, c absent.
    hook.on_step_start(state, batch)
    hook.token_weights(state, batch, slice(0, 2), True, torch.tensor([[3.0, 1.0], [2.0, 1.0]]))
    hook.on_step_end(state, batch, {"step": 2})
    z = np.exp([1.0, 0.0, 0.0])
    assert c.updates == 1 and [line["step"] for line in lines] == [2]
    assert c.alpha.tolist() == pytest.approx((z / z.sum()).tolist(), abs=1e-12)
    assert c.average.tolist() == pytest.approx((z / z.sum()).tolist(), abs=1e-12)


def test_a_step_the_guard_skipped_moves_no_step_driven_controller():
    for cfg in (ODMConfig(), ADOConfig(warmup_steps=2, refit_every=1, fit_stride=1, savgol_window=3)):
        c = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
        run(c, lambda s: [2.0 / s, 3.0 / s, 4.0 / s], 4)
        before = c.state_dict()
        skipped = DomainStats(step=5, train_loss=np.full(3, np.nan), tokens=np.full(3, 500.0),
                              weights=np.full(3, 1 / 3), skipped=True)
        assert c.update(5, skipped) is None, cfg.kind
        after = c.state_dict()
        if cfg.kind == "ado":  # what it keeps of the step: its tokens trained nothing
            assert after.pop("untrained_tokens") == 1500 - 1200 and before.pop("untrained_tokens") == 0
        assert json.dumps(after) == json.dumps(before), cfg.kind
    # ADO's history holds the four steps it trained on, not a fifth copied from step 4.
    assert c.n == [300 / 1024, 600 / 1024, 900 / 1024, 1200 / 1024] and len(c.losses) == 4


def test_ados_token_count_leaves_out_what_trained_nothing():
    # 300 tokens served a step; the guard skips step 3. ADO's x axis is the tokens trained, so
    # after step 4 it is where a run without step 3 is (900 tokens), and so is all it fits.
    cfg = ADOConfig(warmup_steps=2, refit_every=1, fit_stride=1, savgol_window=3)
    loss = {1: [4.0, 5.0, 6.0], 2: [3.0, 4.5, 5.0], 3: [np.nan] * 3, 4: [2.5, 4.2, 4.5], 5: [np.nan] * 3,
            6: [2.2, 4.0, 4.1]}

    def feed(c, steps):
        for step, served, skipped in steps:
            c.update(step, DomainStats(step=step, train_loss=np.array(loss[step]), tokens=np.full(3, served / 3),
                                       weights=np.full(3, 1 / 3), skipped=skipped))
        return c.state_dict()

    skipped, without = (CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL)) for _ in range(2))
    a = feed(skipped, [(1, 300, False), (2, 600, False), (3, 900, True), (4, 1200, False)])
    b = feed(without, [(1, 300, False), (2, 600, False), (4, 900, False)])
    assert skipped.n == [300 / 1024, 600 / 1024, 900 / 1024] and skipped.params is not None
    assert a.pop("untrained_tokens") == 300 and b.pop("untrained_tokens") == 0 and a == b
    # A rollback to the state after step 2 undoes steps 3 and 4: their tokens, and those of
    # step 5 (skipped, where the guard rolled back), trained nothing either.
    c = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
    at_2 = json.loads(json.dumps(feed(c, [(1, 300, False), (2, 600, False)])))
    feed(c, [(3, 900, False), (4, 1200, False)])
    c.load_state_dict(at_2)
    feed(c, [(5, 1500, True), (6, 1800, False)])
    assert c.n == [300 / 1024, 600 / 1024, 900 / 1024] and c.untrained_tokens == 900


def test_odm_is_the_smoothed_mean_update_on_literal_inputs():
    c = CONTROLLERS.build(ODMConfig(), ControllerContext(DOMAINS, NATURAL))
    rewards = np.zeros(3)
    # Step 1: exploration min(1/3, sqrt(log10(3) / 3)) = 1/3, so the weights are uniform.
    rewards, pi = smoothed_mean_update(rewards, np.array([1.0, 2.0, np.nan]), 0.9, 1)
    assert rewards.tolist() == pytest.approx([0.1 * math.e, 0.1 * math.e**2, 0.0])
    assert pi.tolist() == pytest.approx([1 / 3] * 3)
    # Step 100: eps = sqrt(log10(3) / 300); weights linear in the smoothed perplexities.
    rewards, pi = smoothed_mean_update(rewards, np.array([1.0, 2.0, 0.5]), 0.9, 100)
    r = [0.9 * 0.1 * math.e + 0.1 * math.e, 0.9 * 0.1 * math.e**2 + 0.1 * math.e**2, 0.1 * math.exp(0.5)]
    eps = math.sqrt(math.log10(3) / 300)
    assert rewards.tolist() == pytest.approx(r)
    assert pi.tolist() == pytest.approx([(1 - 3 * eps) * x / sum(r) + eps for x in r])
    # The controller is that update, every step, with nothing on top.
    w, log = run(c, lambda s: [1.0, 2.0, 0.5], 3)
    assert [e.step for e in log] == [2, 3]  # step 1 stays uniform (no change, no entry)
    rr = np.zeros(3)
    for step in (1, 2, 3):
        rr, expected = smoothed_mean_update(rr, np.array([1.0, 2.0, 0.5]), 0.9, step)
    assert w.tolist() == pytest.approx(expected.tolist())
    assert log[-1].reason.startswith("smoothed mean: highest smoothed perplexity 'b'")


def test_ado_fit_recovers_a_law_and_keeps_its_bounds():
    n = np.geomspace(1.0, 1e4, 40)
    a, e, alpha = fit_scaling_law(n, np.exp(0.7) + np.exp(2.0) * n ** -0.3)
    assert (a, e, alpha) == pytest.approx((2.0, 0.7, 0.3), abs=0.02)
    # Steeper than ADO's bound (alpha <= 0.8) and with an irreducible loss below exp(0.5):
    # the soft bounds hold the fit at their edges.
    _, e2, alpha2 = fit_scaling_law(n, np.exp(0.2) + np.exp(1.0) * n ** -1.2)
    assert alpha2 <= 0.8 + 1e-3 and e2 >= 0.5 - 1e-3
    # At the true law the Huber term is 0; the release's "alpha >= 0" term, -min(alpha, 0.001),
    # is -0.001 for any alpha above 0.001.
    assert ado_objective(np.array([2.0, 0.7, 0.3]), n, np.exp(0.7) + np.exp(2.0) * n ** -0.3) == pytest.approx(-0.001)


def test_ado_min_probability_and_policy_on_literal_inputs():
    assert clip_min_probability(np.array([0.995, 0.005, 0.0]), 0.01).tolist() == pytest.approx(
        [0.995 / 1.015, 0.01 / 1.015, 0.01 / 1.015])
    c = CONTROLLERS.build(ADOConfig(), ControllerContext(DOMAINS, {"a": 2000, "b": 1000, "c": 1000}))
    c.params = np.array([[1.0, 0.6, 0.5], [1.0, 0.6, 0.01], [2.0, 0.7, 0.3]])
    c.n = [100.0]
    c.history = np.array([0.5, 0.25, 0.25])
    p = c.policy(step=9)
    mu = np.array([0.5, 0.25, 0.25])
    slope = np.array([0.5 * math.exp(1.0) * 100 ** -0.5, 0.05 * math.exp(1.0) * 100 ** -0.01,
                      0.3 * math.exp(2.0) * 100 ** -0.3]) / 100  # b's exponent floored at 0.05
    raw = slope * mu * np.sqrt(mu * (1 - mu))
    dist = clip_min_probability(raw / raw.sum(), 0.01)
    assert p.tolist() == pytest.approx((0.9 * mu + 0.1 * dist).tolist())
    assert c.p_avg.tolist() == pytest.approx((0.9 * mu + 0.1 * dist).tolist())  # 1 - 1/(9+1) = 0.9


def test_ado_waits_for_its_start_step_and_leaves_the_warmup_out_of_the_fit():
    c = CONTROLLERS.build(ADOConfig(warmup_steps=40, refit_every=10, fit_stride=1, savgol_window=5),
                          ControllerContext(DOMAINS, NATURAL))
    c.set_lr_warmup(10)

    def curves(step):
        n = step * 300 / 1024
        return [math.exp(0.6) + 3 * n ** -0.5, math.exp(0.6) + 0.1 * n ** -0.1, math.exp(0.6) + 1 * n ** -0.3]

    w, log = run(c, curves, 60)
    assert log[0].step == 40 and all(e.step >= 40 for e in log)
    assert np.argmax(w) == 0 and log[-1].reason.startswith("ADO: most predicted progress 'a'")
    assert c.fit() is not None and len(c.n) == 60


def test_ado_leaves_a_nan_first_step_out_of_its_fits():
    def curves(step):
        n = step * 300 / 1024
        return [math.exp(0.6) + 3 * n ** -0.5, math.exp(0.6) + 0.1 * n ** -0.1, math.exp(0.6) + 1 * n ** -0.3]

    cfg = ADOConfig(warmup_steps=40, refit_every=10, fit_stride=1, ignore_steps=0)  # savgol_window 101
    c = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
    w, log = run(c, lambda s: [np.nan] * 3 if s == 1 else curves(s), 60)
    assert c.state_dict()["losses"][0] == [None, None, None] and len(c.n) == 60
    # The fit is the one of the history without step 1 (before the fix: NaN, so no law ever).
    twin = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
    for step in range(2, 61):
        twin.signal(stats(step, curves(step), [1 / 3] * 3))
    assert np.array_equal(c.fit(), twin.fit()) and np.isfinite(c.fit()).all()
    assert log[0].step == 40 and log[-1].reason.startswith("ADO: most predicted progress 'a'")
    # A domain without a value yet takes the first finite step's mean; later NaNs repeat the last value.
    c2 = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
    for step, loss in enumerate([[np.nan] * 3, [2.0, np.nan, 4.0], [np.inf, 1.0, np.nan]], start=1):
        c2.signal(stats(step, loss, [1 / 3] * 3))
    assert c2.state_dict()["losses"] == [[None, None, None], [2.0, 3.0, 4.0], [2.0, 1.0, 4.0]]


def test_the_lr_warmup_reaches_ado_alone():
    """The training command tells every controller the warm-up; ADO leaves it out of its fits
    unless its config says how many steps to leave out, and the others ignore it."""
    ado = CONTROLLERS.build(ADOConfig(), ControllerContext(DOMAINS, NATURAL))
    ado.set_lr_warmup(25)
    assert ado.ignore_steps == 25
    fixed = CONTROLLERS.build(ADOConfig(ignore_steps=3), ControllerContext(DOMAINS, NATURAL))
    fixed.set_lr_warmup(25)
    assert fixed.ignore_steps == 3
    odm = CONTROLLERS.build(ODMConfig(), ControllerContext(DOMAINS, NATURAL))
    before = odm.state_dict()
    odm.set_lr_warmup(25)
    assert odm.state_dict() == before


def test_schedule_controller_never_overrides():
    c = CONTROLLERS.build(CONTROLLERS.configs["schedule"](), ControllerContext(DOMAINS, NATURAL))
    _, log = run(c, lambda s: [1.0, 5.0, 2.0], 100)
    assert log == []


def test_warmup_interval_floor_and_max_change_are_respected():
    cfg = ODMConfig(warmup_steps=20, update_every=5, min_weight=0.1, max_change=0.05)
    c = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
    w, log = run(c, lambda s: [0.0, 9.0, 0.0], 60)
    assert [e.step for e in log] == list(range(20, 61, 5))
    for e in log:
        old, new = np.array(e.old), np.array(e.new)
        assert np.max(np.abs(new - old)) <= 0.05 + 1e-12
        assert new.min() >= 0.1 - 1e-12 and abs(new.sum() - 1) < 1e-12
    # Nine updates, each capped at 0.05 for the domain that gains: the cap is what binds.
    assert w[1] == pytest.approx(1 / 3 + 9 * 0.05) and w[0] == pytest.approx(1 / 3 - 9 * 0.025) == w[2]
    w, _ = run(c, lambda s: [0.0, 9.0, 0.0], 40, start=w)
    assert w.min() == pytest.approx(0.1) and w[1] == pytest.approx(0.8)  # then the floor binds


def test_ema_smooths_the_signal_and_keeps_absent_domains():
    c = CONTROLLERS.build(CONTROLLERS.configs["schedule"](ema=0.5), ControllerContext(DOMAINS, NATURAL))
    c.update(1, stats(1, [2.0, np.nan, 4.0], [1 / 3] * 3))
    c.update(2, stats(2, [4.0, 1.0, np.nan], [1 / 3] * 3))
    assert c.smoothed.tolist() == [3.0, 1.0, 4.0]


def test_odm_moves_only_the_rewards_of_the_domains_a_step_sampled():
    c = CONTROLLERS.build(ODMConfig(), ControllerContext(DOMAINS, NATURAL))
    c.update(1, stats(1, [1.0, 2.0, 0.5], [1 / 3] * 3))
    c.update(2, stats(2, [1.0, np.nan, 0.5], [1 / 3] * 3))  # b: no rows this step
    c.update(3, stats(3, [1.0, np.nan, 0.5], [1 / 3] * 3))
    assert c.rewards[1] == pytest.approx(0.1 * math.e**2)  # as after step 1: not moved on its old loss
    assert c.rewards[0] == pytest.approx(0.1 * math.e * (1 + 0.9 + 0.81))


def test_a_non_finite_excess_loss_leaves_doremis_weights_finite():
    c = CONTROLLERS.build(DoReMiConfig(reference={"run": "x"}), DOREMI_CONTEXT)
    first = c.step(np.array([3.0, 1.0, 1.0]), np.array([10, 10, 10])).copy()
    second = c.step(np.array([np.nan, 1.0, np.inf]), np.array([10, 10, 10]))  # a bad proxy step
    assert np.isfinite(second).all() and c.scores.tolist() == pytest.approx([0.3, 0.1, 0.1])
    z = [f * math.exp(v) for f, v in zip(first, [0.3, 0.1, 0.1])]  # a and c keep their scores
    assert second.tolist() == pytest.approx([0.999 * v / sum(z) + 0.001 / 3 for v in z], abs=1e-12)


def test_ado_refuses_an_ema_it_would_ignore():
    assert ADOConfig().ema == 0.0
    with pytest.raises(ValueError, match="ema: ado fits its scaling laws to the raw per-step losses"):
        ADOConfig(ema=0.9)


def test_odm_exploration_decays_with_steps_not_updates():
    c = CONTROLLERS.build(ODMConfig(update_every=10, warmup_steps=100), ControllerContext(DOMAINS, NATURAL))
    w, log = run(c, lambda s: [1.0, 4.0, 1.0], 100)
    # The first update is at step 100: exploration is already sqrt(log10 3 / 300), not the
    # 1/3 (uniform) a first update would get if t counted updates.
    assert [e.step for e in log] == [100] and w[1] > w[0] == pytest.approx(w[2])
    assert "exploration 0.040" in log[0].reason


def test_apply_floor_and_limit_change():
    assert np.allclose(apply_floor(np.array([0.0, 0.5, 0.5]), 0.1), [0.1, 0.45, 0.45])
    assert np.allclose(apply_floor(np.array([0.0, 0.0, 1.0]), 0.2), [0.2, 0.2, 0.6])
    moved = limit_change(np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0.1)
    assert np.allclose(moved, [0.6, 0.4])


def test_no_weight_moves_more_than_max_change_even_from_below_the_floor():
    c = CONTROLLERS.build(ODMConfig(max_change=0.01, min_weight=0.2, warmup_steps=0, update_every=1), ControllerContext(DOMAINS, NATURAL))
    w = np.array([0.0, 0.0, 1.0])  # a schedule's zeros, below the floor
    for step in range(1, 40):
        out = c.update(step, stats(step, [1.0, 4.0, 1.0], w))
        if out is not None:
            new, entry = out
            assert np.max(np.abs(new - w)) == pytest.approx(0.01)  # far from the target: the cap, exactly
            assert new.sum() == pytest.approx(1.0) and new[0] > w[0] and new[1] > w[1]  # up toward the floor
            assert np.allclose(entry.old, w) and np.allclose(entry.new, new)
            w = new
    assert w[0] > 0.1 and w[1] > 0.2  # 39 capped updates later, both still on their way up


def test_state_round_trips_through_json():
    for kind, cfg in (("odm", ODMConfig()), ("ado", ADOConfig(warmup_steps=10, savgol_window=5, fit_stride=1))):
        c = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
        run(c, lambda s: [1 + 1 / s, 2 + 1 / s, 3.0], 30)
        twin = CONTROLLERS.build(cfg, ControllerContext(DOMAINS, NATURAL))
        twin.load_state_dict(json.loads(json.dumps(c.state_dict())))
        a = c.update(31, stats(31, [1.5, 2.5, 3.0], [0.3, 0.3, 0.4]))
        b = twin.update(31, stats(31, [1.5, 2.5, 3.0], [0.3, 0.3, 0.4]))
        assert a is not None and np.array_equal(a[0], b[0]), kind
    d = CONTROLLERS.build(DoReMiConfig(reference={"run": "x"}), DOREMI_CONTEXT)
    d.step(np.array([1.0, 2.0, 0.0]), np.array([4, 4, 0]))
    twin = CONTROLLERS.build(DoReMiConfig(reference={"run": "x"}), DOREMI_CONTEXT)
    twin.load_state_dict(json.loads(json.dumps(d.state_dict())))
    assert np.array_equal(d.step(np.ones(3), np.ones(3)), twin.step(np.ones(3), np.ones(3)))
