"""``curricle rl CONFIG --run-dir DIR``: GRPO through TRL's ``GRPOTrainer`` with curricle's
prompt curriculum, graded rewards and the reward-hacking guards.

Writes, under ``RUN``: ``metrics.jsonl`` and ``tb/`` (per step: rollouts, mean reward, the
share of zero-variance groups, completion length, the drawn prompts' difficulty and
categories, ungraded completions by reason; per evaluation: each task's test exact match),
``curriculum_log.jsonl`` (the sampling distribution's changes), ``events.jsonl`` (flags: reward
rising while the held-out metric falls, length or format drift, a step's graders failing on
too many completions (``grader-failure``, which stops the run after ``stop_after`` steps in a
row with a one-line error); the budget's end), ``reward/<component>`` per step for a task's
composite reward,
``final_scores.json``, ``checkpoints/checkpoint-N`` (with curricle's state) and ``final/``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.posttrain.checkpoints import begin_run, check_resume_tasks, load_start_model, train_and_save
from curricle.posttrain.evaluate import Evaluator
from curricle.posttrain.ranks import is_main, train_device
from curricle.rl.config import STATE_FILE, RLConfig, before_rollout, load_rl_config
from curricle.rl.curricula import build_gates, build_policy
from curricle.rl.rewards import CompositeReward, GraderReward, build_runner
from curricle.tasks.config import ScoringConfig
from curricle.tasks.load import build_tasks, fingerprints, write_quarantine
from curricle.train.tf32 import use_tf32

log = logging.getLogger(__name__)

#: The base sampling pass's pass rates (``profile``).
PROFILE = "profile.json"


def run_steps(steps: int, rollouts: int | None, per_step: int) -> int:
    """The run's length in steps for what is scheduled over it (the Gaussian gate's mean):
    ``steps``, or, with a rollout budget, the steps it affords at one group a prompt
    (``ceil(rollouts / per_step)``, ``per_step`` = prompts x generations) when fewer. Gates that
    replace generated groups spend the budget faster, so such a run ends before the schedule."""
    return min(steps, math.ceil(rollouts / per_step)) if rollouts else steps


def build_rl(config: RLConfig, run_dir: Path, max_steps: int | None = None, resume_from: str | None = None):
    """The trainer and its callback, ready to train."""
    require("trl", "curricle rl")
    from trl import GRPOConfig
    from curricle.rl.hf import (ROW_COLUMN, CurricleGRPOTrainer, GradedReward, HeldOutCheck, PolicyFeed, PromptSampler,
                                RLCallback, base_profile, rl_dataset)

    device = train_device(config.train.use_cpu)
    use_tf32(device, config.train.tf32)  # before the first matrix product (the base sampling pass)
    model, tokenizer = load_start_model(config.model)
    tasks = build_tasks(config.tasks, tokenizer)
    prints = fingerprints(tasks)
    # Its prompt draws index the items it had: the same ones, or a one-line refusal.
    check_resume_tasks(resume_from, STATE_FILE, prints)
    # The held-out check: greedy exact match, whatever the reward's grader is.
    for t in tasks:
        t.scoring = ScoringConfig(metric="exact_match", until=t.scoring.until,
                                  max_new_tokens=t.scoring.max_new_tokens)
    if is_main():
        atomic.write_text(run_dir / "tasks.json", json.dumps({"tasks": [t.summary() for t in tasks]}, indent=1) + "\n")
        write_quarantine(tasks, run_dir / "tasks_quarantine.jsonl")
    empty = [t.name for t in tasks if config.eval.split == "test" and not t.test]
    if empty:
        raise CurricleError(f"task {empty[0]}: no test items for the held-out check (eval.split: test)")
    data, prompts, items = rl_dataset(tasks)
    g = config.grpo
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = g.prompts_per_step * g.num_generations
    if per_step % world:
        raise CurricleError(f"grpo: prompts_per_step x num_generations ({per_step}) must divide among {world} processes")
    judges_groups = [gate.kind for gate in config.curriculum.all_gates() if not before_rollout(gate)]
    if (judges_groups or config.curriculum.kind == "lilo") and (per_step // world) % g.num_generations:
        field = "curriculum.gates" if judges_groups else "curriculum.kind: lilo"
        raise CurricleError(f"{field}: each process judges and replaces whole groups, but its "
                            f"{per_step // world} completions a step are not whole groups of {g.num_generations} "
                            f"(prompts_per_step must divide among {world} processes)")
    steps = max_steps or g.steps
    args = GRPOConfig(
        output_dir=str(run_dir / "checkpoints"), max_steps=steps, per_device_train_batch_size=per_step // world,
        gradient_accumulation_steps=1, num_generations=g.num_generations, max_completion_length=g.max_completion_length,
        temperature=g.temperature, learning_rate=g.lr, beta=g.beta, scale_rewards=g.scale_rewards,
        loss_type=g.loss_type, logging_steps=config.train.log_every, save_steps=config.train.checkpoint.every,
        save_total_limit=config.train.checkpoint.keep_last, seed=config.seed, data_seed=config.seed, report_to=[],
        use_cpu=config.train.use_cpu, ignore_data_skip=True, dataloader_num_workers=0, shuffle_dataset=False,
        bf16=config.model.dtype == "bfloat16", activation_checkpointing=False, log_completions=False,
        remove_unused_columns=False,
    )
    timeout = config.train.grader_timeout_s
    graders = {tc.name: (CompositeReward.from_config(tc.name, tc.reward, timeout) if tc.reward is not None else
                         GraderReward(build_runner(tc.grader_config(), timeout), tc.name))
               for tc in config.tasks}
    profile = None
    if config.profile is not None:
        saved = run_dir / PROFILE
        cfg = config.profile
        if saved.is_file() and cfg.from_file is None:  # a resumed run reads its own
            cfg = cfg.model_copy(update={"from_file": saved})
        if cfg.from_file is None:
            model.to(device)  # sample where it will train, not on the CPU first
        found = base_profile(model, tokenizer, items, graders, cfg, g.temperature, g.max_completion_length,
                             config.seed, run_dir / PROFILE)
        profile = dict(enumerate(found["pass_rates"]))
    c = config.curriculum
    policy = build_policy(c, prompts, config.seed, config.pass_rate, g.scale_rewards, profile=profile,
                          batch=g.prompts_per_step, steps=run_steps(steps, g.rollouts, per_step))
    reward = GradedReward(items, graders, g.num_generations, random_reward=g.reward == "random", seed=config.seed)
    trainer = CurricleGRPOTrainer(model=model, args=args, reward_funcs=[reward], train_dataset=data,
                                  processing_class=tokenizer, gates=build_gates(c), max_resamples=c.max_resamples,
                                  oversample=c.oversample, pool_factor=getattr(c, "pool_factor", 1), reward=reward)
    reward.accelerator = trainer.accelerator
    sampler = PromptSampler(policy, steps, g.prompts_per_step, g.num_generations,
                            repeat_count=trainer.args.steps_per_generation * trainer.num_iterations,
                            max_draws=c.max_draws)
    sampler.positions = {int(r): i for i, r in enumerate(trainer.train_dataset[ROW_COLUMN])}
    trainer.prompt_sampler = sampler
    trainer._get_train_sampler = lambda *a, **k: sampler
    evaluator = Evaluator(tasks, tokenizer, batch_size=config.eval.batch_size,
                          grader_timeout_s=config.train.grader_timeout_s)
    check = HeldOutCheck(evaluator, config.guards, config.eval.split, samples=config.eval.samples,
                         temperature=config.eval.temperature, seed=config.seed)
    callback = RLCallback(PolicyFeed(sampler, reward, trainer), check,
                          config.eval.every, run_dir, rollout_budget=g.rollouts, tensorboard=config.train.tensorboard,
                          trace=config.train.trace, eval_every_rollouts=config.eval.every_rollouts,
                          tasks=prints)
    callback.profile_rollouts = found["rollouts"] if profile is not None else 0
    trainer.add_callback(callback)
    return trainer, callback, graders


def rl_run(config: RLConfig, run_dir: Path | str, resume: bool = False, max_steps: int | None = None) -> dict[str, Any]:
    run_dir = Path(run_dir)
    start, (trainer, callback, graders) = begin_run(
        run_dir, resume, config, "rl", STATE_FILE,
        lambda checkpoint: build_rl(config, run_dir, max_steps, resume_from=checkpoint))
    train_and_save(trainer, start, run_dir, [*graders.values(), callback.check.evaluator])
    return json.loads((run_dir / "final_scores.json").read_text())


def print_rl(result: dict[str, Any], console: Console) -> None:
    h = result["history"]
    table = Table(title=f"RL: step {result['step']}, {result['rollouts']:,} rollouts")
    table.add_column("task")
    table.add_column("test exact match before", justify="right")
    table.add_column("after", justify="right")
    for t, v in result["test"].items():
        table.add_row(t, f"{h[0]['metric'].get(t, float('nan')):.3f}", f"{v:.3f}")
    console.print(table)
    for f in result["flags"]:
        console.print(f"[yellow]flag at step {f['step']}: {f['event']}[/] {json.dumps({k: v for k, v in f.items() if k not in ('step', 'event')})}")


def rl_command(config_path: Path, run_dir: Path, resume: bool = False, max_steps: int | None = None,
               console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    result = rl_run(load_rl_config(config_path), run_dir, resume=resume, max_steps=max_steps)
    if is_main():
        print_rl(result, console)
        console.print(f"run: {run_dir} (metrics.jsonl, curriculum_log.jsonl, events.jsonl, final/)")
    return result
