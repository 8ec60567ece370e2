"""The fine-tuning config's review, revisit and learning-rate knobs: defaults and one-line errors."""

from __future__ import annotations

import pytest

from curricle.config import parse_model
from curricle.errors import CurricleError
from curricle.finetune.config import FinetuneConfig


def config(**curriculum) -> dict:
    return {"model": {"path": "runs/none"}, "tasks": [{"name": "a", "source": {"kind": "builtin", "skill": "reverse"}},
                                                     {"name": "b", "source": {"kind": "builtin", "skill": "copy"}}],
            "curriculum": {"stages": [{"name": "s1", "tasks": {"a": 1}, "max_steps": 5},
                                      {"name": "s2", "tasks": {"b": 1}, "max_steps": 5}], **curriculum}}


def test_defaults_floor_margin_se_and_lr_scale():
    c = parse_model(config(review={"kind": "leitner"}, revisit_when={}), FinetuneConfig, "ft").curriculum
    assert (c.review.fraction, c.review.floor) == (0.2, 0.1)
    assert (c.revisit_when.margin_se, c.revisit_when.weight) == (2.0, 0.25)
    assert [s.lr_scale for s in c.stages] == [1.0, 1.0]


@pytest.mark.parametrize("curriculum, message", [
    ({"revisit_when": {"margin": 0.1}},
     "ft: curriculum.revisit_when.margin was renamed: use curriculum.revisit_when.margin_se (standard errors of "
     "the task's score, not score points)"),
    ({"review": {"kind": "leitner", "fraction": 0.2, "floor": 0.3}},
     "ft: curriculum.review.leitner: floor (0.3) must be at most fraction (0.2)"),
    ({"review": {"kind": "leitner", "floor": -0.1}}, "ft: curriculum.review.floor: Input should be greater than "
                                                     "or equal to 0"),
    ({"revisit_when": {"margin_se": 0}}, "ft: curriculum.revisit_when.margin_se: Input should be greater than 0"),
])
def test_bad_values_are_one_line_errors(curriculum, message):
    with pytest.raises(CurricleError) as err:
        parse_model(config(**curriculum), FinetuneConfig, "ft")
    assert str(err.value) == message


def test_lr_scale_must_be_positive():
    cfg = config()
    cfg["curriculum"]["stages"][1]["lr_scale"] = 0
    with pytest.raises(CurricleError, match=r"curriculum.stages.1.lr_scale: Input should be greater than 0"):
        parse_model(cfg, FinetuneConfig, "ft")


def test_a_task_sources_field_is_named_without_its_kind():
    cfg = config()
    cfg["tasks"][0]["source"]["n_trian"] = 3
    with pytest.raises(CurricleError) as err:
        parse_model(cfg, FinetuneConfig, "ft")
    assert str(err.value) == "ft: tasks.0.source.n_trian: unknown key"
