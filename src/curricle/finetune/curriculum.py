"""The fine-tuning curriculum: which examples each optimizer step trains on, and when that
changes.

Three parts, none of which imports torch:

- a :class:`Mix` says what the steps from ``start`` on draw from: the current stage, each
  source's share of a step's examples (the stage's tasks, finished tasks under replay or
  revisit, the Leitner review pool: the due decks' items at ``fraction``, or every queued
  item at ``floor`` when no deck is due);
- an :class:`ExampleStream` turns mixes into example rows, step by step: each step's slots
  are given to sources by a divisor method (Sainte-Laguë over the mix's steps so far, so
  every source's count stays close to its share: a divisor method holds no strict bound, and
  one task at 0.8 with five at 0.04 gets 10 of a first step's 15 examples, not 12, and 60 of
  five steps' 75, its share), and each source walks
  through its items in a seeded permutation, one epoch after another, skipping items that
  the stage's difficulty pacing does not yet allow. Its state is a few counters, so it
  resumes exactly;
- a :class:`Curriculum` owns the tasks, the stream and the decisions: at each evaluation
  :meth:`Curriculum.on_evaluate` reads the held-out scores (and the results of the Leitner
  items' tests, each on a fresh held-out item of its task: :meth:`Curriculum.review_tests`),
  ends a stage at its milestone or its ``max_steps``, moves review items between decks,
  starts and stops revisits (a drop of more than ``margin_se`` standard errors), acts on a
  stage whose milestone plateaus (``curriculum.plateau``: the earlier stage's tasks come back
  for a while, or the stage ends, or the run: :attr:`Curriculum.stopped`), and returns the
  records of what it did (the lines of ``RUN/curriculum_log.jsonl``) and the next mix, if any;
  at the run's end :meth:`Curriculum.on_end` closes the revisits still open.
  :attr:`Curriculum.lr_scale` is the current stage's learning-rate multiple.

A decision taken at the evaluation after step ``s`` applies from step ``s + 2``: a data
loader has already drawn step ``s + 1``'s examples (it prefetches one batch). A stage's steps
count from the evaluation that began it, not from its first examples a step later
(:meth:`Curriculum.steps_in_stage`), so stages end where their ``max_steps`` add up to.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from curricle.controllers.plateau import PlateauDetector
from curricle.errors import CurricleError
from curricle.finetune.config import CurriculumConfig, LeitnerReview, ReplayReview, StageConfig
from curricle.finetune.leitner import LeitnerQueues
from curricle.tasks.items import TaskItem, unit_hash
from curricle.tasks.load import Task, check_fingerprints, fingerprints

#: The source name of the Leitner review pool in a mix's weights.
REVIEW = "@review"


@dataclass
class Mix:
    """What steps ``start``, ``start + 1``, ... (0-based) draw from, until the next mix."""

    start: int
    stage: int
    stage_start: int
    """The first step drawing the stage's examples (its pacing counts from it)."""
    weights: dict[str, float]
    """Source -> share of each step's examples (task names, and ``@review``)."""
    review: list[int] = field(default_factory=list)
    """The rows of the review pool."""
    paced: list[str] = field(default_factory=list)
    """The sources the stage's pacing applies to (its own tasks)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Mix":
        return cls(**d)


@dataclass
class Row:
    """One training example: its task and item."""

    task: str
    item: TaskItem


class ExampleStream:
    """Example rows per step from a sequence of mixes (see the module doc)."""

    def __init__(self, rows: Sequence[Row], task_names: Sequence[str], batch_size: int, seed: int,
                 pacing: dict[int, Any] | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.seed = seed
        self.task_index = {t: k for k, t in enumerate(task_names)}
        #: Per task: its rows, easiest first (ties by a hash of the item id).
        self.ranked: dict[str, np.ndarray] = {}
        for t in task_names:
            idx = [r for r, row in enumerate(rows) if row.task == t]
            idx.sort(key=lambda r: (rows[r].item.difficulty, unit_hash(t, rows[r].item.id)))
            self.ranked[t] = np.asarray(idx, dtype=np.int64)
        #: Stage index -> its pacing config (or None).
        self.pacing = pacing or {}
        self._perm: dict[tuple[str, int], np.ndarray] = {}
        self.step = 0
        self._mix_start = -1
        self._counts: dict[str, int] = {}
        self._cursor: dict[str, list[int]] = {t: [0, 0] for t in task_names}  # [epoch, position]
        self._review_cursor = [0, 0]
        self.served: dict[str, int] = {t: 0 for t in task_names}

    # -- drawing -------------------------------------------------------------------------

    def available(self, task: str, mix: Mix, step: int) -> int:
        """How many of ``task``'s easiest items may be drawn at ``step`` under ``mix``."""
        n = len(self.ranked[task])
        pacing = self.pacing.get(mix.stage)
        if pacing is None or task not in mix.paced:
            return n
        return max(1, min(n, math.ceil(pacing.competence(step - mix.stage_start) * n - 1e-9)))

    def _permutation(self, key: str, epoch: int, n: int, salt: int) -> np.ndarray:
        k = (key, epoch, salt)
        if k not in self._perm:
            if len(self._perm) > 64:
                self._perm.clear()
            self._perm[k] = np.random.default_rng([self.seed, salt, epoch, n]).permutation(n)
        return self._perm[k]

    def _draw_task(self, task: str, cutoff: int) -> int:
        ranked = self.ranked[task]
        cur = self._cursor[task]
        salt = self.task_index[task]
        while True:
            perm = self._permutation(task, cur[0], len(ranked), salt)
            while cur[1] < len(perm):
                rank = int(perm[cur[1]])
                cur[1] += 1
                if rank < cutoff:
                    return int(ranked[rank])
            cur[0], cur[1] = cur[0] + 1, 0

    def _draw_review(self, mix: Mix) -> int:
        cur = self._review_cursor
        n = len(mix.review)
        if cur[1] >= n:
            cur[0], cur[1] = cur[0] + 1, 0
        perm = self._permutation(REVIEW, cur[0], n, 1_000_003 + mix.start)
        row = mix.review[int(perm[cur[1]])]
        cur[1] += 1
        return row

    def next_batch(self, mix: Mix) -> list[int]:
        """The rows of step ``self.step`` under ``mix``; advances the stream."""
        if mix.start > self.step:
            raise CurricleError(f"a mix starting at step {mix.start} cannot draw step {self.step}")
        if mix.start != self._mix_start:
            self._mix_start, self._counts, self._review_cursor = mix.start, {}, [0, 0]
        sources = [(s, w) for s, w in mix.weights.items() if w > 0 and (s != REVIEW or mix.review)]
        if not sources:
            raise CurricleError(f"step {self.step}: the mix has nothing to draw from")
        cutoffs = {s: self.available(s, mix, self.step) for s, _ in sources if s != REVIEW}
        out = []
        for _ in range(self.batch_size):
            # Sainte-Laguë: the next slot to the source with the highest weight / (count + 1/2).
            best, best_p = None, -1.0
            for s, w in sources:
                p = w / (self._counts.get(s, 0) + 0.5)
                if p > best_p:
                    best, best_p = s, p
            self._counts[best] = self._counts.get(best, 0) + 1
            row = self._draw_review(mix) if best == REVIEW else self._draw_task(best, cutoffs[best])
            out.append(row)
        self.step += 1
        return out

    def count_served(self, rows: Sequence[int], task_of: Sequence[str]) -> None:
        for r in rows:
            self.served[task_of[r]] += 1

    # -- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "mix_start": self._mix_start, "counts": dict(self._counts),
                "cursor": {t: list(c) for t, c in self._cursor.items()}, "review_cursor": list(self._review_cursor),
                "served": dict(self.served)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self._mix_start = int(state["mix_start"])
        self._counts = {k: int(v) for k, v in state["counts"].items()}
        self._cursor = {t: [int(c[0]), int(c[1])] for t, c in state["cursor"].items()}
        self._review_cursor = [int(x) for x in state["review_cursor"]]
        self.served = {t: int(v) for t, v in state["served"].items()}


