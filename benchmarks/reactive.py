"""Steering from the evals, measured: stated targets, worst-domain protection, the map feeding the
mix and plateau handling, each paired with its baseline on the same seeds, with the tokens spent
on evaluation and probing counted in every budget.

Usage::

    .venv/bin/python benchmarks/reactive.py --quick      # see "Cost"
    .venv/bin/python benchmarks/reactive.py              # longer runs (a GPU)

Every arm of a part trains the same model with the same batch and learning rate, evaluates on
the same held-out rows at the same steps and probes the same items at the same steps, so the
evaluation and probing tokens (``eval_tokens``, counted by the trainer: every held-out label
scored, every token a probe read) are charged alike; a budget below is always training plus
evaluation tokens. Seeds pair arms (a seed fixes the model's initialization and the draws).
Intervals are 95% Student t intervals over the seeds' paired figures.

**(a) Targets** (``targets``). Three domains: ``prose`` (Python's documentation, natural text)
and two built-in skills (``copy``, ``arithmetic``). The user's targets are held-out losses, and,
as users state them, not equally far: a pilot uniform run (its own seed, never scored) sets the
skills' targets at the loss it reaches at ``NEAR`` of the budget and prose's at ``FAR``. Arms:
``uniform`` (equal weights); ``natural`` (the store's token shares, the run config's default:
prose 57%, copy 35%, arithmetic 8%); a static mixture that puts most on prose (``prose-80``: 80%
prose, 10% each skill); the best static schedule is the best of the three on the scored
seeds, picked in hindsight; and ``targets`` (``kind: targets`` at its defaults,
``stop_when_met: true``, from uniform's weights). The figure per arm and
seed: the tokens (training + evaluation) at its first evaluation where every domain's held-out
loss is at or below its target (the same rule for every arm; it is the ``targets`` controller's
own stopping rule), every arm evaluating ``TARGETS_EVAL_ROWS`` (64) held-out rows per domain
every ``eval_every`` steps. ``targets_speedup``: uniform's tokens over the controller's, per seed
(``targets_speedup_vs_natural``, ``targets_speedup_vs_best_static``: the same against those).
Ceiling: if each domain's loss depended only on its own tokens, the best any schedule can do is
to give every domain just what its target needs, ``3 * FAR / (2 * NEAR + FAR)`` times fewer
tokens than uniform (1.8 at the defaults); transfer between domains moves it either way.

Before commit 03b7db2 the ``uniform`` arm and the pilot ran the run config's default mixture,
which is the natural one, not equal weights, so the stated ceiling did not hold for them (under
the natural mixture it is ``0.75 / (0.25 x 0.43 + 0.75 x 0.57)`` = 1.40): found while reading
why the measured room was small (1.22x, the target missed), fixed to what this docstring and
the issue call uniform, and the natural mixture kept as an arm; decided before the rerun,
reported whatever it gave.

**(b) Worst-domain protection** (``dro``): ``code``, ``prose``, ``copy`` and ``arithmetic``;
``uniform`` (equal weights; every arm and reference starts from them) against ``group-dro`` (on each domain's held-out loss, its step size the release's
0.01 per batch taken as ``0.01 x eval_every`` per evaluation) and ``group-dro-excess`` (the
same on each domain's excess over a reference run's final held-out loss, the controller's
``reference_at: final``: uniform at seed + ``REFERENCE_SEED_OFFSET``; and
``group-dro-excess-same-step``, over the reference's loss at the same step, ``reference_at:
same-step``) at equal tokens (the references' tokens not charged);
scored on held-out documents the runs never evaluated on (beyond the rows the in-loop
evaluation reads): the worst domain's loss (``dro_worst_domain_delta``, group-dro minus
uniform; negative is better) and the mean over domains (``dro_mean_delta``, relative), and the
same for the excess arm (``dro_excess_*``). The target is judged on ``group-dro``; the excess
arm's figures are reported beside it. Before commit dd2fc2b every arm here started from the run
config's default, the natural mixture (code 79%, prose 11%, copy 8%, arithmetic 2%), not
equal weights; fixed with (a)'s, before the rerun. From equal weights the same-step excess
stays near 0 (the run and its reference follow the same course), so ``q`` barely moved
(worst +0.11, mean +1.5%); the excess over the reference's *final* loss, the form of
DoReMi's trained reference model and of Oren et al.'s baselined loss, became the
controller's default (``reference_at: final``) and this arm's after that, decided before it
ran; the same-step arm is kept beside it.

**(c) The map feeds the mix** (``frontier``): one skill with a ladder, ``uppercase`` at lengths
2, 3, 4, 6 and 8, its documents split evenly over the levels. ``uniform`` draws them as they
come; ``frontier`` starts on the easiest level and moves share up as each level emerges on the
in-loop probes (3 standard errors above chance, the map's rule). Scored on the same probes'
final scores: the number of levels that emerged by the end (``frontier_levels_gain``: frontier
minus uniform, per seed), with the probes' tokens counted alike in both arms.

**(d) Plateaus** (``plateau``): the fine-tuning curriculum of ``finetune_curriculum.py`` (its
base model, tasks, held-out items and settings: in ``--quick`` 800 steps of 32 examples after a
600-step base; at the constant rate that benchmark used until it moved to a linear decay, which
is ``method_config``'s default, so these runs and figures are unchanged): the
components (``reverse``, ``uppercase``) until their milestone (exact match 0.7, twice) or half
the steps, then their composition under review. Its first stage's milestone is what that
benchmark found is not reached in its budget, so the stage runs to its ``max_steps``; the arm with
``curriculum.plateau: {policy: stop}`` (the detector's defaults) ends the stage when the
milestone's curve is on a plateau below it. Figure per seed: the examples each arm needs to
reach the plain curriculum's final mean held-out exact match (its first evaluation at or
above it); ``plateau_speedup`` is the plain arm's over the plateau arm's ("never" counts 0, a
lower bound). Ceiling: the first stage's share of the run, ``1 / (1 - 1/2)`` = 2 if the
composition needed nothing from it.

**Cost.** ``--quick`` trains the micro model for (a) (a pilot and 12 runs of up to 1,800
steps) and (b) (15 runs of 1,200 steps), the tiny-1m model for (c) (6 runs) and fine-tunes it
for (d) (a base, then 6 runs): 14.9 minutes from scratch on 2 CPU cores with ``--jobs 2``.
Runs go under ``--out/<mode>/<part>/<arm>/seed<k>-<hash>``; a finished run is read, not
retrained. ``cached_products`` counts the token stores the runs were trained on (each part's
under ``--out/<mode>-data``, the plateau part's base's), read back while prepare finds them up
to date, by the commit that made them (``benchmarks/common.py``). The last stdout line is one
JSON object (also in ``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common import (add_parts_arguments, cached_products, die_with_parent, finish, parts_variant, say,
                    seeds_and_parts)
from mixing import build_store, config_hash, doc_losses

PARTS = ("targets", "dro", "frontier", "plateau")
DEFAULT_SEEDS = [0, 1, 2]
PILOT_SEED = 1000
NEAR, FAR = 0.25, 0.75
FRONTIER_SKILL = "uppercase"
FRONTIER_LEVELS = ["2", "3", "4", "6", "8"]
TARGETS = {"targets_speedup": 1.3, "dro_mean_within": 0.02}
#: group-dro-excess's reference runs: uniform at seed + this (never a scored seed), as DoReMi
#: trains its reference on the baseline mixture. The arm was added after group-dro on raw
#: held-out loss had missed (mean +10.6%: it starved the low-entropy domains): the issue names
#: the excess over a reference run as group-dro's other form, and language-model DRO uses a
#: baseline for that reason (Oren et al. 2019; DoReMi). Its step size is group-dro's.
REFERENCE_SEED_OFFSET = 100
#: (a)'s held-out rows per domain at every evaluation. At 16 (the other parts' value) prose's
#: loss moved by 0.1 to 0.2 between evaluations on its slow slope, where its target sits, so
#: "the first evaluation that meets every target" was the first dip below it: uniform's prose
#: crossed at step 1000, 520 and 640 in three seeds, and no arm's figure could be resolved to
#: the 1.3x the issue asks of it. 64 rows quarter the variance of a row mean. Set before the
#: run it is reported from. Evaluation tokens are charged alike in every arm (the same rows at
#: the same steps), so they change each arm's total, not who is ahead.
TARGETS_EVAL_ROWS = 64


@dataclass(frozen=True)
class Mode:
    name: str
    preset: str
    batch_rows: int
    seq_len: int
    steps: int
    """T: the budget of (a)'s pilot and (b)'s runs; (a)'s arms may run to ``max_share * T``."""
    lr: float
    eval_every: int
    eval_rows: int
    docs: int
    frontier_preset: str
    frontier_steps: int
    frontier_probe_every: int
    frontier_items: int

    @property
    def tokens_per_step(self) -> int:
        return self.batch_rows * self.seq_len


