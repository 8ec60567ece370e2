"""Preference pairs: read from files or built from graded samples, split, and put into margin
bands.

- :func:`read_pair_file`: a JSON Lines file or an HF dataset on disk, one pair a record
  (``prompt``, ``chosen``, ``rejected``, optionally ``task`` and ``margin``); a record missing a
  field, or a line (a row) that is not UTF-8 or not JSON, is a one-line error naming the file,
  the record and what is wrong.
- :func:`pairs_from_grades`: one prompt's scored samples -> its pairs (chosen the best-scored,
  the first sampled on ties; rejected the worst-scored, or with ``rejected: each`` every
  distinct worse-scored completion, one pair each, as Curri-DPO ranks a prompt's responses)
  or the reason there are none (``no_margin``: no completion scored at least ``min_margin``
  and above 0 below the best; ``ungraded``: fewer than 2 scored samples); :func:`sample_pairs`
  samples a checkpoint and scores the samples with each task's grader, or with a judge
  checkpoint (:mod:`curricle.dpo.judge`), to feed it.
- :func:`band_tasks`: the pairs with a prompt of an evaluation task's held-out or test item
  dropped (``prompt_in_eval``), the rest split by a hash of the prompt into train and held-out,
  then ordered (``margin``: largest first; ``random``: a seeded hash order) and cut into the
  curriculum's bands of equal counts (a band left without a train or a held-out pair is a
  one-line error); each band is a :class:`~curricle.tasks.load.Task` whose
  items are pairs (``completion`` the chosen answer, ``meta["rejected"]`` the rejected one,
  ``difficulty`` minus the margin, so pacing takes the clearest first), so fine-tuning's
  curriculum draws them as it draws a task's items.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from curricle.dpo.config import DPOConfig, PairFile, PairsFromSamples
from curricle.dpo.judge import Judge
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.graders.config import GRADERS
from curricle.graders.runner import GraderRunner
from curricle.posttrain.sampling import sample_apart
from curricle.sources.hf_disk import UNREADABLE_DATASET
from curricle.tasks.config import ScoringConfig
from curricle.tasks.files import BAD_UTF8, dataset_rows, jsonl_lines
from curricle.tasks.items import TaskItem, normalized, unit_hash
from curricle.tasks.load import Task

FIELDS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    task: str | None = None
    margin: float | None = None
    """How much better ``chosen`` is (a grade difference, or the file's ``margin``)."""
    source: str = ""
    """Where it came from (``FILE:LINE``, or ``TASK:ITEM`` for sampled pairs)."""


def _pair(record: Any, where: str) -> Pair:
    if not isinstance(record, dict):
        raise CurricleError(f"{where}: a pair must be a mapping with {', '.join(FIELDS)}")
    for f in FIELDS:
        if f not in record:
            raise CurricleError(f"{where}: no '{f}' field (a pair needs {', '.join(FIELDS)})")
        if not isinstance(record[f], str):
            raise CurricleError(f"{where}: '{f}' must be a string, got {type(record[f]).__name__}")
    margin = record.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))
                               or not math.isfinite(margin) or margin < 0):
        raise CurricleError(f"{where}: 'margin' must be a number >= 0, got {margin!r}")
    task = record.get("task")
    return Pair(record["prompt"], record["chosen"], record["rejected"], None if task is None else str(task),
                None if margin is None else float(margin), where)


