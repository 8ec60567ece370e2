"""Rejection-sampling fine-tuning keeps exactly the passing completions, and its file is a task
``curricle finetune`` reads."""

from __future__ import annotations

import json

import pytest
import yaml

from curricle.rft.command import select
from tests.finetune.conftest import tiny_checkpoint


def test_select_keeps_passing_unique_shortest_first():
    completions = [" abc", " a", " abc", " ab", " zz", " a"]
    scores = [1.0, 1.0, 1.0, 0.0, 1.0, None]
    assert select(completions, scores, keep=2, order="shortest") == [" a", " zz"]
    assert select(completions, scores, keep=5, order="first") == [" abc", " a", " zz"]
    assert select(completions, [0.0] * 6, keep=3, order="shortest") == []


def test_a_distilling_runs_student_not_found_is_a_one_line_error_before_the_teacher_loads(tmp_path):
    """The student renders the written file's prompts; a wrong path was an OSError about
    huggingface.co after the teacher had loaded (here the teacher is never read)."""
    from curricle.errors import CurricleError
    from curricle.rft.command import rft_run
    from curricle.rft.config import RFTConfig

    tasks = [{"name": "rev", "source": {"kind": "builtin", "skill": "reverse", "n_train": 4, "n_heldout": 2,
                                        "n_test": 2}}]
    cfg = RFTConfig.model_validate({"teacher": {"path": str(tmp_path / "teacher")}, "tasks": tasks})
    missing = tmp_path / "no-such-student"
    with pytest.raises(CurricleError) as err:
        rft_run(missing, cfg, tmp_path / "out.jsonl")
    assert str(err.value) == f"CHECKPOINT: {missing} is not an HF checkpoint directory (no config.json)"
    with pytest.raises(CurricleError) as err:
        rft_run(None, cfg.model_copy(update={"model": cfg.teacher.model_copy(update={"path": missing})}),
                tmp_path / "out.jsonl")
    assert str(err.value) == f"model.path: {missing} is not an HF checkpoint directory (no config.json)"
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "config.json").write_text("{}")
    with pytest.raises(CurricleError, match=rf"^CHECKPOINT: cannot load a tokenizer from {tmp_path}/bare \(") as err:
        rft_run(tmp_path / "bare", cfg, tmp_path / "out.jsonl")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out.jsonl").exists()


def even_length(item, completion):
    return float(len(completion) % 2 == 0)


@pytest.mark.slow
def test_rft_writes_the_passing_completions_as_a_task(tmp_path):
    from curricle.rft.command import rft_command
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    cfg = {"tasks": [{"name": "rev", "source": {"kind": "builtin", "skill": "reverse", "n_train": 12, "n_heldout": 4,
                                                "n_test": 3},
                      "grader": {"kind": "python", "function": f"{__name__}:even_length"}}],
           "samples": 6, "max_new_tokens": 4, "keep": 2, "grader_timeout_s": 20}
    (tmp_path / "rft.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "rft.jsonl"
    result = rft_command(ckpt, tmp_path / "rft.yaml", out)
    samples = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12 * 6 and all(s["score"] == float(len(s["completion"]) % 2 == 0) for s in samples)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    kept = [r for r in records if r["split"] == "train"]
    by_item: dict[str, list[str]] = {}
    for s in samples:
        by_item.setdefault(s["item"], []).append(s)
    want = []
    for item, ss in by_item.items():
        passing = sorted(dict.fromkeys(s["completion"] for s in ss if s["score"] == 1.0), key=len)[:2]
        want += [(item, c) for c in passing]
    assert sorted((r["id"].split(":")[1], r["completion"]) for r in kept) == sorted(want) and want
    assert result["tasks"]["rev"]["kept"] == len(want)
    assert result["tasks"]["rev"]["passed"] == sum(s["score"] == 1.0 for s in samples)
    assert [r["split"] for r in records if r["split"] != "train"] == ["heldout"] * 4 + ["test"] * 3
    (task,) = build_tasks([TaskConfig.model_validate({"name": "rev-rft", "source": {
        "kind": "jsonl", "path": str(out), "split_field": "split"}})])
    assert len(task.train) == len(want) and len(task.heldout) == 4 and len(task.test) == 3


@pytest.mark.slow
def test_a_teacher_with_another_tokenizer_writes_a_task_the_student_trains_on(tmp_path):
    from transformers import AutoTokenizer

    from curricle.finetune.command import finetune_run
    from curricle.finetune.config import FinetuneConfig
    from curricle.rft.command import rft_command

    student = tiny_checkpoint(tmp_path / "student")
    teacher = tiny_checkpoint(tmp_path / "teacher", seed=1, vocab_size=290)
    s_tok, t_tok = (AutoTokenizer.from_pretrained(str(p)) for p in (student, teacher))
    assert len(s_tok) != len(t_tok)
    source = {"kind": "builtin", "skill": "reverse", "n_train": 12, "n_heldout": 4, "n_test": 3}
    cfg = {"tasks": [{"name": "rev", "source": source,
                      "grader": {"kind": "python", "function": f"{__name__}:even_length"}}],
           "samples": 6, "max_new_tokens": 4, "keep": 2, "grader_timeout_s": 20}
    (tmp_path / "distill.yaml").write_text(yaml.safe_dump({**cfg, "teacher": {"path": str(teacher)}}))
    (tmp_path / "self.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "distill.jsonl"
    result = rft_command(student, tmp_path / "distill.yaml", out)
    assert (result["checkpoint"], result["teacher"], result["student"]) == (str(teacher), str(teacher), str(student))
    # The teacher's samples are exactly what sampling the teacher itself gives (its tokenizer decoded them).
    rft_command(teacher, tmp_path / "self.yaml", tmp_path / "self.jsonl")
    read = lambda p: [json.loads(line) for line in p.read_text().splitlines()]  # noqa: E731
    assert read(out.with_suffix(".samples.jsonl")) == read(tmp_path / "self.samples.jsonl")
    kept = [r for r in read(out) if r["split"] == "train"]
    assert kept and result["tasks"]["rev"]["kept"] == len(kept)

    ft = {"seed": 0, "model": {"path": str(student)},
          "tasks": [{"name": "distilled", "source": {"kind": "jsonl", "path": str(out), "split_field": "split"},
                     "eval_items": 4}],
          "curriculum": {"stages": [{"name": "all", "tasks": {"distilled": 1}, "max_steps": 2}], "eval_every": 2},
          "train": {"batch_size": 2, "lr": 1e-3, "checkpoint": {"every": 2}, "log_every": 1, "use_cpu": True,
                    "tensorboard": False, "eval_batch_size": 8}}
    finetune_run(FinetuneConfig.model_validate(ft), tmp_path / "ft")
    steps = [json.loads(line) for line in (tmp_path / "ft" / "metrics.jsonl").read_text().splitlines()]
    assert max(m["step"] for m in steps) == 2 and (tmp_path / "ft" / "final" / "config.json").is_file()
