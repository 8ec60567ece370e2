"""Curriculum fine-tuning against mixing and plain sequencing, at an equal example budget: does
the curriculum reach mixed training's score with fewer examples, and does its review prevent
the forgetting that sequencing causes?

Usage::

    .venv/bin/python benchmarks/finetune_curriculum.py --quick          # ~10 min on 2 CPU cores
    .venv/bin/python benchmarks/finetune_curriculum.py --base PATH      # your own HF checkpoint
    .venv/bin/python benchmarks/finetune_curriculum.py --seeds 0,1,2,3,4

Stages:

1. **Base.** ``--base``, or a model curricle pretrains here with ``curricle train`` on built-in
   sources (code, prose, copy, arithmetic and brackets; the tiny-1m preset, a 300-token
   byte-level BPE so that letters stay single tokens; cached under ``--out``). The base has
   never seen the fine-tuning tasks. Every run starts from it.
2. **Task family.** Built-in string transforms: two components (``reverse``, ``uppercase``)
   and their composition (``reverse+uppercase``), on inputs of 2-3 and of 4 letters (two
   difficulty levels; difficulty is length x composition depth). Held-out items come from
   the generators' held-out split; every method is scored on the same ones.
3. **Methods**, each ``curricle finetune`` (TRL ``SFTTrainer``) from the base, same seed, same
   optimizer, learning rate, batch and number of steps, so the same training examples:

   - ``mixed``: one stage, the three tasks with equal weights (what a dataset mixture does);
   - ``sequential``: the components for the first half of the steps, then the composition,
     no review;
   - ``curriculum``: the components with easiest-first pacing until both reach a milestone
     (exact match ``MILESTONE`` at two evaluations in a row) or half the steps have passed,
     then the composition with the components in Leitner review (30% of each step) and
     revisited (20%) while one has fallen more than 0.1 below its score at the stage's end.

   None of these settings was chosen by looking at the results; runs go two at a time (one
   torch thread each) on two cores.
4. **Figures** per method, over seeds (mean, std, min, max): final mean and worst held-out
   exact match over the three tasks; BWT of ``sequential`` and ``curriculum`` (from
   ``forgetting.json``: the components' final score minus their score when their stage
   ended); and the examples each needs to reach ``mixed``'s final mean score of the same
   seed (first evaluation at or above it; None if never). ``curriculum_speedup_vs_mixed`` is
   mixed's examples to reach its own final score over the curriculum's, per seed, then the
   median (a seed where the curriculum never gets there counts as 0).

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

from curricle.config import parse_config  # noqa: E402
from curricle.finetune.command import finetune_run  # noqa: E402
from curricle.finetune.config import FinetuneConfig  # noqa: E402
from curricle.prepare.command import prepare_run  # noqa: E402
from curricle.train.checkpoint import latest_complete  # noqa: E402
from curricle.train.command import train_run  # noqa: E402
from common import finish  # noqa: E402

COMPONENTS = ["reverse", "uppercase"]
COMPOSITIONS = ["reverse+uppercase"]
TASKS = COMPONENTS + COMPOSITIONS
METHODS = ["mixed", "sequential", "curriculum"]
MILESTONE = 0.7
LEVELS = [{"min_len": 2, "max_len": 3}, {"min_len": 4, "max_len": 4}]


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


def pretrained_base(out: Path, steps: int) -> Path:
    """curricle's own base model: pretrained here once, reused after."""
    data = pretrain_config(out, steps)
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
    data["data_dir"] = str(out / f"data-{key}")
    cfg = parse_config(data, "benchmark pretraining")
    run = out / f"pretrain-{key}"
    found = latest_complete(run / "checkpoints")
    if found is not None and found[0] == steps:
        return found[1]
    prepare_run(cfg, progress=False)
    train_run(cfg, run, resume=found is not None, progress=False)
    return latest_complete(run / "checkpoints")[1]


def task_configs(n_train: int, n_heldout: int) -> list[dict]:
    return [{"name": t, "source": {"kind": "builtin", "skill": t, "levels": LEVELS, "n_train": n_train,
                                   "n_heldout": n_heldout, "n_test": 0}, "eval_items": n_heldout} for t in TASKS]


