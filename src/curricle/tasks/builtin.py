"""Built-in tasks: instruction-format items of the synthetic skill generators.

A built-in task draws its train items from the generator's *train* split and its held-out
and test items from the generator's *held-out* split (by a hash of each item's key, whatever
the seed or parameters), so no held-out item can be a training item. With ``levels``, each
level is the generator with those parameters; items are split evenly between levels and an
item found at two levels keeps the easier one.

Difficulty: with levels, ``level + m / (max m + 1)``, where ``m`` is the skill's own measure
(:meth:`~curricle.synthetic.base.SkillGenerator.difficulty`: digits and carries of a sum,
input length times composition depth of a transform, depth left open of brackets, words to
copy, distractor facts, words between subject and verb); without levels, ``m``.
"""

from __future__ import annotations

import logging

from curricle.errors import CurricleError
from curricle.synthetic import make_generator
from curricle.tasks.config import BuiltinTaskConfig
from curricle.tasks.items import Split, TaskItem

log = logging.getLogger(__name__)


def _shares(n: int, parts: int) -> list[int]:
    """``n`` split into ``parts`` nearly equal counts, the larger ones first."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def load_builtin(config: BuiltinTaskConfig, task: str) -> tuple[list[TaskItem], list[tuple[str, str]]]:
    """The task's items (every split) and what was skipped (nothing, for generated items)."""
    levels = config.levels or [{}]
    try:
        gens = [make_generator(config.skill, config.seed, **{**config.params, **level}) for level in levels]
    except ValueError as err:
        raise CurricleError(f"task {task}: {err}") from None
    drawn: dict[str, tuple[int, Split, object]] = {}  # key -> (level, split, item)
    train, heldout, test = (_shares(n, len(gens)) for n in (config.n_train, config.n_heldout, config.n_test))
    for lv, gen in enumerate(gens):
        # An item found at an easier level keeps it; drawing more makes up for those (the first
        # n items of a split are the same whatever n is asked for).
        for split, n in (("train", train[lv]), ("heldout", heldout[lv] + test[lv])):
            skip = config.train_offset if split == "train" else 0
            stream = gen.items(split, skip + n + len(drawn), at_most=True)[skip:]
            new = [i for i in stream if i.key not in drawn][:n]
            # The level's held-out items first, then its test items: both from the held-out split.
            # A generator with fewer distinct held-out items than asked for shares them in the
            # asked proportion, so a test split is never left empty while held-out has items.
            n_held = heldout[lv]
            if split != "train" and len(new) < n:
                n_held = min(len(new) - (1 if test[lv] and len(new) > 1 else 0), round(len(new) * heldout[lv] / n))
                log.warning("task %s: %s gives %d distinct held-out items, not %d: %d held-out, %d test",
                            task, config.skill, len(new), n, n_held, len(new) - n_held)
            for k, item in enumerate(new):
                which = "train" if split == "train" else ("heldout" if k < n_held else "test")
                drawn[item.key] = (lv, which, item)
    measures = {key: gens[lv].difficulty(item) for key, (lv, _, item) in drawn.items()}
    top = max(measures.values(), default=0.0)
    out: list[TaskItem] = []
    for key, (lv, split, item) in drawn.items():
        m = measures[key]
        difficulty = lv + m / (top + 1) if config.levels else m
        meta = {"level": lv, "skill": item.skill}
        completion, distractors = item.target, item.distractors
        if config.written == "steps":
            meta["steps"] = gens[lv].steps(item)
            completion, distractors = " " + " ; ".join(meta["steps"]), ()
        out.append(TaskItem(id=key if not config.levels else f"L{lv}:{key}", prompt=config.instruction + item.prompt,
                            completion=completion, difficulty=float(difficulty), split=split,
                            distractors=distractors, meta=meta))
    if not any(i.split == "train" for i in out):
        raise CurricleError(f"task {task}: the generator gave no train items")
    return out, []
