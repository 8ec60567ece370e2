"""The curriculum's decisions and data order, on scripted scores (no model)."""

from __future__ import annotations

import pytest

from curricle.errors import CurricleError
from curricle.finetune.config import CurriculumConfig
from curricle.finetune.curriculum import REVIEW, Curriculum, ExampleStream, Row
from curricle.tasks.config import ScoringConfig
from curricle.tasks.items import TaskItem, unit_hash
from curricle.tasks.load import Task


def make_task(name: str, n: int = 20) -> Task:
    items = [TaskItem(f"{name}-{i}", f"{name} {i} ->", f" {i}", difficulty=float(i)) for i in range(n)]
    held = [TaskItem(f"{name}-h{i}", f"{name} h{i} ->", " x", split="heldout") for i in range(4)]
    return Task(name, name, ScoringConfig(), items, held, [])


def curriculum(stages, seed=0, batch_size=10, **kw) -> Curriculum:
    cfg = CurriculumConfig.model_validate({"stages": stages, **kw})
    names = sorted({t for s in stages for t in s["tasks"]})
    return Curriculum(cfg, [make_task(n) for n in names], seed=seed, batch_size=batch_size)


def train(c: Curriculum, steps: int) -> list[int]:
    """Draw ``steps`` steps under the current mix (the rows trained on); the rows drawn."""
    mix = c.mix(c.stream.step)
    return [r for _ in range(steps) for r in c.draw(mix)]


def scores(se: float = 0.0, **em) -> dict:
    return {t: {"exact_match": v, "exact_match_se": se, "prob": v} for t, v in em.items()}


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
    # Stage b has no milestone: its max_steps (30 from the evaluation at step 40 that began it,
    # its examples from step 42 on) ends it at the first evaluation at >= 70.
    for step in (50, 60):
        assert c.on_evaluate(step, scores(a=0.9, b=1.0, c=0.0)) == ([], None)
    records, mix = c.on_evaluate(70, scores(a=0.9, b=1.0, c=0.0))
    assert [(r["event"], r["reason"], r["steps_in_stage"]) for r in records] == [("stage", "max_steps", 30)]
    assert mix.weights == {"a": 0.25, "b": 0.25, "c": 0.5} and mix.stage == 2
    # The last stage: its milestone (every task of it, the worst) is logged once and changes nothing.
    assert c.on_evaluate(90, scores(a=0.9, b=0.9, c=0.4)) == ([], None)
    records, mix = c.on_evaluate(100, scores(a=0.9, b=0.9, c=0.6))
    assert [(r["event"], r["final"], r["values"]) for r in records] == [("milestone", True, {"a": 0.9, "b": 0.9,
                                                                                              "c": 0.6})]
    assert mix is None and c.on_evaluate(110, scores(a=0.9, b=0.9, c=0.7)) == ([], None)
    assert [e["step"] for e in c.stage_ends] == [40, 70]
    assert c.stage_ends[0]["scores"] == {"a": 0.9, "b": 0.0, "c": 0.0}
    assert c.reference == {"a": 0.9, "b": 1.0}


def test_stages_end_where_their_max_steps_add_up():
    """Stages of 4, 6 and 4 steps evaluated every 2 end at steps 4 and 10, each counted from the
    evaluation that began it (a later stage's min_steps too); the run's length is their sum."""
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 4},
              {"name": "b", "tasks": {"b": 1}, "max_steps": 6, "min_steps": 4,
               "advance_when": {"task": "b", "at_least": 0.5}},
              {"name": "c", "tasks": {"c": 1}, "max_steps": 4}]
    c = curriculum(stages)
    ends = []
    for step in range(2, c.config.steps + 1, 2):
        records, _ = c.on_evaluate(step, scores(a=0.0, b=0.0, c=0.0))
        ends += [(r["step"], r["from"], r["steps_in_stage"]) for r in records if r["event"] == "stage"]
    assert ends == [(4, "a", 4), (10, "b", 6)] and c.config.steps == 14
    assert c.stage_start == 11 and c.steps_in_stage(14) == 4
    # b's milestone from its 4th step on: held at step 6 (2 steps in) it ends nothing; at 8, b.
    m = curriculum(stages)
    assert m.on_evaluate(4, scores(a=0.0, b=0.0, c=0.0))[0][0]["to"] == "b"
    assert m.on_evaluate(6, scores(a=0.0, b=1.0, c=0.0)) == ([], None)
    records, _ = m.on_evaluate(8, scores(a=0.0, b=1.0, c=0.0))
    assert [(r["step"], r["reason"], r["steps_in_stage"]) for r in records] == [(8, "milestone", 4)]


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
    train(c, 10)  # stage a's 10 steps draw each of a's 20 items
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
    # Evaluation 5: deck 0 only; 6: decks 0 and 1; 8: all.
    assert c.pool == [pool[1]]
    records, mix = c.on_evaluate(50, scores(a=1.0, b=0.0), {pool[1]: True})
    assert records[0]["decks"] == [0, 1, 3] and c.pool == [pool[1]]  # due at 6: deck 1
    with pytest.raises(CurricleError, match="no test result"):
        c.on_evaluate(50, scores(a=1.0, b=0.0), {})