QUICK = Mode("quick", preset="micro", batch_rows=8, seq_len=64, steps=1200, lr=3e-3, eval_every=40, eval_rows=16,
             docs=600, frontier_preset="tiny-1m", frontier_steps=1200, frontier_probe_every=100, frontier_items=64)
FULL = Mode("full", preset="tiny-1m", batch_rows=16, seq_len=128, steps=2000, lr=2e-3, eval_every=50, eval_rows=16,
            docs=2000, frontier_preset="tiny-5m", frontier_steps=3000, frontier_probe_every=100, frontier_items=128)
#: (a)'s arms may train up to this many times T to meet every target (then "never": censored).
MAX_SHARE = 1.5


def base_config(mode: Mode, data_dir: Path, srcs: list[dict[str, Any]], seed: int, steps: int,
                preset: str | None = None) -> dict[str, Any]:
    return {
        "seed": seed, "data_dir": str(data_dir), "sources": srcs,
        "tokenizer": {"vocab_size": 512, "sample_docs_per_source": 200},
        "prepare": {"heldout_fraction": 0.2},
        "mixture": {"batch_rows": mode.batch_rows, "seq_len": mode.seq_len, "max_epochs": 1000},
        "model": {"preset": preset or mode.preset, "max_position_embeddings": max(256, mode.seq_len)},
        "train": {"steps": steps, "lr": mode.lr, "eval_every": mode.eval_every, "eval_rows_per_domain": mode.eval_rows,
                  "eval_batch_rows": mode.eval_rows, "checkpoint": {"every": steps, "keep_last": 1},
                  "telemetry": {"tensorboard": False}},
    }


