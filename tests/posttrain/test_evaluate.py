"""Held-out grading in the post-training evaluator: a user's grader that hangs is counted."""

from __future__ import annotations

import os
import time

from transformers import AutoModelForCausalLM, AutoTokenizer

from curricle.posttrain.evaluate import Evaluator
from curricle.tasks.config import TaskConfig
from curricle.tasks.load import build_tasks
from tests.finetune.conftest import tiny_checkpoint

HANG = "CURRICLE_TEST_HANG_ON"


def hang_on_one(item, completion):
    """1.0, except on the item the test names (in the environment the grader's worker inherits)."""
    if item.id == os.environ.get(HANG):
        time.sleep(60)
    return 1.0


def test_a_grader_that_hangs_leaves_its_item_ungraded_and_the_evaluation_goes_on(tmp_path, monkeypatch):
    path = tiny_checkpoint(tmp_path / "ckpt")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    cfg = TaskConfig.model_validate({
        "name": "copy", "source": {"kind": "builtin", "skill": "copy", "n_train": 4, "n_heldout": 3},
        "scoring": {"metric": "grader", "max_new_tokens": 4,
                    "grader": {"kind": "python", "function": f"{__name__}:hang_on_one"}}})
    (task,) = build_tasks([cfg], tokenizer)
    monkeypatch.setenv(HANG, task.eval_set()[1].id)
    evaluator = Evaluator([task], tokenizer, grader_timeout_s=2.0)
    try:
        t0 = time.perf_counter()
        scores = evaluator.evaluate(model)["copy"]
        assert time.perf_counter() - t0 < 30
    finally:
        evaluator.close()
    assert (scores["n"], scores["ungraded"], scores["score"]) == (3, 1, 1.0)
    assert evaluator.ungraded["copy"] == {"timeout": 1}
