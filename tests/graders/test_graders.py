"""Every grader on literal completions; a grader that raises is counted, never scored 0."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from curricle.graders.base import Grade, build_grader, grade_all
from curricle.graders.config import GraderSpec
from curricle.graders.numeric import first_number
from curricle.tasks.items import TaskItem


def grader(**cfg):
    return build_grader(TypeAdapter(GraderSpec).validate_python(cfg))


def item(target: str) -> TaskItem:
    return TaskItem("i", "q", target)


def test_exact():
    g = grader(kind="exact")
    assert g.grade(item(" 42"), "42\n") == Grade(1.0)
    assert g.grade(item(" 42"), " 421") == Grade(0.0)
    assert grader(kind="exact", strip=False).grade(item(" 42"), "42") == Grade(0.0)
    assert grader(kind="exact", case_sensitive=False).grade(item("ABC"), "abc") == Grade(1.0)


def test_numeric():
    g = grader(kind="numeric")
    assert g.grade(item("1,234"), "The answer is 1234.") == Grade(1.0)
    assert g.grade(item("12"), "12.5 or so") == Grade(0.0)
    assert grader(kind="numeric", abs_tol=0.5).grade(item("12"), "12.5") == Grade(1.0)
    assert grader(kind="numeric", rel_tol=0.1).grade(item("100"), "-> 109") == Grade(1.0)
    assert g.grade(item("7"), "seven") == Grade(0.0, "no number")
    assert g.grade(item("n/a"), "7") == Grade(None, "target is not a number")
    assert [first_number(t) for t in ("x -3.5e2 y", ".5", "none", "1,000,000 and 2")] == [-350.0, 0.5, None, 1e6]


def test_numeric_tolerance_is_abs_tol_plus_rel_tol_of_the_target():
    # |x - y| <= abs_tol + rel_tol * |y|, as documented (math.isclose would pass 11.1 against 10
    # at rel_tol 0.1, taking 10% of the larger, and fail 11.5 with abs_tol 1, taking the larger tolerance).
    assert grader(kind="numeric", rel_tol=0.1).grade(item("10"), "11.1") == Grade(0.0)
    assert grader(kind="numeric", abs_tol=1, rel_tol=0.1).grade(item("10"), "11.5") == Grade(1.0)
    assert grader(kind="numeric").grade(item("1e999"), "1e999") == Grade(1.0)  # equal infinities


def test_unicode_minus_signs_are_minus():
    assert [first_number(t) for t in ("\u22125", "x \ufe632.5", "\uff0d7", "3\u20135")] == [-5.0, -2.5, -7.0, 3.0]
    assert grader(kind="numeric").grade(item("-5"), "it is \u22125") == Grade(1.0)


def test_regex_extracts_or_checks_format():
    g = grader(kind="regex", pattern=r"answer: (\S+)")
    assert g.grade(item("dcba"), "so the answer: dcba\n") == Grade(1.0)
    assert g.grade(item("dcba"), "answer: abcd") == Grade(0.0)
    assert g.grade(item("dcba"), "dcba") == Grade(0.0, "no match")
    fmt = grader(kind="regex", pattern=r"^\s*[A-Z]+$")
    assert fmt.grade(item("ignored"), " DCBA") == Grade(1.0) and fmt.grade(item("x"), "dcba") == Grade(0.0)
    for pattern in ("(", "a{4294967296}", "(" * 100_000 + ")" * 100_000):  # re.error, OverflowError, RecursionError
        with pytest.raises(ValidationError, match="pattern\n.*not a valid regular expression"):
            grader(kind="regex", pattern=pattern)


def boom(item, completion):
    raise ZeroDivisionError("no")


def half(item, completion):
    return 0.5 if completion else None


def too_much(item, completion):
    return 2.0


def text_score(item, completion):
    return Grade("1")


def test_python_graders_and_counted_failures():
    items, completions = [item("a"), item("b"), item("c")], ["x", "", "z"]
    grades, reasons = grade_all(grader(kind="python", function=f"{__name__}:half"), items, completions)
    assert [g.score for g in grades] == [0.5, None, 0.5] and reasons == {"grader returned None": 1}
    grades, reasons = grade_all(grader(kind="python", function=f"{__name__}:boom"), items, completions)
    assert [g.score for g in grades] == [None, None, None] and reasons == {"error: ZeroDivisionError": 3}
    grades, reasons = grade_all(grader(kind="python", function=f"{__name__}:too_much"), items[:1], ["x"])
    assert grades == [Grade(None, "score out of [0, 1]")] and reasons == {"score out of [0, 1]": 1}
    grades, reasons = grade_all(grader(kind="python", function=f"{__name__}:text_score"), items[:1], ["x"])
    assert grades == [Grade(None, "score is not a number")] and reasons == {"score is not a number": 1}
    from curricle.errors import CurricleError

    with pytest.raises(CurricleError, match="cannot import 'no_such_module:f'"):
        grader(kind="python", function="no_such_module:f")


def slow(item, completion):
    if completion == "hang":
        import time

        time.sleep(60)
    return 1.0


def crash(item, completion):
    if completion == "die":
        import os

        os._exit(3)
    return 0.5


def test_a_timeout_or_a_dead_grader_is_counted_and_grading_goes_on():
    from curricle.graders.config import PythonGraderConfig
    from curricle.graders.runner import GraderRunner

    runner = GraderRunner(PythonGraderConfig(function=f"{__name__}:slow"), timeout_s=2.0)
    try:
        grades, reasons = runner.grade([item("a")] * 4, ["x", "hang", "y", "z"])
        assert [g.score for g in grades] == [1.0, None, 1.0, 1.0] and reasons == {"timeout": 1}
        grades, reasons = runner.grade([item("a")], ["again"])  # a fresh worker after the kill
        assert [g.score for g in grades] == [1.0] and not reasons
    finally:
        runner.close()
    runner = GraderRunner(PythonGraderConfig(function=f"{__name__}:crash"), timeout_s=5.0)
    try:
        grades, reasons = runner.grade([item("a")] * 3, ["x", "die", "y"])
        assert [g.score for g in grades] == [0.5, None, 0.5] and reasons == {"grader process died": 1}
    finally:
        runner.close()
    runner = GraderRunner(PythonGraderConfig(function=f"{__name__}:boom"), timeout_s=None)  # in this process
    grades, reasons = runner.grade([item("a")], ["x"])
    assert grades == [Grade(None, "error: ZeroDivisionError")]


def test_the_process_grader_scores_each_written_step():
    g = grader(kind="process")
    sum_item = TaskItem("i", "47+85=", " 7+5=12 ; 4+8+1=13 ; 132", meta={"steps": ["7+5=12", "4+8+1=13", "132"]})
    assert g.grade(sum_item, " 7+5=12 ; 4+8+1=13 ; 132") == Grade(1.0, "", (1.0, 1.0, 1.0))
    assert g.grade(sum_item, " 7+5=12 ; 4+8=12 ; 122") == Grade(0.0, "", (1.0, 0.0, 0.0))
    assert g.grade(sum_item, " 7+5=11 ; 4+8+1=13 ; 132") == Grade(1.0, "", (0.0, 1.0, 1.0))  # right by luck
    assert g.grade(sum_item, " 132") == Grade(1.0, "", (0.0, 0.0, 0.0))  # the answer alone: no steps right
    steps = grader(kind="process", reward="steps")
    assert steps.grade(sum_item, " 7+5=12 ; 4+8=12 ; 122").score == pytest.approx(1 / 3)
    assert g.grade(item("x"), "x") == Grade(None, "item has no expected steps")


def test_format_matches_the_whole_completion_or_searches_it():
    g = grader(kind="format", pattern=r"<answer>\d+</answer>")
    assert g.grade(item("7"), " <answer>12</answer>\n") == Grade(1.0)
    assert g.grade(item("7"), "so <answer>12</answer>") == Grade(0.0, "no match")
    assert g.grade(item("7"), "<answer>x</answer>") == Grade(0.0, "no match")
    assert grader(kind="format", pattern=r"<answer>\d+</answer>", full=False).grade(item("7"), "so <answer>1</answer>!") \
        == Grade(1.0)
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        grader(kind="format", pattern="(")


def test_length_penalty_over_the_budget():
    g = grader(kind="length", budget=4)  # scale = budget: 1 at 8 characters and beyond
    assert [g.grade(item(""), c).score for c in ("", "abcd", "abcde", "abcdef", "abcdefgh", "a" * 30)] == \
        [0.0, 0.0, 0.25, 0.5, 1.0, 1.0]
    words = grader(kind="length", budget=2, scale=4, unit="words")
    assert [words.grade(item(""), c).score for c in ("a b", "a b c", "a  b c d e f", "a b c d e f g")] == \
        [0.0, 0.25, 1.0, 1.0]
    assert grader(kind="length", budget=0).grade(item(""), "ab").score == 1.0
