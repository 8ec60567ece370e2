"""Prompt curricula and gates for GRPO in the regime they are for: a difficulty ladder where
uniform sampling wastes many groups (all right or all wrong: ``uniform_zero_variance_share`` in
the JSON: 45% in ``--quick`` at 20e8463, short of the "most" the issue asked for; 66% in the
full run, whose weaker base fails the long rungs outright). Which one
reaches uniform's final sampled pass@1 with fewer rollouts, without giving up the hardest rung,
and does a coin for a reward teach less?

Usage::

    .venv/bin/python benchmarks/rl_curriculum.py --quick            # 6 methods x 5 seeds, 3,200 rollouts each
    .venv/bin/python benchmarks/rl_curriculum.py                    # all 10 methods, 6,400 rollouts each
    .venv/bin/python benchmarks/rl_curriculum.py --real             # SmolLM2-135M-Instruct (a GPU; benchmarks/rl_real.py)
    .venv/bin/python benchmarks/rl_curriculum.py --real --smoke     # the same, two steps of two methods (CPU)
    scripts/gpu_rl_real.sh                                          # --real on the device GPU (see it)

Stages:

1. **Base.** The tiny-1m model ``benchmarks/finetune_curriculum.py`` pretrains (cached, shared
   with it), then a cold start with ``curricle finetune``: one stage of 600 steps of 32 mixing
   the rungs of the ladder, ``reverse`` at a single input length each, lengths 2 to 7
   (``RUNGS``), ``SFT_ITEMS`` train items a rung (cached). The base solves short inputs and
   often fails long ones (sampled pass@1 from 0.88 at length 2 to 0.54 at 7 at 20e8463,
   trained from scratch; the 0.86 to 0.36 reported at 37eb2d9 came from a cold start an older
   code had cached under the same config hash; 0.93 to
   0.54 on the base of fde2d03, whose pretraining skipped 516 of its 600 steps before the
   stability guard's fix, 2084a19; per rung in the JSON, ``base``), so that under uniform
   sampling many groups are all right or all wrong.
   (A cold start on lengths 2-4 only left lengths 5-7 at 0, where no RL method has a signal.)
2. **Prompts.** RL trains on ``RL_PROMPTS`` prompts a rung taken from the same generator's
   train stream *after* the cold start's items (``train_offset``), so no RL prompt is a cold
   start item (asserted); it is scored on 64 test items a rung from the generator's held-out
   split (disjoint from both).
3. **Methods**, each ``curricle rl`` (TRL ``GRPOTrainer``) from the base with the same seed,
   optimizer, learning rate, group size (8), prompts per step (4), temperature 1 and rollout
   budget (every generated rollout counts, replacements and pools included): ``uniform``;
   ``dynamic-filter`` (DAPO as verl runs it: rounds of 3 x B fresh prompts until B groups with
   nonzero variance, truncate); ``learnability`` (p(1-p) + 0.05, unseen prompts at their
   category's mean: no profile cost); ``lilo`` (pool of 4B rolled out, top B by p(1-p));
   ``target-difficulty`` (AdaRFT; difficulty from the base profile, eta scaled to B = 4);
   ``category-bandit`` (SEC over the rungs, tau 0.4, all arms updated); ``greso`` (uniform with
   GRESO's gate before generation); ``gaussian`` (uniform with the Gaussian gate before
   generation, mean 0.5 -> 0.25); ``band`` (uniform with the pass-rate band before generation
   at its no-parameter form, the filter DAPO and prime-rl apply to generated groups, 0 < p < 1,
   applied to the estimate instead: a prompt whose profiled or tracked pass rate is below 0.01
   or above 0.99 is skipped; added after the others, decided before it ran); and
   ``random-reward`` (uniform prompts, a coin for a reward:
   the control, at the same learning rate). The base profile (8 samples of every RL prompt, once per base) is shared by
   the methods that read it; its rollouts are given apart (``profile_rollouts``), not in the
   budget. ``--quick`` runs the subset ``QUICK_METHODS`` unless ``--methods`` names others.
   A reference, not a contender (never ``best``; run it with ``--methods uniform,oracle-gate``):
   ``oracle-gate``, DAPO's filter with its extra rollouts free and uniform's optimizer steps and
   learning-rate schedule, scored at uniform's steps: every step trains B groups none of which is
   all right or all wrong, what a gate that knew the outcome before generating would train on.
   Its ``step_speedup`` (``gate_ceiling`` in the JSON) is the most a gate before generation can
   gain here, measured, where ``ceiling`` is the arithmetic bound (added 2026-12-07, after the
   targets were missed; ``rl_curriculum.oracle.json`` and ``rl_curriculum.oracle.full.json``).
   ``--batch B`` runs B prompts a step instead of 4, the budget and evaluation interval scaled by
   B / 4 so that every run keeps its steps and schedule (with a ``--variant``): how the gate
   ceiling moves toward the papers' batches.
   **Deviations**, said here: papers run batches of 128-1,024 prompts; this runs 4 (a tiny
   model on 2 CPU cores), with AdaRFT's eta scaled to it; GRESO adjusts its exploration
   probabilities every step, not once an epoch, and its gate, which reads only a prompt's own
   past groups, sees each prompt two or three times a run (``--quick``: 400 trained groups and
   the skipped prompts over 192 prompts), where the paper's come round every epoch for many
   epochs. The learning rate (``LR``, 3e-5, the same for
   every method, no KL term) was chosen on uniform's and the coin's curves at seed 0 alone, to
   be small enough that a random reward does not destroy the model, on the base of fde2d03: at
   1e-4 uniform went from 0.745 to 0.862 sampled pass@1 but the coin run fell to 0.341; at
   3e-5 uniform reached 0.817 and the coin run stayed at 0.742. On the base of 37eb2d9 the
   coin run at 3e-5 does drift down (0.653 to 0.597 over seeds 0-4; on the base trained from
   scratch at 20e8463, 0.731 to 0.688): not chosen again, so the learning rate stays the one
   chosen before.
4. **Figures**, per method over paired seeds, each with a 95% bootstrap interval over seeds
   (``ci``): at **equal rollouts**, ``speedup`` = uniform's rollouts to its own final sampled
   pass@1 (the mean of its last two evaluations) over the method's (linear interpolation
   between evaluations; a seed where the method never gets there is ``never`` in
   ``speedup_per_seed`` and counts 0 in the mean); ``auc_gain``: the area under the sampled
   pass@1-versus-rollouts curve (normalized by the budget) minus uniform's; ``gain`` over the
   base; ``worst_rung`` (final sampled pass@1 on the method's worst rung); at **equal
   optimizer steps**, ``step_speedup`` (the same ratio counted in steps) and
   ``equal_steps_gain`` (the method's last sampled pass@1 minus uniform's at the same step,
   interpolated: what LILO and DAPO measure); wall-clock to the target.
   ``uniform_zero_variance_share`` is the share of uniform's groups whose rewards were all
   equal, and ``ceiling`` = 1 / (1 - share): the most rollouts any filter of those groups could
   save. ``random_reward_gap``: uniform's final sampled pass@1 minus the coin run's.

The pretraining (``runs/bench-finetune``, shared), the cold start and each method's run are
cached by their config's hash (``runs_from_cache``: the method runs read back); ``cached_runs``
counts them all by the commit that trained them (``benchmarks/common.py``), so a base an older
code trained shows. The base profile, a file rather than a run, is cached by its base and tasks;
``cached_products`` counts it, and the token store the pretraining read, by the commit that made
them.

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

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import finetune_curriculum as ftbench  # noqa: E402
from common import cached_products, cached_provenance, die_with_parent, finish, record_code, say  # noqa: E402

from curricle.finetune.command import finetune_run  # noqa: E402
from curricle.finetune.config import FinetuneConfig  # noqa: E402
from curricle.rl.command import rl_run  # noqa: E402
from curricle.rl.config import RLConfig  # noqa: E402

RUNGS = [2, 3, 4, 5, 6, 7]  # input lengths of `reverse`, one task each
SFT_RUNGS = RUNGS  # the cold start covers the whole ladder (one on rungs 2-4 only left rungs 5-7 at 0: no signal)
SFT_ITEMS = 300  # cold start train items a rung
RL_PROMPTS = 32  # RL train prompts a rung, after the cold start's in the generator's stream: each
# comes back about 3 times in the quick budget, so tracked pass rates and GRESO's streaks mean something
TEST_ITEMS = 64  # test items a rung
LR = 3e-5
SAMPLES = 8  # sampled pass@1: completions an item
METHODS = ["uniform", "dynamic-filter", "learnability", "lilo", "target-difficulty", "category-bandit", "greso",
           "gaussian", "band", "random-reward"]
#: References, not contenders (never ``best``): ``oracle-gate`` is DAPO's filter with its rollouts not counted and
#: as many optimizer steps as uniform: what a pre-rollout gate that knew which groups come out all right or all
#: wrong would train on. Its ``step_speedup`` is the most such a gate can gain here, measured (``gate_ceiling``).
REFERENCES = ("oracle-gate",)
#: The methods that read the base sampling pass (its pass rates).
PROFILE_METHODS = ("target-difficulty", "gaussian", "band")
QUICK_METHODS = ["uniform", "dynamic-filter", "learnability", "lilo", "greso", "random-reward"]
CURRICULA = {
    "uniform": {"kind": "uniform"},
    "random-reward": {"kind": "uniform"},
    "dynamic-filter": {"kind": "dynamic-filter"},
    "oracle-gate": {"kind": "dynamic-filter"},
    "learnability": {"kind": "learnability", "prior": "category"},
    "lilo": {"kind": "lilo"},
    "target-difficulty": {"kind": "target-difficulty"},
    "category-bandit": {"kind": "category-bandit", "categories": "task"},
    "greso": {"kind": "uniform", "gates": [{"kind": "greso"}]},
    "gaussian": {"kind": "uniform", "gates": [{"kind": "gaussian"}]},
    "band": {"kind": "uniform", "gates": [{"kind": "pass-rate-band", "low": 0.01, "high": 0.99, "before_rollout": True}]},
}


def rung(n: int) -> str:
    return f"reverse-L{n}"


def task_configs(n_train: int, n_test: int, offset: int = 0, n_heldout: int = 16, rungs: list[int] = RUNGS
                 ) -> list[dict]:
    return [{"name": rung(n), "source": {"kind": "builtin", "skill": "reverse", "params": {"min_len": n, "max_len": n},
                                         "n_train": n_train, "train_offset": offset, "n_heldout": n_heldout,
                                         "n_test": n_test},
             "eval_items": n_heldout} for n in rungs]


def _key(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]


def sft_config(pretrained: Path, steps: int) -> dict:
    return {
        "name": "ladder-cold-start", "seed": 0, "model": {"path": str(pretrained)},
        "tasks": task_configs(SFT_ITEMS, 0, rungs=SFT_RUNGS),
        "curriculum": {"stages": [{"name": "all", "tasks": {rung(n): 1 for n in SFT_RUNGS}, "max_steps": steps}],
                       "eval_every": steps},
        "train": {"max_steps": steps, "batch_size": 32, "lr": 1e-3, "lr_scheduler": "constant_with_warmup",
                  "warmup_steps": max(1, steps // 20), "checkpoint": {"every": steps, "keep_last": 1},
                  "log_every": max(1, steps // 10), "use_cpu": True, "tensorboard": False, "eval_batch_size": 128},
    }


def sft_dir(out: Path, pretrained: Path, steps: int) -> Path:
    """Where the cold start runs (and is cached): named by its config's hash."""
    return out / f"sft-{_key(sft_config(pretrained, steps))}"


