"""A checkpoint's pass rate on each of two task sets, and how it moved: "the new version is
harder" as a number with an interval.

:func:`pass_rates` samples completions of each task's items from an HF checkpoint and grades
them with the task's own grader (a task file's: exact match); :func:`pass_rate_shift` gives
NEW's pass rate minus OLD's per task and overall with Newcombe's 95% interval
(:func:`curricle.drift.stats.newcombe_difference`). With ``--ref-model CHECKPOINT``, two task
sets are compared on it by the ``pass_rate`` section (:mod:`curricle.drift.sections.pass_rate`),
which scores each item once through :func:`item_passes` (a separate module: it loads torch and
transformers, which a comparison of stores never needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from curricle.drift.corpus import Corpus
from curricle.drift.stats import newcombe_difference
from curricle.drift.tasks import item_prompt
from curricle.graders.base import build_grader, grade_all
from curricle.graders.config import GraderSpec
from curricle.posttrain.checkpoints import load_model
from curricle.posttrain.sampling import sample_completions
from curricle.tasks.items import unit_hash


def item_passes(model, tokenizer, items: list, grader_spec: dict[str, Any], samples: int, temperature: float = 1.0,
                seed: int = 0, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Per item: how many of ``samples`` completions, sampled from ``model`` at ``temperature``,
    the task's grader passes (score 1), and how many it graded; and the ungraded ones by reason
    (grader errors, timeouts: counted, never scored 0). Completions are cut at the first newline
    and at the longest completion's characters + 2 tokens, as scoring does."""
    if not items:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), {}
    groups = sample_completions(model, tokenizer, [item_prompt(i) for i in items], samples, temperature, 1.0,
                                max(len(i.completion) for i in items) + 2, ["\n"], seed, batch_size)
    grader = build_grader(TypeAdapter(GraderSpec).validate_python(grader_spec))
    owner = np.repeat(np.arange(len(items)), [len(g) for g in groups])
    flat_items = [i for i, g in zip(items, groups) for _ in g]
    grades, reasons = grade_all(grader, flat_items, [c for g in groups for c in g])
    passed, graded = np.zeros(len(items), dtype=np.int64), np.zeros(len(items), dtype=np.int64)
    for k, g in zip(owner, grades):
        if g.score is not None:
            graded[k] += 1
            passed[k] += g.score >= 1.0
    return passed, graded, dict(reasons)


def pass_rates(checkpoint: Path | str, corpus: Corpus, samples: int = 4, max_items: int | None = 256,
               temperature: float = 1.0, seed: int = 0, batch_size: int = 16) -> dict[str, dict[str, Any]]:
    """Per task of a task side: how many of ``samples`` completions per item, sampled from the
    HF checkpoint at ``checkpoint``, its grader passes, over the task's first ``max_items``
    items by hash of their id (None: all) (:func:`item_passes`)."""
    model, tokenizer = load_model(Path(checkpoint))
    model.eval()
    out = {}
    for task, items in sorted(corpus.info["items"].items()):
        chosen = sorted(items, key=lambda i: unit_hash(task, i.id))[:max_items]
        passed, graded, reasons = item_passes(model, tokenizer, chosen, corpus.info["graders"][task], samples,
                                              temperature, seed, batch_size)
        out[task] = {"items": len(chosen), "samples": samples, "passed": int(passed.sum()),
                     "graded": int(graded.sum()), "ungraded": reasons}
    return out


def pass_rate_shift(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """OLD's and NEW's pass rates (from :func:`pass_rates`) per task both have and over every
    task, with NEW minus OLD and its 95% Newcombe interval: an interval below 0 says the new
    version is harder for the checkpoint. Samples of one item are not independent, so with
    ``samples`` > 1 the interval is narrower than the items alone would give."""
    def row(k0: int, n0: int, k1: int, n1: int) -> dict[str, Any]:
        if not n0 or not n1:
            return {"old": None if not n0 else round(k0 / n0, 6), "new": None if not n1 else round(k1 / n1, 6)}
        d, lo, hi = newcombe_difference(k0, n0, k1, n1)
        return {"old": round(k0 / n0, 6), "new": round(k1 / n1, 6), "difference": round(d, 6),
                "interval": [round(lo, 6), round(hi, 6)], "graded": [n0, n1]}

    tasks = {t: row(old[t]["passed"], old[t]["graded"], new[t]["passed"], new[t]["graded"])
             for t in sorted(set(old) & set(new))}
    total = row(sum(r["passed"] for r in old.values()), sum(r["graded"] for r in old.values()),
                sum(r["passed"] for r in new.values()), sum(r["graded"] for r in new.values()))
    return {"total": total, "tasks": tasks}


__all__ = ["item_passes", "pass_rates", "pass_rate_shift"]