def static(weights: dict[str, float]) -> dict[str, Any]:
    return {"kind": "static", "weights": weights}


# -- runs ----------------------------------------------------------------------------------------


@dataclass
class Run:
    part: str
    arm: str
    seed: int
    config: dict[str, Any]
    run_dir: Path


def make_run(part: str, arm: str, seed: int, cd: dict[str, Any], out: Path) -> Run:
    """A run named by a hash of its config and of its store's manifest (new data: new runs)."""
    manifest = Path(cd["data_dir"]) / "manifest.json"
    key = hashlib.sha256(manifest.read_bytes()).hexdigest()[:10] if manifest.is_file() else ""
    return Run(part, arm, seed, cd, out / part / arm / f"seed{seed}-{config_hash({**cd, 'store': key})}")


def finished(run_dir: Path) -> bool:
    return (run_dir / "bench-done.json").is_file()


def train_one(run: Run) -> float:
    """Train ``run`` unless done (in a worker, one torch thread); its seconds."""
    import shutil

    import torch

    torch.set_num_threads(1)
    from curricle.config import parse_config
    from curricle.train.command import train_run

    t0 = time.perf_counter()
    if not finished(run.run_dir):
        shutil.rmtree(run.run_dir, ignore_errors=True)
        train_run(parse_config(run.config, f"{run.part} {run.arm} config"), run.run_dir, progress=False)
        (run.run_dir / "bench-done.json").write_text(json.dumps({"seconds": time.perf_counter() - t0}))
    return time.perf_counter() - t0


