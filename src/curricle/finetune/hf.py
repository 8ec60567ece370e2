"""The curriculum inside a Hugging Face ``Trainer`` or TRL ``SFTTrainer``: your trainer, curricle's
data order.

::

    curriculum = Curriculum(config.curriculum, build_tasks(config.tasks, tokenizer), seed=0)
    trainer = SFTTrainer(model=model, args=SFTConfig(..., max_steps=600, ignore_data_skip=True),
                         train_dataset=train_dataset(curriculum), processing_class=tokenizer)
    use_curriculum(trainer, curriculum)          # the sampler and the callback
    trainer.train()                              # or train(resume_from_checkpoint=...)

- :func:`train_dataset`: every task's train items as an HF ``Dataset`` with ``prompt``,
  ``completion``, ``task`` and ``curricle_row`` columns (SFTTrainer's prompt-completion
  format: the loss is on the completion only). A trainer that tokenizes the dataset itself
  must keep the ``curricle_row`` column (``Dataset.map`` does unless told to remove it).
- :class:`CurriculumSampler`: the trainer's sampler, yielding each optimizer step's examples
  in the curriculum's order (``__len__``: the whole run, one epoch).
- :class:`CurriculumCallback`: evaluates every task's held-out items every ``eval_every``
  steps (and before training: the baseline), tests the due Leitner items (each on a held-out
  item of its task), lets the curriculum decide, scales the schedule's learning rate by the
  stage's ``lr_scale``, ends training when the curriculum says so (``curriculum.plateau``:
  checkpointed at that step; resumed, it draws nothing more), writes
  ``OUT/metrics.jsonl`` (and TensorBoard under ``OUT/tb``), ``OUT/curriculum_log.jsonl`` and
  ``OUT/forgetting.json``, and saves the curriculum's state in every ``checkpoint-N``
  (``curricle_curriculum.json``, through the seam kit :mod:`curricle.hf`), so
  ``trainer.train(resume_from_checkpoint=...)`` continues the same data order.

The trainer needs ``max_steps`` set, ``ignore_data_skip=True`` (the sampler resumes itself
instead of being replayed) and ``dataloader_num_workers=0``; :func:`use_curriculum` checks.
Every process evaluates the same items with the same model, so all take the same decisions;
only the main process writes files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from torch.utils.data import Sampler

from curricle import atomic
from curricle.errors import CurricleError
from curricle.finetune.curriculum import Curriculum, Mix
from curricle.finetune.forgetting import forgetting_report
from curricle.hf.callback import StatefulCallback
from curricle.hf.snapshots import StepSnapshots
from curricle.posttrain.evaluate import Evaluator
from curricle.telemetry.trace import TRACE_DIR

log = logging.getLogger(__name__)

ROW_COLUMN = "curricle_row"
STATE_FILE = "curricle_curriculum.json"
CURRICULUM_LOG = "curriculum_log.jsonl"
FORGETTING = "forgetting.json"
DATA_ORDER = f"{TRACE_DIR}/examples.jsonl"  # train.trace
_BATCH_HINT = "is the curriculum's batch size the trainer's examples per optimizer step?"


def train_dataset(curriculum: Curriculum):
    """Every task's train items as an HF ``Dataset`` (see the module doc)."""
    import datasets

    return datasets.Dataset.from_dict({
        "prompt": [r.item.prompt for r in curriculum.rows],
        "completion": [r.item.completion for r in curriculum.rows],
        "task": [r.task for r in curriculum.rows],
        ROW_COLUMN: list(range(len(curriculum.rows))),
    })