def test_a_stage_end_that_queues_nothing_logs_no_review():
    """Nothing drawn (a stage ended before any step trained it), or only items queued already
    (a stage trains a again, whose items went into the decks at its first stage's end): nothing
    goes into deck 0, and no review-added record says 0."""
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 5}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, review={"kind": "leitner", "items_per_task": 4})
    records, mix = c.on_evaluate(5, scores(a=1.0, b=0.0))
    assert [r["event"] for r in records] == ["stage"] and c.leitner.sizes() == [0, 0, 0]
    assert mix.weights == {"b": 1.0}
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 5}, {"name": "b", "tasks": {"b": 1}, "max_steps": 5},
              {"name": "a2", "tasks": {"a": 1}, "max_steps": 5}, {"name": "c", "tasks": {"c": 1}, "max_steps": 100}]
    c = curriculum(stages, review={"kind": "leitner", "items_per_task": 4})
    added = []
    for step in (5, 10, 15):
        train(c, 5)  # every item of the stage's task is drawn
        records, _ = c.on_evaluate(step, scores(a=1.0, b=1.0, c=0.0), {r: True for r in c.review_rows()})
        added += [(r["step"], r["items"]) for r in records if r["event"] == "review-added"]
    assert added == [(5, {"a": 4}), (10, {"b": 4})] and sum(c.leitner.sizes()) == 8


def test_review_never_drops_below_its_floor():
    """Scripted: every tested item is right, so from the second interval on the decks are due
    only at evaluations 4, 8, ...; in between review runs at its floor (before the floor: 0)."""
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 5}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]

    def run(floor):
        c = curriculum(stages, review={"kind": "leitner", "decks": 3, "fraction": 0.3, "floor": floor,
                                       "items_per_task": 6})
        mixes, log, per_step = [c.initial_mix()], [], []
        for k in range(60):  # 12 evaluations, one every 5 steps
            mix = [m for m in mixes if m.start <= k][-1]
            rows = c.draw(mix)
            per_step.append((mix.weights.get(REVIEW, 0.0), sum(c.task_of[r] == "a" for r in rows)))
            if (k + 1) % 5 == 0:
                records, new = c.on_evaluate(k + 1, scores(a=1.0, b=0.5), {r: True for r in c.review_rows()})
                log += records
                if new is not None:
                    mixes.append(new)
        return c, log, per_step[6:]  # stage a ends at step 5: b's examples (and review) from step 7 on

    c, log, steps = run(floor=0.1)
    # Due at evaluations 2, 4, 8 and 12 (deck 0 at 2, then every item in deck 1, then in deck 2).
    assert [r["evaluation"] for r in log if r["event"] == "review"] == [2, 4, 8, 12]
    floor = [r for r in log if r["event"] == "review-floor"]
    assert [r["evaluation"] for r in floor] == [2, 4, 5, 6, 8, 9, 10, 12]
    assert [r["floor_intervals"] for r in floor] == list(range(1, 9)) and c.floor_intervals == 8
    assert all(r["share"] == 0.1 and r["items"] == 6 for r in floor)
    assert {w for w, _ in steps} == {0.1, 0.3}
    # 10 examples a step: 1 at the floor, 3 when decks are due; never fewer.
    assert all(n == round(10 * w) for w, n in steps) and min(n for _, n in steps) == 1
    assert sum(w == 0.1 for w, _ in steps) == 7 * 5  # the intervals after evaluations 2 ... 10
    # Without a floor, those intervals review nothing, and no floor interval is logged or counted.
    c, log, steps = run(floor=0.0)
    assert min(n for _, n in steps) == 0 and sum(n == 0 for _, n in steps) == 7 * 5
    assert [r["evaluation"] for r in log if r["event"] == "review"] == [2, 4, 8, 12]
    assert [r for r in log if r["event"] == "review-floor"] == [] and c.floor_intervals == 0


