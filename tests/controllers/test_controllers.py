import json

import numpy as np
import pytest

from curricle.controllers.base import DomainStats, apply_floor, limit_change
from curricle.controllers.config import CONTROLLERS, DoReMiConfig, LearningProgressConfig, ODMConfig
from curricle.controllers.learning_progress import fit_power_law

DOMAINS = ["a", "b", "c"]
NATURAL = {"a": 1000, "b": 1000, "c": 1000}


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


def test_doremi_upweights_the_largest_excess_loss():
    c = CONTROLLERS.build(DoReMiConfig(reference={"run": "x"}, warmup_steps=0, update_every=1, max_change=1, min_weight=0),
                         DOMAINS, NATURAL)
    c.set_reference(np.array([2.0, 2.0, 2.0]))
    w, log = run(c, lambda s: [2.1, 3.0, 2.0], 5)
    assert np.argmax(w) == 1 and w[1] > w[0] > w[2]
    assert "largest excess loss over the reference: 'b'" in log[-1].reason


def test_doremi_steps_from_the_weights_in_use_so_a_domain_gives_weight_back():
    c = CONTROLLERS.build(DoReMiConfig(reference={"run": "x"}, warmup_steps=0, update_every=1, max_change=1,
                                      min_weight=0, ema=0), DOMAINS, NATURAL)
    c.set_reference(np.array([2.0, 2.0, 2.0]))
    w, _ = run(c, lambda s: [2.0, 3.0 if s <= 20 else 2.0, 2.0 if s <= 20 else 3.0], 30)
    # Twenty updates of one nat of excess on b, then ten on c. Each step starts from the
    # smoothed weights, so b's lead is at most log(K / smoothing) = 8 nats and c overtakes it;
    # a running sum of excess losses would still have b 10 nats ahead.
    assert w[2] > 0.8 and w[1] < 0.2


def test_odm_favours_domains_whose_loss_stays_high():
    c = CONTROLLERS.build(ODMConfig(max_change=1), DOMAINS, NATURAL)
    w, log = run(c, lambda s: [1.0, 4.0, 1.0], 200)
    # EXP3's rewards are importance-weighted (loss / pi), so the lead it gives is bounded.
    assert w[1] > 1 / 3 + 0.03 and w[0] == pytest.approx(w[2])
    assert log[-1].reason.startswith("EXP3: highest estimated reward 'b'")


def three_curves(step):
    """Losses at ``step`` (n: the run's tokens, 300 a step): a still falling steeply, b already
    flat, c falling slowly."""
    n = step * 300.0
    return [1.0 + 50 * n ** -0.5, 2.0 + 0.001 * n ** -0.1, 1.5 + 5 * n ** -0.3]


def test_learning_progress_favours_the_domain_still_improving():
    c = CONTROLLERS.build(LearningProgressConfig(warmup_steps=20, update_every=10, max_change=1, min_weight=0),
                         DOMAINS, NATURAL)
    w, log = run(c, three_curves, 60)
    assert np.argmax(w) == 0 and w[1] < w[2] < w[0]
    assert log[-1].reason.startswith("most predicted progress: 'a'")


def test_learning_progress_first_policy_mixes_the_preference_into_the_prior():
    # ADO: pi_1 = gamma2 * rho_1 + (1 - gamma2) * mu; pi_2 = gamma2 * rho_2 + (1 - gamma2) * mean(mu, rho_1).
    c = CONTROLLERS.build(LearningProgressConfig(warmup_steps=20, update_every=10, max_change=1, min_weight=0),
                         DOMAINS, NATURAL)
    mu = np.array([0.5, 0.25, 0.25])
    first, second = [], []
    for step in range(1, 31):
        out = c.update(step, stats(step, three_curves(step), mu))  # the weights in use stay at mu
        if out is not None:
            (first if not first else second).append((out[0], c.rho.copy()))
    (pi1, rho1), (pi2, rho2) = first[0], second[0]
    assert np.allclose(pi1, 0.1 * rho1 + 0.9 * mu) and np.allclose(pi2, 0.1 * rho2 + 0.9 * (mu + rho1) / 2)
    assert np.argmax(rho1) == 0 and rho1[1] < 1e-3


