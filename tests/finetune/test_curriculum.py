"""The curriculum's decisions and data order, on scripted scores (no model)."""

from __future__ import annotations

import pytest

from curricle.errors import CurricleError
from curricle.finetune.config import CurriculumConfig
from curricle.finetune.curriculum import REVIEW, Curriculum, ExampleStream, Row
from curricle.tasks.config import ScoringConfig
from curricle.tasks.items import TaskItem
from curricle.tasks.load import Task


def make_task(name: str, n: int = 20) -> Task:
    items = [TaskItem(f"{name}-{i}", f"{name} {i} ->", f" {i}", difficulty=float(i)) for i in range(n)]
    held = [TaskItem(f"{name}-h{i}", f"{name} h{i} ->", " x", split="heldout") for i in range(4)]
    return Task(name, name, ScoringConfig(), items, held, [])


def curriculum(stages, seed=0, batch_size=10, **kw) -> Curriculum:
    cfg = CurriculumConfig.model_validate({"stages": stages, **kw})
    names = sorted({t for s in stages for t in s["tasks"]})
    return Curriculum(cfg, [make_task(n) for n in names], seed=seed, batch_size=batch_size)


def scores(**em) -> dict:
    return {t: {"exact_match": v, "prob": v} for t, v in em.items()}


STAGES = [
    {"name": "a", "tasks": {"a": 1}, "max_steps": 100,
     "advance_when": {"task": "a", "metric": "exact_match", "at_least": 0.8, "patience": 2}},
    {"name": "b", "tasks": {"b": 1}, "max_steps": 30},
    {"name": "c", "tasks": {"a": 1, "b": 1, "c": 2}, "max_steps": 50,
     "advance_when": {"metric": "exact_match", "at_least": 0.5}},
]


def test_milestones_patience_and_the_max_steps_fallback():
    c = curriculum(STAGES)
    log = []
    # Stage a: 0.8 once, then a dip (patience resets), then twice in a row: advance at step 40.
    for step, a in ((10, 0.5), (20, 0.85), (25, 0.7), (30, 0.8), (40, 0.9)):
        records, mix = c.on_evaluate(step, scores(a=a, b=0.0, c=0.0))
        log += records
    assert [(r["event"], r["step"], r["reason"], r["hits"]) for r in log] == [("stage", 40, "milestone", 2)]
    assert log[0]["values"] == {"a": 0.9} and log[0]["effective_from_step"] == 42
    assert c.stage == 1 and c.stage_start == 41 and mix.start == 41 and mix.weights == {"b": 1.0}
    # Stage b has no milestone: its max_steps (30 from step 41) ends it at the first evaluation at >= 71.
    for step in (50, 60, 70):
        assert c.on_evaluate(step, scores(a=0.9, b=1.0, c=0.0)) == ([], None)
    records, mix = c.on_evaluate(80, scores(a=0.9, b=1.0, c=0.0))
    assert [(r["event"], r["reason"], r["steps_in_stage"]) for r in records] == [("stage", "max_steps", 39)]
    assert mix.weights == {"a": 0.25, "b": 0.25, "c": 0.5} and mix.stage == 2
    # The last stage: its milestone (every task of it, the worst) is logged once and changes nothing.
    assert c.on_evaluate(90, scores(a=0.9, b=0.9, c=0.4)) == ([], None)
    records, mix = c.on_evaluate(100, scores(a=0.9, b=0.9, c=0.6))
    assert [(r["event"], r["final"], r["values"]) for r in records] == [("milestone", True, {"a": 0.9, "b": 0.9,
                                                                                              "c": 0.6})]
    assert mix is None and c.on_evaluate(110, scores(a=0.9, b=0.9, c=0.7)) == ([], None)
    assert [e["step"] for e in c.stage_ends] == [40, 80]
    assert c.stage_ends[0]["scores"] == {"a": 0.9, "b": 0.0, "c": 0.0}
    assert c.reference == {"a": 0.9, "b": 1.0}


def test_min_steps_holds_the_milestone_back():
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 100, "min_steps": 30,
               "advance_when": {"task": "a", "at_least": 0.5}}, {"name": "b", "tasks": {"b": 1}, "max_steps": 5}]
    c = curriculum(stages)
    assert c.on_evaluate(10, scores(a=1.0, b=0)) == ([], None)
    assert c.on_evaluate(20, scores(a=1.0, b=0)) == ([], None)
    records, _ = c.on_evaluate(30, scores(a=1.0, b=0))
    assert records[0]["reason"] == "milestone" and c.stage == 1