def test_review_holds_only_items_training_drew():
    """Stage a ends at step 5 under pacing that had released a's 5 easiest items (4, then 5 of
    20): only those, trained on, go into the decks, though items_per_task asks for 8; with 3,
    the first 3 of them by the review hash. The kept rows survive a JSON round trip."""
    import json

    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 5,
               "pacing": {"kind": "fixed_linear", "start": 0.2, "steps": 100}},
              {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, review={"kind": "leitner", "items_per_task": 8})
    drawn = train(c, 5)
    assert sorted({c.rows[r].item.id for r in drawn}) == ["a-0", "a-1", "a-2", "a-3", "a-4"]
    records, _ = c.on_evaluate(5, scores(a=1.0, b=0.0))
    assert [r for r in records if r["event"] == "review-added"] == [
        {"event": "review-added", "step": 5, "items": {"a": 5}, "decks": [5, 0, 0]}]
    assert set(c.leitner.deck_of) == set(drawn)
    few = curriculum(stages, review={"kind": "leitner", "items_per_task": 3})
    assert train(few, 5) == drawn
    restored = curriculum(stages, review={"kind": "leitner", "items_per_task": 3})
    restored.load_state_dict(json.loads(json.dumps(few.state_dict())))
    assert restored.review_candidates == few.review_candidates
    few.on_evaluate(5, scores(a=1.0, b=0.0))
    first = sorted(set(drawn), key=lambda r: unit_hash("review", "a", c.rows[r].item.id))[:3]
    assert list(few.leitner.deck_of) == first
    old = {k: v for k, v in few.state_dict().items() if k != "review_candidates"}
    with pytest.raises(CurricleError, match=r"^--resume: .* \(no review_candidates, which curriculum.review: leitner"):
        curriculum(stages, review={"kind": "leitner"}).load_state_dict(old)


def test_leitner_items_are_tested_on_fresh_heldout_items_of_their_task():
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 10}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, review={"kind": "leitner", "decks": 3, "fraction": 0.2, "items_per_task": 3})
    assert c.review_tests() == []
    train(c, 10)
    c.on_evaluate(10, scores(a=1.0, b=0.0))
    pool = c.review_rows()
    tests = c.review_tests()
    assert [(r, t) for r, t, _ in tests] == [(r, "a") for r in pool] and len(pool) == 3
    heldout = c.tasks["a"].heldout
    train_ids = {c.rows[r].item.id for r in range(len(c.rows))}
    first = [i for _, _, i in tests]
    assert all(i in heldout for i in first) and not {i.id for i in first} & train_ids
    assert first == c.test_items["a"][:3] and c.review_tests() == tests  # asking again takes none
    # The next tests go on through the cycle of a's 4 held-out items: the fourth, then the first again.
    c.on_evaluate(20, scores(a=1.0, b=0.0), {pool[0]: True, pool[1]: False, pool[2]: False})
    assert c.tests_taken == {"a": 3, "b": 0} and c.review_rows() == [pool[1], pool[2]]
    assert [i for _, _, i in c.review_tests()] == [c.test_items["a"][3], c.test_items["a"][0]]
    # Within one evaluation the draw is without replacement while the task has enough held-out
    # items (4 here); 6 due rows take the 4, then the cycle wraps: the first 2 judge 2 rows each.
    six = curriculum(stages, review={"kind": "leitner", "decks": 3, "fraction": 0.2, "items_per_task": 6})
    train(six, 10)
    six.on_evaluate(10, scores(a=1.0, b=0.0))
    held = six.test_items["a"]
    assert [i for _, _, i in six.review_tests()] == [held[0], held[1], held[2], held[3], held[0], held[1]]
    # A task without held-out items cannot have its Leitner items tested.
    cfg = CurriculumConfig.model_validate({"stages": stages, "review": {"kind": "leitner"}})
    bare = make_task("a")
    bare.heldout = []
    with pytest.raises(CurricleError, match="task a has no held-out items"):
        Curriculum(cfg, [bare, make_task("b")])


