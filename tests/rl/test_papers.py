"""Each policy's choice and update as its paper runs it, on scripted histories, at the stated
defaults: learnability's warm start, floor and refresh; LILO's top B; AdaRFT's difficulty from
base pass rates, its batch-scaled eta and smoothed reward; SEC's temperature and all-arm
update; the gates before generation (GRESO, the Gaussian, the band) skipping exactly as their
rules say, on the policy's choices and on the trainer's fresh prompts (a refill, LILO's pool)
alike, and the sampler charging nothing for a skipped prompt."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curricle.errors import CurricleError
from curricle.rl.command import run_steps
from curricle.rl.config import (
    CategoryBanditCurriculum,
    DynamicFilterCurriculum,
    GaussianGate,
    GresoGate,
    LearnabilityCurriculum,
    LiloCurriculum,
    PassRateBandGate,
    PassRateConfig,
    RLConfig,
    TargetDifficultyCurriculum,
    UniformCurriculum,
)
from curricle.rl.curricula import (Prompt, build_gates, build_policy, deal_top_learnable, replacement_prompts,
                                   top_learnable)
from curricle.rl.curricula.gaussian import GaussianPromptGate
from curricle.rl.curricula.greso import GresoPromptGate
from curricle.rl.hf import PromptSampler

# Ten prompts in two categories (even rows: A, odd rows: B), two tasks by halves.
PROMPTS = [Prompt(row=r, task="t1" if r < 5 else "t2", difficulty=float(r), category="A" if r % 2 == 0 else "B")
           for r in range(10)]


def build(cfg, profile=None, batch=2, steps=100, ema=1.0):
    return build_policy(cfg, PROMPTS, seed=0, pass_rate=PassRateConfig(ema=ema), profile=profile, batch=batch,
                        steps=steps)


def test_learnability_defaults_floor_a_fifth_of_the_largest_weight_and_warm_starts_from_the_profile():
    cfg = LearnabilityCurriculum()
    assert cfg.floor == pytest.approx(0.2 * 0.25) and cfg.prior == "profile"
    profile = {r: [0.0, 1.0, 0.5, 0.25][r % 4] for r in range(10)}
    p = build(cfg, profile=profile)
    w = p.weights(p.snapshot(), step=0)
    expected = [x * (1 - x) + 0.05 for x in (profile[r] for r in range(10))]
    assert w.tolist() == pytest.approx(expected)
    # A prompt rolled out replaces its prior by its tracked rate.
    p.observe(0, [(2, [1.0, 1.0, 1.0, 1.0])])
    assert p.weights(p.snapshot(), step=1)[2] == pytest.approx(0.05)


def test_learnability_category_prior_and_stale_estimates_go_back_to_it():
    p = build(LearnabilityCurriculum(prior="category", stale_after=3))
    assert p.rates(p.snapshot(), 0).tolist() == [0.5] * 10  # nothing known: 0.5
    p.observe(0, [(0, [1.0, 1.0]), (2, [1.0, 0.0]), (1, [0.0, 0.0])])
    rates = p.rates(p.snapshot(), 1)
    # Unseen prompts: their category's mean of fresh tracked rates (A: 0.75, B: 0).
    assert rates.tolist() == [1.0, 0.0, 0.5, 0.0, 0.75, 0.0, 0.75, 0.0, 0.75, 0.0]
    # Step 4: the step-0 estimates are 4 > 3 steps old: back to the prior (0.5: no fresh rate left).
    assert p.rates(p.snapshot(), 4).tolist() == [0.5] * 10
    # Default staleness: one pass over the prompts, N / B steps.
    assert build(LearnabilityCurriculum(), batch=4).stale_after == 3


def test_lilo_keeps_the_top_b_groups_by_p_times_one_minus_p():
    groups = [[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0],
              [1.0, 1.0, 1.0, 0.0], [None, None, None, None], [0.0, 1.0, 1.0, 0.0], [1.0, None, 0.0, 0.0]]
    # p(1-p): 0, .1875, .25, 0, .1875, 0 (none graded), .25, 2/9
    assert top_learnable(groups, 2) == [2, 6]
    assert top_learnable(groups, 3) == [2, 6, 7]
    assert top_learnable(groups, 4) == [1, 2, 6, 7]  # ties (.1875): the first generated
    # A mean reward outside [0, 1] (a user's reward) is a pass rate of 0 or 1: p(1-p) = 0, not negative.
    assert top_learnable([[1.5, 1.5], [-0.1, -0.1], [1.0, 1.0], [1.5, 0.0]], 2) == [0, 3]  # 0, 0, 0, .1875
    assert LiloCurriculum().pool_factor == 4
    with pytest.raises(ValueError, match="lilo keeps its pool's top groups itself"):
        LiloCurriculum(gates=[{"kind": "zero-variance"}])


def test_adarft_difficulty_is_100_times_one_minus_the_base_pass_rate_and_eta_scales_with_the_batch():
    profile = {r: r / 10 for r in range(10)}
    cfg = TargetDifficultyCurriculum(start=30.0)
    p = build(cfg, profile=profile, batch=4)
    assert p.difficulty == pytest.approx([100 * (1 - r / 10) for r in range(10)])
    assert p.eta == pytest.approx(50 * 4 / 1024)
    # Nearest 30: row 7 (30), then rows 6 and 8 (40, 20) in a seeded order.
    chosen = p.choose(p.snapshot(), 0, 3)
    assert chosen[0] == 7 and sorted(chosen[1:]) == [6, 8]
    assert p.choose(p.snapshot(), 0, 3, attempt=1)[0] in (5, 9)  # the next nearest
    # The smoothed reward: R <- s R + (1 - s) r, s = 0.5; the first step's R is its own mean.
    t, r_s = 30.0, None
    for step, rewards in enumerate([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]]):
        rec = p.observe(step, [(0, rewards)])
        r = float(np.mean(rewards))
        r_s = r if r_s is None else 0.5 * r_s + 0.5 * r
        t = float(np.clip(t + (50 * 4 / 1024) * math.tanh(2.0 * (r_s - 0.5)), 0, 100))
        assert rec["smoothed_reward"] == pytest.approx(r_s) and rec["target"] == pytest.approx(t)
    with pytest.raises(ValueError, match="needs the base sampling pass"):
        build(TargetDifficultyCurriculum())


def test_sec_updates_every_arm_at_the_release_temperature_and_reads_its_categories():
    cfg = CategoryBanditCurriculum(categories="task")
    assert (cfg.tau, cfg.lr) == (0.4, 0.5)
    p = build(cfg)
    assert p.categories == ["t1", "t2"]
    p.q = {"t1": 0.2, "t2": 0.4}
    rec = p.observe(0, [(0, [1.0, 0.0]), (1, [1.0, 0.0])])  # only t1 drawn
    a = 0.5 / (math.sqrt(0.5) + 1e-4)  # mean |advantage| of a 1/0 group (TRL's unbiased group std)
    assert rec["q"]["t1"] == pytest.approx(0.2 + 0.5 * (a - 0.2))
    assert rec["q"]["t2"] == pytest.approx(0.4 * 0.5)  # not drawn: r = 0, so it decays
    x = np.array([rec["q"]["t1"], rec["q"]["t2"]]) / 0.4
    probs = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    assert list(rec["probabilities"].values()) == pytest.approx(probs.round(4).tolist())
    level = build(CategoryBanditCurriculum(categories="level"))
    assert level.categories == ["A", "B"]


def test_sec_with_batch_scaled_rewards_divides_by_the_steps_std():
    p = build_policy(CategoryBanditCurriculum(categories="task"), PROMPTS, seed=0, pass_rate=PassRateConfig(),
                     scale_rewards="batch")
    p.q = {"t1": 0.0, "t2": 0.0}
    groups = [(0, [1.0, 0.0]), (6, [1.0, 1.0])]  # t1 learnable, t2 all correct
    rec = p.observe(0, groups)
    std = float(np.std([1.0, 0.0, 1.0, 1.0], ddof=1))  # every graded reward of the step (TRL: torch's std)
    assert rec["q"]["t1"] == pytest.approx(0.5 * 0.5 / (std + 1e-4))  # mean |r - 0.5| / std, at lr 0.5
    assert rec["q"]["t2"] == 0.0


def test_learnability_takes_a_pass_rate_outside_0_1_as_0_or_1():
    p = build(LearnabilityCurriculum(prior="category"))
    p.observe(0, [(0, [-0.1] * 4), (1, [1.5] * 4), (2, [0.0, 1.0] * 2)])  # a user's composite reward
    w = p.weights(p.snapshot(), 1)
    assert w[:3].tolist() == [0.05, 0.05, 0.3]  # p(1-p) + floor at p = 0, 1, 0.5
    assert len(set(p.choose(p.snapshot(), 1, 2))) == 2


def test_learnability_without_a_floor_fills_a_step_when_few_prompts_are_learnable():
    p = build(LearnabilityCurriculum(floor=0.0, stale_after=10_000), batch=4)
    # rows 0-8 solved, row 9 learnable: one prompt of weight > 0 for a step of 4
    p.observe(0, [(r, [1.0, 1.0]) for r in range(9)] + [(9, [1.0, 0.0])])
    rows = p.choose(p.snapshot(), 1, 4)
    assert rows[0] == 9 and len(set(rows)) == 4  # the learnable one, then three of the others
    rng = np.random.default_rng([0, 31, 1])  # the draws the rule makes, in order
    assert rng.permutation([9]).tolist() == [9]
    assert rows[1:] == rng.choice(np.arange(9), size=3, replace=False).tolist()
    p.observe(1, [(9, [1.0, 1.0])])  # now every weight is 0: drawn uniformly, its record finite
    assert len(set(p.choose(p.snapshot(), 2, 4))) == 4 and p.observe(2, [])["effective_prompts"] == 10.0


def test_greso_skip_probability_follows_its_streaks_with_a_floor():
    gate = GresoPromptGate(GresoGate(), steps=10)
    gate.observe(0, [(0, [1.0] * 4), (1, [0.0] * 4), (2, [1.0, 0.0, 1.0, 0.0])])
    gate.observe(1, [(0, [1.0] * 4), (1, [0.0] * 4)])
    st = gate.state_dict()
    # Row 0: two all-correct groups in a row; row 1: two all-wrong; row 2: learnable; p moved each step.
    assert st["easy"] == {"0": 2} and st["hard"] == {"1": 2}
    # Step 0: 1/3 easy >= target 0.25/3 -> p_easy 0.49; 1/3 hard >= 0.5/3 -> p_hard 0.49; step 1 again.
    assert st["p_easy"] == pytest.approx(0.48) and st["p_hard"] == pytest.approx(0.48)
    assert gate.skip_probability(st, 0) == (pytest.approx(1 - 0.48 ** 2), "easy")
    assert gate.skip_probability(st, 1) == (pytest.approx(1 - 0.48 ** 2), "hard")
    assert gate.skip_probability(st, 2) == (0.0, None)
    assert gate.skip(st, 0, None, 5, u=1 - 0.48 ** 2 - 1e-9) == "easy"
    assert gate.skip(st, 0, None, 5, u=1 - 0.48 ** 2 + 1e-9) is None
    # A learnable group ends the streak; the exploration floor caps the skip probability.
    gate.observe(2, [(0, [1.0, 0.0, 0.0, 0.0])])
    assert "0" not in gate.state_dict()["easy"]
    long = {"easy": {"3": 50}, "hard": {}, "p_easy": 0.5, "p_hard": 0.5}
    assert gate.skip_probability(long, 3)[0] == pytest.approx(0.99)


def test_gaussian_gate_admits_by_a_gaussian_of_pass_rate_around_a_scheduled_mean():
    gate = GaussianPromptGate(GaussianGate(start=0.5, end=0.25, sigma=0.2), steps=11)
    assert gate.mean(0) == 0.5 and gate.mean(10) == pytest.approx(0.25) and gate.mean(5) == pytest.approx(0.375)
    assert gate.admit_probability(0.9, 0) == pytest.approx(math.exp(-0.16 / 0.08))
    assert gate.admit_probability(None, 0) == 1.0
    assert gate.skip({}, 0, 0.9, 0, u=0.2) == "off-target" and gate.skip({}, 0, 0.9, 0, u=0.1) is None


def test_draw_skips_by_the_rules_refills_from_the_policy_and_counts_every_skip():
    band = PassRateBandGate(low=0.2, high=0.8, before_rollout=True)
    cfg = UniformCurriculum(gates=[band])
    assert build_gates(cfg) == []  # it is a gate before generation, not after
    profile = {r: (0.0 if r < 4 else 0.5) for r in range(10)}
    p = build(cfg, profile=profile, batch=4)
    snap = p.snapshot()
    rows, skipped = p.draw(snap, 0, 4)
    assert len(rows) == 4 and all(r >= 4 for r in rows) and len(set(rows)) == 4
    chosen = p.choose(snap, 0, 4)
    assert [r for r, _ in skipped if r in chosen] == [r for r in chosen if r < 4]
    assert all(why == "pass-rate-band/below-band" for _, why in skipped)
    assert p.draw(snap, 0, 4) == (rows, skipped)  # pure
    p.observe(0, [(r, [0.5, 0.5]) for r in rows], skipped)
    assert p.skips == {"pass-rate-band/below-band": len(skipped)}
    # Nothing passes: after max_draws rounds the step is filled with skipped prompts, counted as
    # forced (generated after all), not also under their gate's reason.
    never = build(UniformCurriculum(gates=[PassRateBandGate(low=0.9, before_rollout=True)]), profile=profile, batch=4)
    rows, skipped = never.draw(never.snapshot(), 0, 4, max_draws=2)
    assert len(rows) == 4 and [(r, "forced") for r in rows] == skipped[:4]
    assert not set(rows) & {r for r, _ in skipped[4:]}  # a forced row is not also counted skipped
    assert all(why == "pass-rate-band/below-band" for _, why in skipped[4:])


def recording(gate, seen: dict[str, list[float]]) -> None:
    """``gate`` judging as before, each uniform number it is given appended to ``seen[kind]``."""
    real = gate.skip

    def skip(st, row, p, step, u):
        seen[gate.kind].append(u)
        return real(st, row, p, step, u)
    gate.skip = skip


def test_each_gate_before_generation_draws_its_own_uniform_numbers():
    seen: dict[str, list[float]] = {"greso": [], "gaussian": []}
    p = build(UniformCurriculum(gates=[GresoGate(), GaussianGate()]), batch=4)
    for gate in p.prompt_gates:
        recording(gate, seen)
    rows, skipped = p.draw(p.snapshot(), 3, 4, max_draws=1)
    assert skipped == []  # nothing known: GRESO skips nothing, the Gaussian admits unknown rates
    first = np.random.default_rng([0, 43, 3, 0]).random(4).tolist()  # a single gate's stream, as before
    second = np.random.default_rng([0, 43, 3, 0, 1]).random(4).tolist()
    assert seen == {"greso": first, "gaussian": second}


def test_fresh_prompts_pass_the_gates_before_generation_as_the_steps_own_do():
    """A refill round's or a pool's prompts (``draw_more``, under ``draw_pool``) are judged by the
    same gates: a skipped row is replaced by the next round of uniform draws (a row judged once),
    the streams seeded by process too (the trainer draws every process's at once, on process 0's),
    and the skips are counted as the step's own; without gates the draw is the uniform one,
    unchanged."""
    below = "pass-rate-band/below-band"
    profile = {r: (0.0 if r < 5 else 0.5) for r in range(10)}  # rows 0-4 below the band
    p = build(UniformCurriculum(gates=[PassRateBandGate(low=0.2, high=0.8, before_rollout=True)]), profile=profile,
              batch=4)
    # Step 2, refill round 1, process 0: the uniform rounds are [1, 0, 2], [5, 7, 0], [6, 0, 5].
    assert [replacement_prompts(PROMPTS, 0, 2, 1, 0, 3, r) for r in range(3)] == [[1, 0, 2], [5, 7, 0], [6, 0, 5]]
    rows, skipped = p.draw_more(p.snapshot(), 2, 3, attempt=1, process=0)
    assert (rows, skipped) == ([5, 7, 6], [(1, below), (0, below), (2, below)])
    assert replacement_prompts(PROMPTS, 0, 2, 1, 1, 3) == [0, 2, 8]  # process 1's
    assert p.draw_more(p.snapshot(), 2, 3, attempt=1, process=1) == ([8, 7, 9], [(0, below), (2, below), (3, below)])
    p.observe(2, [(r, [0.5, 0.5]) for r in rows], skipped)
    assert p.skips == {below: 3}
    plain = build(UniformCurriculum(), profile=profile, batch=4)
    assert plain.draw_more(plain.snapshot(), 2, 3, attempt=1, process=0) == ([1, 0, 2], [])
    # A gate that skips everything: max_draws bounds the rounds, then skipped rows fill, forced.
    never = build(UniformCurriculum(gates=[PassRateBandGate(low=0.9, before_rollout=True)]), profile=profile, batch=4)
    rows, skipped = never.draw_more(never.snapshot(), 2, 3, attempt=1, process=0, max_draws=2)
    assert rows == [1, 0, 2] and skipped == [(1, "forced"), (0, "forced"), (2, "forced"), (5, below), (7, below)]
    never.observe(2, [(r, [0.0, 0.0]) for r in rows], skipped)
    assert never.skips == {"forced": 3, below: 2}


def test_lilos_pool_is_gated_like_its_first_b_and_every_skip_is_counted_with_the_step():
    """GRESO on a scripted history (rows 0-4 all-correct six times: skipped with probability
    0.99): the step's first B and the rest of LILO's pool both pass the gate, and the policy
    counts the skips of both, every process's, under the gate's reason. The pool is drawn for
    every process at once: no prompt twice in it, none of the step's own."""
    p = build(LiloCurriculum(pool_factor=3, gates=[GresoGate()]), batch=2)
    for step in range(6):
        p.observe(step, [(r, [1.0] * 4) for r in range(5)] + [(r, [1.0, 0.0, 1.0, 0.0]) for r in range(5, 10)])
    s = PromptSampler(p, steps=3, prompts_per_step=2, num_generations=4)
    s.snapshots.record(-1, p.snapshot())
    assert len(list(zip(range(8), s))) == 8  # step 0: its 2 prompts x 4 completions
    assert (s.drawn[0], s.skipped[0]) == ([9, 8], [(3, "greso/easy")])
    # Two processes' pools of 2: the uniform draw of rows other than the step's 9 and 8 was
    # [6, 3, 5, 0], then [6, 5, 2, 1], ...: of rows 0-7 only 5-7 pass; after max_draws rounds
    # a skipped row fills the last place (forced), rather than a row of the step's own.
    assert replacement_prompts(PROMPTS, 0, 0, 0, 0, 4, exclude=[9, 8]) == [6, 3, 5, 0]
    pools, skipped = s.draw_pool(0, 2, processes=2)
    assert pools == [[6, 5], [7, 3]]
    assert skipped == [(3, "forced"), (0, "greso/easy"), (2, "greso/easy"), (1, "greso/easy"), (4, "greso/easy")]
    assert s.draw_pool(0, 2, processes=2) == (pools, skipped)  # every process draws the same
    s.add_skipped(0, skipped)  # (once: every process's skips are already there)
    s.observe(0, [(r, [1.0, 0.0, 1.0, 0.0]) for r in [9, 8] + pools[0] + pools[1]])
    assert p.skips == {"greso/easy": 5, "forced": 1}


