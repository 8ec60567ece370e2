"""Prompt curricula for GRPO at an equal rollout budget: which one reaches uniform sampling's
held-out pass@1 with fewer rollouts, without giving up the worst task, and does a random reward
teach nothing?

Usage::

    .venv/bin/python benchmarks/rl_curriculum.py --quick        # ~14 min on 2 CPU cores, ~9 cached
    .venv/bin/python benchmarks/rl_curriculum.py --seeds 0,1,2,3,4

Stages:

1. **Base.** The tiny-1m model ``benchmarks/finetune_curriculum.py`` pretrains (code, prose and
   synthetic skills, a 300-token BPE; cached, and shared with it), then a cold start with
   ``curricle finetune``: one stage mixing three built-in string transforms of mixed
   difficulty, ``reverse``, ``uppercase`` and ``reverse+uppercase``, each on inputs of 2-3 and
   of 4 letters (800 steps of 32, learning rate 1e-3; cached). The base passes some test
   prompts and fails others; its scores are in the JSON (``base_pass1``). Every RL run starts
   from it, on 100 train prompts per task, so that prompts come back and their pass rates
   mean something within the budget.
2. **Methods**, each ``curricle rl`` (TRL ``GRPOTrainer``) from the base with the same seed,
   optimizer, learning rate, group size (8), prompts per step (4) and rollout budget:
   ``uniform``, ``dynamic-filter`` (its replacements count toward the budget),
   ``learnability``, ``target-difficulty``, ``category-bandit`` (categories: each task's two
   levels), each with its paper's defaults, and ``random-reward`` (uniform prompts, a coin
   for a reward: the control). The reward is the exact grader; the held-out metric is greedy
   exact match on each task's 64 test items, computed separately. The learning rate (3e-4)
   was chosen on uniform's curve alone, from an earlier base (seed 0: 1e-4 went from 0.62 to
   0.68 test pass@1, 3e-4 to 0.70; 1e-3 collapsed).
3. **Figures** per method over seeds: final test pass@1 (mean over the three tasks, and the
   worst task), taken as the mean of the last 3 evaluations (one evaluation of a tiny model
   on 64 items per task moves by a few points); and the rollouts to reach uniform's
   final mean of the same seed (the first evaluation whose trailing mean over 3 evaluations
   is at or above it; never: no speedup). A method's speedup is uniform's rollouts to its own
   final mean over the method's, per seed, then the median. ``best_strategy`` is the
   curriculum with the highest median speedup whose mean worst-task pass@1 is no lower than
   uniform's; ``random_reward_gain`` is the control's final mean test pass@1 minus the base's,
   with its standard error over seeds.

The last line printed is the JSON summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import finetune_curriculum as ftbench  # noqa: E402
from common import finish  # noqa: E402

from curricle.finetune.command import finetune_run  # noqa: E402
from curricle.finetune.config import FinetuneConfig  # noqa: E402
from curricle.rl.command import rl_run  # noqa: E402
from curricle.rl.config import RLConfig  # noqa: E402

TASKS = ftbench.TASKS  # reverse, uppercase, reverse+uppercase; two levels each
RL_PROMPTS = 100  # train prompts per task for RL
SFT_LR = 1e-3  # the cold start's (the fine-tuning benchmark's 3e-3 sometimes leaves a task at 0)
METHODS = ["uniform", "dynamic-filter", "learnability", "target-difficulty", "category-bandit", "random-reward"]


def task_configs(n_train: int, n_heldout: int, n_test: int) -> list[dict]:
    return [{"name": t, "source": {"kind": "builtin", "skill": t, "levels": ftbench.LEVELS, "n_train": n_train,
                                   "n_heldout": n_heldout, "n_test": n_test}, "eval_items": n_heldout}
            for t in TASKS]


def _key(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]


def sft_base(out: Path, pretrained: Path, quick: bool) -> Path:
    """The cold start: one ``curricle finetune`` stage mixing the three tasks (cached)."""
    steps, n_train, n_heldout = (800, 2000, 48) if quick else (2000, 4000, 128)
    cfg = ftbench.method_config("mixed", pretrained, 0, steps, 100, 32, SFT_LR, n_train, n_heldout)
    run = out / f"sft-{_key(cfg)}"
    if not (run / "final" / "config.json").is_file():
        shutil.rmtree(run, ignore_errors=True)
        torch.set_num_threads(2)  # alone on the machine at this point
        finetune_run(FinetuneConfig.model_validate(cfg), run)
    return run / "final"


def method_config(method: str, base: Path, seed: int, steps: int, budget: int, eval_every: int,
                  lr: float = 3e-4) -> dict:
    kind = "uniform" if method == "random-reward" else method
    curriculum = {"kind": kind}
    return {
        "name": f"{method}-seed{seed}", "seed": seed, "model": {"path": str(base)}, "tasks": task_configs(RL_PROMPTS, 32, 64),
        "curriculum": curriculum,
        "grpo": {"steps": steps, "rollouts": budget, "num_generations": 8, "prompts_per_step": 4,
                 "max_completion_length": 8, "temperature": 1.0, "lr": lr, "beta": 0.0,
                 "reward": "random" if method == "random-reward" else "grader"},
        "eval": {"every": eval_every, "split": "test", "batch_size": 128},
        "train": {"checkpoint": {"every": steps, "keep_last": 1}, "log_every": max(1, steps // 10), "use_cpu": True,
                  "tensorboard": False, "grader_timeout_s": 10.0},
    }


def run_method(cfg: dict, out: Path) -> dict:
    run = out / f"{cfg['name']}-{_key(cfg)}"
    done = run / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    shutil.rmtree(run, ignore_errors=True)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    final = rl_run(RLConfig.model_validate(cfg), run)
    result = {"wall_s": time.perf_counter() - t0,
              "curve": [{"rollouts": h["rollouts"], "mean": h["mean"], "worst": h["worst"], **h["metric"]}
                        for h in final["history"]],
              "flags": [f["event"] for f in final["flags"]]}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    zv = [r["zero_variance_groups"] for r in rows if "zero_variance_groups" in r]
    result["zero_variance_share"] = statistics.fmean(zv) if zv else None
    done.write_text(json.dumps(result))
    return result


PLATEAU = 3  # evaluations averaged: a method's final pass@1, and its curve before "reaching"


def plateau(curve: list[dict], key: str = "mean") -> float:
    """The mean of the last ``PLATEAU`` evaluations' ``key``: the final score, less one
    evaluation's noise."""
    vals = [p[key] for p in curve[-PLATEAU:]]
    return statistics.fmean(vals)


