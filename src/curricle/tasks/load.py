"""Tasks with their items: loaded, rendered, split, and checked for leaks.

:func:`build_tasks` loads every task of a config, renders chat items with the model's chat
template, and checks that no held-out or test item can be learned from training: a train
item whose prompt (whitespace collapsed) is the prompt of any task's held-out or test item is
removed from training and counted (``overlap_dropped``), as the probes' contamination check
does for pretraining data.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from curricle import atomic
from curricle.errors import CurricleError
from curricle.tasks.config import TASK_SOURCES, ScoringConfig, TaskConfig
from curricle.tasks.items import TaskItem, normalized, unit_hash

log = logging.getLogger(__name__)


@dataclass
class Task:
    """A task's items by split, and how it is scored."""

    name: str
    skill: str
    scoring: ScoringConfig
    train: list[TaskItem]
    heldout: list[TaskItem]
    test: list[TaskItem]
    eval_items: int | None = 64
    skipped: list[tuple[str, str]] = field(default_factory=list)
    overlap_dropped: int = 0

    def eval_set(self, split: str = "heldout") -> list[TaskItem]:
        """The items scored at each evaluation: the first ``eval_items`` held-out items by
        hash of their id (all test items for ``split="test"``)."""
        if split == "test":
            return list(self.test)
        items = sorted(self.heldout, key=lambda i: unit_hash(self.name, i.id))
        return items if self.eval_items is None else items[: self.eval_items]

    def fingerprint(self) -> str:
        """The sha256 of the task's items by split, in order (id, prompt, completion, difficulty,
        distractors): two loads with the same fingerprint give a run the same rows."""
        h = hashlib.sha256()
        for split, items in (("train", self.train), ("heldout", self.heldout), ("test", self.test)):
            for i in items:
                h.update(json.dumps([split, i.id, i.prompt, i.completion, i.difficulty, list(i.distractors)],
                                    ensure_ascii=False).encode("utf-8"))
                h.update(b"\n")
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        return {"task": self.name, "skill": self.skill, "train": len(self.train), "heldout": len(self.heldout),
                "test": len(self.test), "skipped": dict(Counter(r for _, r in self.skipped)),
                "overlap_dropped": self.overlap_dropped,
                "difficulty": [min((i.difficulty for i in self.train), default=0.0),
                               max((i.difficulty for i in self.train), default=0.0)]}


def fingerprints(tasks: Sequence[Task]) -> dict[str, str]:
    """Task -> :meth:`Task.fingerprint`, what a run's checkpoints record of its items."""
    return {t.name: t.fingerprint() for t in tasks}


def check_fingerprints(saved: dict[str, str] | None, now: dict[str, str]) -> None:
    """Refuse, in one line naming the task, to resume a run on other items than its
    checkpoint's (``saved``): its data order indexes the items it had. None (a checkpoint from
    before curricle recorded them) is not checked."""
    if saved is None:
        return
    changed = [t for t in (*now, *[t for t in saved if t not in now]) if saved.get(t) != now.get(t)]
    if changed:
        t = changed[0]
        what = "is new" if t not in saved else "is gone" if t not in now else "has other items (its file or " \
               "generator changed)"
        raise CurricleError(f"--resume: task '{t}' {what} since the checkpoint was saved, whose data order indexes "
                            f"the items it had; resume with the same tasks, or start a new run (model.path: the "
                            f"checkpoint)")


def render_chat(item: TaskItem, tokenizer: Any, task: str) -> TaskItem:
    """A chat item with its prompt rendered by the tokenizer's chat template (the generation
    prompt added) and the assistant's answer as the completion."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise CurricleError(f"task {task}: chat items need a tokenizer with a chat template (the model's has none); "
                            f"use prompt/completion fields instead")
    prompt = tokenizer.apply_chat_template(list(item.messages[:-1]), tokenize=False, add_generation_prompt=True)
    return replace(item, prompt=prompt)


def build_tasks(configs: Sequence[TaskConfig], tokenizer: Any = None) -> list[Task]:
    """Every task's items, split and checked (see the module doc)."""
    names = [c.name for c in configs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CurricleError(f"tasks: '{dup[0]}' is defined more than once")
    tasks = []
    for config in configs:
        items, skipped = TASK_SOURCES[config.source.kind](config.source, config.name)
        items = [render_chat(i, tokenizer, config.name) if i.messages is not None else i for i in items]
        if config.scoring.metric == "loglikelihood":
            bare = [i.id for i in items if i.split != "train" and not i.distractors]
            if bare:
                raise CurricleError(f"task {config.name}: scoring.metric loglikelihood needs distractors; "
                                    f"item {bare[0]!r} has none")
        by_split = {s: [i for i in items if i.split == s] for s in ("train", "heldout", "test")}
        tasks.append(Task(config.name, config.skill or config.name, config.scoring, by_split["train"],
                          by_split["heldout"], by_split["test"], config.eval_items, skipped))
    _drop_overlap(tasks)
    for t in tasks:
        if not t.train:
            raise CurricleError(f"task {t.name}: no train items")
        if len(t.heldout) < 2:
            raise CurricleError(f"task {t.name}: {len(t.heldout)} held-out items; evaluation needs at least 2 "
                                f"(raise heldout_share or n_heldout)")
        if t.skipped:
            log.warning("task %s: %d records skipped (%s)", t.name, len(t.skipped),
                        ", ".join(f"{r}: {n}" for r, n in Counter(r for _, r in t.skipped).most_common(3)))
    return tasks


def _drop_overlap(tasks: list[Task]) -> None:
    held = {normalized(i.prompt) for t in tasks for i in (*t.heldout, *t.test)}
    for t in tasks:
        keep = [i for i in t.train if normalized(i.prompt) not in held]
        t.overlap_dropped = len(t.train) - len(keep)
        if t.overlap_dropped:
            log.warning("task %s: %d train items share a prompt with a held-out or test item; not trained on",
                        t.name, t.overlap_dropped)
        t.train = keep


def write_quarantine(tasks: Sequence[Task], path: Path) -> int:
    """The skipped records of every task as JSON Lines ``{task, where, reason}``; how many."""
    lines = [json.dumps({"task": t.name, "where": w, "reason": r}) for t in tasks for w, r in t.skipped]
    if lines or path.exists():
        atomic.write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)
