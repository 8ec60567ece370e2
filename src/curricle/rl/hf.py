"""curricle's prompt curricula inside TRL's ``GRPOTrainer``.

- :func:`rl_dataset`: the tasks' training prompts as an HF ``Dataset`` (``prompt``, ``task``,
  ``curricle_row``) and the :class:`~curricle.rl.curricula.Prompt` list the policies read;
- :class:`PromptSampler`: TRL's sampler layout (each step's ``B`` prompts, each repeated
  ``G`` times, the block repeated for TRL's ``steps_per_generation x num_iterations``), the
  same on every process, with step ``k``'s prompts chosen from the policy's snapshot after
  step ``k - 2``;
- :class:`GradedReward`: the reward function: each completion graded by its task's grader
  (with a timeout; ungraded ones are None, which TRL leaves out of the group baseline and
  gives no advantage), the groups gathered from every process for the policy;
- :class:`CurricleGRPOTrainer`: ``GRPOTrainer`` plus the curriculum's admission gates (a group
  a gate rejects, e.g. DAPO's zero-variance filter, replaced by a freshly generated one, up to
  a cap; every rejection counted under its reason) and LILO's pool, the fresh prompts drawn
  through the gates before generation;
- :class:`RLCallback`: held-out evaluation (test items, greedy exact match, independent of
  the reward), the reward-hacking and drift flags, logs and the checkpointed state (logs and
  state through the seam kit :mod:`curricle.hf`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from accelerate.utils import gather_object
from torch.utils.data import Sampler
from trl import GRPOTrainer

from curricle import atomic
from curricle.errors import CurricleError
from curricle.graders.runner import GraderRunner
from curricle.hf.callback import StatefulCallback
from curricle.hf.snapshots import StepSnapshots
from curricle.posttrain.evaluate import Evaluator
from curricle.posttrain.ranks import is_main
from curricle.posttrain.sampling import sample_apart
from curricle.probes.task import gen_token_budget
from curricle.rl.config import STATE_FILE
from curricle.rl.diversity import group_diversity
from curricle.rl.rewards import FORMAT_REASONS, GraderReward
from curricle.rl.curricula import (Gate, Prompt, PromptPolicy, check_gate_kinds, deal_top_learnable, difficulty_scale,
                                   group_pass_rate, top_learnable, verdicts)
from curricle.tasks.load import Task
from curricle.telemetry.trace import TRACE_DIR

log = logging.getLogger(__name__)

ROW_COLUMN = "curricle_row"
CURRICULUM_LOG = "curriculum_log.jsonl"
EVENTS = "events.jsonl"
FINAL = "final_scores.json"
#: Each process's prompts, step by step (``train.trace``).
TRACE = f"{TRACE_DIR}/prompts.rank{{rank}}.jsonl"


def rl_dataset(tasks: Sequence[Task]):
    """Every task's train items as prompts: ``(Dataset, prompts, items by row)``."""
    import datasets

    items, prompts = [], []
    for t in tasks:
        for i in t.train:
            items.append((t, i))
    scaled = difficulty_scale([i.difficulty for _, i in items])
    for row, ((t, i), d) in enumerate(zip(items, scaled)):
        level = i.meta.get("level")
        prompts.append(Prompt(row, t.name, d, t.name if level is None else f"{t.name}/L{level}"))
    data = datasets.Dataset.from_dict({"prompt": [i.prompt for _, i in items], "task": [t.name for t, _ in items],
                                       ROW_COLUMN: list(range(len(items)))})
    return data, prompts, items


def base_profile(model, tokenizer, items: Sequence[tuple[Task, Any]], graders: dict[str, Any], config,
                 temperature: float, max_new_tokens: int, seed: int, out: Path | None = None) -> dict[str, Any]:
    """The base sampling pass: each training prompt (by row) rolled out ``config.samples``
    times by ``model`` at ``temperature`` and graded by its task's reward (a composite's total at
    step 0); its pass rate is read as the policies read a group's during training
    (:func:`~curricle.rl.curricula.group_pass_rate`): the mean graded reward, ungraded
    completions (the grader raised or timed out) left out of both the sum and the count, None
    (``null``) when none was graded. With ``config.from_file``, a profile an earlier run wrote,
    checked to be of the same prompts and samples. Written to ``out``."""
    prompts_sha = hashlib.sha256(json.dumps([i.prompt for _, i in items]).encode()).hexdigest()
    if config.from_file is not None:
        path = Path(config.from_file)
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise CurricleError(f"profile.from: cannot read {path}: {e}") from e
        if saved.get("prompts_sha256") != prompts_sha or saved.get("samples") != config.samples:
            raise CurricleError(f"profile.from: {path} is a profile of other prompts or another number of samples "
                                f"(samples {saved.get('samples')}, this run's {config.samples})")
        profile = saved
    else:
        texts = sample_apart(model, tokenizer, [i.prompt for _, i in items], config.samples, temperature,
                             max_new_tokens, [], seed, config.batch_size)
        rates = []
        for (task, item), group in zip(items, texts):
            grades, _ = graders[task.name].grade([item] * len(group), group)
            rates.append(group_pass_rate([g.score for g in grades]))
        profile = {"samples": config.samples, "temperature": temperature, "prompts_sha256": prompts_sha,
                   "rollouts": len(items) * config.samples, "pass_rates": rates}
    if out is not None and is_main():
        atomic.write_text(out, json.dumps(profile) + "\n")
    return profile


