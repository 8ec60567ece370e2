"""A task set (what ``curricle finetune`` / ``rl`` read) as a side of a comparison.

A side is one of:

- a task file: JSON Lines (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``) with the default field
  names of a ``jsonl`` task source (``prompt``, ``completion``, ``id``, ``difficulty``), or an
  HF dataset saved with ``save_to_disk`` (a directory with ``dataset_info.json`` or
  ``dataset_dict.json``);
- a config file with a ``tasks:`` list (a finetune or rl config), or the run directory of a
  finetune or rl run (its ``config.yaml``'s tasks): every task loaded as the run loads it.

**Domains are tasks**: a config's tasks by name; in a file, each record's ``task`` field (else
its ``skill`` field, else every record is in one task, ``items``). Each item's **skill** is
its record's ``skill`` field, else its task's skill (a config's ``skill``, default the task's
name). Documents are items, all splits together (the task set as a whole): the text is prompt
and completion (a chat item's messages), the id the item's id. Columns per item:
``prompt_chars``, ``prompt_words``, ``completion_words``, ``difficulty`` and, where records
have one, ``level``. Labels: ``skill`` and ``prompt`` (whitespace collapsed), which the task
section (:mod:`curricle.drift.sections.tasks`) and :func:`prompt_overlap` read. Records a
loader skips are counted in ``Corpus.info["skipped"]``; the items and each task's grader stay in
``info`` for :mod:`curricle.drift.passrate` (a checkpoint's pass rate on each side).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from curricle.config import parse_model, read_yaml
from curricle.curate.words import WORD
from curricle.drift.corpus import Corpus, DomainData
from curricle.drift.text import WordBins, text_corpus, text_domain
from curricle.errors import CurricleError
from curricle.runinfo import read_run_info
from curricle.tasks.config import TASK_SOURCES, HFDiskTaskConfig, JsonlTaskConfig, TaskConfig
from curricle.tasks.items import TaskItem, normalized

#: File names a task file can have.
TASK_FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
#: The task of a file's records that name none.
DEFAULT_TASK = "items"


def is_task_side(path: Path) -> bool:
    """Whether ``path`` looks like a task set (see the module docstring)."""
    path = Path(path)
    if path.is_file():
        return path.name.endswith(TASK_FILE_SUFFIXES) or path.suffix in (".yaml", ".yml")
    return path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
                              or _run_kind(path) in ("finetune", "rl"))


def _run_kind(path: Path) -> str | None:
    info = read_run_info(path)
    return None if info is None else info.get("kind")


def load_tasks(path: Path | str) -> Corpus:
    """The task set at ``path`` as a side (see the module docstring)."""
    path = Path(path)
    # (task, skill or None, item) for every item
    rows: list[tuple[str, str | None, TaskItem]] = []
    skipped: Counter = Counter()
    graders: dict[str, dict] = {}  # task -> its grader's config (a file's tasks: exact)
    if path.is_file() and path.name.endswith(TASK_FILE_SUFFIXES) or path.is_dir() and not (path / "run.json").is_file():
        source = (JsonlTaskConfig(path=path, heldout_share=0, test_share=0) if path.is_file()
                  else HFDiskTaskConfig(path=path, heldout_share=0, test_share=0))
        items, skips = TASK_SOURCES[source.kind](source, path.name)
        skipped.update(r for _, r in skips)
        for item in items:
            task = item.meta.get("task", item.meta.get("skill", DEFAULT_TASK))
            rows.append((str(task), None, item))
            graders[str(task)] = {"kind": "exact"}
    else:
        for config in _task_configs(path):
            items, skips = TASK_SOURCES[config.source.kind](config.source, config.name)
            skipped.update(r for _, r in skips)
            rows += [(config.name, config.skill or config.name, item) for item in items]
            graders[config.name] = config.grader_config()
    if not rows:
        raise CurricleError(f"{path}: no task items" + (f" ({dict(skipped)} skipped)" if skipped else ""))
    words = WordBins()
    domains: dict[str, DomainData] = {}
    by_task: dict[str, list[TaskItem]] = {}
    for task in sorted({t for t, _, _ in rows}):
        mine = [(skill, item) for t, skill, item in rows if t == task]
        items = by_task[task] = [item for _, item in mine]
        texts = [_text(item) for item in items]
        prompts = [item_prompt(item) for item in items]
        columns: dict[str, list[float | None]] = {
            "prompt_chars": [len(p) for p in prompts],
            "prompt_words": [len(WORD.findall(p)) for p in prompts],
            "completion_words": [len(WORD.findall(i.completion)) for i in items],
            "difficulty": [i.difficulty for i in items]}
        if any(_number(i.meta.get("level")) for i in items):
            columns["level"] = [i.meta["level"] if _number(i.meta.get("level")) else None for i in items]
        skills = [str(i.meta.get("skill", skill or task)) for skill, i in mine]
        domains[task] = text_domain(task, [i.id for i in items], texts, words, columns,
                                    {"skill": skills, "prompt": [normalized(p) for p in prompts]})
    return text_corpus(str(path), "tasks", domains, words, None,
                       {"skipped": dict(skipped), "items": by_task, "graders": graders})


def _task_configs(path: Path) -> list[TaskConfig]:
    where = path / "config.yaml" if path.is_dir() else path
    data = read_yaml(where, "config")
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list) or not tasks:
        raise CurricleError(f"{where}: no 'tasks' list (a task set is a task file, a finetune or rl config, "
                            f"or the run directory of one)")
    return [parse_model(t, TaskConfig, f"{where}: tasks[{i}]") for i, t in enumerate(tasks)]


def item_prompt(item: TaskItem) -> str:
    """What the item asks: its prompt, or a chat item's messages before the answer (unrendered)."""
    if item.messages is not None and not item.prompt:
        return "\n".join(m["content"] for m in item.messages[:-1])
    return item.prompt


def _text(item: TaskItem) -> str:
    return item_prompt(item) + "\n" + item.completion


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def prompt_overlap(old: Corpus, new: Corpus) -> dict[str, Any] | None:
    """Exact overlap of prompts (whitespace collapsed): per task of NEW, how many of its items
    have a prompt that is also a prompt of OLD (any task), and their share; also in total.
    None unless both sides are task sets. A fact, not judged: two halves of one task set share
    no items, so a null says nothing about it."""
    if old.kind != "tasks" or new.kind != "tasks":
        return None
    seen = {p for docs in old.domains.values() for p in docs.label("prompt")}
    tasks = {}
    for name, docs in sorted(new.domains.items()):
        hits = int(sum(p in seen for p in docs.label("prompt")))
        tasks[name] = {"new": docs.n_docs, "in_old": hits, "share": round(hits / docs.n_docs, 6) if docs.n_docs else 0.0}
    n = sum(t["new"] for t in tasks.values())
    hits = sum(t["in_old"] for t in tasks.values())
    return {"exact": {"total": {"new": n, "in_old": hits, "share": round(hits / n, 6) if n else 0.0}, "tasks": tasks},
            "near_duplicates": "prompts: not measured here; near-duplicate items (prompt and completion) are in the "
                               "near_duplicates section's cross-version overlap"}


def skill_counts(corpus: Corpus) -> Counter:
    """Items per skill over every task of ``corpus`` (a selection: the halves count theirs)."""
    out: Counter = Counter()
    for docs in corpus.domains.values():
        out.update(map(str, docs.label("skill")))
    return out


__all__ = ["TASK_FILE_SUFFIXES", "DEFAULT_TASK", "is_task_side", "load_tasks", "item_prompt", "prompt_overlap",
           "skill_counts"]
