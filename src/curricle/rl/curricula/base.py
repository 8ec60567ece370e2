"""The prompt policy contract, and what the policies share (pass rates, difficulty scale,
GRPO's advantages, seeded epochs).

A policy keeps a small JSON-able state, changed by :meth:`PromptPolicy.observe` with each step's
groups and their rewards; :meth:`PromptPolicy.choose` is a pure function of a *snapshot* of that
state, the seed and the step (see :mod:`curricle.rl.curricula`). The base policy is uniform:
seeded epochs over the prompts, ``B`` a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Sequence

import numpy as np

from curricle.errors import CurricleError
from curricle.rl.config import PassRateConfig
from curricle.rl.curricula.gate import check_configuration


@dataclass(frozen=True)
class Prompt:
    """A training prompt: its dataset row, task, difficulty on a 0-100 scale, category."""

    row: int
    task: str
    difficulty: float
    category: str


def difficulty_scale(values: Sequence[float]) -> list[float]:
    """Each value's rank among ``values`` on a 0-100 scale (ties share their mean rank)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return [0.0] * len(x)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for v in np.unique(x):  # ties: their mean rank
        same = x == v
        ranks[same] = ranks[same].mean()
    return (100.0 * ranks / (len(x) - 1)).tolist()


def group_advantages(rewards: Sequence[float | None], scale: str, batch_std: float | None = None) -> list[float]:
    """GRPO's advantages of one group as TRL computes them: ``(r - mean) / (std + 1e-4)`` with the
    group's unbiased std (``group``), the batch's (``batch``) or none (``none``); ungraded
    completions (None) are left out of the mean and get 0."""
    r = np.array([np.nan if v is None else v for v in rewards], dtype=np.float64)
    ok = ~np.isnan(r)
    if not ok.any():
        return [0.0] * len(r)
    mean = r[ok].mean()
    adv = r - mean
    if scale == "group":
        std = r[ok].std(ddof=1) if ok.sum() > 1 else 0.0
        adv = adv / (std + 1e-4)
    elif scale == "batch":
        adv = adv / ((batch_std or 0.0) + 1e-4)
    return np.where(ok, adv, 0.0).tolist()


def group_pass_rate(rewards: Sequence[float | None]) -> float | None:
    """A group's pass rate as the policies track it (and the base sampling pass reads a
    prompt's samples): the mean of its graded rewards (a partial score counts as its part of a
    pass), ungraded completions (None) left out of both the sum and the count; None when none
    was graded."""
    got = [r for r in rewards if r is not None]
    return float(np.mean(got)) if got else None