class PromptSampler(Sampler[int]):
    """Dataset positions for ``steps`` steps of ``prompts_per_step`` groups of ``num_generations``."""

    def __init__(self, policy: PromptPolicy, steps: int, prompts_per_step: int, num_generations: int,
                 repeat_count: int = 1, max_draws: int = 16):
        self.policy = policy
        self.max_draws = max_draws
        self.steps, self.k, self.g, self.repeat = steps, prompts_per_step, num_generations, repeat_count
        # The policy's snapshot after step j was observed (-1: before any); step k draws from k - 2's.
        self.snapshots = StepSnapshots(keep=3, owner="PromptSampler")
        self.snapshots.record(-1, policy.snapshot())
        self.next_step = 0
        self.drawn = StepSnapshots(owner="PromptSampler")  # the rows of the steps drawn recently
        self.skipped = StepSnapshots(owner="PromptSampler")  # the rows gates before generation skipped
        self.refills = StepSnapshots(owner="PromptSampler")  # each step's refill rounds so far
        self.positions: dict[int, int] | None = None

    def __len__(self) -> int:
        return self.steps * self.k * self.g * self.repeat

    def set_epoch(self, epoch: int) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        while self.next_step < self.steps:
            k = self.next_step
            rows, skipped = self.policy.draw(self._snapshot(k), k, self.k, self.max_draws)
            self.drawn.record(k, rows)
            self.skipped.record(k, skipped)
            self.next_step += 1
            for _ in range(self.repeat):
                for r in rows:
                    pos = self.position(r)
                    for _ in range(self.g):
                        yield pos

    def _snapshot(self, k: int) -> dict[str, Any]:
        """The policy's snapshot step ``k`` draws from (after step ``k - 2`` was observed)."""
        snap = self.snapshots.get(max(k - 2, -1))
        if snap is None:
            raise CurricleError(f"prompt sampler: step {k + 1} is drawn before step {k - 1}'s rewards were "
                                f"observed (the curriculum callback must be in the trainer)")
        return snap

    def position(self, row: int) -> int:
        """The dataset position of prompt ``row``."""
        return row if self.positions is None else self.positions[row]

    def draw_refill(self, step: int, attempt: int, n: int, processes: int
                    ) -> tuple[list[list[int]], list[tuple[int, str]]]:
        """DAPO's refill round ``attempt`` in step ``step``: ``n`` fresh rows for each of
        ``processes`` processes, none of them the step's own rows nor an earlier round's nor
        another's while the prompts last, through the gates before generation from the snapshot
        the step's own rows were judged on (:meth:`PromptPolicy.draw_pool`, the step's rows and
        every earlier round's left out): ``(rows by process, every process's skipped rows)``, the
        same on every process. The rounds are kept by step (``n`` and ``processes`` are the
        step's throughout; an earlier round not yet drawn is drawn first, its skips not
        returned); none is checkpointed: a step is drawn again whole on resume."""
        rounds = list(self.refills.get(step) or [])
        while len(rounds) <= attempt:
            taken = list(self.drawn[step]) + [r for pools, _ in rounds for pool in pools for r in pool]
            rounds.append(self.policy.draw_pool(self._snapshot(step), step, taken, n, processes, self.max_draws,
                                                attempt=len(rounds)))
        self.refills.record(step, rounds)
        return rounds[attempt]

    def draw_pool(self, step: int, n: int, processes: int) -> tuple[list[list[int]], list[tuple[int, str]]]:
        """LILO's pool in step ``step``: ``n`` fresh rows for each of ``processes`` processes, none
        of them the step's own rows nor another's while the prompts last, through the gates
        before generation as :meth:`draw_refill` (:meth:`PromptPolicy.draw_pool`): ``(rows by
        process, every process's skipped rows)``, the same on every process."""
        return self.policy.draw_pool(self._snapshot(step), step, self.drawn[step], n, processes, self.max_draws)

    def add_skipped(self, step: int, skipped: Sequence[tuple[int, str]]) -> None:
        """Count ``skipped`` (every process's, from :meth:`draw_refill` or :meth:`draw_pool`) with step
        ``step``'s own skips."""
        if skipped:
            self.skipped.record(step, list(self.skipped.get(step) or []) + [tuple(x) for x in skipped])

    def observe(self, step: int, groups: Sequence[tuple[int, Sequence[float | None]]]) -> dict[str, Any] | None:
        record = self.policy.observe(step, groups, self.skipped.get(step) or [])
        self.snapshots.record(step, self.policy.snapshot())
        return record

    def state_at(self, step: int) -> dict[str, Any]:
        """What continues from step ``step`` (0-based; ``step`` steps observed)."""
        keep = {str(j): self.snapshots[j] for j in (step - 2, step - 1) if j in self.snapshots}
        if step - 2 < 0:
            keep["-1"] = self.snapshots[-1]
        return {"next_step": step, "snapshots": keep, "policy": self.policy.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.snapshots.clear()
        for j, snap in sorted((int(k), v) for k, v in state["snapshots"].items()):
            self.snapshots.record(j, snap)
        self.next_step = int(state["next_step"])
        self.drawn.clear()
        self.skipped.clear()
        self.refills.clear()


class GradedReward:
    """TRL reward function: each completion scored by its task's reward (``random``: a coin):
    its grader (a :class:`~curricle.graders.runner.GraderRunner`, or a
    :class:`~curricle.rl.rewards.GraderReward`) or a
    :class:`~curricle.rl.rewards.CompositeReward`, whose weights anneal by the trainer's step.

    Records each call's groups (gathered from every process) for the policy, and the step's
    rollouts, rewards, lengths, ungraded completions by reason, format failures (graded 0) by
    reason, components' scores and ungraded completions by grader and reason for the logs, the
    format-drift and the grader-failure guards."""

    __name__ = "graded"

    def __init__(self, items: Sequence[tuple[Task, Any]], graders: dict[str, Any], num_generations: int,
                 random_reward: bool = False, seed: int = 0, accelerator=None):
        self.items = items
        self.graders = {t: GraderReward(r) if isinstance(r, GraderRunner) else r for t, r in graders.items()}
        self.g = num_generations
        self.random_reward = random_reward
        self.seed = seed
        self.accelerator = accelerator
        self.groups: list[tuple[int, list[float | None]]] = []
        self.stats: dict[str, Any] = self._empty()
        self.rollouts = 0
        self.calls = 0
        self.last_local: list[float | None] = []

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {"rewards": [], "lengths": [], "reasons": Counter(), "format": Counter(), "zero_var": 0, "groups": 0,
                "ungraded": 0, "components": {}, "failures": Counter()}

    def __call__(self, prompts, completions, curricle_row, completion_ids=None, trainer_state=None,
                 **kw) -> list[float | None]:
        rows = [int(r) for r in curricle_row]
        self.calls += 1
        step = trainer_state.global_step if trainer_state is not None else 0
        components: dict[str, list[float]] = {}
        failures: Counter = Counter()
        formats: Counter = Counter()
        if self.random_reward:
            # A coin per completion, seeded by its place in the step's global batch: the same
            # coins whatever the number of processes.
            offset = (self.accelerator.process_index if self.accelerator is not None else 0) * len(rows)
            scores: list[float | None] = [float(random.Random(f"{self.seed}:{self.calls}:{offset + k}").random() < 0.5)
                                          for k in range(len(rows))]
            reasons: Counter = Counter()
        else:
            scores, reasons = [None] * len(rows), Counter()
            by_task: dict[str, list[int]] = {}
            for k, r in enumerate(rows):
                by_task.setdefault(self.items[r][0].name, []).append(k)
            for task, ks in by_task.items():
                got = self.graders[task].score([self.items[rows[k]][1] for k in ks], [completions[k] for k in ks], step)
                reasons.update(got.reasons)
                formats.update(got.formats)
                failures.update(got.failures)
                for name, vals in got.components.items():
                    components.setdefault(name, []).extend(v for v in vals if v is not None)
                for k, v in zip(ks, got.totals):
                    scores[k] = v
        self.last_local = list(scores)
        lengths = [len(c) for c in completion_ids] if completion_ids is not None else [len(c) for c in completions]
        payload = (rows, scores, lengths, dict(reasons), components, dict(failures), dict(formats))
        parts = [payload]
        if self.accelerator is not None and self.accelerator.num_processes > 1:
            parts = gather_object([payload])
        # The global batch is process-major and a group is contiguous in it, but one process's
        # slice may hold part of a group: group after joining every process's part.
        all_rows = [r for p in parts for r in p[0]]
        all_scores = [x for p in parts for x in p[1]]
        self.rollouts += len(all_rows)
        for start in range(0, len(all_rows), self.g):
            group = all_scores[start:start + self.g]
            self.groups.append((all_rows[start], group))
            got = [s for s in group if s is not None]
            self.stats["groups"] += 1
            self.stats["zero_var"] += int(len(set(got)) <= 1)
        for _, scores_p, lengths_p, reasons_p, components_p, failures_p, formats_p in parts:
            self.stats["rewards"].extend(s for s in scores_p if s is not None)
            self.stats["ungraded"] += sum(s is None for s in scores_p)
            self.stats["lengths"].extend(lengths_p)
            self.stats["reasons"].update(reasons_p)
            self.stats["failures"].update(failures_p)
            self.stats["format"].update(formats_p)
            for name, vals in components_p.items():
                self.stats["components"].setdefault(name, []).extend(vals)
        return scores

    def take(self) -> tuple[list[tuple[int, list[float | None]]], dict[str, Any]]:
        groups, stats = self.groups, self.stats
        self.groups, self.stats = [], self._empty()
        return groups, stats


def _group_tensors(out: dict, k: int, g: int) -> dict[str, torch.Tensor]:
    """Group ``k``'s rows (of ``g``) of a generation's output, on the CPU (to send to another process)."""
    return {key: t[k * g:(k + 1) * g].detach().cpu() for key, t in out.items()
            if isinstance(t, torch.Tensor) and t.dim() > 0}


def _pad_to(t: torch.Tensor, width: int, value, left: bool) -> torch.Tensor:
    if t.shape[1] >= width:
        return t
    pad = torch.full((t.shape[0], width - t.shape[1]), value, dtype=t.dtype, device=t.device)
    return torch.cat([pad, t] if left else [t, pad], dim=1)


class CurricleGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose step can generate more groups than it trains, and keep ``B``:

    - with admission ``gates`` (after generation): each process's groups go through the gates in
      order; while fewer than its ``B`` were admitted, a round of ``oversample x B`` fresh prompts
      is generated and judged (at most ``max_resamples`` rounds, every process running the same
      number; a round's prompts, over every process, none of the step's own nor an earlier
      round's nor twice in the round while the prompts last), and the batch is the first ``B``
      admitted groups in generation order (verl's DAPO: over-generate, filter, truncate); short of
      ``B``, rejected groups fill it (counted as ``unfilled``);
    - with ``pool_factor`` > 1 (LILO): ``(pool_factor - 1) x B`` fresh prompts, none of them the
      step's own nor twice in the pool while the prompts last, are generated beside the step's
      ``B`` and the ``B`` groups with the largest ``p (1 - p)`` are kept (``B`` each process's
      share: with several processes, the top of every process's pool together, each process
      training its own kept groups and the ones other processes kept beyond their share, whose
      tensors they send it: :func:`~curricle.rl.curricula.deal_top_learnable`).

    The fresh prompts come from the sampler (:meth:`PromptSampler.draw_refill`, LILO's
    :meth:`PromptSampler.draw_pool`), drawn for every process at once and dealt, through the gates
    before generation as the step's own prompts, their skips counted with the step's. Every
    verdict of every process is counted on every process, so the gates' counts are global, and
    so are the replaced and unfilled groups (:attr:`replaced`, :attr:`unfilled`); every generated
    rollout is counted by the reward function (the budget).
    :attr:`trained` holds the kept groups' rewards for the step's metrics.

    TRL 1.16.0: overrides ``GRPOTrainer._generate_and_score_completions`` (the one method that
    sees the step's groups, generated and scored, before their loss), calling the original for
    the step's and the extra generations."""

    def __init__(self, *a, gates: Sequence[Gate] = (), max_resamples: int = 3, oversample: int = 1,
                 pool_factor: int = 1, reward: GradedReward | None = None, **kw):
        super().__init__(*a, **kw)
        self.gates = list(gates)
        self.max_resamples = max_resamples
        self.oversample = oversample
        self.pool_factor = pool_factor
        self.graded = reward
        self.replaced = 0
        self.unfilled = 0
        self.trained: list[list[float | None]] = []  # the kept groups' rewards (every process's), this step
        #: The run's sampler (set with it): it draws the extra generations' prompts too.
        self.prompt_sampler: PromptSampler | None = None

    def _judge(self, rewards: list[float | None], g: int) -> list[bool]:
        """Each group's (of ``g``) verdict, every process's verdicts counted."""
        admitted, mine = [], []
        for k in range(0, len(rewards), g):
            found = verdicts(self.gates, rewards[k:k + g])
            mine.extend(found)
            admitted.append(found[-1][1])
        for i, ok, reason in gather_object(mine) if self.accelerator.num_processes > 1 else mine:
            self.gates[i].count(ok, reason)
        return admitted

    def _count(self, replaced: int, unfilled: int) -> None:
        """Add the step's replaced and unfilled groups of every process (as :meth:`_judge` counts
        the verdicts), so the counts logged and checkpointed are the run's, the same on every process."""
        counts = [(replaced, unfilled)]
        if self.accelerator.num_processes > 1:
            counts = gather_object(counts)
        self.replaced += sum(r for r, _ in counts)
        self.unfilled += sum(u for _, u in counts)

    def _global_max(self, n: int) -> int:
        t = torch.tensor(n, device=self.accelerator.device)
        return int(self.accelerator.gather(t).max().item())

    def _generate_more(self, step: int, attempt: int, n: int, pool: bool = False
                       ) -> tuple[dict, list[list[float | None]]]:
        """``n`` fresh groups generated and scored (refill round ``attempt`` of step ``step``,
        :meth:`PromptSampler.draw_refill`; ``pool``: LILO's pool, :meth:`PromptSampler.draw_pool`),
        this process's share of one draw for every process: their prompts pass the gates before
        generation as the step's own did, every process's skips counted with the step's (a
        skipped prompt is never generated)."""
        sampler = self.prompt_sampler
        processes, me = self.accelerator.num_processes, self.accelerator.process_index
        # (every process draws every process's rows, and so every skip)
        if pool:
            pools, skipped = sampler.draw_pool(step, n, processes)
        else:
            pools, skipped = sampler.draw_refill(step, attempt, n, processes)
        rows = pools[me]
        sampler.add_skipped(step, skipped)
        g = self.num_generations
        extra = super()._generate_and_score_completions(
            [dict(self.train_dataset[sampler.position(r)]) for r in rows for _ in range(g)])
        local = self.graded.last_local
        return extra, [local[k:k + g] for k in range(0, len(local), g)]

    def _keep_top(self, outs: list[dict], cands: list[tuple[int, int]], groups: list[list[float | None]],
                  b: int) -> list[int]:
        """LILO's kept groups on this process, as indices into ``cands`` and ``groups``: the top
        ``b`` of its pool; with several processes, its deal of the top of every pool together
        (:func:`~curricle.rl.curricula.deal_top_learnable`), the groups dealt to it from another
        process's pool sent over (their tensors, on the CPU) and appended to ``outs`` (one each),
        ``cands`` and ``groups``."""
        processes, me, g = self.accelerator.num_processes, self.accelerator.process_index, self.num_generations
        if processes == 1:
            return top_learnable(groups, b)
        pools = gather_object([groups])
        dealt = deal_top_learnable(pools, b)
        keep = [j for q, j in dealt[me] if q == me]
        moves = [(q, j, p) for p, pairs in enumerate(dealt) for q, j in pairs if q != p]
        if moves:  # (every process deals the same: all of them join the gather, or none)
            sent = [(m, _group_tensors(outs[cands[j][0]], cands[j][1], g)) for m, (q, j, _) in enumerate(moves)
                    if q == me]
            got = dict(gather_object(sent))
            for m, (q, j, p) in enumerate(moves):
                if p == me:
                    outs.append(got[m])
                    cands.append((len(outs) - 1, 0))
                    groups.append(list(pools[q][j]))
                    keep.append(len(cands) - 1)
        return sorted(keep)

    def _record_trained(self, groups: list[list[float | None]]) -> None:
        self.trained.extend(gather_object(groups) if self.accelerator.num_processes > 1 else groups)

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return out
        g = self.num_generations
        local = self.graded.last_local
        groups = [local[k:k + g] for k in range(0, len(local), g)]
        if not self.gates and self.pool_factor == 1:
            self._record_trained(groups)
            return out
        b, step = len(groups), self.state.global_step
        replaced = unfilled = 0
        outs, cands = [out], [(0, k) for k in range(b)]  # (which generation, group within it)
        if self.pool_factor > 1:
            extra, more = self._generate_more(step, 0, (self.pool_factor - 1) * b, pool=True)
            outs.append(extra)
            cands += [(1, k) for k in range(len(more))]
            groups += more
            keep = self._keep_top(outs, cands, groups, b)
        else:
            admitted = self._judge(local, g)
            for attempt in range(self.max_resamples):
                if self._global_max(max(0, b - sum(admitted))) == 0:
                    break
                extra, more = self._generate_more(step, attempt, self.oversample * b)
                admitted += self._judge(self.graded.last_local, g)
                outs.append(extra)
                cands += [(len(outs) - 1, k) for k in range(len(more))]
                groups += more
            keep = [i for i, ok in enumerate(admitted) if ok][:b]
            if len(keep) < b:
                short = [i for i, ok in enumerate(admitted) if not ok][:b - len(keep)]
                unfilled = len(short)
                keep = sorted(keep + short)
        self._record_trained([groups[i] for i in keep])
        # The kept groups of extra generations take the places of the step's own groups not kept.
        kept = {cands[i] for i in keep}
        free = [k for k in range(b) if (0, k) not in kept]
        for j in range(1, len(outs)):
            src = [cands[i][1] for i in keep if cands[i][0] == j]
            dst, free = free[:len(src)], free[len(src):]
            out = self._splice(out, [k * g for k in dst], outs[j], [k * g for k in src], g)
            replaced += len(src)
        self._count(replaced, unfilled)
        loss_mask = out["completion_mask"] if "tool_mask" not in out else out["completion_mask"] * out["tool_mask"]
        out["num_items_in_batch"] = self.accelerator.gather(loss_mask.sum()).sum()
        return out

    def _splice(self, out: dict, dst: list[int], src_out: dict, src: list[int], g: int) -> dict:
        """``out`` with groups starting at ``dst`` replaced by ``src_out``'s groups at ``src``."""
        if not dst:
            return out
        left = {"prompt_ids", "prompt_mask"}
        values = {"prompt_ids": self.processing_class.pad_token_id, "completion_ids": self.processing_class.pad_token_id}
        di = torch.tensor([k + j for k in dst for j in range(g)])
        si = torch.tensor([k + j for k in src for j in range(g)])
        merged = dict(out)
        for key, a in out.items():
            b = src_out.get(key)
            if key == "num_items_in_batch" or not isinstance(a, torch.Tensor) or b is None or a.dim() == 0:
                continue
            if a.dim() == 2:
                width = max(a.shape[1], b.shape[1])
                pad_value = values.get(key, 1 if key == "tool_mask" else 0)
                a = _pad_to(a, width, pad_value, key in left)
                b = _pad_to(b, width, pad_value, key in left)
            a = a.clone()
            a[di.to(a.device)] = b[si.to(b.device)].to(a.device, a.dtype)  # (a group sent over: on the CPU)
            merged[key] = a
        return merged


class PolicyFeed:
    """The policy feed: after each optimizer step the policy observes the step's groups (from
    the reward function's ``take()``), and the step's metrics row says what was drawn, what it
    earned and what the gates did. Stateless: the policy lives in the sampler."""

    def __init__(self, sampler: PromptSampler, reward, trainer=None):
        self.sampler, self.reward, self.trainer = sampler, reward, trainer

    def start_record(self) -> dict[str, Any]:
        return {"event": "start", "step": 0, "curriculum": self.sampler.policy.name,
                "prompts": len(self.sampler.policy.prompts), "prompts_per_step": self.sampler.k,
                "num_generations": self.sampler.g}

    def step(self, step: int) -> tuple[dict[str, Any] | None, dict[str, Any], list[int], dict[str, Any]]:
        """Feed step ``step`` (1-based) to the policy: ``(its log record or None, the metrics
        row, the rows drawn, the step's reward statistics)``."""
        groups, stats = self.reward.take()
        record = self.sampler.observe(step - 1, groups)
        drawn = self.sampler.drawn.get(step - 1) or []
        prompts, index = self.sampler.policy.prompts, self.sampler.policy.index
        trained = getattr(self.trainer, "trained", None)
        generated_zv = stats["zero_var"] / stats["groups"] if stats["groups"] else None
        if trained:  # the groups the step trained on (a trainer with gates or a pool keeps some)
            zv = sum(len({r for r in t if r is not None}) <= 1 for t in trained) / len(trained)
            self.trainer.trained = []
        else:
            zv = generated_zv
        row = {"rollouts": self.reward.rollouts, "reward": float(np.mean(stats["rewards"])) if stats["rewards"] else None,
               "zero_variance_groups": zv, "generated/zero_variance_groups": generated_zv,
               "generated/groups": stats["groups"],
               "completion_length": float(np.mean(stats["lengths"])) if stats["lengths"] else None,
               "drawn/difficulty": float(np.mean([prompts[index[r]].difficulty for r in drawn])) if drawn else None}
        for cat, n in Counter(prompts[index[r]].category for r in drawn).items():
            row[f"drawn/{cat}"] = n
        for reason, n in stats["reasons"].items():
            row[f"ungraded/{reason}"] = n
        for reason, n in stats.get("format", {}).items():  # graded 0 (a user's own reward functions: none)
            row[f"format/{reason}"] = n
        for name, vals in stats.get("components", {}).items():  # (a user's own reward functions: none)
            row[f"reward/{name}"] = float(np.mean(vals)) if vals else None
        if getattr(self.trainer, "gates", None) or getattr(self.trainer, "pool_factor", 1) > 1:
            row["replaced_groups"] = self.trainer.replaced
            row["unfilled_groups"] = self.trainer.unfilled
            for gate in self.trainer.gates:
                row.update(gate.metrics())
        skipped = self.sampler.skipped.get(step - 1) or []
        if self.sampler.policy.prompt_gates:
            row["skipped_prompts"] = sum(1 for _, why in skipped if why != "forced")
            row.update({f"skipped/{k}": v for k, v in self.sampler.policy.skips.items()})
        row.update({f"curriculum/{k}": v for k, v in (record or {}).items()
                    if isinstance(v, (int, float)) and k != "step"})
        return record, {k: v for k, v in row.items() if v is not None}, drawn, stats


def eval_window(rewards: Sequence[float] = (), lengths: Sequence[int] = (), formats: dict[str, int] | None = None,
           n: int = 0) -> dict[str, Any]:
    """What the held-out check reads of the steps since the last evaluation: their rewards,
    completion lengths, format failures by reason and completions (``n``)."""
    return {"rewards": list(rewards), "lengths": list(lengths), "format": Counter(formats or {}), "n": n}


class HeldOutCheck:
    """The held-out check against reward hacking: each task's ``split`` items scored by
    ``evaluator`` (greedy exact match, independent of the reward's grader) at each evaluation,
    with ``samples`` also sampled pass@1 and the sampled completions' diversity, its history,
    and the flags (``reward-hacking``, ``length-drift``, ``format-drift``, ``mode-collapse``)
    judged on it with ``guards``."""

    def __init__(self, evaluator: Evaluator, guards, split: str = "test", samples: int = 0, temperature: float = 1.0,
                 seed: int = 0):
        self.evaluator, self.guards, self.split = evaluator, guards, split
        self.samples, self.temperature, self.seed = samples, temperature, seed
        self.history: list[dict[str, Any]] = []  # per evaluation: step, rollouts, reward, metric, length, format
        self.flags: list[dict[str, Any]] = []
        self.last_eval = -1

    def evaluate(self, step: int, model, rollouts: int, window: dict) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Score ``model`` at ``step``: ``(the metrics row, the flags it raised)``; ``window``: the
        rewards, lengths and format failures by reason since the last evaluation (:func:`eval_window`)."""
        scores = self.evaluator.evaluate(model, split=self.split)
        self.last_eval = step
        metric = {t: s.get("exact_match", s.get("score")) for t, s in scores.items()}
        vals = [v for v in metric.values() if v is not None]
        ses = [s.get("exact_match_se", s.get("score_se")) for s in scores.values()]
        # The standard error of the mean over tasks (independent items): sqrt(sum se^2) / n.
        mean_se = (float(np.sqrt(sum(e * e for e in ses)) / len(ses))
                   if ses and all(e is not None and np.isfinite(e) for e in ses) else None)
        fmt = sum(window["format"].values()) / window["n"] if window.get("n") else None
        sampled, diversity = self.sampled(model, step) if self.samples else ({}, {})
        entry = {"step": step, "rollouts": rollouts, "metric": metric,
                 "mean": float(np.mean(vals)) if vals else None, "worst": float(np.min(vals)) if vals else None,
                 "mean_se": mean_se,
                 "reward": float(np.mean(window["rewards"])) if window.get("rewards") else None,
                 "length": float(np.mean(window["lengths"])) if window.get("lengths") else None, "format": fmt}
        if sampled:
            entry.update({"sampled": sampled, "sampled_mean": float(np.mean(list(sampled.values()))),
                          "sampled_worst": float(np.min(list(sampled.values())))})
        if diversity:
            entry["diversity"] = diversity
        self.history.append(entry)
        flat = {"rollouts": rollouts}
        flat.update({f"diversity/{k}": v for k, v in diversity.items()})
        for t, s in scores.items():
            for k, v in s.items():
                if isinstance(v, (int, float)) and np.isfinite(v):
                    flat[f"eval/{t}/{k}"] = float(v)
        if vals:
            flat["eval/mean"], flat["eval/worst"] = entry["mean"], entry["worst"]
        for t, v in sampled.items():
            flat[f"eval/{t}/pass1_sampled"] = v
        if sampled:
            flat["eval/pass1_sampled_mean"], flat["eval/pass1_sampled_worst"] = entry["sampled_mean"], entry["sampled_worst"]
        return flat, self._flags(step)

    def sampled(self, model, step: int) -> tuple[dict[str, float], dict[str, float]]:
        """Each task's sampled pass@1 on ``split``: the share of ``samples`` completions at
        ``temperature`` that equal the item's completion exactly, averaged over items (seeded by
        the step, drawn apart from the training run's random stream); and the diversity of those
        completions over every task's items (:func:`curricle.rl.diversity.group_diversity`)."""
        out = {}
        groups: list[list[str]] = []
        for j, task in enumerate(self.evaluator.tasks):
            items = task.eval_set(self.split)
            if not items:
                continue
            max_new = task.scoring.max_new_tokens or gen_token_budget(i.completion for i in items)
            texts = sample_apart(model, self.evaluator.tokenizer, [i.prompt for i in items], self.samples,
                                 self.temperature, max_new, task.scoring.until,
                                 seed=(self.seed * 1_000_003 + step) * 101 + j, batch_size=self.evaluator.batch_size)
            rates = [sum(t == item.completion for t in group) / self.samples for item, group in zip(items, texts)]
            out[task.name] = float(np.mean(rates))
            groups.extend(texts)
        return out, group_diversity(groups)

    def _flags(self, step: int) -> list[dict[str, Any]]:
        raised: list[dict[str, Any]] = []
        h = [e for e in self.history if e["reward"] is not None]
        g = self.guards
        if len(h) >= g.window:
            a, b = h[-g.window], h[-1]
            fall = a["mean"] - b["mean"]
            se = (a.get("mean_se"), b.get("mean_se"))
            noise = float(np.hypot(*se)) if None not in se else 0.0
            if b["reward"] - a["reward"] >= g.reward_rise and fall >= g.metric_fall and fall >= g.metric_fall_se * noise:
                self._flag(raised, step, "reward-hacking", reward=[a["reward"], b["reward"]],
                           metric=[a["mean"], b["mean"]], since_step=a["step"],
                           fall_se=round(fall / noise, 2) if noise else None)
        if len(h) >= 2 and h[0]["length"] and h[-1]["length"]:
            ratio = h[-1]["length"] / h[0]["length"]
            if ratio >= g.length_ratio or ratio <= 1 / g.length_ratio:
                self._flag(raised, step, "length-drift", ratio=ratio, first=h[0]["length"], now=h[-1]["length"])
        if len(h) >= 2 and h[-1]["format"] is not None and h[-1]["format"] >= g.format_share \
                and h[-1]["format"] > (h[0]["format"] or 0.0):
            self._flag(raised, step, "format-drift", share=h[-1]["format"], first=h[0]["format"])
        self._mode_collapse(raised, step)
        return raised

    def _mode_collapse(self, raised: list, step: int) -> None:
        """``mode-collapse`` (:class:`~curricle.rl.config.ModeCollapseGuard`): the watched
        diversity at or below the first evaluation's over ``factor``, while the held-out score
        rose from the first evaluation or the training reward from the first that had one."""
        g = getattr(self.guards, "mode_collapse", None)
        if g is None:
            return
        h = [e for e in self.history if (e.get("diversity") or {}).get(g.metric) is not None]
        if len(h) < 2:
            return
        first, now = h[0], h[-1]
        d0, d1 = first["diversity"][g.metric], now["diversity"][g.metric]
        if d0 <= 0 or d1 > d0 / g.factor:
            return
        key = "sampled_mean" if now.get("sampled_mean") is not None else "mean"
        score_rose = None not in (first.get(key), now.get(key)) and now[key] > first[key]
        rewarded = [e for e in h if e.get("reward") is not None]
        reward_rose = len(rewarded) >= 2 and rewarded[-1]["reward"] > rewarded[0]["reward"]
        if score_rose or reward_rose:
            self._flag(raised, step, "mode-collapse", metric=g.metric, first=d0, now=d1, since_step=first["step"],
                       score=[first.get(key), now.get(key)],
                       reward=[rewarded[0]["reward"], rewarded[-1]["reward"]] if len(rewarded) >= 2 else None)

    def _flag(self, raised: list, step: int, kind: str, **detail) -> None:
        if self.flags and self.flags[-1]["event"] == kind and self.flags[-1]["step"] == step:
            return
        rec = {"step": step, "event": kind, **detail}
        self.flags.append(rec)
        raised.append(rec)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "flags": self.flags, "last_eval": self.last_eval}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history, self.flags, self.last_eval = state["history"], state["flags"], state["last_eval"]


class FeedCallback(StatefulCallback):
    """A :class:`PolicyFeed` in a trainer: after every optimizer step the policy observes the
    step's groups; the step's row of ``OUT/metrics.jsonl``, the curriculum log and (with
    ``trace``) each process's prompt trace; the sampler checkpointed at the step saved (through
    the seam kit's base). ``curricle rl``'s :class:`RLCallback` and ``use_prompt_curriculum``'s
    callback are both one."""

    logs = (CURRICULUM_LOG,)
    rank_logs = (TRACE,)
    metrics = True

    def __init__(self, feed: PolicyFeed, out: Path | None = None, tensorboard: bool = False, trace: bool = False):
        super().__init__(out, tensorboard)
        self.feed = feed
        self.sampler, self.reward = feed.sampler, feed.reward
        self.trace = trace
        self.register("sampler", self.sampler, at_step=True)

    def on_train_begin(self, args, state, control, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)  # the logs and sinks, and the state on resume
        if state.global_step == 0:
            self._append(CURRICULUM_LOG, self.feed.start_record())

    def on_step_end(self, args, state, control, **kwargs):
        self._feed(state.global_step)  # (a callback's return value is the trainer's control: none)

    def _feed(self, step: int) -> dict[str, Any]:
        """Feed step ``step`` to the policy and log it; returns the step's reward statistics."""
        record, row, drawn, stats = self.feed.step(step)
        if record is not None:
            self._append(CURRICULUM_LOG, record)
        if self.trace:
            self._append(TRACE, {"step": step, "rows": drawn})
        self._write(step, row)
        return stats


class RLCallback(FeedCallback):
    """An RL run's callback: the policy feed after every step (:class:`FeedCallback`), the
    :class:`HeldOutCheck` every ``eval_every`` steps (and at the end), the rollout budget, and
    the logs and checkpointed state of both (through the seam kit's base)."""

    state_file = STATE_FILE
    logs = (CURRICULUM_LOG, EVENTS)
    outputs = (FINAL,)

    def __init__(self, feed: PolicyFeed, check: HeldOutCheck, eval_every: int, out: Path,
                 rollout_budget: int | None = None, tensorboard: bool = True, trace: bool = False,
                 eval_every_rollouts: int | None = None, tasks: dict[str, str] | None = None):
        super().__init__(feed, out, tensorboard, trace)
        self.tasks = tasks
        """Task -> fingerprint of its items (:func:`curricle.tasks.load.fingerprints`), recorded
        in every checkpoint (``curricle rl --resume`` checks them before it builds anything)."""
        self.check = check
        self.eval_every = eval_every
        self.eval_every_rollouts = eval_every_rollouts
        self.profile_rollouts = 0  # the base sampling pass's, counted apart from the budget
        self.budget = rollout_budget
        self.failing = 0  # steps in a row over the grader-failure guard's ungraded share
        self._window = eval_window()

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.check.history

    @property
    def flags(self) -> list[dict[str, Any]]:
        return self.check.flags

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        super().on_train_begin(args, state, control, **kwargs)  # ... and the feed's start record
        if state.global_step == 0:
            self._evaluate(0, model, {})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        stats = self._feed(step)
        w = self._window
        w["rewards"].extend(stats["rewards"])
        w["lengths"].extend(stats["lengths"])
        w["format"].update(stats["format"])
        w["n"] += len(stats["lengths"])
        self._grader_failure(step, stats)
        if self.eval_every_rollouts:
            last = self.check.history[-1]["rollouts"] if self.check.history else 0
            due = self.reward.rollouts // self.eval_every_rollouts > last // self.eval_every_rollouts
        else:
            due = step % self.eval_every == 0
        if due or step >= self.sampler.steps:
            self._evaluate(step, model, w)
            self._window = eval_window()
        if self.budget is not None and self.reward.rollouts >= self.budget:
            if self.check.last_eval != step:
                self._evaluate(step, model, self._window)
            self._append(EVENTS, {"step": step, "event": "budget", "rollouts": self.reward.rollouts})
            control.should_training_stop = True

    def _grader_failure(self, step: int, stats: dict[str, Any]) -> None:
        """The ``grader-failure`` guard: a step whose share of ungraded completions is above
        ``max_ungraded_share`` is flagged (with the grader that failed most and its top reason);
        ``stop_after`` such steps in a row stop the run with a one-line error."""
        guard = getattr(self.check.guards, "grader_failure", None)
        n = len(stats["lengths"])
        if guard is None or not n:
            return
        share = stats["ungraded"] / n
        if share <= guard.max_ungraded_share:
            self.failing = 0
            return
        self.failing += 1
        if stats["failures"]:
            (grader, reason), count = stats["failures"].most_common(1)[0]
        else:  # (a reward function of the user's own that returned None)
            grader, reason, count = "the reward", "ungraded", stats["ungraded"]
        stop = guard.stop_after is not None and self.failing >= guard.stop_after
        raised: list[dict[str, Any]] = []
        self.check._flag(raised, step, "grader-failure", share=share, grader=grader, reason=reason, count=count,
                         steps_in_a_row=self.failing, stopped=stop)
        for rec in raised:
            self._append(EVENTS, rec)
        if stop:
            raise CurricleError(f"grader-failure: {grader} left {share:.0%} of the completions ungraded in each of the "
                                f"last {self.failing} steps (step {step}; guards.grader_failure.max_ungraded_share "
                                f"{guard.max_ungraded_share}); top reason: {reason!r} ({count} of {n} at step {step})")

    def _evaluate(self, step: int, model, window: dict) -> None:
        flat, raised = self.check.evaluate(step, model, self.reward.rollouts, window)
        self._write(step, flat)
        for rec in raised:
            self._append(EVENTS, rec)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self.check.last_eval != state.global_step:
            self._evaluate(state.global_step, model, self._window)
        if self._main:
            heldout = self.check.evaluator.evaluate(model, split="heldout")
            final = {"step": state.global_step, "rollouts": self.reward.rollouts, "test": self.history[-1]["metric"],
                     "heldout": heldout, "flags": self.flags, "history": self.history,
                     "pass_rates": self.sampler.policy.pass_rate_summary(),
                     "profile_rollouts": self.profile_rollouts, "skipped_prompts": dict(self.sampler.policy.skips)}
            atomic.write_text(self.out / FINAL, json.dumps(final, indent=1) + "\n")
        super().on_train_end(args, state, control, **kwargs)

    # -- checkpoints: the sampler is a registered part ------------------------------------------

    def own_state(self) -> dict[str, Any]:
        trainer = self.feed.trainer
        return {**({"tasks": self.tasks} if self.tasks is not None else {}),
                "rollouts": self.reward.rollouts, "calls": self.reward.calls, "failing": self.failing,
                **self.check.state_dict(),
                "window": {**self._window, "format": dict(self._window["format"])},
                "replaced": getattr(trainer, "replaced", 0), "unfilled": getattr(trainer, "unfilled", 0),
                "gates": [gate.state_dict() for gate in getattr(trainer, "gates", [])]}

    def load_own_state(self, saved: dict[str, Any]) -> None:
        self.reward.rollouts, self.reward.calls = saved["rollouts"], saved["calls"]
        self.failing = saved.get("failing", 0)  # (0 in checkpoints from before the guard)
        self.check.load_state_dict(saved)
        w = saved["window"]
        # (checkpoints from before format failures were counted apart: among the grader reasons)
        formats = w["format"] if "format" in w else {r: n for r, n in w["reasons"].items() if r in FORMAT_REASONS}
        self._window = eval_window(w["rewards"], w["lengths"], formats, w["n"])
        trainer = self.feed.trainer
        if trainer is not None:
            trainer.replaced = saved["replaced"]
            trainer.unfilled = saved.get("unfilled", 0)
            gates, states = getattr(trainer, "gates", []), saved.get("gates")
            if states is not None:  # (checkpoints from before gates had none: counts start at 0)
                check_gate_kinds([st["config"]["kind"] for st in states], [gate.kind for gate in gates])
                for gate, st in zip(gates, states):
                    gate.load_state_dict(st)
        if "trace_lines" in saved:  # a checkpoint from before the seam kit kept the trace's count apart
            saved["log_lines"][TRACE] = saved.pop("trace_lines")