def test_lilos_pool_repeats_no_prompt_while_the_prompts_last():
    """The pool leaves out the step's own rows and deals one draw among the processes, so no
    prompt is rolled out twice in a step; once the prompts run out, rows repeat in the same
    order (every process still generates its share)."""
    p = build(LiloCurriculum(), batch=2)
    assert replacement_prompts(PROMPTS, 0, 0, 0, 0, 12, exclude=[9, 8]) == [6, 3, 5, 0, 4, 7, 1, 2, 8, 9]
    assert p.draw_pool(p.snapshot(), 0, [9, 8], 3, processes=2) == ([[6, 3, 5], [0, 4, 7]], [])
    assert p.draw_pool(p.snapshot(), 0, [9, 8], 4, processes=1) == ([[6, 3, 5, 0]], [])
    # 2 x 6 > 10 prompts: every other row, then the step's own, then from the start again.
    assert p.draw_pool(p.snapshot(), 0, [9, 8], 6, processes=2) == ([[6, 3, 5, 0, 4, 7], [1, 2, 8, 9, 6, 3]], [])


def test_dapo_refill_rounds_repeat_no_prompt_of_the_step_while_the_prompts_last():
    """DAPO's refill rounds are drawn for every process at once and dealt, leaving out the step's
    own rows and every earlier round's: on ten prompts, the step's 2 and rounds of 2 for each of
    2 processes cover the other eight once each; the third round finds none left and draws the
    step's rows again, in a seeded order. Each process (its own sampler) draws the same rounds,
    a round asked for first drawing the earlier ones first. (Each process drawing its own,
    uniformly over every prompt, as before: round 0 gave process 0 the step's 3, round 1 gave it
    3 and 7 again.)"""
    p = build(DynamicFilterCurriculum(), batch=2)
    s = PromptSampler(p, steps=1, prompts_per_step=2, num_generations=1)
    assert list(s) == s.drawn[0] == [9, 3]
    rounds = [s.draw_refill(0, attempt, 2, processes=2) for attempt in range(3)]
    assert rounds == [([[7, 4], [6, 0]], []), ([[2, 1], [8, 5]], []), ([[4, 7], [5, 3]], [])]
    assert sorted([9, 3] + [r for pools, _ in rounds[:2] for pool in pools for r in pool]) == list(range(10))
    assert replacement_prompts(PROMPTS, 0, 0, 2, 0, 4, exclude=range(10)) == [4, 7, 5, 3]  # (all drawn: a permutation)
    assert s.draw_refill(0, 1, 2, processes=2) == rounds[1]  # drawn again: the same
    other = PromptSampler(build(DynamicFilterCurriculum(), batch=2), steps=1, prompts_per_step=2, num_generations=1)
    list(other)
    assert other.draw_refill(0, 2, 2, processes=2) == rounds[2] and other.refills[0] == rounds
    # The old draws: [[3, 7], [2, 0]] in round 0, [[3, 5], [7, 8]] in round 1 (process, attempt seeded).
    assert [[replacement_prompts(PROMPTS, 0, 0, a, q, 2) for q in range(2)] for a in range(2)] == [
        [[3, 7], [2, 0]], [[3, 5], [7, 8]]]


