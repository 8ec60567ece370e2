"""Curriculum fine-tuning against mixing and plain sequencing, at an equal example budget: does
the curriculum reach mixed training's score with fewer examples, and does its review keep what
the first stage taught while sequencing forgets it? 256 held-out items per task and 5 paired
seeds in ``--quick``, bootstrap intervals over seeds. What limits the intervals is how runs
differ by seed, not the items: on the base this code pretrains (50a67de), BWT's half-width is
0.098 at these five seeds, 0.065 at ten and 0.035 at thirty (``--seeds 0,1,...,29``, about 45
minutes on 2 cores), where its target (under 0.04) is met.

Usage::

    .venv/bin/python benchmarks/finetune_curriculum.py --quick          # 5 seeds; see "Cost"
    .venv/bin/python benchmarks/finetune_curriculum.py --base PATH      # your own HF checkpoint
    .venv/bin/python benchmarks/finetune_curriculum.py --quick --seeds 0,1,2,3,4,5,6,7

Stages:

1. **Base.** ``--base``, or a model curricle pretrains here with ``curricle train`` on built-in
   sources (code, prose, copy, arithmetic and brackets; the tiny-1m preset, a 300-token
   byte-level BPE so that letters stay single tokens; cached under ``--out``). The base has
   never seen the fine-tuning tasks. Every run starts from it.
2. **Task family.** Built-in string transforms: two components (``reverse``, ``uppercase``)
   and their composition (``reverse+uppercase``), on inputs of 2-3 and of 4 letters (two
   difficulty levels; difficulty is length x composition depth). Per task and seed:
   ``N_TRAIN`` train items, ``N_HELDOUT`` held-out items (every one scored at every
   evaluation: the curves, milestones, revisits, the forgetting matrix) and ``N_TEST`` test
   items scored once at the end (no decision ever reads them). Held-out and test items come
   from the generators' held-out split and never occur in training; every method of a seed is
   scored on the same items.
3. **Methods**, each ``curricle finetune`` (TRL ``SFTTrainer``) from the base, same seed, same
   optimizer, learning rate (no stage scales it: ``lr_scale`` stays 1, so the comparison is of
   data orders only), batch and number of steps, so the same number of training examples:

   - ``mixed``: one stage, the three tasks with equal weights (what a dataset mixture does);
   - ``sequential``: the components for the first half of the steps, then the composition,
     no review;
   - ``curriculum``: the components with easiest-first pacing until both reach a milestone
     (exact match ``MILESTONE`` at two evaluations in a row) or half the steps have passed,
     then the composition with the components under Leitner review (``items_per_task`` 64
     train items per component; 30% of every step from the due decks, never less than the
     default floor of 10% from every queued item when no deck is due; each due item tested
     on a fresh held-out item of its task) and revisited (20% of every step) while one is
     more than 2 standard errors (the default ``margin_se``) below its score at the stage's
     end.

   The budget (800 steps x 32 examples, learning rate 3e-3) is the previous version's, where
   the base learns the components within the first stage; the review and revisit settings
   are the previous version's or the config's defaults. None was chosen by looking at this
   version's results. Runs go ``--workers`` at a time (one torch thread each).

   **Schedule.** Every method warms up over 5% of the steps, then decays the rate linearly to
   0 at the last step (``linear``, TRL's and HF's default). Until 2026-12-06 the rate stayed
   at 3e-3 (``constant_with_warmup``; rerun it with ``--lr-scheduler constant_with_warmup``,
   results in ``finetune_curriculum.constant-with-warmup.json``; on this base, 2ea9f17: 1.27x,
   BWT curriculum +0.084). At that constant rate, on the base then cached (an older code's),
   the components' held-out exact match moved by up to 0.47 between two evaluations 50 steps
   apart in the second stage (curriculum seed 0's uppercase: 0.28, 0.75, 0.57 at steps 700,
   750, 800), so a seed's BWT, a difference of two single evaluations, was mostly where the last
   step happened to land: per seed -0.28 to +0.13, an interval of half-width 0.13 over five
   seeds that no number of held-out items could narrow. A rate that anneals to 0 ends each
   run at a settled model. The change was made on that diagnosis, before any run under it,
   and applies alike to every method; the figures under it are reported as they came.
4. **Figures**, per seed, then the mean over seeds with a 95% percentile bootstrap interval
   (10,000 resamples of the seeds, the same resample for every method, so differences are
   paired):

   - ``mean_em``, ``test_em``: final mean held-out (and test) exact match over the three tasks;
   - ``bwt_curriculum``, ``bwt_sequential`` (from each run's ``forgetting.json``: the
     components' final held-out score minus their score when their stage ended, averaged over
     the two), and ``bwt_gain_vs_sequential``, their paired difference; ``components``: what
     BWT is the change of, the components' mean held-out score when their stage ended and at
     the end (a BWT near 0 of components that were never learned says nothing);
   - ``examples_to_mixed_final``: the examples each method needs to reach ``mixed``'s final
     mean held-out score of the same seed (its first evaluation at or above it; "never" if it
     does not within the budget);
   - ``curriculum_speedup_vs_mixed``: mixed's examples to reach its own final score over the
     curriculum's, per seed ("never" where the curriculum does not get there; in the mean and
     interval such a seed counts as 0, a lower bound);
   - ``review``: per curriculum seed, the intervals reviewed at the floor, the smallest review
     share in the second stage (never below the floor), revisits, and where the first stage
     ended.

   ``targets`` states the aims and ``met`` whether each is: the speedup's mean at least 1.3
   with its interval above 1; ``bwt_curriculum``'s mean at least -0.02 with an interval
   narrow enough to tell it from -0.1 (half-width under 0.04).

**Cost.** Training is ~4 ms per example per CPU core for the tiny-1m model, evaluation about a
second per evaluation: each run is ~2 minutes of one core, and ``--quick`` is 15 runs (3
methods x 5 seeds) after the base (~2 minutes, once). A run's result is cached under ``--out``
by its config's hash, so an interrupted benchmark continues; ``cached_runs`` in the JSON counts
the base's run and the methods' by the commit that trained them, ``cached_products`` the token
store the base was pretrained on by the commit that made it (``benchmarks/common.py``).

The last line printed is the JSON summary (also in ``benchmarks/results/``).
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
import typing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from curricle.config import parse_config  # noqa: E402
from curricle.finetune.command import finetune_run  # noqa: E402
from curricle.finetune.config import FinetuneConfig, FinetuneTrainConfig  # noqa: E402
from curricle.prepare.command import prepare_run  # noqa: E402
from curricle.train.checkpoint import latest_complete  # noqa: E402
from curricle.train.command import train_run  # noqa: E402
from common import cached_products, cached_provenance, die_with_parent, finish, record_prepared  # noqa: E402

COMPONENTS = ["reverse", "uppercase"]
COMPOSITIONS = ["reverse+uppercase"]
TASKS = COMPONENTS + COMPOSITIONS
METHODS = ["mixed", "sequential", "curriculum"]
MILESTONE = 0.7
LEVELS = [{"min_len": 2, "max_len": 3}, {"min_len": 4, "max_len": 4}]
#: Per mode: steps, evaluate every, examples per step, learning rate, items per task, seeds, and
#: the learning-rate schedule every method trains under (after a warmup of 5% of the steps).
SETTINGS = {
    "quick": {"steps": 800, "eval_every": 50, "batch": 32, "lr": 3e-3, "n_train": 2000, "n_heldout": 256,
              "n_test": 256, "seeds": [0, 1, 2, 3, 4], "base_steps": 600, "lr_scheduler": "linear"},
    "full": {"steps": 2000, "eval_every": 50, "batch": 32, "lr": 3e-3, "n_train": 4000, "n_heldout": 512,
             "n_test": 512, "seeds": list(range(10)), "base_steps": 2000, "lr_scheduler": "linear"},
}
N_BOOTSTRAP = 10_000
#: The schedules ``--lr-scheduler`` takes: those ``curricle finetune``'s config does.
SCHEDULES = typing.get_args(FinetuneTrainConfig.model_fields["lr_scheduler"].annotation)
#: The aims, in words (``met`` says whether this run reaches each).
TARGETS = {
    "curriculum_speedup_vs_mixed": "mean >= 1.3 with its 95% interval above 1",
    "bwt_curriculum": "mean >= -0.02 with a 95% interval of half-width < 0.04 (told from -0.1)",
    "bwt_sequential": "reported: the forgetting that review is to prevent",
}


def pretrain_config(out: Path, steps: int) -> dict:
    return {
        "name": "finetune-base", "seed": 0, "data_dir": str(out / "data"),
        "sources": [
            {"kind": "python-code", "domain": "code", "max_docs": 300},
            {"kind": "python-prose", "domain": "prose", "max_docs": 1500},
            {"kind": "synthetic", "skill": "copy", "domain": "copy", "n_docs": 200},
            {"kind": "synthetic", "skill": "arithmetic", "domain": "arithmetic", "n_docs": 200},
            {"kind": "synthetic", "skill": "brackets", "domain": "brackets", "n_docs": 150},
        ],
        "tokenizer": {"vocab_size": 300, "sample_docs_per_source": 300},
        "mixture": {"batch_rows": 16, "seq_len": 128, "max_epochs": 50,
                    "schedule": {"kind": "phases", "phases": [{"name": "all", "weights": {
                        "code": 2, "prose": 2, "copy": 1, "arithmetic": 1, "brackets": 1}}]}},
        "model": {"preset": "tiny-1m", "max_position_embeddings": 256},
        "train": {"steps": steps, "lr": 0.003, "eval_every": steps, "eval_rows_per_domain": 8,
                  "checkpoint": {"every": steps, "keep_last": 1}, "telemetry": {"tensorboard": False}},
    }


def pretrain_key(out: Path, steps: int) -> str:
    """The hash of the base's config, which names its run and its data under ``out``."""
    return hashlib.sha256(json.dumps(pretrain_config(out, steps), sort_keys=True).encode()).hexdigest()[:10]


