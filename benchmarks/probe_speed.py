"""Probing a checkpoint series: curricle against lm-evaluation-harness on the same tasks.

Usage::

    .venv/bin/python benchmarks/probe_speed.py --quick   # < 10 minutes on 2 CPU cores
    .venv/bin/python benchmarks/probe_speed.py           # more checkpoints and items

Stages:

1. **Series.** A tiny-1m model is trained on built-in sources (synthetic skills, Python
   code and prose) with a checkpoint every ``every`` steps, under ``runs/bench-probe/<mode>/``;
   a finished run is reused. (Not timed.)
2. **Warm-up, not timed.** The first checkpoint is loaded once with transformers and run on one
   sequence, and pyarrow's datasets and pandas are imported, so neither side pays the
   process's one-time imports of the model, tokenizer and data code (otherwise whichever side
   runs first is charged for them).
3. **Tasks.** The built-in probe suite (every synthetic skill, code syntax, held-out code and
   prose loss) with ``items`` per task, built from the run's token store, then exported with
   ``export_lm_eval`` to lm-eval task YAML + data files. Building the suite and lm-eval's
   ``TaskManager`` (indexing the exported directory only) are each timed once and added to
   their side's total.
4. **Timed, checkpoint by checkpoint.** For each checkpoint, both sides score every task,
   in alternating order (curricle first on even checkpoints, lm-eval first on odd ones), so
   both see the same load from the rest of a shared machine:

   - curricle: ``probe_checkpoints([checkpoint], tasks, out)`` with no cache (nothing is
     reused between checkpoints): fingerprint, load, score, write the rows;
   - lm-eval: ``lm_eval.simple_evaluate(model="hf", model_args="pretrained=CKPT,dtype=float32",
     tasks=["curricle"], device="cpu", batch_size=B)``, B the same rows per forward pass as
     curricle's, samples not logged.

   Both run in this process with the same torch thread count (``--threads``, 1 by default:
   on a busy 2-core machine a second intra-op thread mostly spins).
5. **Agreement.** Per checkpoint and task, the metric both report (accuracy for multiple
   choice, exact match for generation, bits per byte for text) side by side; a score agrees
   when the two differ by at most one standard error (curricle's; an exact zero difference
   where the error is zero).

The last stdout line is one JSON object (``speedup_vs_lm_eval`` = lm-eval seconds / curricle
seconds, ``max_abs_score_diff``, ``within_one_se``, ...); tables and progress go to stderr, and
every score to ``runs/bench-probe/<mode>/probe_speed.json``. Nothing here is tuned to meet the
target (speedup >= 3 with agreement within one SE).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import finish, say

TARGET_SPEEDUP = 3.0
SEED = 0
_T0 = time.perf_counter()


@dataclass(frozen=True)
class Mode:
    name: str
    steps: int
    every: int
    items: int
    passages: int
    code_docs: int
    prose_docs: int
    synthetic_docs: int


QUICK = Mode("quick", steps=150, every=30, items=100, passages=32, code_docs=150, prose_docs=400, synthetic_docs=120)
FULL = Mode("full", steps=400, every=40, items=200, passages=64, code_docs=300, prose_docs=800, synthetic_docs=240)


def run_config(mode: Mode, root: Path) -> dict[str, Any]:
    skills = ["copy", "facts", "arithmetic", "reverse", "uppercase", "reverse+uppercase", "brackets", "agreement"]
    return {
        "name": f"bench-probe-{mode.name}",
        "seed": SEED,
        "data_dir": str(root / "data"),
        "sources": [
            {"kind": "python-code", "domain": "code", "max_docs": mode.code_docs},
            {"kind": "python-prose", "domain": "prose", "max_docs": mode.prose_docs},
            *({"kind": "synthetic", "skill": s, "domain": s.replace("+", "-"), "n_docs": mode.synthetic_docs}
              for s in skills),
        ],
        "tokenizer": {"vocab_size": 4096, "sample_docs_per_source": 200},
        "prepare": {"heldout_fraction": 0.1},
        "mixture": {"batch_rows": 16, "seq_len": 128, "max_epochs": 1e12},
        "model": {"preset": "tiny-1m", "max_position_embeddings": 256},
        "train": {"steps": mode.steps, "lr": 0.003, "eval_every": mode.steps,
                  "checkpoint": {"every": mode.every, "keep_last": 1, "keep_every": mode.every},
                  "telemetry": {"tensorboard": False}, "device": "cpu"},
    }


def make_series(mode: Mode, root: Path) -> list[Path]:
    from curricle.config import parse_config
    from curricle.train.checkpoint import latest_complete, step_dirs
    from curricle.train.command import train_run

    config = parse_config(run_config(mode, root))
    run_dir = root / "run"
    found = latest_complete(run_dir / "checkpoints")
    if found is None or found[0] < mode.steps:
        say(f"series: training {mode.steps} steps into {run_dir} (checkpoint every {mode.every})")
        logging.getLogger("curricle.sources").setLevel(logging.ERROR)
        t = time.perf_counter()
        train_run(config, run_dir, resume=found is not None, progress=False)
        say(f"series: trained in {time.perf_counter() - t:.0f}s")
    else:
        say(f"series: reusing {run_dir}")
    return [p for _, p in sorted(step_dirs(run_dir / "checkpoints"))]


def warm_up(checkpoint: Path) -> None:
    """Load one checkpoint with transformers and run it once (untimed): the one-time imports
    of the model and tokenizer code, which both sides share. Also import the data libraries
    both sides load (pyarrow's datasets and pandas: the token store's metadata on curricle's
    side, HF ``datasets`` on lm-eval's): the suite is built first, so it would otherwise pay
    for both (about 0.3 s, measured)."""
    import pandas  # noqa: F401
    import pyarrow.dataset  # noqa: F401
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(checkpoint))
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    with torch.no_grad():
        model(input_ids=torch.tensor([tok("warm up").input_ids]))


def lm_eval_scores(results: dict[str, Any], manifest: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, m in manifest.items():
        r = results["results"][name]
        se = r.get(f"{m['metric']}_stderr,none")
        out[m["task"]] = {"value": float(r[f"{m['metric']},none"]), "se": se if isinstance(se, (int, float)) else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 checkpoints, 100 items per task (< 10 minutes)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both sides")
    ap.add_argument("--batch-size", type=int, default=64, help="rows per forward pass, both sides")
    ap.add_argument("--root", type=Path, default=None, help="where the series and results go")
    args = ap.parse_args()
    mode = QUICK if args.quick else FULL
    root = args.root or Path("runs/bench-probe") / mode.name

    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")

    checkpoints = make_series(mode, root)
    say(f"series: {len(checkpoints)} checkpoints: {', '.join(p.name for p in checkpoints)}")
    warm_up(checkpoints[0])

    from curricle.probes import SuiteConfig, builtin_tasks, export_lm_eval, probe_checkpoints
    from curricle.probes.lm_eval_export import COMPARABLE

    t = time.perf_counter()
    tasks = builtin_tasks(SuiteConfig(n=mode.items, text_passages=mode.passages), data_dir=root / "data")
    curricle_setup = time.perf_counter() - t
    export_dir = root / "lm_eval_tasks"
    manifest = export_lm_eval(export_dir, tasks)
    say(f"tasks: {len(tasks)} ({sum(len(t.items) for t in tasks):,} items), built in {curricle_setup:.1f}s; "
        f"exported to {export_dir}")

    import datasets
    import lm_eval
    from lm_eval.tasks import TaskManager

    datasets.disable_progress_bars()
    for noisy in ("lm_eval", "lm-eval", "datasets", "transformers", "accelerate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    t = time.perf_counter()
    task_manager = TaskManager(include_path=str(export_dir), include_defaults=False)
    lm_eval_setup = time.perf_counter() - t

    per_ckpt = []
    cur_total, lme_total = curricle_setup, lm_eval_setup
    with tempfile.TemporaryDirectory() as tmp:
        for k, ckpt in enumerate(checkpoints):
            def run_curricle():
                t0 = time.perf_counter()
                res = probe_checkpoints([ckpt], tasks, Path(tmp) / f"{k}.jsonl", cache_dir=None,
                                        batch_size=args.batch_size)
                return time.perf_counter() - t0, {r["task"]: r for r in res.rows}

            def run_lm_eval():
                t0 = time.perf_counter()
                res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={ckpt},dtype=float32",
                                              tasks=["curricle"], task_manager=task_manager, device="cpu",
                                              batch_size=args.batch_size, log_samples=False)
                return time.perf_counter() - t0, lm_eval_scores(res, manifest)

            if k % 2 == 0:
                (tc, ours), (tl, theirs) = run_curricle(), run_lm_eval()
            else:
                (tl, theirs), (tc, ours) = run_lm_eval(), run_curricle()
            cur_total += tc
            lme_total += tl
            rows = []
            for task in tasks:
                metric = COMPARABLE[task.output_type]
                m = ours[task.name]["metrics"]
                cv, cse = m[metric], m.get(f"{metric}_se")
                lv = theirs[task.name]["value"]
                diff = abs(cv - lv)
                agree = diff <= (cse if cse else 0.0) + 1e-9
                rows.append({"task": task.name, "metric": metric, "curricle": cv, "curricle_se": cse,
                             "lm_eval": lv, "lm_eval_se": theirs[task.name]["se"], "abs_diff": diff,
                             "within_one_se": agree})
            per_ckpt.append({"checkpoint": str(ckpt), "curricle_s": tc, "lm_eval_s": tl, "scores": rows})
            say(f"{ckpt.name}: curricle {tc:.1f}s, lm-eval {tl:.1f}s ({tl / tc:.1f}x); "
                f"max |diff| {max(r['abs_diff'] for r in rows):.2g}")

    # Per-task scores side by side (stderr).
    print(f"\n{'task':24s} {'metric':14s} " + " ".join(f"{Path(c['checkpoint']).name:>19s}" for c in per_ckpt),
          file=sys.stderr)
    print(f"{'':24s} {'':14s} " + " ".join(f"{'curricle / lm-eval':>19s}" for _ in per_ckpt), file=sys.stderr)
    for i, task in enumerate(tasks):
        cells = []
        for c in per_ckpt:
            r = c["scores"][i]
            cells.append(f"{r['curricle']:8.4f} / {r['lm_eval']:8.4f}" + ("" if r["within_one_se"] else "!"))
        print(f"{task.name:24s} {COMPARABLE[task.output_type]:14s} " + " ".join(f"{x:>19s}" for x in cells),
              file=sys.stderr)

    diffs = [r["abs_diff"] for c in per_ckpt for r in c["scores"]]
    agree = [r["within_one_se"] for c in per_ckpt for r in c["scores"]]
    import transformers

    summary = {
        "benchmark": "probe_speed",
        "mode": mode.name,
        "checkpoints": len(checkpoints),
        "tasks": len(tasks),
        "items": sum(len(t.items) for t in tasks),
        "curricle_s": round(cur_total, 2),
        "lm_eval_s": round(lme_total, 2),
        "speedup_vs_lm_eval": round(lme_total / cur_total, 2),
        "max_abs_score_diff": max(diffs),
        "within_one_se": all(agree),
        "scores_outside_one_se": sum(not a for a in agree),
        "scores_compared": len(agree),
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": lme_total / cur_total >= TARGET_SPEEDUP and all(agree),
        "setup_s": {"curricle_suite": round(curricle_setup, 2), "lm_eval_task_manager": round(lm_eval_setup, 2)},
        "threads": args.threads,
        "batch_size": args.batch_size,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "lm_eval": getattr(lm_eval, "__version__", "?"), "python": platform.python_version()},
    }
    (root / "probe_speed.json").write_text(json.dumps({**summary, "per_checkpoint": per_ckpt}, indent=1))
    say(f"wall time {time.perf_counter() - _T0:.0f}s; details: {root / 'probe_speed.json'}")
    finish("probe_speed", summary, _T0, quick=args.quick)


if __name__ == "__main__":
    main()