def test_lilo_over_several_processes_keeps_the_top_of_every_pool_together():
    """Each process's pool (its own groups first), as each process sees them all: the kept
    groups are the global top B by p (1 - p), a process's own first, the ones beyond its share
    dealt to the processes short of theirs."""
    pools = [[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0]],  # process 0: .25, .25, .25, 0
             [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]]  # process 1: 0, 0, 0, .25
    assert deal_top_learnable(pools, 2) == [[(0, 0), (0, 1)], [(1, 3), (0, 2)]]
    # (each process's own top 2 would have kept process 1's group 0, of p (1 - p) 0, over process 0's group 2)
    assert [top_learnable(pool, 2) for pool in pools] == [[0, 1], [0, 3]]
    # Ties go to the lower process, then the first generated (process 1's group 1 is left out).
    assert deal_top_learnable([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]], 1) == [[(0, 0)], [(1, 0)]]
    # A process with none of the top keeps none of its own; one process: top_learnable.
    assert deal_top_learnable([[[0.0, 0.0]] * 3, [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]], 1) == [[(1, 2)], [(1, 0)]]
    assert deal_top_learnable([pools[1]], 2) == [[(0, 0), (0, 3)]]


def test_fresh_prompts_draw_each_gates_numbers_from_streams_of_their_own():
    seen: dict[str, list[float]] = {"greso": [], "gaussian": []}
    p = build(UniformCurriculum(gates=[GresoGate(), GaussianGate()]), batch=4)
    for gate in p.prompt_gates:
        recording(gate, seen)
    rows, skipped = p.draw_more(p.snapshot(), 3, 4, attempt=2, process=1, max_draws=1)
    assert rows == replacement_prompts(PROMPTS, 0, 3, 2, 1, 4) and skipped == []  # nothing known: all admitted
    # Apart from the step's own draw ([0, 43, 3, 0] and [0, 43, 3, 0, 1]): (step, attempt, process, round).
    assert seen == {"greso": np.random.default_rng([0, 53, 3, 2, 1, 0]).random(4).tolist(),
                    "gaussian": np.random.default_rng([0, 53, 3, 2, 1, 0, 1]).random(4).tolist()}