def sft_base(out: Path, pretrained: Path, steps: int) -> Path:
    """The cold start on the ladder (cached)."""
    cfg = sft_config(pretrained, steps)
    run = sft_dir(out, pretrained, steps)
    if not (run / "final" / "config.json").is_file():
        shutil.rmtree(run, ignore_errors=True)
        torch.set_num_threads(1)  # (two threads spin-wait for each other on a busy 2-core machine)
        finetune_run(FinetuneConfig.model_validate(cfg), run)
    return run / "final"


def check_disjoint() -> int:
    """Assert no RL prompt is a cold-start item (same generator, seed and length); returns the
    number of RL prompts checked."""
    from curricle.tasks.builtin import load_builtin
    from curricle.tasks.config import TaskConfig

    n = 0
    sft_tasks = {t["name"]: t for t in task_configs(SFT_ITEMS, 1, rungs=SFT_RUNGS)}
    for rl in task_configs(RL_PROMPTS, TEST_ITEMS, offset=SFT_ITEMS):
        sft = sft_tasks.get(rl["name"], task_configs(SFT_ITEMS, 1, rungs=[int(rl["name"].split("L")[-1])])[0])
        a, _ = load_builtin(TaskConfig.model_validate(sft).source, sft["name"])
        b, _ = load_builtin(TaskConfig.model_validate(rl).source, rl["name"])
        seen = {i.prompt for i in a if i.split == "train"}
        rl_train = [i.prompt for i in b if i.split == "train"]
        scored = {i.prompt for i in b if i.split == "test"}
        assert not seen & set(rl_train), f"{rl['name']}: RL prompts overlap the cold start's items"
        assert not scored & (seen | set(rl_train)), f"{rl['name']}: test items overlap training items"
        n += len(rl_train)
    return n