def test_leitner_decks_and_review_pool():
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 10}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, review={"kind": "leitner", "decks": 3, "fraction": 0.2, "items_per_task": 4})
    records, mix = c.on_evaluate(10, scores(a=1.0, b=0.0))  # evaluation 1: stage a ends
    added = [r for r in records if r["event"] == "review-added"][0]
    assert added["items"] == {"a": 4} and added["decks"] == [4, 0, 0]
    pool = list(c.pool)
    assert len(pool) == 4 and {c.task_of[r] for r in pool} == {"a"}
    assert mix.weights == {"b": pytest.approx(0.8), REVIEW: 0.2} and mix.review == pool
    # Evaluation 2: the 4 reviewed items are tested; two right (to deck 1), two wrong (stay in 0).
    right = {pool[0]: True, pool[1]: True, pool[2]: False, pool[3]: False}
    assert c.review_rows() == pool
    records, mix = c.on_evaluate(20, scores(a=1.0, b=0.0), right)
    review = records[0]
    assert (review["tested"], review["promoted"], review["demoted"], review["stayed"]) == (4, 2, 0, 2)
    assert review["decks"] == [2, 2, 0] and review["correct"] == {"a": 0.5}
    # Due at evaluation 3: deck 0 only (3 % 2 != 0).
    assert c.pool == [pool[2], pool[3]]
    records, _ = c.on_evaluate(30, scores(a=1.0, b=0.0), {pool[2]: True, pool[3]: True})
    assert records[0]["decks"] == [0, 4, 0]
    # Evaluation 4: decks 0, 1 and 2 due (4 % 1, 4 % 2, 4 % 4); all four come back.
    assert c.pool == pool
    records, _ = c.on_evaluate(40, scores(a=1.0, b=0.0), {pool[0]: True, pool[1]: False, pool[2]: True, pool[3]: True})
    assert (records[0]["promoted"], records[0]["demoted"]) == (3, 1) and records[0]["decks"] == [1, 0, 3]
    # Evaluation 5: deck 0 only; 6: decks 0 and 1 (empty); 8: all.
    assert c.pool == [pool[1]]
    with pytest.raises(CurricleError, match="no test result"):
        c.on_evaluate(50, scores(a=1.0, b=0.0), {})


def test_replay_and_revisits():
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 10}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, review={"kind": "replay", "fraction": 0.1}, revisit_when={"margin": 0.25, "weight": 0.3})
    _, mix = c.on_evaluate(10, scores(a=1.0, b=0.0))
    assert mix.weights == {"b": pytest.approx(0.9), "a": pytest.approx(0.1)}
    # a falls by 0.25 exactly: not more than the margin, no revisit; by 0.5: revisit.
    assert c.on_evaluate(20, scores(a=0.75, b=0.1)) == ([], None)
    records, mix = c.on_evaluate(30, scores(a=0.5, b=0.1))
    assert [(r["event"], r["task"], r["score"], r["reference"]) for r in records] == [("revisit", "a", 0.5, 1.0)]
    assert mix.weights == {"b": pytest.approx(0.6), "a": pytest.approx(0.4)}
    # Recovered once back within margin / 2 of the reference: 0.75 is not, 0.875 is.
    assert c.on_evaluate(40, scores(a=0.75, b=0.1)) == ([], None)
    records, mix = c.on_evaluate(50, scores(a=0.875, b=0.1))
    assert [r["event"] for r in records] == ["recovered"] and mix.weights == {"b": pytest.approx(0.9),
                                                                             "a": pytest.approx(0.1)}


def test_state_round_trip_continues_the_same_decisions():
    stages = STAGES
    a, b = curriculum(stages), curriculum(stages)
    seq = [(10, 0.9), (20, 0.9), (30, 0.1), (60, 0.2), (80, 0.3), (90, 0.6)]
    for step, v in seq[:3]:
        a.on_evaluate(step, scores(a=v, b=v, c=v))
    b.load_state_dict(a.state_dict())
    for step, v in seq[3:]:
        assert a.on_evaluate(step, scores(a=v, b=v, c=v)) == b.on_evaluate(step, scores(a=v, b=v, c=v))