def pretrain_dir(out: Path, steps: int) -> Path:
    """Where :func:`pretrained_base` trains the base (and keeps it)."""
    return out / f"pretrain-{pretrain_key(out, steps)}"


def pretrain_data_dir(out: Path, steps: int) -> Path:
    """The token store :func:`pretrained_base` pretrains the base on."""
    return out / f"data-{pretrain_key(out, steps)}"


def pretrained_base(out: Path, steps: int) -> Path:
    """curricle's own base model: pretrained here once, reused after (its store's code recorded
    when prepare makes it, ``common.record_prepared``)."""
    data = pretrain_config(out, steps)
    data["data_dir"] = str(pretrain_data_dir(out, steps))
    cfg = parse_config(data, "benchmark pretraining")
    run = pretrain_dir(out, steps)
    found = latest_complete(run / "checkpoints")
    if found is not None and found[0] == steps:
        return found[1]
    record_prepared(prepare_run(cfg, progress=False))
    train_run(cfg, run, resume=found is not None, progress=False)
    return latest_complete(run / "checkpoints")[1]


def task_configs(n_train: int, n_heldout: int, n_test: int = 0) -> list[dict]:
    return [{"name": t, "source": {"kind": "builtin", "skill": t, "levels": LEVELS, "n_train": n_train,
                                   "n_heldout": n_heldout, "n_test": n_test}, "eval_items": n_heldout} for t in TASKS]


