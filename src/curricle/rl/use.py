"""``use_prompt_curriculum``: curricle's prompt curriculum in your own TRL ``GRPOTrainer``.

Your trainer, your reward functions, your dataset (a ``prompt`` column and curricle's
``curricle_row`` column, a row id per prompt, optionally ``task`` and ``difficulty``);
curricle supplies the order::

    args = GRPOConfig("runs/grpo", max_steps=300, ignore_data_skip=True, ...)
    trainer = GRPOTrainer(model=model, reward_funcs=[my_reward], args=args, train_dataset=data)
    use_prompt_curriculum(trainer, {"kind": "learnability"})
    trainer.train()                    # or train(resume_from_checkpoint=...): the same prompts

What it does to the trainer, and nothing else:

- its sampler becomes curricle's :class:`~curricle.rl.hf.PromptSampler` (TRL's layout: each
  step's prompts, each repeated ``num_generations`` times, the same on every process), with step
  ``k``'s prompts chosen by the policy from its state after step ``k - 2`` was observed;
- its reward functions are wrapped, unchanged, to record what they return: a step's reward of
  a completion is what TRL computes from them (the weighted sum of the functions' rewards,
  ``reward_weights``, leaving out those that returned None), and the groups' rewards, gathered
  from every process, are what the policy observes (through the functions' own arguments:
  the ``curricle_row`` column says which prompt each completion answers);
- a :class:`PromptCurriculumCallback` feeds the policy after every optimizer step, writes
  ``OUT/metrics.jsonl`` (per step: rollouts, mean reward, the zero-variance share, what was
  drawn) and ``OUT/curriculum_log.jsonl`` (every change of the sampling distribution), as
  ``curricle rl`` does, ``OUT/trace/prompts.rank<R>.jsonl`` with ``trace=True``, and saves the curriculum's
  state in every ``checkpoint-N``, so a resumed trainer draws the prompts an uninterrupted one
  would.

It needs one generation per optimizer step (``steps_per_generation`` equal to
``gradient_accumulation_steps`` and ``num_iterations: 1``), ``max_steps > 0``,
``ignore_data_skip=True`` (the sampler resumes itself: a resumed trainer that skipped the
steps done through it would draw them again), ``dataloader_num_workers=0`` (the sampler reads
the policy in this process) and plain
reward functions (not reward models or async functions); it checks them and says what is
wrong in one line. Gates after generation and ``lilo`` need ``curricle rl``'s trainer (gates
before generation work here); without the base sampling pass,
learnability's ``profile`` prior is ``p = 0.5`` (``prior: category`` works as in ``curricle rl``).
Your reward's range is not known ahead: keep it within [0, 1] for the policies and gates that
read pass rates (learnability takes one outside it as 0 or 1).
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import torch
from accelerate.utils import gather_object
from pydantic import BaseModel, ConfigDict

from curricle.config import parse_model
from curricle.errors import CurricleError
from curricle.rl.config import PassRateConfig, PromptCurriculumSpec
from curricle.rl.curricula import Prompt, build_gates, build_policy, difficulty_scale
from curricle.rl.hf import ROW_COLUMN, FeedCallback, PolicyFeed, PromptSampler

#: The curriculum's state in each ``checkpoint-N``.
STATE_FILE = "curricle_prompt_curriculum.json"


def prompts_from_dataset(dataset, task_column: str = "task", difficulty_column: str = "difficulty") -> list[Prompt]:
    """The policy's view of ``dataset``'s prompts: each row's ``curricle_row``, its task (the
    ``task`` column, else ``all``), its difficulty (the ``difficulty`` column's rank on a 0-100
    scale, else 0) and its category (the task)."""
    columns = getattr(dataset, "column_names", [])
    if ROW_COLUMN not in columns:
        raise CurricleError(f"the trainer's train_dataset has no '{ROW_COLUMN}' column: give each prompt a distinct "
                            f"integer id in it (it tells curricle which prompt a completion answers)")
    rows = [int(r) for r in dataset[ROW_COLUMN]]
    if len(set(rows)) != len(rows):
        raise CurricleError(f"the train_dataset's '{ROW_COLUMN}' column repeats ids: each prompt needs its own")
    tasks = [str(t) for t in dataset[task_column]] if task_column in columns else ["all"] * len(rows)
    raw = [float(d) for d in dataset[difficulty_column]] if difficulty_column in columns else [0.0] * len(rows)
    scaled = difficulty_scale(raw) if difficulty_column in columns else raw
    return [Prompt(r, t, d, t) for r, t, d in zip(rows, tasks, scaled)]


class RewardRecorder:
    """Wraps a trainer's reward functions to record each completion's reward, as TRL combines
    them, and groups them by prompt for the policy (every process's, gathered)."""

    def __init__(self, funcs: Sequence[Any], weights: Sequence[float], num_generations: int, accelerator=None):
        self.funcs = list(funcs)
        self.weights = [float(w) for w in weights]
        self.g = num_generations
        self.accelerator = accelerator
        self.groups: list[tuple[int, list[float | None]]] = []
        self.stats: dict[str, Any] = self._empty()
        self.rollouts = 0
        self.calls = 0
        self._parts: dict[int, list] = {}
        self._rows: list[int] = []
        self._lengths: list[int] = []

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {"rewards": [], "lengths": [], "reasons": Counter(), "zero_var": 0, "groups": 0}

    def wrapped(self) -> list:
        out = []
        for i, f in enumerate(self.funcs):
            def call(*a, _i=i, _f=f, **kw):
                scores = _f(*a, **kw)
                ids = kw.get("completion_ids")
                lengths = [len(c) for c in (ids if ids is not None else kw.get("completions") or [])]
                self._record(_i, kw.get(ROW_COLUMN), scores, lengths)
                return scores
            call.__name__ = getattr(f, "__name__", f"reward_{i}")
            out.append(call)
        return out

    def _record(self, i: int, rows, scores, lengths: list[int]) -> None:
        if rows is None:
            raise CurricleError(f"reward function {self.funcs[i].__name__!r} got no '{ROW_COLUMN}' column: keep it "
                                f"in the dataset (remove_unused_columns=False)")
        self._rows = [int(r) for r in rows]
        self._lengths = lengths
        self._parts[i] = [None if s is None or (isinstance(s, float) and math.isnan(s)) else float(s) for s in scores]
        if len(self._parts) < len(self.funcs):
            return
        totals: list[float | None] = []
        for k in range(len(self._rows)):
            got = [(w, p[k]) for w, p in zip(self.weights, (self._parts[j] for j in range(len(self.funcs))))
                   if p[k] is not None]
            totals.append(sum(w * r for w, r in got) if got else None)
        self._parts = {}
        payload = [(self._rows, totals, self._lengths)]
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            payload = gather_object(payload)
        rows = [r for part in payload for r in part[0]]
        rewards = [x for part in payload for x in part[1]]
        self.calls += 1
        self.rollouts += len(rows)
        for start in range(0, len(rows), self.g):  # the global batch is process-major, groups contiguous
            group = rewards[start:start + self.g]
            self.groups.append((rows[start], group))
            self.stats["groups"] += 1
            self.stats["zero_var"] += int(len({r for r in group if r is not None}) <= 1)
        self.stats["rewards"].extend(r for r in rewards if r is not None)
        self.stats["lengths"].extend(n for part in payload for n in part[2])

    def take(self) -> tuple[list[tuple[int, list[float | None]]], dict[str, Any]]:
        """The groups and statistics recorded since the last call (what :class:`PolicyFeed` reads)."""
        groups, stats = self.groups, self.stats
        self.groups, self.stats = [], self._empty()
        return groups, stats


class PromptCurriculumCallback(FeedCallback):
    """The policy feed (:class:`~curricle.rl.hf.FeedCallback`, as ``curricle rl`` runs it) in a
    user's trainer: after each optimizer step the policy observes its groups; the step's row of
    ``OUT/metrics.jsonl`` (rollouts, reward, zero-variance share, what was drawn), the
    curriculum log, the prompt trace and the checkpointed state, through the HF seam kit."""

    state_file = STATE_FILE

    def __init__(self, sampler: PromptSampler, recorder: RewardRecorder, out: Path | None = None, trace: bool = False,
                 tensorboard: bool = False):
        super().__init__(PolicyFeed(sampler, recorder), out, tensorboard, trace)
        self.recorder = recorder

    def own_state(self) -> dict[str, Any]:
        return {"rollouts": self.recorder.rollouts, "calls": self.recorder.calls}

    def load_own_state(self, saved: dict[str, Any]) -> None:
        self.recorder.rollouts, self.recorder.calls = int(saved["rollouts"]), int(saved["calls"])


def use_prompt_curriculum(trainer, curriculum: Any = None, prompts: Sequence[Prompt] | None = None, *,
                          seed: int | None = None, pass_rate: PassRateConfig | dict | None = None,
                          out: Path | str | None = None, trace: bool = False) -> PromptCurriculumCallback:
    """Make ``trainer`` (a TRL ``GRPOTrainer``) draw its prompts from a curricle prompt
    curriculum (see the module doc); returns the callback added. ``curriculum``: a
    ``curriculum:`` section (config or dict; default uniform); ``prompts``: the policy's view of
    the dataset (default :func:`prompts_from_dataset`); ``seed``: default the trainer's;
    ``out``: where the logs go (default the trainer's ``output_dir``); ``trace``: every
    process writes each step's prompt rows."""
    config = parse_model({"curriculum": curriculum if curriculum is not None else {"kind": "uniform"}},
                         _Curriculum, "use_prompt_curriculum").curriculum
    if build_gates(config) or config.kind == "lilo":
        what = "lilo keeps the top groups of a pool" if config.kind == "lilo" else \
            "gates after generation replace rejected groups"
        raise CurricleError(f"curriculum: {what} inside the trainer's generation step, which needs curricle rl's "
                            f"trainer (CurricleGRPOTrainer); gates before generation (greso, gaussian, pass-rate-band "
                            f"with before_rollout) work here")
    if getattr(config, "difficulty", None) == "profile":
        raise CurricleError("curriculum.difficulty: profile needs the base sampling pass, which curricle rl runs and "
                            "use_prompt_curriculum does not: set difficulty: heuristic (or a difficulty column)")
    args = trainer.args
    g = trainer.num_generations
    wrong = [f"{k}={v}" for k, v, ok in (
        ("max_steps", args.max_steps, args.max_steps > 0),
        ("ignore_data_skip", args.ignore_data_skip, args.ignore_data_skip),
        ("dataloader_num_workers", args.dataloader_num_workers, args.dataloader_num_workers == 0),
        ("steps_per_generation", args.steps_per_generation, args.steps_per_generation == args.gradient_accumulation_steps),
        ("num_iterations", args.num_iterations, args.num_iterations == 1)) if not ok]
    if wrong:
        raise CurricleError(f"GRPOConfig: the prompt curriculum needs max_steps > 0, ignore_data_skip=True, "
                            f"dataloader_num_workers=0 and one generation per optimizer step (steps_per_generation = "
                            f"gradient_accumulation_steps, num_iterations=1) (got {', '.join(wrong)})")
    funcs = list(trainer.reward_funcs)
    plain = [getattr(f, "__name__", repr(f)) for f in funcs if not callable(f) or _is_module_or_async(f)]
    if plain:
        raise CurricleError(f"reward_funcs: use_prompt_curriculum observes plain reward functions; {plain[0]!r} is a "
                            f"reward model or an async function")
    prompts = list(prompts) if prompts is not None else prompts_from_dataset(trainer.train_dataset)
    pass_rate = pass_rate if isinstance(pass_rate, PassRateConfig) else PassRateConfig.model_validate(pass_rate or {})
    policy = build_policy(config, prompts, args.seed if seed is None else seed, pass_rate,
                          getattr(args, "scale_rewards", "group"), batch=args.generation_batch_size // g,
                          steps=args.max_steps)
    weights = trainer.reward_weights.tolist() if hasattr(trainer, "reward_weights") else [1.0] * len(funcs)
    recorder = RewardRecorder(funcs, weights, g, trainer.accelerator)
    trainer.reward_funcs = recorder.wrapped()
    per_generation = args.generation_batch_size // g
    sampler = PromptSampler(policy, args.max_steps, per_generation, g, repeat_count=args.steps_per_generation,
                            max_draws=config.max_draws)
    sampler.positions = {int(r): i for i, r in enumerate(trainer.train_dataset[ROW_COLUMN])}
    # The one hook TRL's trainer offers for the order of its data (as fine-tuning's use_curriculum).
    trainer._get_train_sampler = lambda *a, **k: sampler
    callback = PromptCurriculumCallback(sampler, recorder, Path(out) if out is not None else None, trace=trace)
    trainer.add_callback(callback)
    return callback


class _Curriculum(BaseModel):
    model_config = ConfigDict(extra="forbid")

    curriculum: PromptCurriculumSpec


def _is_module_or_async(f) -> bool:
    return isinstance(f, torch.nn.Module) or inspect.iscoroutinefunction(f) or inspect.iscoroutinefunction(
        getattr(f, "__call__", None))


__all__ = ["PromptCurriculumCallback", "RewardRecorder", "prompts_from_dataset", "use_prompt_curriculum"]