def first_reaching(curve: list[dict], target: float) -> int | None:
    """The rollouts of the first evaluation whose trailing mean over ``PLATEAU`` evaluations
    (fewer at the start) is at or above ``target``; None if none is."""
    for i, p in enumerate(curve):
        window = [q["mean"] for q in curve[max(0, i - PLATEAU + 1):i + 1]]
        if statistics.fmean(window) >= target - 1e-12:
            return p["rollouts"]
    return None


def speedup(uniform: list[dict], method: list[dict]) -> tuple[float, int | None]:
    """Uniform's rollouts to its own final pass@1 over the method's (0 if the method never gets
    there; 1 if uniform's final is no better than the base, so there is nothing to be faster at)."""
    target = plateau(uniform)
    u, c = first_reaching(uniform, target), first_reaching(method, target)
    if c is None:
        return 0.0, None
    if not u:
        return 1.0, c
    return (u / c if c else float(u)), c


def summarize(results: dict[str, dict[int, dict]], seeds: list[int]) -> dict:
    """The per-method figures and the headline: ``best_strategy`` (the highest median speedup
    among curricula whose mean worst-task pass@1 is no lower than uniform's), ``best_speedup``,
    and ``random_reward_gain`` (the control's plateau minus the base, mean and standard error
    over seeds)."""
    methods = list(results)
    base = {s: results[methods[0]][s]["curve"][0]["mean"] for s in seeds}
    first = results[methods[0]][seeds[0]]["curve"][0]
    out: dict = {"base_pass1": ftbench.spread(list(base.values())),
                 "base_tasks": {k: v for k, v in first.items() if k not in ("rollouts", "mean", "worst")}}
    per = {}
    for m in methods:
        runs = [results[m][s] for s in seeds]
        per[m] = {"pass1": ftbench.spread([plateau(r["curve"]) for r in runs]),
                  "worst": ftbench.spread([plateau(r["curve"], "worst") for r in runs]),
                  "last_eval_pass1": ftbench.spread([r["curve"][-1]["mean"] for r in runs]),
                  "zero_variance_share": ftbench.spread([r["zero_variance_share"] for r in runs]),
                  "flags": sorted({x for r in runs for x in r["flags"]})}
    best = None
    if "uniform" in methods:
        for m in methods:
            if m in ("uniform", "random-reward"):
                continue
            pairs = [speedup(results["uniform"][s]["curve"], results[m][s]["curve"]) for s in seeds]
            per[m].update({"speedup_per_seed": [round(p[0], 3) for p in pairs],
                           "speedup": statistics.median(p[0] for p in pairs),
                           "rollouts_to_uniform": [p[1] for p in pairs]})
        ok = [m for m in per if "speedup" in per[m] and per[m]["worst"]["mean"] >= per["uniform"]["worst"]["mean"] - 1e-12]
        best = max(ok, key=lambda m: per[m]["speedup"]) if ok else None
    out["methods"] = per
    out["best_strategy"] = best
    out["best_speedup"] = per[best]["speedup"] if best else None
    if "random-reward" in methods:
        gains = [plateau(results["random-reward"][s]["curve"]) - base[s] for s in seeds]
        g = ftbench.spread(gains)
        out["random_reward_gain"] = g["mean"]
        out["random_reward_gain_se"] = g["std"] / len(gains) ** 0.5 if len(gains) > 1 else None
        out["random_reward_within_1se"] = (abs(g["mean"]) <= out["random_reward_gain_se"]
                                           if out["random_reward_gain_se"] is not None else None)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-4, help="GRPO's learning rate, the same for every method")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-rl")
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    methods = a.methods.split(",")
    mode = "quick" if a.quick else "full"
    out = a.out / mode
    steps, eval_every = (300, 25) if a.quick else (1000, 50)
    budget = steps * 4 * 8
    t0 = time.perf_counter()
    pretrained = ftbench.pretrained_base(ROOT / "runs" / "bench-finetune" / mode, 600 if a.quick else 2000)
    base = sft_base(out, pretrained, a.quick)
    setup_s = time.perf_counter() - t0
    results: dict[str, dict[int, dict]] = {m: {} for m in methods}
    jobs = [(m, s, method_config(m, base, s, steps * 2, budget, eval_every, a.lr)) for s in seeds for m in methods]
    with ProcessPoolExecutor(max_workers=a.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(m, s, pool.submit(run_method, cfg, out / m)) for m, s, cfg in jobs]
        for m, s, f in futures:
            r = results[m][s] = f.result()
            last = r["curve"][-1]
            print(f"seed {s} {m:>17}: test pass@1 {last['mean']:.3f} (worst {last['worst']:.3f}) after "
                  f"{last['rollouts']:,} rollouts; zero-variance groups {r['zero_variance_share']:.2f}; "
                  f"{r['wall_s']:.0f} s", flush=True)
    summary: dict = {"benchmark": "rl_curriculum", "mode": mode, "seeds": seeds, "rollout_budget": budget,
                     "tasks": list(TASKS), "lr": a.lr, "setup_s": round(setup_s, 1), **summarize(results, seeds)}
    summary["targets"] = {"best_speedup": ">= 1.5 with worst task no lower than uniform's",
                          "random_reward_gain": "within one standard error of 0"}
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    finish("rl_curriculum", summary, t0, quick=a.quick)


if __name__ == "__main__":
    main()