def test_replay_and_revisits_at_margin_se_standard_errors():
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 10}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, review={"kind": "replay", "fraction": 0.1}, revisit_when={"margin_se": 2, "weight": 0.3})
    _, mix = c.on_evaluate(10, scores(a=1.0, b=0.0, se=3 / 64))
    assert mix.weights == {"b": pytest.approx(0.9), "a": pytest.approx(0.1)} and c.reference_se == {"a": 3 / 64}
    # The drop's error: hypot(3/64, 4/64) = 5/64; the margin 2 x 5/64 = 0.15625. A drop of exactly
    # that is not more than the margin: no revisit; 0.1875 is: revisit.
    assert c.on_evaluate(20, scores(a=1 - 0.15625, b=0.1, se=4 / 64)) == ([], None)
    records, mix = c.on_evaluate(30, scores(a=1 - 0.1875, b=0.1, se=4 / 64))
    assert [(r["event"], r["task"], r["score"], r["reference"], r["drop"], r["se"], r["limit"]) for r in records] == [
        ("revisit", "a", 0.8125, 1.0, 0.1875, 5 / 64, 0.15625)]
    assert mix.weights == {"b": pytest.approx(0.6), "a": pytest.approx(0.4)}
    # Recovered once back within the margin: a drop of 0.171875 is not, 0.15625 is.
    assert c.on_evaluate(40, scores(a=1 - 0.171875, b=0.1, se=4 / 64)) == ([], None)
    records, mix = c.on_evaluate(50, scores(a=1 - 0.15625, b=0.1, se=4 / 64))
    assert [(r["event"], r["limit"]) for r in records] == [("recovered", 0.15625)]
    assert mix.weights == {"b": pytest.approx(0.9), "a": pytest.approx(0.1)}
    # A standard error that cannot be computed (NaN: fewer than 2 items) counts as 0: a drop of
    # 0.125 is more than 2 x 3/64 (with 4/64 now it would not be more than 2 x 5/64).
    records, _ = c.on_evaluate(60, scores(a=0.875, b=0.1, se=float("nan")))
    assert [(r["event"], r["se"], r["limit"]) for r in records] == [("revisit", 3 / 64, 0.09375)]


def test_a_revisit_ends_when_a_later_stage_trains_the_task():
    """a regresses in stage b (a revisit); stage c trains a again: the revisit ends with a
    record saying why, not silently, and a is no longer revisited."""
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 5}, {"name": "b", "tasks": {"b": 1}, "max_steps": 10},
              {"name": "c", "tasks": {"a": 1, "c": 1}, "max_steps": 100}]
    c = curriculum(stages, revisit_when={"margin_se": 1.0, "weight": 0.2})
    c.on_evaluate(5, scores(a=1.0, b=0.0, c=0.0, se=0.03))
    records, _ = c.on_evaluate(10, scores(a=0.5, b=0.5, c=0.0, se=0.04))
    assert [(r["event"], r["task"]) for r in records] == [("revisit", "a")] and c.revisiting == ["a"]
    records, mix = c.on_evaluate(20, scores(a=0.625, b=0.5, c=0.0, se=0.04))
    assert [r["event"] for r in records] == ["stage", "revisit-end"] and c.revisiting == []
    assert records[1] == {"event": "revisit-end", "step": 20, "task": "a", "score": 0.625, "reference": 1.0,
                          "why": "stage c trains it", "effective_from_step": 22}
    assert mix.weights == {"a": 0.5, "c": 0.5}


def test_a_revisit_open_when_the_run_ends_is_closed_with_it():
    """a regresses in the last stage and is still revisited at the run's end: the end closes it
    with a record (nothing follows it, so no effective_from_step); a closed one is not closed
    again, and a run without revisits logs nothing."""
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 5}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, revisit_when={"margin_se": 1.0, "weight": 0.2})
    c.on_evaluate(5, scores(a=1.0, b=0.0, se=0.03))
    last = scores(a=0.5, b=0.5, se=0.04)
    records, _ = c.on_evaluate(10, last)
    assert [(r["event"], r["task"]) for r in records] == [("revisit", "a")]
    assert c.on_end(12, last) == [{"event": "revisit-end", "step": 12, "task": "a", "score": 0.5, "reference": 1.0,
                                   "why": "the run ended"}]
    assert c.revisiting == [] and c.on_end(12, last) == []
    assert curriculum(stages).on_end(12, last) == []


def test_scores_without_standard_errors_are_refused_by_revisits():
    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 10}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    c = curriculum(stages, revisit_when={})
    with pytest.raises(CurricleError, match="no 'exact_match_se'"):
        c.on_evaluate(10, {"a": {"exact_match": 1.0}, "b": {"exact_match": 0.0}})
    # Without revisits nothing reads them: a stage ends on scores that have none.
    plain = curriculum(stages)
    records, mix = plain.on_evaluate(10, {"a": {"exact_match": 1.0}, "b": {"exact_match": 0.0}})
    assert [r["event"] for r in records] == ["stage"] and mix.weights == {"b": 1.0} and plain.stage == 1