class Curriculum:
    """Tasks, their examples, and the curriculum's decisions (see the module doc).

    ``tasks``: every task (built with :func:`curricle.tasks.load.build_tasks`); ``batch_size``:
    examples per optimizer step over all processes (``per_device_train_batch_size`` x
    processes x ``gradient_accumulation_steps``; :func:`~curricle.finetune.hf.use_curriculum`
    sets it from the trainer's arguments).
    """

    def __init__(self, config: CurriculumConfig, tasks: Sequence[Task], seed: int = 0, batch_size: int | None = None):
        self.config = config
        self.tasks = {t.name: t for t in tasks}
        unknown = sorted({n for s in config.stages for n in s.tasks} - set(self.tasks))
        if unknown:
            raise CurricleError(f"curriculum: unknown task '{unknown[0]}' (tasks: {', '.join(self.tasks)})")
        self.seed = seed
        #: Task (or evaluation-only probe) -> the metric milestones and the matrix read.
        self.discrete_metrics = {t.name: t.scoring.discrete for t in tasks}
        #: Task -> :meth:`Task.fingerprint`: a checkpoint records them, a resume checks them.
        self.fingerprints = fingerprints(tasks)
        self.rows: list[Row] = [Row(t.name, item) for t in tasks for item in t.train]
        self.task_of = [r.task for r in self.rows]
        self.stream: ExampleStream | None = None
        # Decisions
        self.stage = 0
        #: The first step (0-based) drawing the current stage's examples; its steps count from one
        #: before (:meth:`steps_in_stage`).
        self.stage_start = 0
        self.evaluations = 0
        self.hits = 0
        self.reference: dict[str, float] = {}
        self.reference_se: dict[str, float] = {}
        self.revisiting: list[str] = []
        self.leitner = LeitnerQueues(config.review.decks) if isinstance(config.review, LeitnerReview) else None
        self.pool: list[int] = []
        #: Per task: its held-out items in the order Leitner's tests take them, and how many were taken.
        self.test_items: dict[str, list[TaskItem]] = {
            t.name: sorted(t.heldout, key=lambda i, n=t.name: unit_hash("leitner-test", n, i.id)) for t in tasks}
        self.tests_taken: dict[str, int] = {t: 0 for t in self.tasks}
        #: Leitner review: per task, the rows drawn so far (trained on before any review draws them) that
        #: come first by a hash of their item ids, at most ``items_per_task``, in that order.
        self.review_candidates: dict[str, list[int]] = {t: [] for t in self.tasks}
        #: Evaluation intervals reviewed at the floor (no deck due).
        self.floor_intervals = 0
        if self.leitner is not None:
            bare = [t for s in config.stages[:-1] for t in s.tasks if not self.test_items[t]]
            if bare:
                raise CurricleError(f"review: task {bare[0]} has no held-out items to test its Leitner items on")
        self.baseline: dict[str, float] | None = None
        self.stage_ends: list[dict[str, Any]] = []  # {stage, step, scores}
        self.final_milestone_logged = False
        #: curriculum.plateau: the current stage's detector, the reinstatement under way
        #: ({stage: the earlier stage's index, since, until}) and, once the run is to end, why.
        self.detector = self._detector()
        self.reinstated: dict[str, int] | None = None
        self.stopped: dict[str, Any] | None = None
        if batch_size is not None:
            self.set_batch_size(batch_size)

    # -- set-up ---------------------------------------------------------------------------

    def set_batch_size(self, batch_size: int) -> None:
        if self.stream is not None and self.stream.batch_size == batch_size:
            return
        if self.stream is not None and self.stream.step > 0:
            raise CurricleError("the curriculum's batch size cannot change once examples were drawn")
        pacing = {i: s.pacing for i, s in enumerate(self.config.stages)}
        self.stream = ExampleStream(self.rows, list(self.tasks), batch_size, self.seed, pacing)

    def keep_rows(self, rows: set[int]) -> int:
        """Train only on ``rows`` (the ones a trainer's dataset preparation kept); how many
        were dropped."""
        if self.stream is not None and self.stream.step > 0:
            raise CurricleError("keep_rows: examples were drawn already")
        dropped = [r for r in range(len(self.rows)) if r not in rows]
        for t in self.tasks:
            left = [r for r in range(len(self.rows)) if self.rows[r].task == t and r in rows]
            if not left and any(t in s.tasks for s in self.config.stages):
                raise CurricleError(f"task {t}: no train item survived the trainer's preparation (too long for "
                                    f"max_length?)")
        if dropped and self.stream is not None:
            for t, ranked in self.stream.ranked.items():
                self.stream.ranked[t] = np.asarray([r for r in ranked.tolist() if r in rows], dtype=np.int64)
        return len(dropped)

    @property
    def stages(self) -> list[StageConfig]:
        return self.config.stages

    @property
    def current(self) -> StageConfig:
        return self.config.stages[self.stage]

    def steps_in_stage(self, step: int) -> int:
        """The current stage's steps when ``step`` optimizer steps are done, which its
        ``min_steps`` and ``max_steps`` count: from the run's start for the first stage, from the
        evaluation that ended the previous one for a later stage. Its examples are drawn from the
        second step after that evaluation (:attr:`stage_start`, 0-based: the loader had drawn the
        first already), and the step after its own end still draws them: so stages of ``N`` and
        ``M`` steps end at steps ``N`` and ``N + M`` (evaluations falling there), and the later
        one trains ``M`` steps of its own examples."""
        return step - (self.stage_start - 1 if self.stage > 0 else 0)

    @property
    def lr_scale(self) -> float:
        """The current stage's learning rate as a multiple of the trainer's."""
        return self.current.lr_scale

    # -- mixes ----------------------------------------------------------------------------

    def finished_tasks(self) -> list[str]:
        """Tasks trained by finished stages and not by the current one, in stage order."""
        now = set(self.current.tasks)
        out: list[str] = []
        for s in self.config.stages[: self.stage]:
            out.extend(t for t in s.tasks if t not in now and t not in out)
        return out

    def mix(self, start: int) -> Mix:
        """The mix the current decisions give, from step ``start`` on."""
        stage = self.current
        review_share = 0.0
        weights: dict[str, float] = {}
        extra: dict[str, float] = {}
        review = self.config.review
        finished = self.finished_tasks()
        if isinstance(review, ReplayReview) and finished:
            review_share = review.fraction
            for t in finished:
                extra[t] = extra.get(t, 0.0) + review.fraction / len(finished)
        elif isinstance(review, LeitnerReview) and self.leitner.deck_of:
            review_share = review.fraction if self.pool else review.floor
            if review_share > 0:
                extra[REVIEW] = review_share
        revisit = [t for t in self.revisiting if t not in stage.tasks]
        revisit_share = self.config.revisit_when.weight if revisit else 0.0
        for t in revisit:
            extra[t] = extra.get(t, 0.0) + revisit_share / len(revisit)
        reinstate_share = 0.0
        if self.reinstated is not None:
            reinstate_share = self.config.plateau.weight
            earlier = self.config.stages[self.reinstated["stage"]].tasks
            for t, w in earlier.items():
                extra[t] = extra.get(t, 0.0) + reinstate_share * w / sum(earlier.values())
        own = 1.0 - review_share - revisit_share - reinstate_share
        total = sum(stage.tasks.values())
        for t, w in stage.tasks.items():
            weights[t] = own * w / total
        for t, w in extra.items():
            weights[t] = weights.get(t, 0.0) + w
        return Mix(start=start, stage=self.stage, stage_start=self.stage_start, weights=weights,
                   review=self.review_pool(), paced=list(stage.tasks) if stage.pacing is not None else [])

    def initial_mix(self) -> Mix:
        return self.mix(0)

    def draw(self, mix: Mix) -> list[int]:
        """The next step's rows under ``mix`` (counted as served)."""
        if self.stream is None:
            raise CurricleError("the curriculum has no batch size yet (use_curriculum sets it from the trainer)")
        rows = self.stream.next_batch(mix)
        self.stream.count_served(rows, self.task_of)
        if self.leitner is not None:
            self._note_trained(rows)
        return rows

    # -- decisions ------------------------------------------------------------------------

    def review_pool(self) -> list[int]:
        """The rows review draws from until the next evaluation: the due decks' items, or every
        queued item when none is due (the floor); none without Leitner review."""
        if self.leitner is None:
            return []
        return list(self.pool) if self.pool else list(self.leitner.deck_of)

    def review_rows(self) -> list[int]:
        """The Leitner items to test at this evaluation: the due ones, reviewed since the last one."""
        return list(self.pool) if self.leitner is not None else []

    def review_tests(self) -> list[tuple[int, str, TaskItem]]:
        """``(row, task, held-out item)`` for each of :meth:`review_rows`: the item the row is
        tested on, the next of its task's held-out items in :attr:`test_items` (cycling), so
        an item is judged on its task's skill, not on a row it was just trained on. Within one
        evaluation the draw is without replacement: a task's due rows take distinct held-out
        items while it has at least as many; with fewer, the cycle wraps, and each held-out item
        judges at most ``ceil(due rows / held-out items)`` of them."""
        out, taken = [], dict(self.tests_taken)
        for r in self.review_rows():
            t = self.task_of[r]
            items = self.test_items[t]
            out.append((r, t, items[taken[t] % len(items)]))
            taken[t] += 1
        return out

    def on_baseline(self, scores: dict[str, dict[str, float]]) -> None:
        """Scores before any training (the forward-transfer baseline)."""
        self.baseline = self.discrete_scores(scores)

    def discrete_scores(self, scores: dict[str, dict[str, float]]) -> dict[str, float]:
        """Each task's (and evaluation-only probe's) discrete metric: the matrix's entries."""
        return {t: s[self.discrete_metrics[t]] for t, s in scores.items() if t in self.discrete_metrics}

    def on_evaluate(self, step: int, scores: dict[str, dict[str, float]],
                    review_results: dict[int, bool] | None = None) -> tuple[list[dict[str, Any]], Mix | None]:
        """Decide after the evaluation at step ``step`` (optimizer steps done).

        ``scores``: per task, its metrics on the held-out items; ``review_results``: for each
        row of :meth:`review_rows`, whether the model answered it right. Returns the log
        records and the mix for steps ``step + 1`` on (0-based), or None if it is unchanged.
        """
        self.evaluations += 1
        e = self.evaluations
        records: list[dict[str, Any]] = []
        before = self._decided()
        discrete = self.discrete_scores(scores)

        # 1. The review items tested: promote or demote.
        if self.leitner is not None and self.pool:
            results = review_results or {}
            missing = [r for r in self.pool if r not in results]
            if missing:
                raise CurricleError(f"review: no test result for row {missing[0]}")
            outcome = self.leitner.update({r: bool(results[r]) for r in self.pool})
            per_task: dict[str, list[int]] = {}
            for r in self.pool:
                c = per_task.setdefault(self.task_of[r], [0, 0])
                c[0] += 1
                c[1] += bool(results[r])
            for t, c in per_task.items():
                self.tests_taken[t] += c[0]
            records.append({"event": "review", "step": step, "evaluation": e, "tested": outcome.tested,
                            "tested_on": "heldout", "promoted": outcome.promoted, "demoted": outcome.demoted,
                            "stayed": outcome.stayed, "correct": {t: c[1] / c[0] for t, c in per_task.items()},
                            "decks": self.leitner.sizes()})

        # 2. The stage: its milestone, else its max_steps.
        stage = self.current
        in_stage = self.steps_in_stage(step)
        last = self.stage == len(self.config.stages) - 1
        m = stage.advance_when
        reason, signal = None, {}
        if m is not None and in_stage >= stage.min_steps:
            names = [m.task] if m.task is not None else list(stage.tasks)
            values = {t: scores[t][m.metric] for t in names}
            value = min(values.values())
            self.hits = self.hits + 1 if value >= m.at_least else 0
            signal = {"metric": m.metric, "values": values, "at_least": m.at_least, "hits": self.hits,
                      "patience": m.patience}
            if self.hits >= m.patience:
                reason = "milestone"
        if self.config.plateau is not None:
            if self.reinstated is not None and step >= self.reinstated["until"]:
                # Back to the stage alone; this evaluation, still of the reinstated window, is not judged.
                self._end_reinstatement(step, records, "its steps are done")
            elif (reason is None or last) and self._plateau(step, in_stage, scores, records):
                reason = "plateau"  # (the last stage's milestone holding is a reason that ends nothing)
        if reason is None and in_stage >= stage.max_steps:
            reason, signal = "max_steps", {"steps_in_stage": in_stage, "max_steps": stage.max_steps}
        if reason == "milestone" and last and not self.final_milestone_logged:
            self.final_milestone_logged = True
            records.append({"event": "milestone", "step": step, "stage": stage.name, "final": True, **signal})
        if reason is not None and not last:
            self.stage_ends.append({"stage": stage.name, "step": step, "scores": discrete})
            for t in stage.tasks:
                self.reference[t] = discrete[t]
                if self.config.revisit_when is not None:  # (only revisits read it; a user's evaluator may report no _se)
                    self.reference_se[t] = self._se(t, scores)
            self.stage += 1
            self.stage_start = step + 1
            self.hits = 0
            if self.reinstated is not None:
                self._end_reinstatement(step, records, "the stage ended")
            self.detector = self._detector()
            nxt = self.current
            records.append({"event": "stage", "step": step, "from": stage.name, "to": nxt.name, "reason": reason,
                            "steps_in_stage": in_stage, "effective_from_step": step + 2, "lr_scale": nxt.lr_scale,
                            **signal})
            for t in [t for t in self.revisiting if t in nxt.tasks]:  # trained again: no longer a revisit
                self.revisiting.remove(t)
                records.append({"event": "revisit-end", "step": step, "task": t, "score": discrete.get(t),
                                "reference": self.reference.get(t), "why": f"stage {nxt.name} trains it",
                                "effective_from_step": step + 2})
            if self.leitner is not None:
                added = {}
                for t in stage.tasks:
                    if t in nxt.tasks:
                        continue
                    rows = self._review_items(t, self.config.review.items_per_task)
                    added[t] = self.leitner.add(rows)
                if any(added.values()):  # (none: nothing drawn, or all queued already; nothing to log)
                    records.append({"event": "review-added", "step": step, "items": added,
                                    "decks": self.leitner.sizes()})

        # 3. Revisits of finished tasks that regressed by more than margin_se standard errors.
        if self.config.revisit_when is not None:
            margin_se = self.config.revisit_when.margin_se
            for t in self.finished_tasks():
                ref, now = self.reference.get(t), discrete.get(t)
                if ref is None or now is None:
                    continue
                se = math.hypot(self.reference_se.get(t, 0.0), self._se(t, scores))
                drop, limit = ref - now, margin_se * se
                signal = {"task": t, "score": now, "reference": ref, "drop": drop, "se": se, "margin_se": margin_se,
                          "limit": limit, "effective_from_step": step + 2}
                if t not in self.revisiting and drop > limit:
                    self.revisiting.append(t)
                    records.append({"event": "revisit", "step": step, **signal})
                elif t in self.revisiting and drop <= limit:
                    self.revisiting.remove(t)
                    records.append({"event": "recovered", "step": step, **signal})

        # 4. What is reviewed until the next evaluation: the due decks, else every queued item at the floor
        # (floor 0: nothing, and nothing to log).
        if self.leitner is not None:
            self.pool = self.leitner.due(e + 1)
            if not self.pool and self.leitner.deck_of and self.config.review.floor > 0:
                self.floor_intervals += 1
                records.append({"event": "review-floor", "step": step, "evaluation": e, "share": self.config.review.floor,
                                "items": len(self.leitner.deck_of), "decks": self.leitner.sizes(),
                                "floor_intervals": self.floor_intervals, "effective_from_step": step + 2})

        after = self._decided()
        return records, (self.mix(step + 1) if after != before else None)

    def on_end(self, step: int, scores: dict[str, dict[str, float]] | None) -> list[dict[str, Any]]:
        """The run ends after step ``step``: close the revisits still open (``revisit-end``) and a
        plateau's reinstatement still under way (``reinstate-end``), each with why "the run
        ended" and, as nothing follows, no ``effective_from_step``, so every revisit and
        reinstatement in the log has its end. ``scores``: the last evaluation's (the revisits'
        score in the records). Returns the log records."""
        discrete = self.discrete_scores(scores) if scores else {}
        records = [{"event": "revisit-end", "step": step, "task": t, "score": discrete.get(t),
                    "reference": self.reference.get(t), "why": "the run ended"} for t in self.revisiting]
        self.revisiting = []
        if self.reinstated is not None:
            r = self.reinstated
            records.append({"event": "reinstate-end", "step": step, "reinstated": self.config.stages[r["stage"]].name,
                            "since": r["since"], "why": "the run ended"})
            self.reinstated = None
        return records

    def _decided(self) -> tuple:
        """What the mix depends on besides the config (a change: a new mix)."""
        queued = len(self.leitner.deck_of) if self.leitner is not None else 0
        reinstated = self.reinstated["stage"] if self.reinstated is not None else None
        return self.stage, tuple(self.revisiting), tuple(self.pool), queued, reinstated

    # -- plateaus (curriculum.plateau) ---------------------------------------------------------

    def _detector(self) -> PlateauDetector | None:
        """A fresh detector for the current stage's series (None: no ``curriculum.plateau``)."""
        p = self.config.plateau
        return None if p is None else PlateauDetector(p.patience, p.z, p.min_delta, higher_is_better=True)

    def _series(self, stage: StageConfig, scores: dict[str, dict[str, float]]) -> tuple[float, float, str, str]:
        """``stage``'s value at these scores, its standard error, the task it is from and the
        metric: its milestone's (the worst of the milestone's tasks), or without one the worst
        of its tasks' discrete scores."""
        m = stage.advance_when
        names = ([m.task] if m.task is not None else list(stage.tasks)) if m is not None else list(stage.tasks)
        metric = {t: m.metric if m is not None else self.discrete_metrics[t] for t in names}
        worst = min(names, key=lambda t: scores[t][metric[t]])
        se = scores[worst].get(f"{metric[worst]}_se", float("nan"))
        return float(scores[worst][metric[worst]]), float(se), worst, metric[worst]

    def _plateau(self, step: int, in_stage: int, scores: dict[str, dict[str, float]],
                 records: list[dict[str, Any]]) -> bool:
        """Feed the current stage's series to its detector and act on a plateau (see
        :class:`~curricle.finetune.config.StagePlateau`); whether the stage ends on it. Not
        judged: before the stage's ``min_steps``, while an earlier stage is reinstated, and a
        stage that is neither the last nor has a milestone (it runs to its ``max_steps``)."""
        p = self.config.plateau
        stage = self.current
        last = self.stage == len(self.config.stages) - 1
        m = stage.advance_when
        if self.reinstated is not None or in_stage < stage.min_steps or (m is None and not last):
            return False
        value, se, task, metric = self._series(stage, scores)
        verdict = self.detector.observe(step, value, se)
        if verdict is None:
            return False
        below = m is not None and value < m.at_least
        if not below and (not last or p.policy == "reinstate"):
            return False  # the milestone holds: the stage is about to advance (or, last, is where it should be)
        record = {"event": "plateau", "step": step, "stage": stage.name, "task": task, "metric": metric,
                  "at_least": m.at_least if m is not None else None,
                  **{k: v for k, v in verdict.to_json().items() if k != "step"}, "policy": p.policy}
        self.detector.reset()  # one plateau, one decision
        if p.policy == "stop" and below:
            records.append({**record, "action": "stop" if last else "next stage"})
            if last:
                self.stopped = {"step": step, "reason": "the last stage's milestone plateaued below its threshold"}
                records.append({"event": "stop", "step": step, "reason": self.stopped["reason"]})
            return not last
        if p.policy == "stop":  # the last stage, on a plateau where its milestone holds (or it has none)
            failing = []
            for s in self.config.stages:
                if s.advance_when is not None:
                    v, _, t, _ = self._series(s, scores)
                    if v < s.advance_when.at_least:
                        failing.append(f"{s.name} ({t} {v:g} < {s.advance_when.at_least:g})")
            if failing:
                records.append({**record, "action": "none",
                                "why": f"milestones that do not hold: {', '.join(failing)}"})
                return False
            records.append({**record, "action": "stop"})
            self.stopped = {"step": step, "reason": "every milestone holds and nothing improves"}
            records.append({"event": "stop", "step": step, "reason": self.stopped["reason"]})
            return False
        if self.stage == 0:
            records.append({**record, "action": "none", "why": "no earlier stage to reinstate"})
            return False
        earlier = self.config.stages[self.stage - 1]
        self.reinstated = {"stage": self.stage - 1, "since": step, "until": step + p.steps}
        records.append({**record, "action": "reinstate", "reinstated": earlier.name, "tasks": list(earlier.tasks),
                        "weight": p.weight, "until_step": step + p.steps, "effective_from_step": step + 2})
        return False

    def _end_reinstatement(self, step: int, records: list[dict[str, Any]], why: str) -> None:
        r = self.reinstated
        records.append({"event": "reinstate-end", "step": step, "reinstated": self.config.stages[r["stage"]].name,
                        "since": r["since"], "why": why, "effective_from_step": step + 2})
        self.reinstated = None
        self.detector.reset()

    def _se(self, task: str, scores: dict[str, dict[str, float]]) -> float:
        """The standard error of ``task``'s discrete metric in ``scores`` (one that cannot be
        computed, NaN with fewer than 2 items: 0)."""
        key = f"{self.discrete_metrics[task]}_se"
        if key not in scores[task]:
            raise CurricleError(f"revisit_when: the scores of task {task} have no '{key}' (the margin is in standard "
                                f"errors; curricle's Evaluator reports them)")
        se = float(scores[task][key])
        return se if math.isfinite(se) else 0.0

    def _review_key(self, row: int) -> tuple[float, int]:
        return unit_hash("review", self.task_of[row], self.rows[row].item.id), row

    def _note_trained(self, rows: Sequence[int]) -> None:
        """Keep each task's first ``items_per_task`` drawn rows by :meth:`_review_key` (see
        :attr:`review_candidates`)."""
        n = self.config.review.items_per_task
        for r in rows:
            kept = self.review_candidates[self.task_of[r]]
            if r in kept or (len(kept) >= n and self._review_key(r) > self._review_key(kept[-1])):
                continue
            bisect.insort(kept, r, key=self._review_key)
            del kept[n:]

    def _review_items(self, task: str, n: int) -> list[int]:
        """At most ``n`` train rows of ``task`` for review: of the rows drawn so far, the first by
        a hash of their item ids. Only rows drawn: a row pacing had not yet released, or one the
        stage ended before reaching, was never trained on (fewer than ``n`` drawn: fewer go in).
        A row drawn ahead by the data loader (one step) is trained before a decision takes effect."""
        return self.review_candidates[task][:n]

    def matrix_rows(self, final: dict[str, float] | None) -> list[dict[str, float]]:
        """``R``'s rows: each finished stage's scores, then ``final`` for the current one."""
        rows = [e["scores"] for e in self.stage_ends]
        return rows + ([final] if final is not None else [])

    # -- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"tasks": dict(self.fingerprints),
                "stage": self.stage, "stage_start": self.stage_start, "evaluations": self.evaluations,
                "hits": self.hits, "reference": dict(self.reference), "reference_se": dict(self.reference_se),
                "revisiting": list(self.revisiting),
                "leitner": self.leitner.state_dict() if self.leitner is not None else None,
                "pool": list(self.pool), "tests_taken": dict(self.tests_taken), "floor_intervals": self.floor_intervals,
                "review_candidates": {t: list(rows) for t, rows in self.review_candidates.items()},
                "baseline": self.baseline, "stage_ends": self.stage_ends,
                "final_milestone_logged": self.final_milestone_logged,
                **({"plateau": {"detector": self.detector.state_dict(), "reinstated": self.reinstated,
                                "stopped": self.stopped}} if self.detector is not None else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = [k for k in ("reference_se", "tests_taken", "floor_intervals") if k not in state]
        if missing:
            raise CurricleError(f"--resume: the checkpoint's curriculum state is from an older curricle (no "
                                f"{', '.join(missing)}: before the review floor, held-out Leitner tests and revisit "
                                f"margins in standard errors); resume it with that version, or start a new run")
        if self.leitner is not None and "review_candidates" not in state:
            raise CurricleError("--resume: the checkpoint's curriculum state is from an older curricle (no "
                                "review_candidates, which curriculum.review: leitner reads: before review took only "
                                "items already trained on); resume it with that version, or start a new run")
        check_fingerprints(state.get("tasks"), self.fingerprints)  # (None: a checkpoint from before them)
        if int(state["stage"]) >= len(self.config.stages):
            raise CurricleError(f"curriculum.stages: the checkpoint is in stage {int(state['stage']) + 1}, but this "
                                f"config has {len(self.config.stages)}; resume with its stages")
        self.stage, self.stage_start = int(state["stage"]), int(state["stage_start"])
        self.evaluations, self.hits = int(state["evaluations"]), int(state["hits"])
        self.reference = {k: float(v) for k, v in state["reference"].items()}
        self.reference_se = {k: float(v) for k, v in state["reference_se"].items()}
        self.revisiting = list(state["revisiting"])
        if self.leitner is not None and state["leitner"] is not None:
            self.leitner.load_state_dict(state["leitner"])
        self.pool = [int(r) for r in state["pool"]]
        self.tests_taken = {**{t: 0 for t in self.tasks}, **{k: int(v) for k, v in state["tests_taken"].items()}}
        self.floor_intervals = int(state["floor_intervals"])
        kept = state.get("review_candidates", {})  # (none: a state without Leitner review, from before them)
        self.review_candidates = {t: [int(r) for r in kept.get(t, [])] for t in self.tasks}
        self.baseline = state["baseline"]
        self.stage_ends = state["stage_ends"]
        self.final_milestone_logged = bool(state["final_milestone_logged"])
        self.detector = self._detector()
        saved = state.get("plateau")
        if self.detector is not None and saved is not None:
            self.detector.load_state_dict(saved["detector"])
            self.reinstated, self.stopped = saved["reinstated"], saved["stopped"]