def read_pair_file(source: PairFile) -> list[Pair]:
    """Every pair of a file (see the module doc)."""
    path = Path(source.path).expanduser()
    if source.kind == "jsonl":
        if not path.is_file():
            raise CurricleError(f"pairs: no such file: {source.path}")
        out = []
        for where, line in jsonl_lines(path):
            if line is BAD_UTF8:
                raise CurricleError(f"{where}: not UTF-8 text")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CurricleError(f"{where}: not JSON ({err.msg})") from None
            out.append(_pair(record, where))
        return out
    datasets = require("datasets", "pairs kind hf-disk")
    if not path.is_dir():
        raise CurricleError(f"pairs: no such dataset directory: {source.path}")
    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as err:
        raise CurricleError(f"pairs: {source.path} is not a dataset written by save_to_disk ({err})") from None
    except UNREADABLE_DATASET as err:
        raise CurricleError(f"pairs: {source.path}: a corrupt or truncated dataset ({err})") from None
    if isinstance(ds, datasets.DatasetDict):
        raise CurricleError(f"pairs: {source.path} holds splits ({', '.join(ds)}); save one split")
    out = []
    for where, record in dataset_rows(ds, path):
        if record is BAD_UTF8:
            raise CurricleError(f"{where}: not UTF-8 text")
        out.append(_pair(record, where))
    return out


def pairs_from_grades(task: str, item_id: str, prompt: str, completions: Sequence[str],
                      scores: Sequence[float | None], min_margin: float = 0.0,
                      rejected: str = "worst") -> tuple[list[Pair], str | None]:
    """One prompt's pairs from its scored samples, or none and the reason (see the module doc).
    ``rejected: each``: one pair per distinct completion text scored below the best by at
    least ``min_margin`` (and by more than 0), the worst first (ties: the first sampled)."""
    graded = [(s, k) for k, s in enumerate(scores) if s is not None]
    if len(graded) < 2:
        return [], "ungraded"
    best = max(graded, key=lambda g: (g[0], -g[1]))
    losers = sorted((g for g in graded if g[0] < best[0] and best[0] - g[0] >= min_margin),
                    key=lambda g: (g[0], g[1]))
    if not losers:
        return [], "no_margin"
    chosen = completions[best[1]]
    if rejected == "worst":  # the lowest score (ties: the first sampled); band_tasks drops one equal to chosen
        return [Pair(prompt, chosen, completions[losers[0][1]], task, float(best[0] - losers[0][0]),
                     f"{task}:{item_id}")], None
    seen, out = {chosen}, []
    for s, k in losers:
        if completions[k] not in seen:
            seen.add(completions[k])
            out.append(Pair(prompt, chosen, completions[k], task, float(best[0] - s), f"{task}:{item_id}"))
    return out, None if out else "no_margin"


def sample_pairs(model, tokenizer, source: PairsFromSamples, tasks: dict[str, Task], task_configs: dict[str, Any],
                 seed: int, judge: Judge | None = None) -> tuple[list[Pair], dict[str, dict[str, Any]]]:
    """Pairs from ``model``'s samples of each task's train prompts, scored by each task's grader
    (``score: grader``) or by ``judge`` (``score: judge``), and per task: prompts, samples,
    pairs built and pairs dropped by reason (unscored samples by reason too)."""
    if (source.score == "judge") != (judge is not None):
        raise ValueError("sample_pairs: pass a judge exactly when the source's score is judge")
    pairs, summary = [], {}
    for name in source.tasks:
        task = tasks[name]
        items = sorted(task.train, key=lambda i: unit_hash(name, i.id))
        if source.max_prompts is not None:
            items = items[: source.max_prompts]
        groups = sample_apart(model, tokenizer, [i.prompt for i in items], source.samples, source.temperature,
                              source.max_new_tokens, task.scoring.until, seed, source.batch_size)
        flat_items = [i for i, g in zip(items, groups) for _ in g]
        flat = [c for g in groups for c in g]
        if judge is not None:
            scored, reasons = judge.score([i.prompt for i in flat_items], flat)
        else:
            gcfg = task_configs[name].grader_config()
            runner = GraderRunner(GRADERS.configs[gcfg["kind"]].model_validate(gcfg), source.grader_timeout_s)
            try:
                grades, reasons = runner.grade(flat_items, flat)
            finally:
                runner.close()
            scored = [g.score for g in grades]
        dropped: Counter = Counter()
        built = 0
        for k, (item, group) in enumerate(zip(items, groups)):
            scores = scored[k * source.samples:(k + 1) * source.samples]
            got, why = pairs_from_grades(name, item.id, item.prompt, group, scores, source.min_margin,
                                         source.rejected)
            if why is not None:
                dropped[why] += 1
            pairs.extend(got)
            built += len(got)
        summary[name] = {"prompts": len(items), "samples": len(items) * source.samples, "built": built,
                         "dropped": dict(dropped), "ungraded_samples": dict(reasons)}
    return pairs, summary