def method_config(method: str, base: Path, seed: int, budget: int, eval_every: int, profile: Path | None,
                  lr: float = LR, smoke: bool = False, batch: int = 4) -> dict:
    curriculum = CURRICULA[method]
    cfg = {
        "name": f"{method}-seed{seed}", "seed": seed, "model": {"path": str(base)},
        "tasks": task_configs(RL_PROMPTS, TEST_ITEMS, offset=SFT_ITEMS),
        "curriculum": curriculum,
        "grpo": {"steps": budget // (8 * batch) * 4, "rollouts": budget, "num_generations": 8,
                 "prompts_per_step": batch,
                 "max_completion_length": 10, "temperature": 1.0, "lr": lr, "beta": 0.0,
                 "reward": "random" if method == "random-reward" else "grader"},
        "eval": {"every": 10_000, "every_rollouts": eval_every, "split": "test", "batch_size": 256, "samples": SAMPLES,
                 "temperature": 1.0},
        "train": {"checkpoint": {"every": 100_000, "keep_last": 1}, "log_every": 10, "use_cpu": True,
                  "tensorboard": False, "grader_timeout_s": None},
    }
    if method == "oracle-gate":  # the same learning-rate schedule (over the same step cap); rollouts past the
        # budget, enough to pass uniform's steps (it generated 116 a step in --quick, 140 in the full run's
        # dynamic-filter: 3.6 and 4.4 x uniform's 32); scored up to uniform's steps (summarize)
        cfg["grpo"]["rollouts"] = (5 if budget <= 3200 else 6) * budget
        cfg["eval"] = dict(cfg["eval"], every=eval_every // (8 * batch), every_rollouts=None)
    if profile is not None:
        cfg["profile"] = {"samples": SAMPLES, "from": str(profile)}
    return cfg


def method_dir(cfg: dict, out: Path) -> Path:
    """Where a method's run goes (and is cached): named by its config's hash."""
    return out / f"{cfg['name']}-{_key(cfg)}"


def run_method(cfg: dict, out: Path) -> dict:
    run = method_dir(cfg, out)
    done = run / "result.json"
    if done.is_file():  # (a run's figures are a function of its config: cached by its hash)
        return {**json.loads(done.read_text()), "cached": True}
    shutil.rmtree(run, ignore_errors=True)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    final = rl_run(RLConfig.model_validate(cfg), run)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "zero_variance_groups" in r]
    gen_zv = [r["generated/zero_variance_groups"] for r in steps if "generated/zero_variance_groups" in r]
    gen_n = [r.get("generated/groups", 1) for r in steps if "generated/zero_variance_groups" in r]
    result = {"wall_s": wall, "profile_rollouts": final.get("profile_rollouts", 0),
              "curve": [{"step": h["step"], "rollouts": h["rollouts"], "pass1": h["sampled_mean"],
                         "worst": h["sampled_worst"], "greedy": h["mean"], "rungs": h["sampled"]}
                        for h in final["history"]],
              "zero_variance_share": (sum(z * n for z, n in zip(gen_zv, gen_n)) / sum(gen_n)) if gen_n else None,
              "trained_zero_variance_share": statistics.fmean(r["zero_variance_groups"] for r in steps) if steps else None,
              "skipped": final.get("skipped_prompts", {}), "flags": [f["event"] for f in final["flags"]]}
    # Wall-clock at each evaluation, from the step rows' times, for the time to the target.
    result["seconds_per_step"] = wall / max(1, final["step"])
    done.write_text(json.dumps(result))
    return result