def test_a_resume_with_other_gates_before_generation_is_refused():
    two = build(UniformCurriculum(gates=[GresoGate(), GaussianGate()]))
    state = two.state_dict()
    assert state["prompt_gate_kinds"] == ["greso", "gaussian"]
    build(UniformCurriculum(gates=[GresoGate(), GaussianGate()])).load_state_dict(state)  # the same: fine
    for gates in ([GaussianGate(), GresoGate()], [GresoGate()], []):
        with pytest.raises(CurricleError, match=r"curriculum.gates: the checkpoint's gates before generation "
                                                r"\['greso', 'gaussian'\] are not this run's"):
            build(UniformCurriculum(gates=gates)).load_state_dict(state)


def test_a_resume_with_gates_before_generation_configured_otherwise_is_refused():
    state = build(UniformCurriculum(gates=[GresoGate(), GaussianGate()])).state_dict()
    assert state["prompt_gate_configs"][1] == {"kind": "gaussian", "start": 0.5, "end": 0.25, "sigma": 0.2}
    with pytest.raises(CurricleError) as err:
        build(UniformCurriculum(gates=[GresoGate(), GaussianGate(sigma=0.05)])).load_state_dict(state)
    assert str(err.value) == ("curriculum.gates: the checkpoint's 'gaussian' gate was configured as {\"end\": 0.25, "
                              "\"kind\": \"gaussian\", \"sigma\": 0.2, \"start\": 0.5}, this run's as {\"end\": 0.25, "
                              "\"kind\": \"gaussian\", \"sigma\": 0.05, \"start\": 0.5}: resume with the same gates")
    with pytest.raises(CurricleError, match="the checkpoint's 'greso' gate was configured as"):
        build(UniformCurriculum(gates=[GresoGate(floor=0.1), GaussianGate()])).load_state_dict(state)
    # Checkpoints from before the configurations were recorded (the kinds only) still load.
    old = {k: v for k, v in state.items() if k != "prompt_gate_configs"}
    build(UniformCurriculum(gates=[GresoGate(), GaussianGate(sigma=0.05)])).load_state_dict(old)


