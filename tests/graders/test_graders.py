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


def test_regex_extracts_or_checks_format():
    g = grader(kind="regex", pattern=r"answer: (\S+)")
    assert g.grade(item("dcba"), "so the answer: dcba\n") == Grade(1.0)
    assert g.grade(item("dcba"), "answer: abcd") == Grade(0.0)
    assert g.grade(item("dcba"), "dcba") == Grade(0.0, "no match")
    fmt = grader(kind="regex", pattern=r"^\s*[A-Z]+$")
    assert fmt.grade(item("ignored"), " DCBA") == Grade(1.0) and fmt.grade(item("x"), "dcba") == Grade(0.0)
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        grader(kind="regex", pattern="(")


def boom(item, completion):
    raise ZeroDivisionError("no")


def half(item, completion):
    return 0.5 if completion else None


def too_much(item, completion):
    return 2.0


def test_python_graders_and_counted_failures():
    items, completions = [item("a"), item("b"), item("c")], ["x", "", "z"]
    grades, reasons = grade_all(grader(kind="python", function=f"{__name__}:half"), items, completions)
    assert [g.score for g in grades] == [0.5, None, 0.5] and reasons == {"grader returned None": 1}
    grades, reasons = grade_all(grader(kind="python", function=f"{__name__}:boom"), items, completions)
    assert [g.score for g in grades] == [None, None, None] and reasons == {"error: ZeroDivisionError": 3}
    grades, reasons = grade_all(grader(kind="python", function=f"{__name__}:too_much"), items[:1], ["x"])
    assert grades == [Grade(None, "score out of [0, 1]")] and reasons == {"score out of [0, 1]": 1}
    from curricle.errors import CurricleError

    with pytest.raises(CurricleError, match="cannot import 'no_such_module:f'"):
        grader(kind="python", function="no_such_module:f")