def final_score(curve: list[dict], key: str = "pass1") -> float:
    """The mean of the last two evaluations (one evaluation's noise halved)."""
    return statistics.fmean(p[key] for p in curve[-2:])


def reach(curve: list[dict], target: float, axis: str = "rollouts") -> float | None:
    """The ``axis`` value (rollouts or steps) at which the curve first reaches ``target``,
    linearly interpolated between evaluations; None if it never does."""
    prev = None
    for p in curve:
        if p["pass1"] >= target - 1e-12:
            if prev is None or p["pass1"] == prev["pass1"]:
                return float(p[axis])
            f = (target - prev["pass1"]) / (p["pass1"] - prev["pass1"])
            return float(prev[axis] + f * (p[axis] - prev[axis]))
        prev = p
    return None


def at(curve: list[dict], x: float, axis: str = "step") -> float:
    """The curve's pass@1 at ``axis`` value ``x``, linearly interpolated (the last value past its end)."""
    prev = curve[0]
    for p in curve:
        if p[axis] >= x:
            if p[axis] == prev[axis]:
                return p["pass1"]
            f = (x - prev[axis]) / (p[axis] - prev[axis])
            return prev["pass1"] + f * (p["pass1"] - prev["pass1"])
        prev = p
    return curve[-1]["pass1"]