def run_all(runs: list[Run], workers: int) -> None:
    todo = [r for r in runs if not finished(r.run_dir)]
    say(f"  {len(runs)} runs, {len(todo)} to train")
    if not todo:
        return
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent) as pool:
        for i, (r, _) in enumerate(zip(todo, pool.map(train_one, todo)), 1):
            say(f"  {i}/{len(todo)} trained ({time.perf_counter() - t0:.0f}s); last: {r.part} {r.arm} seed {r.seed}")


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def evaluations(run_dir: Path, domains: list[str]) -> list[dict[str, Any]]:
    """Per evaluation step: step, training tokens, evaluation tokens (all so far), loss by domain."""
    return [{"step": m["step"], "tokens": m["tokens"], "eval_tokens": m["eval_tokens"],
             "loss": {d: m[f"eval/loss/{d}"] for d in domains}} for m in metrics(run_dir) if "eval/loss" in m]


def paired(values: np.ndarray, digits: int = 4) -> dict[str, Any]:
    """Mean, standard error and 95% Student t interval over seeds."""
    from scipy.stats import t as student_t

    v = np.asarray(values, dtype=np.float64)
    se = float(v.std(ddof=1) / math.sqrt(len(v)))
    half = float(student_t.ppf(0.975, len(v) - 1)) * se
    m = float(v.mean())
    return {"mean": round(m, digits), "stderr": round(se, digits), "ci": [round(m - half, digits), round(m + half, digits)],
            "per_seed": [round(float(x), digits) for x in v]}


def sources(mode: Mode, skills: list[str], text: list[str]) -> list[dict[str, Any]]:
    out = []
    for t in text:
        kind = {"prose": "python-prose", "code": "python-code"}[t]
        out.append({"kind": kind, "domain": t, "max_docs": mode.docs * (2 if t == "prose" else 1)})
    out += [{"kind": "synthetic", "skill": s, "domain": s, "n_docs": mode.docs} for s in skills]
    return out


# -- (a) targets --------------------------------------------------------------------------------


def first_met(evals: list[dict[str, Any]], targets: dict[str, float]) -> dict[str, Any] | None:
    for e in evals:
        if all(e["loss"][d] <= t for d, t in targets.items()):
            return e
    return None