class PassRates:
    """Each prompt's pass rate: an EMA of its groups' pass rates (:func:`group_pass_rate`; None
    until first drawn), its number of groups, and the step it was last updated at."""

    def __init__(self, config: PassRateConfig):
        self.ema = config.ema
        self.p: dict[int, float] = {}
        self.n: dict[int, int] = {}
        self.t: dict[int, int] = {}

    def update(self, row: int, mean_reward: float, step: int = 0) -> None:
        old = self.p.get(row)
        self.p[row] = mean_reward if old is None else (1 - self.ema) * old + self.ema * mean_reward
        self.n[row] = self.n.get(row, 0) + 1
        self.t[row] = step

    def state_dict(self) -> dict[str, Any]:
        return {"p": {str(k): v for k, v in self.p.items()}, "n": {str(k): v for k, v in self.n.items()},
                "t": {str(k): v for k, v in self.t.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = {int(k): float(v) for k, v in state["p"].items()}
        self.n = {int(k): int(v) for k, v in state["n"].items()}
        self.t = {int(k): int(v) for k, v in state.get("t", {}).items()}


def _epoch_rows(n: int, seed: int, start: int, k: int) -> list[int]:
    """Positions ``start .. start + k`` of seeded back-to-back permutations of ``range(n)``."""
    out = []
    while len(out) < k:
        epoch, pos = divmod(start + len(out), n)
        perm = np.random.default_rng([seed, 17, epoch]).permutation(n)
        out.extend(perm[pos: pos + k - len(out)].tolist())
    return out


def check_gate_kinds(saved: list[str | None], now: list[str], which: str = "") -> None:
    """Refuse (one line) a checkpoint whose gates (``saved``, their kinds in order; None: a kind
    not recorded) are not this run's (``now``); ``which``: the gates' kind of judging."""
    if len(saved) != len(now) or any(k is not None and k != n for k, n in zip(saved, now)):
        raise CurricleError(f"curriculum.gates: the checkpoint's gates{which} {saved} are not this run's {now}: "
                            f"resume with the same gates")


class PromptPolicy:
    """Base: uniform epochs. ``prompts``: every training prompt; ``scale_rewards``: how the
    trainer normalizes advantages (the bandit's reward uses the same); ``profile``: each row's
    base pass rate (the base sampling pass), if the run has one (a row missing or None: none of
    its samples was graded, its rate unknown as an unseen prompt's); ``batch``: prompts a step;
    ``steps``: the run's steps; ``prompt_gates``: the gates that judge prompts before generation
    (:mod:`curricle.rl.curricula.prompt_gate`), applied by :meth:`draw`."""

    #: A key of this policy's state that no other policy's state has, which tells a checkpoint
    #: saved before the kind was recorded. None: the state is the base's alone, which uniform,
    #: dynamic-filter, learnability and lilo all keep, so such a checkpoint cannot be told apart.
    state_key: str | None = None

    def __init__(self, config, prompts: Sequence[Prompt], seed: int, pass_rate: PassRateConfig,
                 scale_rewards: str = "group", profile: dict[int, float] | None = None, batch: int = 1,
                 steps: int = 1, prompt_gates: Sequence[Any] = ()):
        self.config = config
        self.prompts = list(prompts)
        self.seed = seed
        self.scale_rewards = scale_rewards
        self.pass_rates = PassRates(pass_rate)
        self.index = {p.row: i for i, p in enumerate(self.prompts)}
        self.profile = {r: p for r, p in profile.items() if p is not None} if profile is not None else None
        self.batch, self.steps = batch, steps
        self.prompt_gates = list(prompt_gates)
        #: Prompts skipped before generation, by ``gate/reason``; ``forced``: rows a gate skipped
        #: that then filled a step the policy's choices could not, so generated after all (and
        #: not counted under their gate's reason).
        self.skips: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self.config.kind

    # -- state ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What :meth:`choose` and :meth:`draw` read (JSON-able)."""
        snap: dict[str, Any] = {"pass_rates": self.pass_rates.state_dict()}
        if self.prompt_gates:
            snap["prompt_gates"] = [g.state_dict() for g in self.prompt_gates]
        return snap

    def state_dict(self) -> dict[str, Any]:
        gates = {"prompt_gate_kinds": [g.kind for g in self.prompt_gates],
                 "prompt_gate_configs": [g.configuration() for g in self.prompt_gates]} if self.prompt_gates else {}
        return {"kind": self.config.kind, **self.snapshot(), "skips": dict(self.skips), **gates}

    def check_kind(self, state: dict[str, Any]) -> None:
        """Refuse (one line) the state of another curriculum: its recorded kind, or (older
        checkpoints recorded none) the absence of :attr:`state_key`; without a ``state_key``
        a state with no kind is refused too, as it could be any of the policies that keep the
        base's state alone (loading one's into another would switch the run's curriculum
        silently)."""
        kind = state.get("kind")
        if kind is None and self.state_key is None:
            raise CurricleError(f"curriculum.kind: the checkpoint's curriculum state records no kind (saved before "
                                f"kinds were) and could be uniform's, dynamic-filter's, learnability's or lilo's: it "
                                f"cannot be checked against this run's {self.config.kind}; start a fresh run, or, if "
                                f"it was {self.config.kind}'s, add \"kind\": \"{self.config.kind}\" to "
                                f"sampler.policy in the checkpoint's state file")
        if kind is None and self.state_key not in state:
            raise CurricleError(f"curriculum.kind: the checkpoint's curriculum state is not {self.config.kind}'s "
                                f"(it has no '{self.state_key}'): resume with the same curriculum")
        if kind is not None and kind != self.config.kind:
            raise CurricleError(f"curriculum.kind: the checkpoint's curriculum is {kind}, this run's "
                                f"{self.config.kind}: resume with the same curriculum")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.check_kind(state)
        saved = state.get("prompt_gates", [])
        # (older checkpoints: the count only, or the kinds without the configurations)
        check_gate_kinds(state.get("prompt_gate_kinds", [None] * len(saved)), [g.kind for g in self.prompt_gates],
                         " before generation")
        for g, config in zip(self.prompt_gates, state.get("prompt_gate_configs", [])):
            check_configuration(g.kind, config, g.configuration())
        self.pass_rates.load_state_dict(state["pass_rates"])
        for g, st in zip(self.prompt_gates, saved):
            g.load_state_dict(st)
        self.skips = {str(k): int(v) for k, v in state.get("skips", {}).items()}

    # -- choosing and observing ----------------------------------------------------------------------

    def prior(self, row: int) -> float | None:
        """A prompt's pass rate before it is rolled out: the profile's, if any."""
        return None if self.profile is None else self.profile.get(row)

    def rate(self, snapshot: dict[str, Any], row: int) -> float | None:
        """The prompt's tracked pass rate in ``snapshot``, else its prior (None: unknown)."""
        p = snapshot.get("pass_rates", {}).get("p", {}).get(str(row))
        return float(p) if p is not None else self.prior(row)

    def choose(self, snapshot: dict[str, Any], step: int, k: int, attempt: int = 0) -> list[int]:
        """The rows of step ``step``'s ``k`` prompts; ``attempt`` > 0: the policy's next ``k``
        choices when gates before generation skipped some (uniform: fresh uniform draws)."""
        if attempt:
            rng = np.random.default_rng([self.seed, 47, step, attempt])
            idx = rng.choice(len(self.prompts), size=min(k, len(self.prompts)), replace=False)
            return [self.prompts[int(i)].row for i in idx]
        pos = _epoch_rows(len(self.prompts), self.seed, step * k, k)
        return [self.prompts[i].row for i in pos]

    def draw(self, snapshot: dict[str, Any], step: int, k: int, max_draws: int = 16
             ) -> tuple[list[int], list[tuple[int, str]]]:
        """Step ``step``'s ``k`` rows after the gates before generation, and the rows they
        skipped with ``gate/reason``: the policy's choices are judged in order, a skipped row
        replaced by the next choice (:meth:`choose` with a higher ``attempt``), a row not twice
        in a step; after ``max_draws`` rounds the step is filled with skipped rows, listed as
        ``forced`` instead of their gate's reason. Each gate draws its own uniform numbers.
        Pure: a function of the snapshot, the seed and the step."""
        if not self.prompt_gates:
            return self.choose(snapshot, step, k), []
        return self._gated(snapshot, step, k, max_draws, lambda attempt: self.choose(snapshot, step, k, attempt),
                           lambda attempt: [self.seed, 43, step, attempt])

    def draw_more(self, snapshot: dict[str, Any], step: int, k: int, attempt: int, process: int,
                  max_draws: int = 16, exclude: Collection[int] = ()) -> tuple[list[int], list[tuple[int, str]]]:
        """``k`` fresh rows for process ``process``'s extra generations in step ``step`` (round
        ``attempt``; the trainer's are drawn for every process at once: :meth:`draw_pool`), and
        the rows the gates before generation skipped: :func:`replacement_prompts`' uniform draws
        (the rows in ``exclude`` only after every other), judged as :meth:`draw` judges the policy's choices (a skipped
        row replaced by the next round of draws; after ``max_draws`` rounds skipped rows fill,
        ``forced``), each gate on a stream of its own apart from :meth:`draw`'s. Without gates,
        exactly :func:`replacement_prompts`. Pure."""
        def candidates(round_: int) -> list[int]:
            return replacement_prompts(self.prompts, self.seed, step, attempt, process, k, round_, exclude)
        if not self.prompt_gates:
            return candidates(0), []
        return self._gated(snapshot, step, k, max_draws, candidates,
                           lambda round_: [self.seed, 53, step, attempt, process, round_])

    def draw_pool(self, snapshot: dict[str, Any], step: int, own: Sequence[int], k: int, processes: int = 1,
                  max_draws: int = 16, attempt: int = 0) -> tuple[list[list[int]], list[tuple[int, str]]]:
        """The trainer's fresh rows in step ``step`` beside the rows ``own`` already drawn for it
        (every process's: the step's own, and for DAPO's refill round ``attempt`` > 0 the earlier
        rounds' too): ``k`` for each of ``processes`` processes (LILO's pool, a refill round), and
        the rows the gates before generation skipped. One :meth:`draw_more` for all of them (``k x
        processes`` rows, round ``attempt`` on process 0's stream), dealt in order, so they repeat
        no prompt, neither another process's nor a row of ``own``, while the prompts last (then
        the rows of ``own`` follow, in a seeded order, and once every prompt is in the draw it
        starts again from its first, so that every process generates ``k``). Pure: every process
        draws the same pools and skips."""
        rows, skipped = self.draw_more(snapshot, step, k * processes, attempt, 0, max_draws, exclude=own)
        rows = [rows[i % len(rows)] for i in range(k * processes)] if rows else []
        return [rows[q * k:(q + 1) * k] for q in range(processes)], skipped

    def _gated(self, snapshot: dict[str, Any], step: int, k: int, max_draws: int, candidates, seeds
               ) -> tuple[list[int], list[tuple[int, str]]]:
        """``k`` rows of ``candidates(round)`` (rounds ``0 .. max_draws - 1``) that the gates before
        generation admit, judged in order, a row not twice; gate ``j`` draws its uniform numbers of
        a round from ``seeds(round) + [j]`` (gate 0: ``seeds(round)``). Still short after the
        rounds: the first skipped rows fill, counted ``forced``."""
        states = snapshot.get("prompt_gates", [])
        rows: list[int] = []
        skipped: list[tuple[int, str]] = []
        seen: set[int] = set()
        for round_ in range(max_draws):
            # One stream per gate: two random rules judged on one u would be correlated (a
            # row passing GRESO's u >= s and the Gaussian's u < a with probability a - s, not
            # a (1 - s)). The first gate's stream is the one a single gate always had.
            rngs = [np.random.default_rng(seeds(round_) + ([j] if j else [])) for j in range(len(self.prompt_gates))]
            for row in candidates(round_):
                if len(rows) == k:
                    break
                if row in seen:
                    continue
                seen.add(row)
                us = [float(rng.random()) for rng in rngs]
                reason = None
                for gate, st, u in zip(self.prompt_gates, states, us):
                    why = gate.skip(st, row, self.rate(snapshot, row), step, u)
                    if why is not None:
                        reason = f"{gate.kind}/{why}"
                        break
                if reason is None:
                    rows.append(row)
                else:
                    skipped.append((row, reason))
            if len(rows) == k:
                break
        # Still short after max_draws rounds: the first skipped rows are generated after all,
        # counted as forced (not as skipped: they cost rollouts).
        n_forced = k - len(rows)
        rows += [row for row, _ in skipped[:n_forced]]
        skipped = [(row, "forced") for row, _ in skipped[:n_forced]] + skipped[n_forced:]
        return rows, skipped

    def observe(self, step: int, groups: Sequence[tuple[int, Sequence[float | None]]],
                skipped: Sequence[tuple[int, str]] = ()) -> dict[str, Any] | None:
        """Take step ``step``'s groups ``(row, rewards)`` (every group generated) and the rows
        its draw skipped; returns a log record if the sampling distribution changed in a way
        worth a line."""
        for row, rewards in groups:
            rate = group_pass_rate(rewards)
            if rate is not None:
                self.pass_rates.update(row, rate, step)
        for _, reason in skipped:
            self.skips[reason] = self.skips.get(reason, 0) + 1
        for gate in self.prompt_gates:
            gate.observe(step, groups)
        return self._observe(step, groups)

    def _observe(self, step, groups) -> dict[str, Any] | None:
        return None

    def pass_rate_summary(self) -> dict[str, Any]:
        p = np.array(list(self.pass_rates.p.values()))
        if not len(p):
            return {"seen": 0}
        return {"seen": len(p), "unseen": len(self.prompts) - len(p), "solved": int((p >= 1).sum()),
                "failed": int((p <= 0).sum()), "mean": float(p.mean())}


def replacement_prompts(prompts: Sequence[Prompt], seed: int, step: int, attempt: int, process: int, k: int,
                        round_: int = 0, exclude: Collection[int] = ()) -> list[int]:
    """Fresh prompts for ``k`` extra groups (DAPO's dropped ones, LILO's pool): uniform without
    replacement, seeded by (step, attempt, process), so every rerun draws the same; ``round_`` > 0:
    the next ``k`` when gates before generation skipped some (:meth:`PromptPolicy.draw_more`);
    rows in ``exclude`` (the rows already drawn for the step: :meth:`PromptPolicy.draw_pool`) come
    only once every other row was drawn."""
    rng = np.random.default_rng([seed, 29, step, attempt, process] + ([round_] if round_ else []))
    if not exclude:
        idx = rng.choice(len(prompts), size=min(k, len(prompts)), replace=False)
        return [prompts[int(i)].row for i in idx]
    out = set(exclude)
    first = [q.row for q in prompts if q.row not in out]
    last = [q.row for q in prompts if q.row in out]
    order = [first[i] for i in rng.permutation(len(first))] + [last[i] for i in rng.permutation(len(last))]
    return order[:k]