def method_config(method: str, base: Path, seed: int, steps: int, eval_every: int, batch: int, lr: float,
                  n_train: int, n_heldout: int) -> dict:
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
            "review": {"kind": "leitner", "decks": 3, "fraction": 0.3, "items_per_task": 64},
            "revisit_when": {"margin": 0.1, "weight": 0.2},
        }
    curriculum["eval_every"] = eval_every
    return {
        "name": f"{method}-seed{seed}", "seed": seed, "model": {"path": str(base)},
        "tasks": task_configs(n_train, n_heldout), "curriculum": curriculum,
        "train": {"max_steps": steps, "batch_size": batch, "lr": lr, "lr_scheduler": "constant_with_warmup",
                  "warmup_steps": max(1, steps // 20), "checkpoint": {"every": steps, "keep_last": 1},
                  "log_every": max(1, steps // 20), "use_cpu": True, "tensorboard": False, "eval_batch_size": 128},
    }


def run_method(cfg: dict, out: Path) -> dict:
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]
    run = out / f"{cfg['name']}-{key}"
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
    result = {"wall_s": wall, "curve": [{"examples": e["examples"], "mean": e["eval/mean"], "worst": e["eval/worst"],
                                         **{t: e[f"eval/{t}/exact_match"] for t in TASKS}} for e in evals],
              "bwt": forgetting.get("bwt"), "forgetting": forgetting.get("forgetting"),
              "stage_steps": forgetting.get("steps")}
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="Fewer steps and items (~10 min here).")
    ap.add_argument("--base", type=Path, help="An HF checkpoint to fine-tune (default: pretrain one here).")
    ap.add_argument("--seeds", default="0,1,2", help="Comma-separated seeds (at least 3 for spreads).")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-finetune")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--workers", type=int, default=2, help="Runs at a time (one torch thread each).")
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    methods = a.methods.split(",")
    torch.set_num_threads(1)
    mode = "quick" if a.quick else "full"
    out = a.out / mode
    steps, eval_every, batch, lr = (800, 50, 32, 3e-3) if a.quick else (2000, 50, 32, 3e-3)
    n_train, n_heldout = (2000, 48) if a.quick else (4000, 128)
    t0 = time.perf_counter()
    base = a.base or pretrained_base(out, 600 if a.quick else 2000)
    pretrain_s = time.perf_counter() - t0
    results: dict[str, dict[int, dict]] = {m: {} for m in methods}
    jobs = [(m, seed, method_config(m, base, seed, steps, eval_every, batch, lr, n_train, n_heldout))
            for seed in seeds for m in methods]
    with ProcessPoolExecutor(max_workers=a.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(m, seed, pool.submit(run_method, cfg, out / m)) for m, seed, cfg in jobs]
        for m, seed, f in futures:
            r = results[m][seed] = f.result()
            last = r["curve"][-1]
            bwt = "-" if r["bwt"] is None else f"{r['bwt']:+.3f}"
            print(f"seed {seed} {m:>10}: mean EM {last['mean']:.3f}, worst {last['worst']:.3f}, BWT {bwt}, "
                  f"{r['wall_s']:.0f} s", flush=True)
    summary: dict = {"benchmark": "finetune_curriculum", "mode": mode, "seeds": seeds, "steps": steps,
                     "examples": steps * batch, "base": str(base), "pretrain_s": round(pretrain_s, 1),
                     "tasks": TASKS, "milestone": MILESTONE}
    mean_em, worst_em, bwt, to_target = {}, {}, {}, {}
    speedups = []
    for m in methods:
        mean_em[m] = spread([results[m][s]["curve"][-1]["mean"] for s in seeds])
        worst_em[m] = spread([results[m][s]["curve"][-1]["worst"] for s in seeds])
        bwt[m] = spread([results[m][s]["bwt"] for s in seeds])
    if "mixed" in methods:
        for m in methods:
            to_target[m] = [first_reaching(results[m][s]["curve"], results["mixed"][s]["curve"][-1]["mean"])
                            for s in seeds]
        if "curriculum" in methods:
            for a_n, c_n in zip(to_target["mixed"], to_target["curriculum"]):
                speedups.append(a_n / c_n if c_n else 0.0)
    summary.update(mean_em=mean_em, worst_em=worst_em, bwt=bwt, examples_to_mixed_final=to_target,
                   speedup_per_seed=speedups)
    summary["curriculum_speedup_vs_mixed"] = statistics.median(speedups) if speedups else None
    summary["bwt_sequential"] = bwt.get("sequential", {}).get("mean")
    summary["bwt_curriculum"] = bwt.get("curriculum", {}).get("mean")
    summary["targets"] = {"curriculum_speedup_vs_mixed": ">= 1.3", "bwt_curriculum": ">= -0.02",
                          "bwt_sequential": "<= -0.1"}
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    finish("finetune_curriculum", summary, t0, quick=a.quick)


if __name__ == "__main__":
    main()