def method_config(method: str, base: Path, seed: int, steps: int, eval_every: int, batch: int, lr: float,
                  n_train: int, n_heldout: int, n_test: int = 0, lr_scheduler: str = "constant_with_warmup") -> dict:
    half = steps // 2
    if method == "mixed":
        curriculum = {"stages": [{"name": "all", "tasks": {t: 1 for t in TASKS}, "max_steps": steps}]}
    elif method == "sequential":
        curriculum = {"stages": [{"name": "components", "tasks": {t: 1 for t in COMPONENTS}, "max_steps": half},
                                 {"name": "compositions", "tasks": {t: 1 for t in COMPOSITIONS},
                                  "max_steps": steps - half}]}
    else:
        curriculum = {
            "stages": [
                {"name": "components", "tasks": {t: 1 for t in COMPONENTS}, "max_steps": half,
                 "pacing": {"kind": "fixed_root", "start": 0.3, "steps": max(1, half // 2)},
                 "advance_when": {"metric": "exact_match", "at_least": MILESTONE, "patience": 2}},
                {"name": "compositions", "tasks": {t: 1 for t in COMPOSITIONS}, "max_steps": steps - half},
            ],
            "review": {"kind": "leitner", "decks": 3, "fraction": 0.3, "floor": 0.1, "items_per_task": 64},
            "revisit_when": {"margin_se": 2.0, "weight": 0.2},
        }
    curriculum["eval_every"] = eval_every
    return {
        "name": f"{method}-seed{seed}", "seed": seed, "model": {"path": str(base)},
        "tasks": task_configs(n_train, n_heldout, n_test), "curriculum": curriculum,
        "train": {"max_steps": steps, "batch_size": batch, "lr": lr, "lr_scheduler": lr_scheduler,
                  "warmup_steps": max(1, steps // 20), "checkpoint": {"every": steps, "keep_last": 1},
                  "log_every": max(1, steps // 20), "use_cpu": True, "tensorboard": False, "eval_batch_size": 128},
    }


def review_summary(log: list[dict], evals: list[dict]) -> dict:
    """What a run's review and revisits did, from its curriculum log and metrics rows."""
    stage = next((e for e in log if e["event"] == "stage"), None)
    later = [e for e in evals if stage is not None and e["step"] >= stage["step"]]
    shares = [e.get("weight/@review", 0.0) for e in later]
    return {"stage_end_step": stage["step"] if stage else None, "stage_end_reason": stage["reason"] if stage else None,
            "review_intervals": sum(e["event"] == "review" for e in log),
            "floor_intervals": sum(e["event"] == "review-floor" for e in log),
            "min_review_share": min(shares) if shares else None,
            "revisits": sum(e["event"] == "revisit" for e in log)}


def components_at(forgetting: dict, row: int) -> float | None:
    """The components' mean held-out score in row ``row`` of the forgetting matrix (0: when the
    first stage ended; -1: at the end); None for a one-stage run."""
    if len(forgetting["R"]) < 2:
        return None
    return statistics.fmean(forgetting["R"][row][forgetting["tasks"].index(t)] for t in COMPONENTS)


def method_dir(cfg: dict, out: Path) -> Path:
    """Where a method's run goes (and is cached): named by its config's hash."""
    return out / f"{cfg['name']}-{hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]}"


def run_method(cfg: dict, out: Path) -> dict:
    run = method_dir(cfg, out)
    done = run / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    if run.exists():
        shutil.rmtree(run)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    finetune_run(FinetuneConfig.model_validate(cfg), run)
    wall = time.perf_counter() - t0
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [e for e in evals if "eval/mean" in e]
    forgetting = json.loads((run / "forgetting.json").read_text())
    final = json.loads((run / "final_scores.json").read_text())
    log = [json.loads(line) for line in (run / "curriculum_log.jsonl").read_text().splitlines()]
    test = final.get("test") or {}
    result = {"wall_s": wall, "curve": [{"examples": e["examples"], "mean": e["eval/mean"], "worst": e["eval/worst"],
                                         **{t: e[f"eval/{t}/exact_match"] for t in TASKS}} for e in evals],
              "test_mean": statistics.fmean(test[t]["exact_match"] for t in TASKS) if test else None,
              "bwt": forgetting.get("bwt"), "forgetting": forgetting.get("forgetting"),
              "components_at_stage_end": components_at(forgetting, 0), "components_final": components_at(forgetting, -1),
              "stage_steps": forgetting.get("steps"), "review": review_summary(log, evals)}
    done.write_text(json.dumps(result))
    return result


def first_reaching(curve: list[dict], target: float) -> int | None:
    for point in curve:
        if point["mean"] >= target - 1e-12:
            return point["examples"]
    return None


def spread(values: list[float | None]) -> dict:
    v = [x for x in values if x is not None]
    if not v:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "min": min(v),
            "max": max(v), "n": len(v)}


def resamples(n_seeds: int, reps: int = N_BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``(reps, n_seeds)`` seed indices drawn with replacement: one draw shared by every figure,
    so intervals of paired figures come from the same resampled seeds."""
    return np.random.default_rng(seed).integers(0, n_seeds, size=(reps, n_seeds))


def interval(values: list[float | None], draws: np.ndarray) -> dict:
    """The mean over seeds and its 95% percentile bootstrap interval (None where a seed has no
    value: then None)."""
    if not values or any(v is None for v in values):
        return {"mean": None, "ci": None}
    x = np.asarray(values, dtype=np.float64)
    means = x[draws].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"mean": float(x.mean()), "ci": [float(lo), float(hi)]}


def speedups(mixed: list[int | None], curriculum: list[int | None]) -> list[float | str | None]:
    """Per seed: mixed's examples to its final score over the curriculum's ("never": the
    curriculum does not get there; None: mixed's final score is the untrained model's)."""
    out: list[float | str | None] = []
    for m, c in zip(mixed, curriculum):
        out.append(None if not m else "never" if c is None else m / c if c else None)
    return out


def summarize(results: dict[str, dict[int, dict]], seeds: list[int], methods: list[str]) -> dict:
    """The figures of the module doc, from each method's per-seed results."""
    draws = resamples(len(seeds))
    out: dict = {}
    out["mean_em"] = {m: {**interval([results[m][s]["curve"][-1]["mean"] for s in seeds], draws),
                          "per_seed": [results[m][s]["curve"][-1]["mean"] for s in seeds]} for m in methods}
    out["test_em"] = {m: interval([results[m][s]["test_mean"] for s in seeds], draws) for m in methods}
    out["worst_em"] = {m: interval([results[m][s]["curve"][-1]["worst"] for s in seeds], draws) for m in methods}
    bwt = {m: [results[m][s]["bwt"] for s in seeds] for m in methods if m != "mixed"}
    out["bwt"] = {m: {**interval(v, draws), "per_seed": v} for m, v in bwt.items()}
    # What BWT is a change of: the components' score when their stage ended, and at the end.
    out["components"] = {m: {"at_stage_end": interval([results[m][s]["components_at_stage_end"] for s in seeds], draws),
                             "final": interval([results[m][s]["components_final"] for s in seeds], draws)}
                         for m in bwt}
    out["bwt_curriculum"] = interval(bwt["curriculum"], draws) if "curriculum" in bwt else None
    out["bwt_sequential"] = interval(bwt["sequential"], draws) if "sequential" in bwt else None
    if "curriculum" in bwt and "sequential" in bwt:
        out["bwt_gain_vs_sequential"] = interval([c - q for c, q in zip(bwt["curriculum"], bwt["sequential"])], draws)
    out["curriculum_speedup_vs_mixed"] = None
    if "mixed" in methods:
        to = {m: [first_reaching(results[m][s]["curve"], results["mixed"][s]["curve"][-1]["mean"]) for s in seeds]
              for m in methods}
        out["examples_to_mixed_final"] = {m: ["never" if n is None else n for n in v] for m, v in to.items()}
        if "curriculum" in methods:
            per_seed = speedups(to["mixed"], to["curriculum"])
            counted = [0.0 if x == "never" else x for x in per_seed]
            out["curriculum_speedup_vs_mixed"] = {**interval(counted, draws), "per_seed": per_seed,
                                                  "never_counts_as": 0.0}
    if "curriculum" in methods:
        out["review"] = {k: [results["curriculum"][s]["review"][k] for s in seeds]
                         for k in results["curriculum"][seeds[0]]["review"]}
    return out


def verdicts(summary: dict) -> dict:
    """Whether each aim of ``TARGETS`` is met (None: not measured in this run)."""
    sp, bc = summary.get("curriculum_speedup_vs_mixed"), summary.get("bwt_curriculum")
    met = {"curriculum_speedup_vs_mixed": None, "bwt_curriculum": None}
    if sp and sp["ci"]:
        met["curriculum_speedup_vs_mixed"] = sp["mean"] >= 1.3 and sp["ci"][0] > 1
    if bc and bc["ci"]:
        met["bwt_curriculum"] = bc["mean"] >= -0.02 and (bc["ci"][1] - bc["ci"][0]) / 2 < 0.04
    return met


def results_variant(settings: dict, scheduler: str, seeds: list[int]) -> str | None:
    """The results file's variant: None for the mode's own schedule and seeds, else the schedule
    (``constant-with-warmup``) and/or ``seeds-<n>``, so a check never overwrites the headline."""
    parts = [] if scheduler == settings["lr_scheduler"] else [scheduler.replace("_", "-")]
    if seeds != settings["seeds"]:
        parts.append(f"seeds-{len(seeds)}")
    return ".".join(parts) or None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="800 steps, 256 held-out items a task, seeds 0-4.")
    ap.add_argument("--base", type=Path, help="An HF checkpoint to fine-tune (default: pretrain one here).")
    ap.add_argument("--seeds", help="Comma-separated seeds (default: 0-4 quick, 0-9 full; at least 2); others "
                                    "write results/finetune_curriculum.seeds-<n>.json.")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-finetune")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--workers", type=int, default=2, help="Runs at a time (one torch thread each).")
    ap.add_argument("--lr-scheduler", choices=SCHEDULES,
                    help="Every method's learning-rate schedule (default: linear); another one is a variant, "
                         "written to results/finetune_curriculum.<it>.json.")
    a = ap.parse_args(argv)
    mode = "quick" if a.quick else "full"
    cfg = SETTINGS[mode]
    scheduler = a.lr_scheduler or cfg["lr_scheduler"]
    seeds = [int(s) for s in a.seeds.split(",")] if a.seeds else cfg["seeds"]
    if len(seeds) < 2:
        ap.error("--seeds: at least 2 (the intervals are over seeds)")
    variant = results_variant(cfg, scheduler, seeds)
    methods = a.methods.split(",")
    torch.set_num_threads(1)
    out = a.out / mode
    steps, batch = cfg["steps"], cfg["batch"]
    t0 = time.perf_counter()
    base = a.base or pretrained_base(out, cfg["base_steps"])
    pretrain_s = time.perf_counter() - t0
    results: dict[str, dict[int, dict]] = {m: {} for m in methods}
    jobs = [(m, seed, method_config(m, base, seed, steps, cfg["eval_every"], batch, cfg["lr"], cfg["n_train"],
                                    cfg["n_heldout"], cfg["n_test"], scheduler))
            for seed in seeds for m in methods]
    with ProcessPoolExecutor(max_workers=a.workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent) as pool:
        futures = [(m, seed, pool.submit(run_method, c, out / m)) for m, seed, c in jobs]
        for m, seed, f in futures:
            r = results[m][seed] = f.result()
            last = r["curve"][-1]
            bwt = "-" if r["bwt"] is None else f"{r['bwt']:+.3f}"
            print(f"seed {seed} {m:>10}: mean EM {last['mean']:.3f}, worst {last['worst']:.3f}, BWT {bwt}, "
                  f"{r['wall_s']:.0f} s", flush=True)
    summary: dict = {"benchmark": "finetune_curriculum", "mode": mode, "seeds": seeds, "steps": steps,
                     "examples": steps * batch, "heldout_items_per_task": cfg["n_heldout"],
                     "test_items_per_task": cfg["n_test"], "lr_scheduler": scheduler, "base": str(base),
                     "pretrain_s": round(pretrain_s, 1),
                     "tasks": TASKS, "milestone": MILESTONE, "bootstrap_resamples": N_BOOTSTRAP,
                     "cached_runs": cached_provenance([*([] if a.base else [pretrain_dir(out, cfg["base_steps"])]),
                                                       *(method_dir(c, out / m) for m, _, c in jobs)]),
                     "cached_products": cached_products([] if a.base else [pretrain_data_dir(out, cfg["base_steps"])])}
    summary.update(summarize(results, seeds, methods))
    summary["targets"] = {**TARGETS, "met": verdicts(summary)}
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    finish("finetune_curriculum", summary, t0, quick=a.quick, variant=variant)


if __name__ == "__main__":
    main()