def test_state_round_trip_continues_the_same_decisions():
    stages = STAGES
    a, b = curriculum(stages), curriculum(stages)
    seq = [(10, 0.9), (20, 0.9), (30, 0.1), (60, 0.2), (80, 0.3), (90, 0.6)]
    for step, v in seq[:3]:
        a.on_evaluate(step, scores(a=v, b=v, c=v))
    b.load_state_dict(a.state_dict())
    for step, v in seq[3:]:
        assert a.on_evaluate(step, scores(a=v, b=v, c=v)) == b.on_evaluate(step, scores(a=v, b=v, c=v))
    # A config with fewer stages than the checkpoint has reached: one line, not an IndexError.
    state = a.state_dict()
    assert state["stage"] == 2
    fewer = curriculum([stages[0], stages[2]])  # the same tasks, one stage less
    with pytest.raises(CurricleError, match=r"^curriculum.stages: the checkpoint is in stage 3, but this config has 2; "
                                            r"resume with its stages$"):
        fewer.load_state_dict(state)


def test_state_round_trip_with_review_floor_and_revisits():
    """Leitner decks, the held-out tests taken, the floor's count and the revisits' references
    (with their errors) survive a JSON round trip: the same decisions and mixes after it."""
    import json

    stages = [{"name": "a", "tasks": {"a": 1}, "max_steps": 5}, {"name": "b", "tasks": {"b": 1}, "max_steps": 100}]
    kw = {"review": {"kind": "leitner", "decks": 2, "fraction": 0.3, "floor": 0.1, "items_per_task": 3},
          "revisit_when": {"margin_se": 1.0, "weight": 0.2}}
    a, b = curriculum(stages, **kw), curriculum(stages, **kw)
    seq = [(5, 0.9), (10, 0.5), (15, 0.9), (20, 0.9), (25, 0.4), (30, 0.9), (35, 0.9)]

    def step(c, k, v):
        return c.on_evaluate(k, scores(a=v, b=0.5, se=0.05), {r: v > 0.5 for r in c.review_rows()})

    train(a, 5)
    for k, v in seq[:4]:
        step(a, k, v)
    assert a.floor_intervals == 1 and a.tests_taken["a"] == 9 and a.reference_se == {"a": 0.05}
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.review_tests() == a.review_tests() and b.mix(21) == a.mix(21)
    for k, v in seq[4:]:
        assert step(a, k, v) == step(b, k, v)
    old = {k: v for k, v in a.state_dict().items() if k not in ("reference_se", "tests_taken", "floor_intervals")}
    with pytest.raises(CurricleError, match="the checkpoint's curriculum state is from an older curricle"):
        curriculum(stages, **kw).load_state_dict(old)


def test_a_resume_on_other_task_items_is_refused_in_one_line():
    """The state records each task's fingerprint; a curriculum built on other items (one
    completion changed, an item more, a task added) refuses it, naming the task; a state from
    before fingerprints were recorded loads unchecked."""
    from dataclasses import replace

    stages = [{"name": "s", "tasks": {"a": 1, "b": 1}, "max_steps": 10}]
    cfg = CurriculumConfig.model_validate({"stages": stages})
    a, b = make_task("a"), make_task("b")
    state = Curriculum(cfg, [a, b], batch_size=10).state_dict()
    assert state["tasks"] == {"a": a.fingerprint(), "b": b.fingerprint()} and a.fingerprint() != b.fingerprint()
    Curriculum(cfg, [make_task("a"), make_task("b")], batch_size=10).load_state_dict(state)  # same items: loads
    edited = replace(b, train=[*b.train[:3], replace(b.train[3], completion=" 33"), *b.train[4:]])
    longer = make_task("b", n=21)
    for tasks, stage_tasks, what in [
        ([a, edited], {"a": 1, "b": 1}, "task 'b' has other items (its file or generator changed)"),
        ([a, longer], {"a": 1, "b": 1}, "task 'b' has other items (its file or generator changed)"),
        ([a, b, make_task("c")], {"a": 1, "b": 1, "c": 1}, "task 'c' is new"),
        ([a], {"a": 1}, "task 'b' is gone"),
    ]:
        cfg2 = CurriculumConfig.model_validate({"stages": [{"name": "s", "tasks": stage_tasks, "max_steps": 10}]})
        with pytest.raises(CurricleError) as err:
            Curriculum(cfg2, tasks, batch_size=10).load_state_dict(state)
        assert str(err.value) == (f"--resume: {what} since the checkpoint was saved, whose data order indexes "
                                  f"the items it had; resume with the same tasks, or start a new run (model.path: "
                                  f"the checkpoint)")
    old = {k: v for k, v in state.items() if k != "tasks"}
    Curriculum(cfg, [a, edited], batch_size=10).load_state_dict(old)


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