def auc(curve: list[dict], budget: int) -> float:
    """Area under pass@1 versus rollouts over ``[0, budget]``, over the budget (the last value
    carried to the budget)."""
    xs = [p["rollouts"] for p in curve] + [budget]
    ys = [p["pass1"] for p in curve] + [curve[-1]["pass1"]]
    area = sum((xs[i + 1] - xs[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(len(xs) - 1) if xs[i + 1] > xs[i])
    return area / budget


def speedup(uniform: float, method: float | None) -> float:
    """Uniform's rollouts to the target over the method's: 0 if the method never got there, and
    1e9 (capped by the caller) if it was there from the start while uniform was not."""
    if method is None:
        return 0.0
    return uniform / method if method else (1e9 if uniform > 0 else 0.0)


def interval(values: list[float], draws: int = 2000, seed: int = 0) -> dict:
    """Mean and 95% percentile bootstrap interval over seeds (resampled with replacement)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return {"mean": None, "ci": [None, None], "n": 0}
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(draws, len(v)))].mean(axis=1)
    return {"mean": round(float(v.mean()), 4), "ci": [round(float(np.percentile(means, 2.5)), 4),
                                                      round(float(np.percentile(means, 97.5)), 4)], "n": len(v)}


def summarize(results: dict[str, dict[int, dict]], seeds: list[int], budget: int, per_step: int = 32) -> dict:
    """The figures over paired seeds; ``per_step``: the rollouts of one of uniform's steps (its
    ``budget // per_step`` steps are where a reference's curve is cut)."""
    u = results["uniform"]
    out: dict = {}
    base = [u[s]["curve"][0] for s in seeds]
    out["base"] = {"pass1": interval([b["pass1"] for b in base]),
                   "rungs": {k: round(statistics.fmean(b["rungs"][k] for b in base), 3) for k in base[0]["rungs"]},
                   "greedy": interval([b["greedy"] for b in base])}
    zv = [u[s]["zero_variance_share"] for s in seeds]
    share = statistics.fmean(zv)
    out["uniform_zero_variance_share"] = round(share, 3)
    out["ceiling"] = round(1 / (1 - share), 2) if share < 1 else None
    out["uniform_final_pass1"] = interval([final_score(u[s]["curve"]) for s in seeds])
    out["uniform_worst_rung"] = round(statistics.fmean(final_score(u[s]["curve"], "worst") for s in seeds), 4)
    per: dict = {}
    results = {m: runs if m not in REFERENCES else
               {s: dict(r, curve=[p for p in r["curve"] if p["step"] <= budget // per_step]) for s, r in runs.items()}
               for m, runs in results.items()}
    for m in REFERENCES:
        short = [s for s, r in results.get(m, {}).items() if r["curve"][-1]["step"] < budget // per_step]
        if short:
            raise SystemExit(f"{m}: seeds {short} stopped before uniform's {budget // per_step} steps "
                             "(raise its rollouts)")
    for m, runs in results.items():
        r = {"final_pass1": interval([final_score(runs[s]["curve"]) for s in seeds]),
             "gain": interval([final_score(runs[s]["curve"]) - runs[s]["curve"][0]["pass1"] for s in seeds]),
             "final_greedy": interval([final_score(runs[s]["curve"], "greedy") for s in seeds]),
             "worst_rung": round(statistics.fmean(final_score(runs[s]["curve"], "worst") for s in seeds), 4),
             "zero_variance_share": round(statistics.fmean(runs[s]["zero_variance_share"] for s in seeds), 3),
             "trained_zero_variance_share": round(statistics.fmean(runs[s]["trained_zero_variance_share"]
                                                                   for s in seeds), 3),
             "wall_s": round(statistics.fmean(runs[s]["wall_s"] for s in seeds), 1),
             "profile_rollouts": runs[seeds[0]]["profile_rollouts"]}
        skipped = {}
        for s in seeds:
            for k, v in runs[s]["skipped"].items():
                skipped[k] = skipped.get(k, 0) + v
        if skipped:
            r["skipped_prompts"] = skipped
        if m not in ("uniform", "random-reward"):
            sp, st, ag, tw, per_seed, eq = [], [], [], [], [], []
            for s in seeds:
                target = final_score(u[s]["curve"])
                ru, rm = reach(u[s]["curve"], target), reach(runs[s]["curve"], target)
                su, sm = reach(u[s]["curve"], target, "step"), reach(runs[s]["curve"], target, "step")
                speed = speedup(ru, rm)
                sp.append(min(speed, budget))
                per_seed.append(round(speed, 3) if rm is not None else "never")
                st.append(su / sm if sm else 0.0)  # never (None) or at the start (0): 0
                ag.append(auc(runs[s]["curve"], budget) - auc(u[s]["curve"], budget))
                last = runs[s]["curve"][-1]
                eq.append(last["pass1"] - at(u[s]["curve"], last["step"]))
                if rm:  # uniform's seconds to the target over the method's (both at their mean pace)
                    tw.append(ru * u[s]["wall_s"] / (rm * runs[s]["wall_s"]))
            r.update({"speedup": interval(sp), "speedup_per_seed": per_seed, "step_speedup": interval(st),
                      "steps": round(statistics.fmean(runs[s]["curve"][-1]["step"] for s in seeds), 1),
                      "equal_steps_gain": interval(eq),
                      "auc_gain": interval(ag), "wall_speedup_reached": round(statistics.fmean(tw), 3) if tw else None})
            if m in REFERENCES:  # its rollouts past the budget are not counted: only its figures by steps hold
                for k in ("speedup", "speedup_per_seed", "auc_gain", "wall_speedup_reached"):
                    del r[k]
        per[m] = r
    out["methods"] = per
    ok = [m for m, r in per.items() if "speedup" in r and r["worst_rung"] >= out["uniform_worst_rung"] - 1e-12]
    best = max(ok, key=lambda m: per[m]["speedup"]["mean"]) if ok else None
    out["best"] = best
    out["best_speedup"] = per[best]["speedup"] if best else None
    if "oracle-gate" in per:
        out["gate_ceiling"] = per["oracle-gate"]["step_speedup"]
    if "random-reward" in results:
        out["random_reward_gap"] = interval([final_score(u[s]["curve"]) - final_score(results["random-reward"][s]["curve"])
                                             for s in seeds])
    return out


def make_profile(out: Path, base: Path, seed_cfg: dict) -> tuple[Path, float]:
    """The base sampling pass over the RL prompts, once per base (a profile file the methods share,
    with the code record of what made it beside it)."""
    path = out / f"profile-{_key({'base': str(base), 'tasks': seed_cfg['tasks'], 'samples': SAMPLES})}.json"
    if path.is_file():
        return path, 0.0
    t0 = time.perf_counter()
    cfg = dict(seed_cfg, name="profile", curriculum={"kind": "target-difficulty"})
    cfg["profile"] = {"samples": SAMPLES}
    cfg["grpo"] = dict(cfg["grpo"], steps=1, rollouts=None)
    run = out / "profile-run"
    shutil.rmtree(run, ignore_errors=True)
    from curricle.rl.command import PROFILE, build_rl
    torch.set_num_threads(1)
    run.mkdir(parents=True)
    _, _, graders = build_rl(RLConfig.model_validate(cfg), run)
    for g in graders.values():
        g.close()
    shutil.copy(run / PROFILE, path)
    record_code(path)
    return path, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"5 seeds, methods {','.join(QUICK_METHODS)}")
    ap.add_argument("--seeds", default=None, help="comma-separated (default: 0,1,2,3,4; --real: rl_real.SIZES's)")
    ap.add_argument("--methods", default=None, help="comma-separated (default: all; --quick: QUICK_METHODS)")
    ap.add_argument("--workers", type=int, default=2, help="runs at a time, one process each (--real: on one GPU)")
    ap.add_argument("--lr", type=float, default=LR, help="GRPO's learning rate, the same for every method")
    ap.add_argument("--batch", type=int, default=4, metavar="B",
                    help="prompts a step (groups of 8); the budget and the evaluations scale by B / 4, so every "
                         "run keeps its steps (not --real; give a --variant)")
    ap.add_argument("--real", action="store_true", help="SmolLM2-135M-Instruct on chat-formatted arithmetic")
    ap.add_argument("--smoke", action="store_true", help="with --real: a few steps, to check it runs (CPU)")
    ap.add_argument("--gpu", action="store_true", help="with --real --smoke: the smoke on the GPU (the CUDA path)")
    ap.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                    help="with --real: start no run that would end after this many seconds from the start, going "
                         "by the longest run so far; the seeds left unfinished are dropped")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-rl")
    ap.add_argument("--variant", default=None,
                    help="results file benchmarks/results/rl_curriculum.VARIANT.json (e.g. for other --methods)")
    a = ap.parse_args(argv)
    if (a.smoke or a.gpu or a.time_budget is not None) and not a.real:
        raise SystemExit("--smoke, --gpu and --time-budget go with --real")
    if a.batch < 1 or (a.batch != 4 and (a.real or a.variant is None)):
        raise SystemExit("--batch: a positive number of prompts a step, with a --variant of its own, not with --real")
    if a.real:
        import rl_real
        rl_real.run(a, sys.modules[__name__])
        return
    seeds = [int(s) for s in (a.seeds or "0,1,2,3,4").split(",")]
    methods = (a.methods.split(",") if a.methods else (QUICK_METHODS if a.quick else METHODS))
    if "uniform" not in methods:
        raise SystemExit("--methods: uniform is the baseline every figure is paired with; include it")
    mode = "quick" if a.quick else "full"
    out = a.out / mode
    out.mkdir(parents=True, exist_ok=True)
    budget, eval_every, sft_steps = (3200, 800, 600) if a.quick else (6400, 800, 600)
    budget, eval_every = budget * a.batch // 4, eval_every * a.batch // 4
    t0 = time.perf_counter()
    n_prompts = check_disjoint()
    say(f"{n_prompts} RL prompts, none a cold-start item; pretraining and cold start (cached after the first run)")
    pretrain_out, pretrain_steps = ROOT / "runs" / "bench-finetune" / mode, 600 if a.quick else 2000
    pretrained = ftbench.pretrained_base(pretrain_out, pretrain_steps)
    base = sft_base(out, pretrained, sft_steps)
    needs_profile = [m for m in methods if m in PROFILE_METHODS]
    profile, profile_s = (make_profile(out, base, method_config("uniform", base, 0, budget, eval_every, None))
                          if needs_profile else (None, 0.0))
    setup_s = time.perf_counter() - t0
    results: dict[str, dict[int, dict]] = {m: {} for m in methods}
    jobs = [(m, s, method_config(m, base, s, budget, eval_every, profile if m in needs_profile else None, a.lr,
                                 batch=a.batch))
            for s in seeds for m in methods]
    with ProcessPoolExecutor(max_workers=a.workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent) as pool:
        futures = [(m, s, pool.submit(run_method, cfg, out / m)) for m, s, cfg in jobs]
        for m, s, f in futures:
            r = results[m][s] = f.result()
            last = r["curve"][-1]
            say(f"seed {s} {m:>17}: sampled pass@1 {r['curve'][0]['pass1']:.3f} -> {last['pass1']:.3f} (worst rung "
                f"{last['worst']:.3f}) after {last['rollouts']:,} rollouts; zero-variance groups "
                f"{r['zero_variance_share']:.2f}; {r['wall_s']:.0f} s")
    summary: dict = {"benchmark": "rl_curriculum", "mode": mode, "seeds": seeds, "rollout_budget": budget,
                     "rungs": [rung(n) for n in RUNGS], "prompts_per_step": a.batch, "rl_prompts": n_prompts,
                     "test_items_per_rung": TEST_ITEMS,
                     "samples_per_item": SAMPLES, "lr": a.lr, "setup_s": round(setup_s, 1),
                     "profile_s": round(profile_s, 1),
                     "runs_from_cache": sum(bool(r.get("cached")) for m in results.values() for r in m.values()),
                     "cached_runs": cached_provenance([ftbench.pretrain_dir(pretrain_out, pretrain_steps),
                                                       sft_dir(out, pretrained, sft_steps),
                                                       *(method_dir(cfg, out / m) for m, _, cfg in jobs)]),
                     "cached_products": cached_products([ftbench.pretrain_data_dir(pretrain_out, pretrain_steps),
                                                         *([profile] if profile is not None else [])]),
                     **summarize(results, seeds, budget, 8 * a.batch)}
    summary["targets"] = {"best_speedup": ">= 1.5 with its interval above 1, worst rung no lower than uniform's",
                          "random_reward_gap": "above 0 with its interval"}
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    finish("rl_curriculum", summary, t0, quick=a.quick, variant=a.variant)


if __name__ == "__main__":
    main()
