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
``info`` for :func:`pass_rates` (a checkpoint's pass rate on each side) and
:func:`pass_rate_shift` (NEW minus OLD with a 95% interval: "the new version is harder" as a
number). The ``--ref-model`` flag is to call these for task sides; until it does, they are a
library function.
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
    from curricle.runinfo import read_run_info

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
        prompts = [_prompt(item) for item in items]
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


def _prompt(item: TaskItem) -> str:
    if item.messages is not None and not item.prompt:
        return "\n".join(m["content"] for m in item.messages[:-1])
    return item.prompt


def _text(item: TaskItem) -> str:
    return _prompt(item) + "\n" + item.completion


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
            "near_duplicates": "not measured (exact prompts only)"}


def skill_counts(corpus: Corpus) -> Counter:
    """Items per skill over every task of ``corpus`` (a selection: the halves count theirs)."""
    out: Counter = Counter()
    for docs in corpus.domains.values():
        out.update(map(str, docs.label("skill")))
    return out


def pass_rates(checkpoint: Path | str, corpus: Corpus, samples: int = 4, max_items: int | None = 256,
               temperature: float = 1.0, seed: int = 0, batch_size: int = 16) -> dict[str, dict[str, Any]]:
    """Per task of a task side: how many of ``samples`` completions per item, sampled from the
    HF checkpoint at ``checkpoint``, its grader passes (score 1), over the task's first
    ``max_items`` items by hash of their id (None: all). Completions are cut at the first
    newline and at the longest completion's characters + 2 tokens, as scoring does;
    ungraded ones (grader errors, timeouts) are counted by reason, not as failures."""
    from pydantic import TypeAdapter

    from curricle.graders.base import build_grader, grade_all
    from curricle.graders.config import GraderSpec
    from curricle.posttrain.checkpoints import load_model
    from curricle.posttrain.sampling import sample_completions
    from curricle.tasks.items import unit_hash

    model, tokenizer = load_model(Path(checkpoint))
    model.eval()
    out = {}
    for task, items in sorted(corpus.info["items"].items()):
        chosen = sorted(items, key=lambda i: unit_hash(task, i.id))[:max_items]
        groups = sample_completions(model, tokenizer, [_prompt(i) for i in chosen], samples, temperature, 1.0,
                                    max(len(i.completion) for i in chosen) + 2, ["\n"], seed, batch_size)
        grader = build_grader(TypeAdapter(GraderSpec).validate_python(corpus.info["graders"][task]))
        flat_items = [i for i, g in zip(chosen, groups) for _ in g]
        grades, reasons = grade_all(grader, flat_items, [c for g in groups for c in g])
        graded = [g for g in grades if g.score is not None]
        out[task] = {"items": len(chosen), "samples": samples, "passed": sum(g.score >= 1.0 for g in graded),
                     "graded": len(graded), "ungraded": dict(reasons)}
    return out


def pass_rate_shift(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """OLD's and NEW's pass rates (from :func:`pass_rates`) per task both have and over every
    task, with NEW minus OLD and its 95% Newcombe interval: an interval below 0 says the new
    version is harder for the checkpoint. Samples of one item are not independent, so with
    ``samples`` > 1 the interval is narrower than the items alone would give."""
    from curricle.drift.stats import newcombe_difference

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


__all__ = ["TASK_FILE_SUFFIXES", "DEFAULT_TASK", "is_task_side", "load_tasks", "prompt_overlap", "skill_counts", "pass_rates",
           "pass_rate_shift"]