def test_learning_progress_credits_progress_by_how_much_was_sampled():
    # Identical loss curves: the preference follows mu * h ** s alone. mu is the first
    # weights seen, h their EMA (constant here), s = 0.5.
    w = np.array([0.6, 0.2, 0.2])
    c = CONTROLLERS.build(LearningProgressConfig(warmup_steps=20, update_every=10), DOMAINS, NATURAL)
    for step in range(1, 21):
        c.update(step, stats(step, [1.0 + 20 * (step * 300.0) ** -0.4] * 3, w))
    assert np.allclose(c.rho, w * w ** 0.5 / np.sum(w * w ** 0.5))
    flat = CONTROLLERS.build(LearningProgressConfig(warmup_steps=20, update_every=10, credit_power=0, prior="natural"),
                            DOMAINS, {"a": 1000, "b": 3000, "c": 1000})
    for step in range(1, 21):
        flat.update(step, stats(step, [1.0 + 20 * (step * 300.0) ** -0.4] * 3, w))
    assert np.allclose(flat.rho, [0.2, 0.6, 0.2])  # the natural shares, whatever was sampled


def test_power_law_fit_recovers_known_parameters():
    n = np.geomspace(1e3, 1e6, 40)
    e, b, a = fit_power_law(n, 1.5 + 30 * n ** -0.4, grid=200)
    assert abs(a - 0.4) < 0.05 and abs(e - 1.5) < 0.1


def test_schedule_controller_never_overrides():
    c = CONTROLLERS.build(CONTROLLERS.configs["schedule"](), DOMAINS, NATURAL)
    _, log = run(c, lambda s: [1.0, 5.0, 2.0], 100)
    assert log == []


def test_warmup_interval_floor_and_max_change_are_respected():
    cfg = DoReMiConfig(reference={"run": "x"}, warmup_steps=20, update_every=5, min_weight=0.1, max_change=0.05,
                       step_size=10.0)
    c = CONTROLLERS.build(cfg, DOMAINS, NATURAL)
    c.set_reference(np.zeros(3))
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
    c = CONTROLLERS.build(CONTROLLERS.configs["schedule"](ema=0.5), DOMAINS, NATURAL)
    c.update(1, stats(1, [2.0, np.nan, 4.0], [1 / 3] * 3))
    c.update(2, stats(2, [4.0, 1.0, np.nan], [1 / 3] * 3))
    assert c.smoothed.tolist() == [3.0, 1.0, 4.0]


def test_odm_exploration_decays_with_steps_not_updates():
    c = CONTROLLERS.build(ODMConfig(update_every=10, warmup_steps=100, max_change=1), DOMAINS, NATURAL)
    w, log = run(c, lambda s: [1.0, 4.0, 1.0], 100)
    # The first update is at step 100: exploration is already min(1/3, sqrt(ln 3 / 300)), not
    # the 1/3 (uniform) a first update would get if t counted updates.
    assert [e.step for e in log] == [100] and w[1] > w[0] == pytest.approx(w[2])
    assert "exploration 0.061" in log[0].reason


def test_apply_floor_and_limit_change():
    assert np.allclose(apply_floor(np.array([0.0, 0.5, 0.5]), 0.1), [0.1, 0.45, 0.45])
    assert np.allclose(apply_floor(np.array([0.0, 0.0, 1.0]), 0.2), [0.2, 0.2, 0.6])
    moved = limit_change(np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0.1)
    assert np.allclose(moved, [0.6, 0.4])


def test_no_weight_moves_more_than_max_change_even_from_below_the_floor():
    c = CONTROLLERS.build(ODMConfig(max_change=0.01, min_weight=0.2, warmup_steps=0, update_every=1), DOMAINS, NATURAL)
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
    for kind, cfg in (("odm", ODMConfig()), ("doremi", DoReMiConfig(reference={"run": "x"}, warmup_steps=0)),
                      ("learning-progress", LearningProgressConfig(warmup_steps=0, update_every=5))):
        c = CONTROLLERS.build(cfg, DOMAINS, NATURAL)
        if kind == "doremi":
            c.set_reference(np.ones(3))
        run(c, lambda s: [1 + 1 / s, 2 + 1 / s, 3.0], 30)
        twin = CONTROLLERS.build(cfg, DOMAINS, NATURAL)
        twin.load_state_dict(json.loads(json.dumps(c.state_dict())))
        a = c.update(31, stats(31, [1.5, 2.5, 3.0], [0.3, 0.3, 0.4]))
        b = twin.update(31, stats(31, [1.5, 2.5, 3.0], [0.3, 0.3, 0.4]))
        assert (a is None and b is None) or np.array_equal(a[0], b[0]), kind