def rows_of(tasks: dict[str, int]) -> list[Row]:
    return [Row(t, TaskItem(f"{t}-{i}", f"{t}{i}", "x", difficulty=float(i))) for t, n in tasks.items()
            for i in range(n)]


def test_stream_shares_are_exact_and_each_task_is_walked_without_repeats():
    from curricle.finetune.curriculum import Mix

    rows = rows_of({"a": 30, "b": 50, "c": 7})
    s = ExampleStream(rows, ["a", "b", "c"], batch_size=10, seed=3)
    mix = Mix(0, 0, 0, {"a": 0.5, "b": 0.3, "c": 0.2})
    drawn = [s.next_batch(mix) for _ in range(9)]
    flat = [r for b in drawn for r in b]
    counts = {t: sum(rows[r].task == t for r in flat) for t in "abc"}
    assert counts == {"a": 45, "b": 27, "c": 18}
    for n in range(1, len(flat) + 1):  # after every example, each share within one example
        seen = flat[:n]
        for t, w in mix.weights.items():
            assert abs(sum(rows[r].task == t for r in seen) - w * n) <= 1
    a_rows = [r for r in flat if rows[r].task == "a"]
    assert sorted(a_rows[:30]) == list(range(30))  # a's first epoch: every item once
    c_rows = [r for r in flat if rows[r].task == "c"]
    assert sorted(c_rows[:14]) == sorted(list(range(80, 87)) * 2)
    # The same seed draws the same; another seed another order.
    s2 = ExampleStream(rows, ["a", "b", "c"], batch_size=10, seed=3)
    assert [s2.next_batch(mix) for _ in range(9)] == drawn
    s3 = ExampleStream(rows, ["a", "b", "c"], batch_size=10, seed=4)
    assert [s3.next_batch(mix) for _ in range(9)] != drawn


def test_stream_resumes_exactly_from_its_state():
    from curricle.finetune.curriculum import Mix

    rows = rows_of({"a": 13, "b": 9})
    mixes = [Mix(0, 0, 0, {"a": 1.0}), Mix(4, 1, 4, {"a": 0.3, "b": 0.7})]
    full = ExampleStream(rows, ["a", "b"], batch_size=6, seed=0)
    want = [full.next_batch(mixes[0] if k < 4 else mixes[1]) for k in range(10)]
    part = ExampleStream(rows, ["a", "b"], batch_size=6, seed=0)
    for k in range(6):
        part.next_batch(mixes[0] if k < 4 else mixes[1])
    resumed = ExampleStream(rows, ["a", "b"], batch_size=6, seed=0)
    resumed.load_state_dict(part.state_dict())
    assert [resumed.next_batch(mixes[1]) for _ in range(6, 10)] == want[6:]


def test_pacing_draws_only_the_easiest_items_first():
    from curricle.finetune.config import DifficultyPacing
    from curricle.finetune.curriculum import Mix

    rows = rows_of({"a": 100})
    pacing = DifficultyPacing(kind="fixed_linear", start=0.1, steps=10)
    s = ExampleStream(rows, ["a"], batch_size=5, seed=0, pacing={0: pacing})
    mix = Mix(0, 0, 0, {"a": 1.0}, paced=["a"])
    first = s.next_batch(mix)
    assert max(rows[r].item.difficulty for r in first) < 10  # competence 0.1: the 10 easiest
    for _ in range(4):
        s.next_batch(mix)
    assert s.available("a", mix, 5) == 55  # 0.1 + 0.9 * 5 / 10
    assert s.available("a", Mix(0, 0, 0, {"a": 1.0}), 5) == 100  # not paced in that mix


def test_a_mix_cannot_reach_back_before_the_stream():
    from curricle.finetune.curriculum import Mix

    s = ExampleStream(rows_of({"a": 5}), ["a"], batch_size=2, seed=0)
    s.next_batch(Mix(0, 0, 0, {"a": 1.0}))
    with pytest.raises(CurricleError, match="cannot draw step 1"):
        s.next_batch(Mix(2, 0, 0, {"a": 1.0}))


def test_weights_must_leave_the_stage_a_share():
    with pytest.raises(ValueError, match="must be < 1"):
        CurriculumConfig.model_validate({"stages": STAGES, "review": {"kind": "replay", "fraction": 0.6},
                                         "revisit_when": {"weight": 0.5}})