def test_gresos_bounds_must_be_ordered():
    with pytest.raises(ValueError, match=r"min_p: 0.6 is above max_p 0.5"):
        GresoGate(min_p=0.6, max_p=0.5)
    with pytest.raises(ValueError, match=r"hard_below: 0.5 is not below easy_above 0.5"):
        GresoGate(hard_below=0.5, easy_above=0.5)


def test_a_budgeted_runs_schedule_spans_the_steps_its_budget_affords():
    assert run_steps(400, 3200, 32) == 100  # the RL benchmark: 3,200 rollouts of 4 prompts x 8
    assert run_steps(400, 3201, 32) == 101 and run_steps(50, 3200, 32) == 50 and run_steps(400, None, 32) == 400


def test_the_sampler_generates_only_the_admitted_prompts():
    cfg = UniformCurriculum(gates=[GresoGate()])
    p = build(cfg, batch=2)
    # Rows 0-7 all-correct many times: GRESO skips them with probability 0.99.
    for step in range(6):
        p.observe(step, [(r, [1.0] * 4) for r in range(8)])
    s = PromptSampler(p, steps=3, prompts_per_step=2, num_generations=4)
    s.snapshots.record(-1, p.snapshot())
    s.snapshots.record(0, p.snapshot())  # (steps 0-2 draw from these: nothing observed in between)
    positions = list(s)
    # Every step yields exactly B x G positions (the rollouts): a skipped prompt is never generated.
    assert len(positions) == 3 * 2 * 4
    assert all(s.skipped[k] for k in range(3)) and all(r not in [x for x, _ in s.skipped[k]] for k in range(3)
                                                        for r in s.drawn[k])
    # Each drawn row of rows 0-7 got through the 1% exploration floor; the rest are rows 8 and 9.
    drawn = [r for k in range(3) for r in s.drawn[k]]
    assert sum(r in (8, 9) for r in drawn) >= 5


def test_configs_wire_the_papers_defaults():
    d = DynamicFilterCurriculum()
    assert (d.oversample, d.max_resamples) == (3, 10)
    cfg = RLConfig.model_validate({"model": {"path": "m"}, "tasks": [{"name": "t", "source": {
        "kind": "builtin", "skill": "reverse"}}], "curriculum": {"kind": "target-difficulty"}})
    assert cfg.profile is not None and cfg.profile.samples == 8
    cfg = RLConfig.model_validate({"model": {"path": "m"}, "tasks": [{"name": "t", "source": {
        "kind": "builtin", "skill": "reverse"}}], "curriculum": {"kind": "uniform"}})
    assert cfg.profile is None
    with pytest.raises(ValueError, match="min_std judges a group's rewards"):
        PassRateBandGate(min_std=0.1, before_rollout=True)