class CurriculumSampler(Sampler[int]):
    """Dataset positions, step by step, in the curriculum's order (``steps`` optimizer steps).

    ``positions[row]``: where the curriculum's row is in the trainer's dataset (default: the
    row itself)."""

    def __init__(self, curriculum: Curriculum, steps: int, positions: dict[int, int] | None = None):
        if curriculum.stream is None:
            raise CurricleError("CurriculumSampler: the curriculum has no batch size (see use_curriculum)")
        self.curriculum = curriculum
        self.steps = steps
        self.positions = positions
        self.mixes: list[Mix] = [curriculum.initial_mix()]
        self._snapshots = StepSnapshots(owner="CurriculumSampler", hint=_BATCH_HINT)  # stream state before a step
        #: Rows of the steps drawn recently (step -> rows), for logs and tests.
        self.drawn = StepSnapshots(owner="CurriculumSampler", hint=_BATCH_HINT)

    @property
    def batch_size(self) -> int:
        return self.curriculum.stream.batch_size

    def __len__(self) -> int:
        return self.steps * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        pass  # one epoch is the whole run

    def mix_at(self, step: int) -> Mix:
        return [m for m in self.mixes if m.start <= step][-1]

    def __iter__(self) -> Iterator[int]:
        stream = self.curriculum.stream
        # A run the curriculum ended early (curriculum.plateau) draws nothing more, also resumed.
        while stream.step < self.steps and self.curriculum.stopped is None:
            k = stream.step
            self._snapshots.record(k, stream.state_dict())
            rows = self.curriculum.draw(self.mix_at(k))
            self.drawn.record(k, rows)
            for r in rows:
                yield r if self.positions is None else self.positions[r]

    def set_mix(self, mix: Mix) -> None:
        """Draw the steps from ``mix.start`` (0-based) on with ``mix``."""
        drawn = self.curriculum.stream.step
        if mix.start < drawn:
            raise CurricleError(f"the curriculum's change for step {mix.start + 1} comes too late: the data loader "
                                f"has drawn {drawn} steps (dataloader_num_workers must be 0)")
        self.mixes = [m for m in self.mixes if m.start < mix.start] + [mix]

    def state_at(self, step: int) -> dict[str, Any]:
        """What continues the stream from step ``step`` (0-based: after ``step`` steps)."""
        stream = self.curriculum.stream
        state = stream.state_dict() if step == stream.step else self._snapshots.state_at(step)
        keep = [m for m in self.mixes if m.start > step]
        return {"stream": state, "mixes": [m.to_json() for m in [self.mix_at(step), *keep]]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.curriculum.stream.load_state_dict(state["stream"])
        self.mixes = [Mix.from_json(m) for m in state["mixes"]]
        self._snapshots.clear()
        self.drawn.clear()


def _flat(scores: dict[str, dict[str, float]], prefix: str = "eval") -> dict[str, float]:
    out = {}
    for task, metrics in scores.items():
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and np.isfinite(v):
                out[f"{prefix}/{task}/{k}"] = float(v)
    return out


class CurriculumCallback(StatefulCallback):
    """Evaluation, decisions, logs and checkpointed state of a curriculum (see the module doc)."""

    state_file = STATE_FILE
    logs = (CURRICULUM_LOG, DATA_ORDER)
    outputs = (FORGETTING,)
    metrics = True
    #: The trainer's logged numbers written to metrics.jsonl (as ``train/<key>``).
    log_keys: tuple[str, ...] = ("loss", "learning_rate", "grad_norm")

    def __init__(self, curriculum: Curriculum, sampler: CurriculumSampler, evaluator: Evaluator,
                 eval_every: int, out: Path | str | None = None, tensorboard: bool = True,
                 trace: bool = False):
        super().__init__(out, tensorboard)
        self.curriculum = curriculum
        self.sampler = sampler
        self.evaluator = evaluator
        self.eval_every = eval_every
        self.trace = trace
        self.history: list[dict[str, Any]] = []  # {step, stage, scores: {task: discrete}}
        self.last_scores: dict[str, dict[str, float]] | None = None
        self._last_eval = -1
        self.register("curriculum", curriculum)
        self.register("sampler", sampler, at_step=True)

    # -- start and end ----------------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)  # the logs and sinks, and the state on resume
        # The first stage's rate from step 1 on (a resumed scheduler has it in its saved state already).
        self._scale_lr(kwargs.get("lr_scheduler"), now=True)
        start = state.global_step
        if start == 0:
            scores = self.evaluator.evaluate(model)
            self.curriculum.on_baseline(scores)
            self._record_eval(0, scores)
            self._append(CURRICULUM_LOG, {"event": "start", "step": 0, "stage": self.curriculum.current.name,
                                          "weights": self.sampler.mixes[0].weights,
                                          "examples_per_step": self.sampler.batch_size, "steps": self.sampler.steps})

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self._last_eval != state.global_step:
            self._evaluate(state.global_step, model)
        for r in self.curriculum.on_end(state.global_step, self.last_scores):  # what is still open ends with it
            self._append(CURRICULUM_LOG, r)
        if self._main:
            test = self.evaluator.evaluate(model, split="test")
            final = {"step": state.global_step, "stage": self.curriculum.current.name,
                     "heldout": self.last_scores, "test": test,
                     "ungraded": {t: dict(c) for t, c in self.evaluator.ungraded.items() if c},
                     # what the trained steps drew (the loader draws a step ahead of a run ended early)
                     "served": dict(self.sampler.state_at(state.global_step)["stream"]["served"])}
            atomic.write_text(self.out / "final_scores.json", json.dumps(final, indent=1) + "\n")
            self._write_forgetting(final=True)
        super().on_train_end(args, state, control, **kwargs)

    # -- steps ----------------------------------------------------------------------------------

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        if self.trace:
            self._append(DATA_ORDER, {"step": step, "rows": self.sampler.drawn.get(step - 1)})
        if step % self.eval_every == 0 or step == self.sampler.steps:
            self._evaluate(step, model)
            # The scheduler has set step + 1's rate already: a new stage's rate starts at step + 2,
            # with its examples.
            self._scale_lr(kwargs.get("lr_scheduler"), now=False)
            if self.curriculum.stopped is not None:  # the curriculum ended the run: checkpoint this step, stop
                control.should_training_stop = True
                control.should_save = True

    def _scale_lr(self, scheduler, now: bool) -> None:
        """Set the schedule's base rates to the current stage's ``lr_scale`` x the trainer's
        (from the next scheduler step; ``now``: for the coming step too). A no-op when they are
        already; needs a ``LambdaLR`` (HF's schedules are) when any stage has a scale."""
        stages = self.curriculum.stages
        if all(s.lr_scale == 1 for s in stages):
            return
        inner = getattr(scheduler, "scheduler", scheduler)  # accelerate's wrapper, if any
        if not (hasattr(inner, "base_lrs") and hasattr(inner, "lr_lambdas")):
            raise CurricleError(f"curriculum stages' lr_scale needs a LambdaLR learning-rate schedule (HF's "
                                f"constant, linear, cosine...); the trainer has {type(inner).__name__}")
        groups = inner.optimizer.param_groups
        want = [g["initial_lr"] * self.curriculum.lr_scale for g in groups]
        if list(inner.base_lrs) == want:
            return
        inner.base_lrs = want
        if now:
            lrs = [b * f(inner.last_epoch) for b, f in zip(want, inner.lr_lambdas)]
            for g, lr in zip(groups, lrs):
                g["lr"] = lr
            inner._last_lr = lrs

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not self._main:
            return
        row = {f"train/{k}": float(v) for k, v in logs.items()
               if k in self.log_keys and isinstance(v, (int, float))}
        if row:
            row["examples"] = state.global_step * self.sampler.batch_size
            self._write(state.global_step, row)

    def _evaluate(self, step: int, model) -> None:
        c = self.curriculum
        tests = c.review_tests()  # each due Leitner row with the held-out item it is tested on
        results = {}
        if tests:
            ok = self.evaluator.correct(model, [(task, item) for _, task, item in tests])
            results = {row: v for (row, _, _), v in zip(tests, ok)}
        scores = self.evaluator.evaluate(model)
        records, mix = c.on_evaluate(step, scores, results)
        if mix is not None:
            self.sampler.set_mix(mix)
        for r in records:
            self._append(CURRICULUM_LOG, r)
        self._record_eval(step, scores)
        if any(r["event"] == "stage" for r in records):
            self._write_forgetting(final=False)

    def _record_eval(self, step: int, scores: dict[str, dict[str, float]]) -> None:
        self._last_eval = step
        self.last_scores = scores
        c = self.curriculum
        discrete = c.discrete_scores(scores)
        trained = [t for t in c.tasks if any(t in s.tasks for s in c.stages)]
        values = [discrete[t] for t in trained if t in discrete]
        self.history.append({"step": step, "stage": c.current.name, "scores": discrete})
        row = {"stage": c.current.name, "stage_index": c.stage, "examples": step * self.sampler.batch_size,
               **_flat(scores)}
        if values:
            row["eval/mean"], row["eval/worst"] = float(np.mean(values)), float(np.min(values))
        row.update({f"served/{t}": n for t, n in c.stream.served.items()})
        mix = self.sampler.mix_at(step + 1)
        row.update({f"weight/{s}": w for s, w in mix.weights.items()})
        self._write(step, row)

    def forgetting(self, final: bool) -> dict[str, Any]:
        """The forgetting matrix so far: finished stages, plus the current one if ``final``."""
        c = self.curriculum
        names = [*c.discrete_metrics]
        last = c.discrete_scores(self.last_scores) if (final and self.last_scores) else None
        rows = c.matrix_rows(last)
        steps = [e["step"] for e in c.stage_ends] + ([self._last_eval] if last is not None else [])
        report = forgetting_report([s.name for s in c.stages], [list(s.tasks) for s in c.stages], names, rows,
                                   c.baseline, steps)
        report["metrics"] = {t: c.discrete_metrics[t] for t in names}
        report["final"] = final
        return report

    def _write_forgetting(self, final: bool) -> None:
        if self._main:
            atomic.write_text(self.out / FORGETTING, json.dumps(self.forgetting(final), indent=1) + "\n")

    # -- checkpoints: the curriculum and the sampler are registered parts -----------------------

    def own_state(self) -> dict[str, Any]:
        return {"history": self.history, "last_scores": self.last_scores, "last_eval": self._last_eval,
                "ungraded": {t: dict(c) for t, c in self.evaluator.ungraded.items()}}

    def load_own_state(self, saved: dict[str, Any]) -> None:
        self.history = saved["history"]
        self.last_scores = saved["last_scores"]
        self._last_eval = saved["last_eval"]
        for t, reasons in saved["ungraded"].items():
            self.evaluator.ungraded[t].clear()
            self.evaluator.ungraded[t].update(reasons)


def use_curriculum(trainer, curriculum: Curriculum, eval_every: int | None = None, out: Path | str | None = None,
                   evaluator: Evaluator | None = None, tensorboard: bool = True,
                   eval_batch_size: int = 64, trace: bool = False, tokenizer: Any = None,
                   callback_class: type[CurriculumCallback] = CurriculumCallback) -> CurriculumCallback:
    """Make ``trainer`` draw its examples from ``curriculum`` and evaluate, decide and log with
    it; returns the callback added. ``eval_every``: default the curriculum config's; ``out``:
    where the logs go (default: the trainer's ``output_dir``); ``trace``: each step's rows to
    ``OUT/trace/examples.jsonl``; ``tokenizer``: what evaluation encodes with (default: the trainer's
    ``processing_class``); ``callback_class``: a subclass to add (``curricle dpo``'s logs DPO's
    reward numbers too)."""
    args = trainer.args
    wrong = [f"{k}={v}" for k, v, ok in (("max_steps", args.max_steps, args.max_steps > 0),
                                        ("ignore_data_skip", args.ignore_data_skip, args.ignore_data_skip),
                                        ("dataloader_num_workers", args.dataloader_num_workers,
                                         args.dataloader_num_workers == 0)) if not ok]
    if wrong:
        raise CurricleError(f"TrainingArguments: the curriculum needs max_steps > 0, ignore_data_skip=True and "
                            f"dataloader_num_workers=0 (got {', '.join(wrong)})")
    if evaluator is None:
        tokenizer = tokenizer or getattr(trainer, "processing_class", None)
        if tokenizer is None:
            raise CurricleError("use_curriculum: the trainer has no processing_class; pass tokenizer= (evaluation "
                                "generates with it)")
        evaluator = Evaluator(list(curriculum.tasks.values()), tokenizer, batch_size=eval_batch_size)
    curriculum.set_batch_size(args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps)
    data = trainer.train_dataset
    if data is None or ROW_COLUMN not in getattr(data, "column_names", []):
        raise CurricleError(f"the trainer's train_dataset has no '{ROW_COLUMN}' column: build it with "
                            f"curricle.finetune.hf.train_dataset(curriculum) and keep that column")
    rows = data[ROW_COLUMN]
    positions = {int(r): i for i, r in enumerate(rows)}
    dropped = curriculum.keep_rows(set(positions))
    if dropped:
        log.warning("curriculum: %d train items were dropped by the trainer's preparation; not drawn", dropped)
    sampler = CurriculumSampler(curriculum, args.max_steps, positions)
    trainer._get_train_sampler = lambda *a, **k: sampler  # the one hook HF's Trainer offers for order
    curriculum.discrete_metrics.update(evaluator.discrete_metrics)
    callback = callback_class(curriculum, sampler, evaluator, eval_every or curriculum.config.eval_every,
                              out=out, tensorboard=tensorboard, trace=trace)
    trainer.add_callback(callback)
    return callback