def loss_at(evals: list[dict[str, Any]], domain: str, step: float) -> float:
    """A domain's held-out loss at ``step``: the mean of three evaluations around each step (less
    noise in a target), linear between evaluations."""
    steps = np.array([e["step"] for e in evals], dtype=np.float64)
    raw = np.array([e["loss"][domain] for e in evals])
    smooth = np.convolve(np.pad(raw, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    return float(np.interp(step, steps, smooth))


def targets_part(mode: Mode, seeds: list[int], out: Path, data_root: Path, jobs: int
                 ) -> tuple[dict[str, Any], list[Path]]:
    domains = ["prose", "copy", "arithmetic"]
    srcs = sources(mode, ["copy", "arithmetic"], ["prose"])
    data_dir = data_root / "targets"
    T = mode.steps
    build_store(base_config(mode, data_dir, srcs, seeds[0], T))
    longest = int(MAX_SHARE * T)
    uniform = static({d: 1 / len(domains) for d in domains})

    def config(seed: int, schedule: dict[str, Any] | None) -> dict[str, Any]:
        cd = base_config(mode, data_dir, srcs, seed, longest)
        cd["train"].update(eval_rows_per_domain=TARGETS_EVAL_ROWS, eval_batch_rows=TARGETS_EVAL_ROWS)
        if schedule is not None:
            cd["mixture"]["schedule"] = schedule
        return cd

    say("targets: the pilot uniform run that sets the targets")
    pilot = make_run("targets", "pilot-uniform", PILOT_SEED, config(PILOT_SEED, uniform), out)
    run_all([pilot], 1)
    pe = evaluations(pilot.run_dir, domains)
    targets = {d: round(loss_at(pe, d, (FAR if d == "prose" else NEAR) * T), 4) for d in domains}
    say(f"targets: {targets}")
    schedules = {"uniform": uniform, "natural": None, "prose-80": static({"prose": 0.8, "copy": 0.1, "arithmetic": 0.1}),
                 "targets": uniform}
    arms = list(schedules)
    runs = {}
    for s in seeds:
        for arm, schedule in schedules.items():
            cd = config(s, schedule)
            if arm == "targets":  # from uniform's weights
                cd["controller"] = {"kind": "targets", "targets": {d: {"eval_loss": t} for d, t in targets.items()},
                                    "stop_when_met": True}
            runs[(arm, s)] = make_run("targets", arm, s, cd, out)
    run_all(list(runs.values()), jobs)
    cap = longest * mode.tokens_per_step
    spent: dict[str, list[float]] = {a: [] for a in arms}
    never: dict[str, int] = {a: 0 for a in arms}
    for (arm, s), r in sorted(runs.items(), key=lambda kv: (list(arms).index(kv[0][0]), kv[0][1])):
        met = first_met(evaluations(r.run_dir, domains), targets)
        if met is None:  # censored at the longest run: a lower bound on what it needs
            never[arm] += 1
            last = evaluations(r.run_dir, domains)[-1]
            spent[arm].append(float(max(cap, last["tokens"]) + last["eval_tokens"]))
        else:
            spent[arm].append(float(met["tokens"] + met["eval_tokens"]))
    tokens = {a: np.array(v) for a, v in spent.items()}
    statics = ["uniform", "natural", "prose-80"]
    best_static = min(statics, key=lambda a: tokens[a].mean())
    return {
        "targets": targets,
        "targets_tokens_to_meet": {a: paired(v, 0) for a, v in tokens.items()},
        "targets_never_met": never,
        "targets_speedup": paired(tokens["uniform"] / tokens["targets"]),
        "targets_speedup_vs_natural": paired(tokens["natural"] / tokens["targets"]),
        "targets_best_static": best_static,
        "targets_speedup_vs_best_static": paired(tokens[best_static] / tokens["targets"]),
        "targets_ceiling": round(3 * FAR / (2 * NEAR + FAR), 3),
        "targets_eval_share": {a: round(float(np.mean(
            [evaluations(runs[(a, s)].run_dir, domains)[-1]["eval_tokens"] /
             (evaluations(runs[(a, s)].run_dir, domains)[-1]["eval_tokens"] +
              evaluations(runs[(a, s)].run_dir, domains)[-1]["tokens"]) for s in seeds])), 4) for a in arms},
    }, [data_dir]


# -- (b) group-dro ------------------------------------------------------------------------------


def scored_windows(store, domain: str, mode: Mode, max_docs: int = 200) -> dict[str, np.ndarray]:
    """One window per held-out document that lies wholly beyond the rows the in-loop evaluation
    reads (its first ``eval_rows`` rows of ``seq_len + 1`` tokens): what no run steered on."""
    split = store.split(domain, "heldout")
    seen = mode.eval_rows * (mode.seq_len + 1)
    starts = np.asarray(split.index[:-1])
    idx = np.flatnonzero(starts >= seen)
    idx = idx[np.unique(np.linspace(0, len(idx) - 1, min(len(idx), max_docs)).round().astype(int))] if len(idx) else idx
    windows, lengths = [], []
    for i in idx:
        toks = np.append(split.document(int(i)), store.eos_id)[: mode.seq_len + 1].astype(np.int64)
        if len(toks) < 2:
            continue
        lengths.append(len(toks) - 1)
        windows.append(np.pad(toks, (0, mode.seq_len + 1 - len(toks))))
    return {"windows": np.array(windows), "lengths": np.array(lengths), "test": np.ones(len(lengths), dtype=bool)}


def dro_part(mode: Mode, seeds: list[int], out: Path, data_root: Path, jobs: int
             ) -> tuple[dict[str, Any], list[Path]]:
    from curricle.store import TokenStore
    from curricle.train.checkpoint import latest_complete

    domains = ["code", "prose", "copy", "arithmetic"]
    srcs = sources(mode, ["copy", "arithmetic"], ["code", "prose"])
    data_dir = data_root / "dro"
    T = mode.steps
    build_store(base_config(mode, data_dir, srcs, seeds[0], T))
    uniform = static({d: 1 / len(domains) for d in domains})  # every arm starts from it

    def config(seed: int) -> dict[str, Any]:
        cd = base_config(mode, data_dir, srcs, seed, T)
        cd["mixture"]["schedule"] = uniform
        return cd

    runs = {}
    for s in seeds:
        for arm in ("uniform", "group-dro", "reference"):
            # the reference: uniform at another seed, as DoReMi's is trained on the baseline mixture
            cd = config(s + REFERENCE_SEED_OFFSET if arm == "reference" else s)
            if arm == "group-dro":
                # The release's step (0.01) was taken every batch; one every evaluation moves as
                # far with 0.01 x eval_every (the controller's docs).
                cd["controller"] = {"kind": "group-dro", "step_size": 0.01 * mode.eval_every}
            runs[(arm, s)] = make_run("dro", arm, s, cd, out)
    run_all(list(runs.values()), jobs)
    excess_arms = {"group-dro-excess": "final", "group-dro-excess-same-step": "same-step"}
    for s in seeds:  # the excess over the reference needs the reference's finished evaluations
        for arm, at in excess_arms.items():
            cd = config(s)
            cd["controller"] = {"kind": "group-dro", "step_size": 0.01 * mode.eval_every,
                                "reference": str(runs[("reference", s)].run_dir), "reference_at": at}
            runs[(arm, s)] = make_run("dro", arm, s, cd, out)
    run_all([runs[(arm, s)] for s in seeds for arm in excess_arms], jobs)
    store = TokenStore(data_dir)
    es = {d: scored_windows(store, d, mode) for d in domains}
    loss = {}
    for k, r in runs.items():
        per_doc = doc_losses(latest_complete(r.run_dir / "checkpoints")[1], es, store)
        loss[k] = {d: float(per_doc[d].mean()) for d in domains}
    worst = {k: max(v.values()) for k, v in loss.items()}
    mean = {k: float(np.mean(list(v.values()))) for k, v in loss.items()}
    worst_domain = {k: max(v, key=v.get) for k, v in loss.items()}
    arms = ("uniform", "group-dro", *excess_arms)
    return {
        "dro_worst_domain_delta": paired(np.array([worst[("group-dro", s)] - worst[("uniform", s)] for s in seeds])),
        "dro_mean_delta": paired(np.array([mean[("group-dro", s)] / mean[("uniform", s)] - 1 for s in seeds])),
        "dro_excess_worst_domain_delta": paired(np.array([worst[("group-dro-excess", s)] - worst[("uniform", s)]
                                                          for s in seeds])),
        "dro_excess_mean_delta": paired(np.array([mean[("group-dro-excess", s)] / mean[("uniform", s)] - 1
                                                  for s in seeds])),
        "dro_excess_same_step_worst_domain_delta": paired(np.array(
            [worst[("group-dro-excess-same-step", s)] - worst[("uniform", s)] for s in seeds])),
        "dro_excess_same_step_mean_delta": paired(np.array(
            [mean[("group-dro-excess-same-step", s)] / mean[("uniform", s)] - 1 for s in seeds])),
        "dro_worst_domain": {a: [worst_domain[(a, s)] for s in seeds] for a in arms},
        "dro_domain_loss": {a: {d: round(float(np.mean([loss[(a, s)][d] for s in seeds])), 4) for d in domains}
                            for a in arms},
        "dro_reference_seed_offset": REFERENCE_SEED_OFFSET,
        "dro_scored_docs": {d: int(len(e["lengths"])) for d, e in es.items()},
    }, [data_dir]


# -- (c) frontier -------------------------------------------------------------------------------


def emerged_levels(run_dir: Path, z: float) -> list[str]:
    """Levels whose final probe score is ``z`` standard errors above chance (the map's rule)."""
    rows = [json.loads(line) for line in (run_dir / "probes.jsonl").read_text().splitlines() if line.strip()]
    last = max(r["step"] for r in rows)
    out = []
    for r in rows:
        if r["step"] != last or r.get("level") is None:
            continue
        m = r["discrete"]
        chance = r["chance"][m]
        if r["metrics"][m] - z * r["metrics"][f"{m}_se"] > chance:
            out.append(r["level"])
    return out


def frontier_part(mode: Mode, seeds: list[int], out: Path, data_root: Path, jobs: int
                  ) -> tuple[dict[str, Any], list[Path]]:
    from curricle.emergence.config import MapConfig

    z = MapConfig().z
    srcs = [{"kind": "synthetic", "skill": FRONTIER_SKILL, "domain": FRONTIER_SKILL, "n_docs": mode.docs,
             "levels": FRONTIER_LEVELS}]
    data_dir = data_root / "frontier"
    T = mode.frontier_steps

    def config(seed: int) -> dict[str, Any]:
        cd = base_config(mode, data_dir, srcs, seed, T, preset=mode.frontier_preset)
        cd["train"]["lr"] = 5e-3
        cd["train"]["eval_every"] = mode.frontier_probe_every
        cd["train"]["probe"] = {"every": mode.frontier_probe_every, "suite": {
            "n": mode.frontier_items, "tasks": [FRONTIER_SKILL], "levels": {FRONTIER_SKILL: FRONTIER_LEVELS}}}
        return cd

    build_store(config(seeds[0]))
    runs = {}
    for s in seeds:
        for arm in ("uniform", "frontier"):
            cd = config(s)
            if arm == "frontier":
                cd["controller"] = {"kind": "frontier"}
            runs[(arm, s)] = make_run("frontier", arm, s, cd, out)
    run_all(list(runs.values()), jobs)
    levels = {k: emerged_levels(r.run_dir, z) for k, r in runs.items()}
    counts = {k: len(v) for k, v in levels.items()}
    return {
        "frontier_levels_gain": paired(np.array([counts[("frontier", s)] - counts[("uniform", s)] for s in seeds])),
        "frontier_levels": {a: [sorted(levels[(a, s)], key=FRONTIER_LEVELS.index) for s in seeds]
                            for a in ("uniform", "frontier")},
        "frontier_eval_tokens": {a: [metrics(runs[(a, s)].run_dir)[-1]["eval_tokens"] for s in seeds]
                                 for a in ("uniform", "frontier")},
    }, [data_dir]


# -- (d) plateaus ------------------------------------------------------------------------------


def plateau_run(args: tuple[dict[str, Any], str]) -> dict[str, Any]:
    import finetune_curriculum as fc

    cfg, out = args
    return fc.run_method(cfg, Path(out))


def plateau_part(mode: Mode, seeds: list[int], out: Path, data_root: Path, jobs: int
                 ) -> tuple[dict[str, Any], list[Path]]:
    import finetune_curriculum as fc

    st = fc.SETTINGS[mode.name]
    steps, base_steps = st["steps"], st["base_steps"]
    say("plateau: the fine-tuning base model")
    base = fc.pretrained_base(data_root / "plateau-base", base_steps)
    arms = ("curriculum", "curriculum+plateau")
    cfgs = {}
    for s in seeds:
        for arm in arms:
            cfg = fc.method_config("curriculum", base, s, steps, st["eval_every"], st["batch"], st["lr"],
                                   st["n_train"], st["n_heldout"])
            if arm == "curriculum+plateau":
                cfg["curriculum"]["plateau"] = {"policy": "stop"}
            cfg["name"] = f"{arm}-seed{s}"
            cfgs[(arm, s)] = cfg
    (out / "plateau").mkdir(parents=True, exist_ok=True)
    keys = list(cfgs)
    say(f"  {len(keys)} fine-tuning runs")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, initializer=die_with_parent) as pool:
        results = dict(zip(keys, pool.map(plateau_run, [(cfgs[k], str(out / "plateau")) for k in keys])))
    say(f"  done ({time.perf_counter() - t0:.0f}s)")
    final = {s: results[("curriculum", s)]["curve"][-1]["mean"] for s in seeds}
    to = {k: fc.first_reaching(r["curve"], final[k[1]]) for k, r in results.items()}
    speed = [(to[("curriculum", s)] / to[("curriculum+plateau", s)]) if to[("curriculum+plateau", s)] else 0.0
             for s in seeds]
    return {
        "plateau_speedup": {**paired(np.array(speed)), "never_counts_as": 0.0},
        "plateau_examples_to_final": {a: ["never" if to[(a, s)] is None else to[(a, s)] for s in seeds] for a in arms},
        "plateau_final_mean_em": {a: [round(results[(a, s)]["curve"][-1]["mean"], 4) for s in seeds] for a in arms},
        "plateau_first_stage_end": {a: [results[(a, s)]["review"]["stage_end_step"] for s in seeds] for a in arms},
        "plateau_first_stage_reason": {a: [results[(a, s)]["review"]["stage_end_reason"] for s in seeds] for a in arms},
        "plateau_settings": {"steps": steps, "base_steps": base_steps, "batch": st["batch"],
                             "eval_every": st["eval_every"], "milestone": fc.MILESTONE},
    }, [fc.pretrain_data_dir(data_root / "plateau-base", base_steps)]


# -- the program --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="micro and tiny-1m models, short runs")
    add_parts_arguments(parser, PARTS, DEFAULT_SEEDS, "runs/bench-reactive")
    args = parser.parse_args(argv)
    seeds, parts = seeds_and_parts(parser, args, PARTS, reserved=(PILOT_SEED, "the targets pilot"))
    mode = QUICK if args.quick else FULL
    out = args.out / mode.name
    data_root = args.out / f"{mode.name}-data"
    say(f"reactive benchmark, {mode.name}: seeds {seeds}, parts {parts}, {args.jobs} jobs")
    result: dict[str, Any] = {"benchmark": "reactive", "quick": args.quick}
    runners = {"targets": targets_part, "dro": dro_part, "frontier": frontier_part, "plateau": plateau_part}
    stores: list[Path] = []  # every part returns its figures and the token stores its runs read
    for part in parts:
        t0 = time.perf_counter()
        figures, part_stores = runners[part](mode, seeds, out, data_root, args.jobs)
        result.update(figures)
        stores += part_stores
        say(f"{part}: done in {time.perf_counter() - t0:.0f}s")
    result["cached_products"] = cached_products(stores)
    met: dict[str, bool] = {}
    if "targets" in parts:
        s = result["targets_speedup"]
        met["targets_speedup"] = s["mean"] >= TARGETS["targets_speedup"] and s["ci"][0] > 1
    if "dro" in parts:
        # "Its mean within 2% of uniform's" bounds what protecting the worst domain may cost: a
        # mean lower than uniform's is no miss (the raw arm's verdict is the same either way).
        for key, prefix in (("dro", "dro_"), ("dro_excess", "dro_excess_"),
                            ("dro_excess_same_step", "dro_excess_same_step_")):
            met[key] = (result[prefix + "worst_domain_delta"]["mean"] < 0
                        and result[prefix + "mean_delta"]["mean"] <= TARGETS["dro_mean_within"])
    if "frontier" in parts:
        met["frontier_levels_gain"] = result["frontier_levels_gain"]["mean"] > 0
    if "plateau" in parts:
        met["plateau_speedup"] = result["plateau_speedup"]["mean"] > 1
    result["targets_met"] = {"met": met, "all_met": all(met.values()) if met else False, "definitions": {
        "targets_speedup": ">= 1.3 with its 95% interval above 1",
        "dro": "group-dro's worst-domain loss below uniform's, its mean at most 2% above uniform's (mean over seeds)",
        "dro_excess": "the same for group-dro on the excess over a uniform reference run's final loss (an arm "
                      "added after the raw one missed; reported beside it)",
        "dro_excess_same_step": "the same on the excess over the reference's loss at the same step",
        "frontier_levels_gain": "more levels emerged than under uniform (mean over seeds)",
        "plateau_speedup": "reported (the issue sets no target): above 1 means fewer examples"}}
    result["settings"] = {"mode": mode.name, "preset": mode.preset, "steps": mode.steps, "batch_rows": mode.batch_rows,
                          "seq_len": mode.seq_len, "lr": mode.lr, "eval_every": mode.eval_every,
                          "eval_rows_per_domain": mode.eval_rows, "targets_eval_rows_per_domain": TARGETS_EVAL_ROWS,
                          "near": NEAR, "far": FAR, "max_share": MAX_SHARE,
                          "frontier": {"preset": mode.frontier_preset, "steps": mode.frontier_steps,
                                       "skill": FRONTIER_SKILL, "levels": FRONTIER_LEVELS,
                                       "probe_every": mode.frontier_probe_every, "items": mode.frontier_items},
                          "seeds": seeds, "jobs": args.jobs, "load_average_at_end": round(os.getloadavg()[0], 2)}
    say(f"targets met: {met}")
    variant = parts_variant(parts, PARTS, seeds, DEFAULT_SEEDS)
    finish("reactive", result, _T0, quick=args.quick, variant=variant)


_T0 = time.perf_counter()

if __name__ == "__main__":
    main()