def _item(pair: Pair, k: int, split: str) -> TaskItem:
    return TaskItem(id=f"p{k}", prompt=pair.prompt, completion=pair.chosen,
                    difficulty=-(pair.margin if pair.margin is not None else 0.0), split=split,  # type: ignore[arg-type]
                    meta={"rejected": pair.rejected, "margin": pair.margin, "task": pair.task, "source": pair.source})


def band_tasks(pairs: Sequence[Pair], config: DPOConfig, eval_tasks: Sequence[Task]
               ) -> tuple[list[Task], dict[str, Any]]:
    """The bands as tasks, and what happened to the pairs (see the module doc)."""
    c = config.curriculum
    bands = c.band_names
    if c.order == "margin":
        bare = [p for p in pairs if p.margin is None]
        if bare:
            raise CurricleError(f"{bare[0].source}: no 'margin' field (curriculum.order margin needs one on every "
                                f"pair; order random or none does not)")
    dropped: Counter = Counter()
    taken = {normalized(i.prompt) for t in eval_tasks for i in (*t.heldout, *t.test)}
    kept: list[tuple[int, Pair]] = []
    for k, p in enumerate(pairs):
        if p.chosen == p.rejected:
            dropped["identical"] += 1
        elif normalized(p.prompt) in taken:
            dropped["prompt_in_eval"] += 1
        else:
            kept.append((k, p))
    if not kept:
        raise CurricleError("pairs: no pair left to train on" + (f" (dropped: {dict(dropped)})" if dropped else ""))
    if c.order == "margin":
        kept.sort(key=lambda kp: (-kp[1].margin, unit_hash("pair", str(config.seed), str(kp[0]))))
    else:
        kept.sort(key=lambda kp: unit_hash("pair", str(config.seed), str(kp[0])))
    n = len(kept)
    # Equal counts: band b holds ranks [b*n//B, (b+1)*n//B).
    cuts = [b * n // len(bands) for b in range(len(bands) + 1)]
    out, counts = [], {}
    for b, band in enumerate(bands):
        train, heldout = [], []
        for k, p in kept[cuts[b]:cuts[b + 1]]:
            held = unit_hash("dpo-heldout", str(config.seed), normalized(p.prompt)) < config.heldout_pairs
            (heldout if held else train).append(_item(p, k, "heldout" if held else "train"))
        if not train or not heldout:  # a band is trained on its train pairs and scored on its held-out ones
            what, fix = ("train", "fewer bands or more pairs") if not train else (
                "held-out", "fewer bands, more pairs or a larger heldout_pairs")
            raise CurricleError(f"curriculum.bands: band {band} has no {what} pair ({n} pairs in {len(bands)} bands, "
                                f"heldout_pairs {config.heldout_pairs}); use {fix}")
        margins = [i.meta["margin"] for i in train + heldout if i.meta["margin"] is not None]
        counts[band] = {"train": len(train), "heldout": len(heldout),
                        "margin": [min(margins), max(margins)] if margins else None}
        out.append(Task(name=band, skill="preference", scoring=ScoringConfig(), train=train, heldout=heldout, test=[],
                        eval_items=config.train.eval_pairs))
    summary = {"pairs": len(pairs), "kept": n, "dropped": dict(dropped), "order": c.order, "bands": counts}
    return out, summary
