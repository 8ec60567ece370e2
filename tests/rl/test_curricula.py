"""Each prompt curriculum's choice and update on scripted pass rates and rewards equals its
formula; the sampler's layout and its two-step lag; resumable state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from curricle.errors import CurricleError
from curricle.rl.config import (
    CategoryBanditCurriculum,
    DynamicFilterCurriculum,
    GresoGate,
    LearnabilityCurriculum,
    LiloCurriculum,
    PassRateConfig,
    TargetDifficultyCurriculum,
    UniformCurriculum,
)
from curricle.rl.curricula import Prompt, build_policy, difficulty_scale, group_advantages, replacement_prompts
from curricle.rl.hf import PromptSampler

PROMPTS = [Prompt(row=r, task="t", difficulty=d, category=f"t/L{r % 2}") for r, d in
           enumerate(difficulty_scale([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))]


def policy(cfg, ema=0.5):
    return build_policy(cfg, PROMPTS, seed=0, pass_rate=PassRateConfig(ema=ema))


def test_difficulty_scale_and_advantages():
    assert difficulty_scale([5, 1, 1, 9]) == pytest.approx([200 / 3, 100 / 6, 100 / 6, 100.0])
    std = float(np.std([1, 0, 0, 1], ddof=1))  # TRL's group std is unbiased
    assert group_advantages([1.0, 0.0, 0.0, 1.0], "group") == pytest.approx(
        [0.5 / (std + 1e-4), -0.5 / (std + 1e-4), -0.5 / (std + 1e-4), 0.5 / (std + 1e-4)])
    assert group_advantages([1.0, None, 0.0], "none") == [0.5, 0.0, -0.5]
    assert group_advantages([1.0, 1.0], "group") == [0.0, 0.0] and group_advantages([None, None], "group") == [0, 0]


def test_pass_rates_are_an_ema_of_group_means():
    p = policy(UniformCurriculum(), ema=0.5)
    p.observe(0, [(3, [1.0, 0.0, 1.0, 1.0]), (4, [None, 0.0])])
    p.observe(1, [(3, [0.0, 0.0, 0.0, 0.0])])
    assert p.pass_rates.p == {3: 0.375, 4: 0.0} and p.pass_rates.n == {3: 2, 4: 1}


def test_uniform_walks_seeded_epochs():
    p = policy(UniformCurriculum())
    snap = p.snapshot()
    rows = [r for step in range(5) for r in p.choose(snap, step, 4)]
    assert sorted(rows[:10]) == list(range(10)) and sorted(rows[10:20]) == list(range(10))
    assert rows == [r for step in range(5) for r in p.choose({}, step, 4)]  # no state read


def test_learnability_weights_are_p_times_one_minus_p():
    p = policy(LearnabilityCurriculum(floor=0.0, stale_after=10_000), ema=1.0)
    p.observe(0, [(0, [1.0, 1.0]), (1, [0.0, 0.0]), (2, [1.0, 0.0]), (3, [1.0, 1.0, 1.0, 0.0])])
    w = p.weights(p.snapshot())
    assert w.tolist() == [0.0, 0.0, 0.25, 0.1875, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]  # unseen: 0.5 -> 0.25
    chosen = [r for step in range(200) for r in p.choose(p.snapshot(), step, 3)]
    assert 0 not in chosen and 1 not in chosen  # solved and failed: never drawn without a floor
    counts = np.bincount(chosen, minlength=10)
    assert counts[3] < counts[2]  # p(1-p) = 0.1875 < 0.25
    record = p.observe(1, [])
    assert (record["solved"], record["failed"], record["learnable"]) == (1, 1, 8)


def test_target_difficulty_follows_adarft():
    cfg = TargetDifficultyCurriculum(difficulty="heuristic", start=0.0, beta=0.5, alpha=2.0, eta=50.0, smoothing=0.0)
    p = policy(cfg)
    t = 0.0
    for step, rewards in enumerate([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]):
        record = p.observe(step, [(0, rewards)])
        r = float(np.mean(rewards))
        t = float(np.clip(t + 50.0 * math.tanh(2.0 * (r - 0.5)), 0, 100))
        assert record == {"event": "target", "step": step, "reward": r, "smoothed_reward": r,
                          "target": pytest.approx(t), "previous": pytest.approx(record["previous"])}
    assert p.target == pytest.approx(t)
    # The prompts nearest the target: with T = 100 / 3, rows 3 (33.3) then 2 and 4 (22.2, 44.4).
    chosen = p.choose({"target": 100 / 3, "pass_rates": {}}, 0, 3)
    assert chosen[0] == 3 and sorted(chosen[1:]) == [2, 4]


def test_category_bandit_follows_sec():
    p = policy(CategoryBanditCurriculum(categories="level", lr=0.5, tau=1.0))
    assert p.categories == ["t/L0", "t/L1"]
    record = p.observe(0, [(0, [1.0, 0.0]), (1, [1.0, 1.0])])  # L0: mean |A| of a split group; L1: 0
    a = float(np.mean(np.abs(group_advantages([1.0, 0.0], "group"))))
    assert record["q"] == {"t/L0": pytest.approx(0.5 * a), "t/L1": 0.0}
    probs = np.exp([0.5 * a, 0.0]) / np.exp([0.5 * a, 0.0]).sum()
    assert list(record["probabilities"].values()) == pytest.approx(probs.round(4).tolist())
    chosen = [r for step in range(300) for r in p.choose(p.snapshot(), step, 2)]
    share_l0 = np.mean([r % 2 == 0 for r in chosen])
    assert abs(share_l0 - probs[0]) < 0.05
    # An ungraded completion has no advantage: left out of its arm's mean |A|, not a 0 in it.
    q = policy(CategoryBanditCurriculum(categories="level", lr=1.0))
    assert q.observe(0, [(0, [1.0, 0.0, None, None]), (1, [None, None])])["q"] == {"t/L0": pytest.approx(a),
                                                                                  "t/L1": 0.0}


def test_replacements_are_seeded_and_distinct():
    a = replacement_prompts(PROMPTS, 0, step=3, attempt=0, process=0, k=4)
    assert a == replacement_prompts(PROMPTS, 0, 3, 0, 0, 4) and len(set(a)) == 4
    assert a != replacement_prompts(PROMPTS, 0, 3, 1, 0, 4) and a != replacement_prompts(PROMPTS, 0, 3, 0, 1, 4)


def test_sampler_layout_lag_and_resume():
    p = policy(LearnabilityCurriculum(), ema=1.0)
    s = PromptSampler(p, steps=4, prompts_per_step=2, num_generations=3, repeat_count=2)
    it = iter(s)
    first = [next(it) for _ in range(12)]  # step 0: 2 prompts x 3 generations, the block twice
    a, b = s.drawn[0]
    assert first == [a, a, a, b, b, b] * 2
    second = [next(it) for _ in range(12)]  # step 1: drawn from the initial snapshot too
    assert second[:6] == [s.drawn[1][0]] * 3 + [s.drawn[1][1]] * 3
    s.observe(0, [(a, [1.0, 1.0, 1.0]), (b, [0.0, 1.0, 0.0])])
    state = s.state_at(1)
    rest = [next(it) for _ in range(12)]  # step 2: from the snapshot after step 0
    assert s.drawn[2] == p.choose(s.snapshots[0], 2, 2) and s.skipped[2] == []
    with pytest.raises(CurricleError, match="step 4 is drawn before step 2's rewards were observed"):
        next(it)  # step 3 needs step 1 observed
    # A fresh sampler loaded with the step-1 state draws steps 1 and 2 the same.
    q = policy(LearnabilityCurriculum(), ema=1.0)
    t = PromptSampler(q, steps=4, prompts_per_step=2, num_generations=3, repeat_count=2)
    t.load_state(state)
    again = iter(t)
    assert [next(again) for _ in range(12)] == second
    assert [next(again) for _ in range(12)] == rest
    assert len(s) == 4 * 2 * 3 * 2


def test_a_resumed_sampler_skips_and_counts_what_an_uninterrupted_one_does():
    """The rows gates before generation skip in a step (the step's own draw's, then its pool's)
    are not in a checkpoint: a step drawn but not yet observed when the checkpoint was saved is
    drawn again on resume, from the same snapshot, and skips the same rows, so the counts and
    draws of a resumed run are an uninterrupted one's."""
    def rewards(row):
        return [1.0] * 4 if row < 5 else [1.0, 0.0, 1.0, 0.0]  # rows 0-4 always solved: GRESO skips them

    def primed():
        p = policy(LiloCurriculum(pool_factor=2, gates=[GresoGate()]))
        for step in range(3):
            p.observe(step, [(r, rewards(r)) for r in range(10)])
        return PromptSampler(p, steps=6, prompts_per_step=2, num_generations=1)

    def run(s, start, save_after=None):
        """Steps ``start`` .. 5 as a trainer runs them: step k + 1 drawn before step k is generated
        (the data loader draws ahead), step k's pool drawn during it, k observed after it."""
        it = iter(s)
        next(it), next(it)  # step start's 2 prompts
        saved = None
        for k in range(start, 6):
            if k + 1 < 6:
                next(it), next(it)
            pools, skipped = s.draw_pool(k, 2, processes=1)
            s.add_skipped(k, skipped)
            s.observe(k, [(r, rewards(r)) for r in s.drawn[k] + pools[0]])
            if k + 1 == save_after:
                saved = json.loads(json.dumps(s.state_at(k + 1)))  # the checkpoint, as JSON
        return saved

    full = primed()
    state = run(full, 0, save_after=2)
    # The checkpoint holds steps 0 and 1's skips, counted; not step 2's list, though its rows were drawn before it.
    assert state["policy"]["skips"] == {"greso/easy": 4} and "skipped" not in state
    assert full.skipped[2] == [(0, "greso/easy"), (4, "greso/easy"), (3, "greso/easy")]
    assert full.policy.skips == {"greso/easy": 13}
    again = primed()
    again.load_state(state)
    run(again, 2)
    assert again.policy.state_dict() == full.policy.state_dict()
    assert [(again.drawn[k], again.skipped[k]) for k in range(2, 6)] == [(full.drawn[k], full.skipped[k])
                                                                         for k in range(2, 6)]


def test_a_resumed_sampler_draws_the_refill_rounds_an_uninterrupted_one_does():
    """DAPO's refill rounds (two a step, for two processes, through GRESO) are not in a checkpoint
    either: each round is a function of the step's snapshot, its own rows and its earlier rounds,
    all drawn again on resume, so a resumed run's rounds, skips and counts are an uninterrupted
    one's, and a round repeats no row of its step."""
    def rewards(row):
        return [1.0] * 4 if row < 5 else [1.0, 0.0, 1.0, 0.0]  # rows 0-4 always solved: GRESO skips them

    def primed():
        p = policy(DynamicFilterCurriculum(gates=[GresoGate()]))
        for step in range(3):
            p.observe(step, [(r, rewards(r)) for r in range(10)])
        return PromptSampler(p, steps=6, prompts_per_step=2, num_generations=1)

    def run(s, start, save_after=None):
        it = iter(s)
        next(it), next(it)
        saved = None
        for k in range(start, 6):
            if k + 1 < 6:
                next(it), next(it)
            generated = list(s.drawn[k])
            for attempt in range(2):
                pools, skipped = s.draw_refill(k, attempt, 1, processes=2)
                s.add_skipped(k, skipped)
                generated += pools[0] + pools[1]
            assert len(set(generated)) == len(generated) == 6
            s.observe(k, [(r, rewards(r)) for r in generated])
            if k + 1 == save_after:
                saved = json.loads(json.dumps(s.state_at(k + 1)))
        return saved

    full = primed()
    state = run(full, 0, save_after=2)
    assert "refills" not in state and full.refills[2][0] == ([[7], [9]], [(3, "greso/easy")])
    again = primed()
    again.load_state(state)
    run(again, 2)
    assert again.policy.state_dict() == full.policy.state_dict()
    assert [(again.drawn[k], again.skipped[k], again.refills[k]) for k in range(2, 6)] == [
        (full.drawn[k], full.skipped[k], full.refills[k]) for k in range(2, 6)]


def test_a_resume_with_another_curriculum_is_refused():
    def state(cfg):
        p = build_policy(cfg, PROMPTS, seed=0, pass_rate=PassRateConfig(), batch=2)
        p.observe(0, [(0, [1.0, 0.0])])
        return p.state_dict()

    target = TargetDifficultyCurriculum(difficulty="heuristic")
    uniform, bandit = state(UniformCurriculum()), state(CategoryBanditCurriculum(categories="level"))
    assert uniform["kind"] == "uniform"
    for cfg, kind in ((target, "target-difficulty"), (CategoryBanditCurriculum(), "category-bandit"),
                      (LearnabilityCurriculum(), "learnability")):
        with pytest.raises(CurricleError) as err:
            policy(cfg).load_state_dict(uniform)
        assert str(err.value) == (f"curriculum.kind: the checkpoint's curriculum is uniform, this run's {kind}: "
                                  f"resume with the same curriculum")
    with pytest.raises(CurricleError) as err:
        policy(CategoryBanditCurriculum(categories="task")).load_state_dict(bandit)
    assert str(err.value) == ("curriculum.categories: the checkpoint's bandit arms ['t/L0', 't/L1'] are not this "
                              "run's ['t'] (categories: task): resume with the same categories and tasks")
    # Checkpoints from before the kind was recorded: the same kind loads, another's state is refused.
    old = {k: v for k, v in state(target).items() if k != "kind"}
    p = policy(target)
    p.load_state_dict(old)
    assert p.target == state(target)["target"]
    policy(CategoryBanditCurriculum(categories="level")).load_state_dict({k: v for k, v in bandit.items()
                                                                         if k != "kind"})
    with pytest.raises(CurricleError, match=r"^curriculum.kind: the checkpoint's curriculum state is not "
                                            r"category-bandit's \(it has no 'q'\): resume with the same curriculum$"):
        policy(CategoryBanditCurriculum()).load_state_dict({k: v for k, v in uniform.items() if k != "kind"})
    with pytest.raises(CurricleError, match=r"^curriculum.kind: the checkpoint's curriculum state is not "
                                            r"target-difficulty's \(it has no 'target'\)"):
        policy(target).load_state_dict({k: v for k, v in bandit.items() if k != "kind"})


def test_a_checkpoint_without_a_kind_whose_state_several_curricula_keep_is_refused():
    """uniform, dynamic-filter, learnability and lilo keep the same state: one saved before the
    kind was recorded cannot be told to be this run's, so none of them loads it (nor another's
    state without a kind); with its kind it loads."""
    saved = policy(LearnabilityCurriculum())
    saved.observe(0, [(0, [1.0, 0.0])])
    state = saved.state_dict()
    old = {k: v for k, v in state.items() if k != "kind"}
    target = policy(TargetDifficultyCurriculum(difficulty="heuristic")).state_dict()
    for cfg in (UniformCurriculum(), DynamicFilterCurriculum(), LearnabilityCurriculum(), LiloCurriculum()):
        for st in (old, {k: v for k, v in target.items() if k != "kind"}):
            with pytest.raises(CurricleError) as err:
                policy(cfg).load_state_dict(st)
            assert str(err.value) == (
                f"curriculum.kind: the checkpoint's curriculum state records no kind (saved before kinds were) and "
                f"could be uniform's, dynamic-filter's, learnability's or lilo's: it cannot be checked against this "
                f"run's {cfg.kind}; start a fresh run, or, if it was {cfg.kind}'s, add \"kind\": \"{cfg.kind}\" to "
                f"sampler.policy in the checkpoint's state file")
    p = policy(LearnabilityCurriculum())
    p.load_state_dict({**old, "kind": "learnability"})
    assert p.pass_rates.p == {0: 0.5}
