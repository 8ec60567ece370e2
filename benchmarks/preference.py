"""DPO from an SFT'd base on pairs built from its own graded samples: does DPO raise the held-out
score, and does training on the clearest pairs first (margin order) do at least as well as the
same pairs in random order?

Usage::

    .venv/bin/python benchmarks/preference.py --quick                 # 5 seeds; see "Cost"
    .venv/bin/python benchmarks/preference.py --quick --base PATH     # another SFT'd HF checkpoint
    .venv/bin/python benchmarks/preference.py --quick --seeds 0,1,2   # the least it takes

Stages:

1. **Base.** ``--base``, or the cold-started model of ``benchmarks/rl_curriculum.py`` (its tiny-1m
   pretraining and its SFT on ``reverse`` at input lengths 2 to 7, one task a length; built and
   cached by those programs' own functions, under ``--cache``). Every arm of every seed starts
   from it.
2. **Pairs**, once per seed, by :func:`curricle.dpo.pairs.sample_pairs` (what a ``from_samples``
   source runs): ``PAIR_SAMPLES`` completions at temperature 1 of each of ``TRAIN_PROMPTS``
   train prompts a length, taken from the generator's train stream *after* the cold start's
   items (``train_offset``); chosen = the best-graded, rejected = the worst, margin = their
   difference. **The grader gives partial credit**: :func:`similarity`, 1 - the Levenshtein
   distance to the answer over the longer string's length, so margins are graded (exact match
   would give every pair margin 1 and margin order would mean nothing). The pairs are written
   to a JSONL file that every arm of the seed reads (``kind: jsonl``): identical pairs.
3. **Arms**, each ``curricle dpo`` (TRL ``DPOTrainer``) from the base, same seed, pairs,
   ``STEPS`` steps of ``BATCH`` pairs, learning rate ``LR`` (TRL's DPO default, 1e-6, does
   not move a 1M-parameter model in 160 steps; 1e-4 is the order of the learning rates that do
   here, set before any run and not tuned on the results), beta 0.1 (TRL's default), sigmoid
   loss, the same two equal-count bands ``clear`` / ``subtle`` and two stages of equal steps
   (no milestones: the comparison is of order only, not of when to advance):

   - ``none``: the base as is;
   - ``random``: ``order: random``, the bands filled in a seeded random order;
   - ``margin``: ``order: margin``, the largest margins in ``clear``, trained first;
   - ``random+nll``, ``margin+nll``: the same two orders with ``nll_weight: 1``, the chosen
     answers' negative log-likelihood added to DPO's loss at weight 1, as Iterative RPO (Pang et
     al. 2024) trains on pairs graded by a verifier. **Added after the first run**: plain DPO
     lost 0.17 sampled pass@1 against no DPO (0.54 against 0.71, 5 seeds), with train reward
     accuracy near 1 and the chosen answers' own likelihood falling, the failure that paper
     reports for DPO on verifier-graded pairs and removes with the NLL term. The plain arms and
     their targets stay as they were decided; the ``+nll`` arms are reported beside them;
   - ``nll``: the control for the ``+nll`` arms, ``loss_type: sft``: the chosen answers' NLL
     alone (fine-tuning on the pairs' chosen answers, the same pairs in random order, no
     preference term): what the rejected answers add.
   - ``curri``, ``curri-random``, ``curri+nll``, ``curri-random+nll``: **Curri-DPO as its paper
     runs it** (Pattnaik et al. 2024), added in a later session after the arms above had missed
     their curriculum target, and decided before running: *ranked pairs* (``rejected: each``:
     from the same samples, each prompt's best completion against every distinct worse one,
     so a prompt gives its clear pairs and its subtle ones), three equal-count bands
     (``clear``, ``middle``, ``subtle``: the paper's three stages) of equal steps, and
     *iterative reference* (``train.reference: stage``: at each stage change DPO's reference
     becomes the policy). ``curri`` in margin order, ``curri-random`` the same pairs, stages and
     reference moves in random order; ``+nll`` as above. Deviations: 8 samples a prompt (the
     paper ranks 4 responses by GPT-4 ratings; here the similarity grader ranks 8 samples, so a
     prompt gives up to 7 pairs, cut into bands by count rather than by rank), and the same
     160 steps of 8 pairs as the other arms (about one epoch of the ranked pairs, where the
     paper trains each stage to convergence).
4. **Scores**, on ``TEST_ITEMS`` test items a length from the generator's held-out split, never
   trained on (asserted: no pair prompt and no cold-start item is a test item): **sampled
   pass@1** (``SAMPLES`` completions at temperature 1 an item, exact match, the same sampling
   seed for every arm of a seed), greedy exact match, and the mean sampled completion length
   in characters; per arm the mean over lengths and the worst length.

Figures, per seed and then mean and standard error over seeds (``stderr`` = sample standard
deviation / sqrt(seeds)): ``dpo_gain`` = ``margin``'s sampled pass@1 minus ``none``'s (the
method under test, decided before running, not the better of the two DPO arms);
``random_gain`` likewise; ``curriculum_vs_random`` = ``margin`` minus ``random``;
``dpo_nll_gain``, ``random_nll_gain`` and ``curriculum_vs_random_nll`` the same for the ``+nll`` arms;
``nll_only_gain`` = ``nll`` minus ``none``, ``dpo_nll_vs_nll_only`` = ``margin+nll`` minus ``nll``;
``curri_gain``, ``curri_vs_random``, ``curri_nll_gain``, ``curri_vs_random_nll`` the same for
the Curri-DPO arms (and ``curri_vs_margin``: ranked pairs with moving reference minus one pair a
prompt, both margin order).
``targets_met``: ``curriculum_vs_random`` mean >= 0, and ``dpo_gain`` mean > 2 standard errors
(and the same of the ``+nll`` and Curri-DPO figures).
``dpo`` gives, per DPO arm and seed, the last logged train reward accuracy, the bands'
``pref_acc`` on their held-out pairs at the end, and DPO's implicit rewards of the chosen and
rejected answers (beta x the log-probability ratio to the reference; a negative chosen reward:
the chosen answers themselves became less likely, so the preference was learned by pushing the
rejected ones down faster).

**Ceiling.** DPO only moves probability between answers the base already samples: a prompt
whose chosen answer is wrong can at best teach a nearer miss. ``ceiling`` reports the share of
pairs whose chosen answer is exactly right and ``none``'s room, 1 - its sampled pass@1. With
5 seeds the standard error is itself rough (4 degrees of freedom).

**Cost.** A DPO run of 160 steps of 8 pairs, with the reference model's forward passes and
its scoring, took 10-15 s of one core here; pairs and scoring are sampling passes of the tiny
model. ``--quick`` is 5 seeds x (pairs + 2 DPO runs + 3 scorings), ``--jobs`` at a time, after
the base (cached; building it is rl_curriculum's pretraining and cold start, a few minutes).
A first run at 3 seeds and 64 test items took 53 s, so ``--quick`` was sized up to 5 seeds and
112 test items for precision (steps, learning rate and beta unchanged; length 2 has only 143
distinct held-out strings, 16 of them the DPO runs' held-out items). Every piece is cached
under ``--out`` by its config's hash; ``cached_runs`` in the JSON counts the base's runs and the
DPO runs by the commit that trained them, ``cached_products`` the pairs, the ``none`` arm's
scores and the token store the base's pretraining read by the commit that made them
(``benchmarks/common.py``; each other arm's scores are its DPO run's process's).

The last line printed is the JSON summary (also in ``benchmarks/results/preference.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
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
import rl_curriculum as rlbench  # noqa: E402
from common import cached_products, cached_provenance, die_with_parent, finish, record_code, say  # noqa: E402

from curricle.rl.diversity import levenshtein  # noqa: E402  (the diversity watch's edit distance)

RUNGS = rlbench.RUNGS  # reverse at input lengths 2..7, one task each (the cold start's ladder)
CURRI_ARMS = ["curri", "curri-random", "curri+nll", "curri-random+nll"]
ARMS = ["none", "random", "margin", "random+nll", "margin+nll", "nll", *CURRI_ARMS]
NLL_WEIGHT = 1.0  # Iterative RPO (Pang et al. 2024): the chosen answers' NLL at weight 1 beside DPO's loss
CURRI_BANDS = ["clear", "middle", "subtle"]  # Curri-DPO's three stages (its four ranked responses give three pairs)
SETTINGS = {
    "quick": {"train_prompts": 64, "pair_samples": 8, "test_items": 112, "samples": 8, "steps": 160, "batch": 8,
              "seeds": [0, 1, 2, 3, 4]},
    "full": {"train_prompts": 128, "pair_samples": 8, "test_items": 120, "samples": 8, "steps": 400, "batch": 8,
             "seeds": list(range(10))},
}
LR = 1e-4
BETA = 0.1
GRADER = "preference:similarity"
TARGETS = {"curriculum_vs_random": "mean >= 0 (margin order at least as good as random order)",
           "dpo_gain": "mean > 2 standard errors (DPO beats no DPO)",
           "curriculum_vs_random_nll": "mean >= 0 (the same, with the chosen answers' NLL)",
           "dpo_nll_gain": "mean > 2 standard errors (DPO + NLL, margin order, beats no DPO)",
           "curri_vs_random": "mean >= 0 (Curri-DPO: ranked pairs in margin order at least as good as random order)",
           "curri_gain": "mean > 2 standard errors (Curri-DPO beats no DPO)",
           "curri_vs_random_nll": "mean >= 0 (the same, with the chosen answers' NLL)",
           "curri_nll_gain": "mean > 2 standard errors (Curri-DPO + NLL beats no DPO)"}


def similarity(item, completion: str) -> float:
    """The pairs' grader: 1 - Levenshtein distance / the longer string's length (both stripped);
    1 for the exact answer, partial credit for a near miss."""
    a, b = completion.strip(), item.target.strip()
    return 1.0 - levenshtein(a, b) / max(len(a), len(b), 1)


def task_configs(train_prompts: int, test_items: int) -> list[dict]:
    """The ladder's tasks: train prompts after the cold start's items, test items from the held-out split."""
    out = rlbench.task_configs(train_prompts, test_items, offset=rlbench.SFT_ITEMS)
    for t in out:
        t["grader"] = {"kind": "python", "function": GRADER}
    return out


def check_disjoint(train_prompts: int, test_items: int) -> dict[str, set[str]]:
    """Assert no test item is a train prompt or a cold-start item; returns each task's train prompts."""
    from curricle.tasks.builtin import load_builtin
    from curricle.tasks.config import TaskConfig

    sft = {t["name"]: t for t in rlbench.task_configs(rlbench.SFT_ITEMS, 1, rungs=rlbench.SFT_RUNGS)}
    train = {}
    for cfg in task_configs(train_prompts, test_items):
        a, _ = load_builtin(TaskConfig.model_validate(sft[cfg["name"]]).source, cfg["name"])
        b, _ = load_builtin(TaskConfig.model_validate(cfg).source, cfg["name"])
        seen = {i.prompt for i in a if i.split == "train"}
        mine = {i.prompt for i in b if i.split == "train"}
        test = {i.prompt for i in b if i.split == "test"}
        assert len(test) >= test_items, f"{cfg['name']}: {len(test)} test items"
        assert not mine & seen, f"{cfg['name']}: pair prompts overlap the cold start's items"
        assert not test & (mine | seen), f"{cfg['name']}: test items overlap training items"
        train[cfg["name"]] = mine
    return train


def _key(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]


def pairs_summary(base: str, seed: int, s: dict, out: Path, rejected: str = "worst") -> Path:
    """Where :func:`build_pairs` caches the seed's pairs: this ``summary.json`` (its code record
    beside it), their ``pairs.jsonl`` with it."""
    spec = {"base": base, "seed": seed, "tasks": task_configs(s["train_prompts"], s["test_items"]),
            "samples": s["pair_samples"]}
    if rejected != "worst":  # the worst pairs' cache key as it was
        spec["rejected"] = rejected
    return out / f"pairs-seed{seed}-{_key(spec)}" / "summary.json"


def build_pairs(base: str, seed: int, s: dict, out: Path, rejected: str = "worst") -> dict:
    """The seed's pairs from the base's graded samples, written to ``pairs.jsonl`` (cached);
    ``rejected``: ``worst`` (one pair a prompt) or ``each`` (Curri-DPO's ranked pairs, from the
    same samples: the same sampling seed)."""
    done = pairs_summary(base, seed, s, out, rejected)
    run = done.parent
    if done.is_file():
        return json.loads(done.read_text())
    from curricle.dpo.config import PairsFromSamples
    from curricle.dpo.pairs import sample_pairs
    from curricle.posttrain.checkpoints import load_start_model
    from curricle.posttrain.config import HFModelConfig
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model, tok = load_start_model(HFModelConfig(path=base))
    configs = [TaskConfig.model_validate(t) for t in task_configs(s["train_prompts"], s["test_items"])]
    tasks = build_tasks(configs, tok)
    source = PairsFromSamples(tasks=[t.name for t in configs], samples=s["pair_samples"], temperature=1.0,
                              max_new_tokens=10, batch_size=64, grader_timeout_s=None, rejected=rejected)
    pairs, per_task = sample_pairs(model, tok, source, {t.name: t for t in tasks}, {c.name: c for c in configs}, seed)
    run.mkdir(parents=True, exist_ok=True)
    path = run / "pairs.jsonl"
    path.write_text("".join(json.dumps(p.__dict__) + "\n" for p in pairs))
    targets = {i.prompt: i.target for t in tasks for i in t.train}
    summary = {"path": str(path), "pairs": len(pairs), "per_task": per_task, "wall_s": time.perf_counter() - t0,
               "chosen_exact": sum(p.chosen.strip() == targets[p.prompt].strip() for p in pairs) / max(1, len(pairs)),
               "margin_mean": statistics.fmean(p.margin for p in pairs) if pairs else None,
               "pair_prompts": len({p.prompt for p in pairs}), "prompts": sorted({p.prompt for p in pairs})}
    done.write_text(json.dumps(summary))
    record_code(done)
    return summary


def dpo_config(arm: str, base: str, pairs: str, seed: int, s: dict) -> dict:
    steps = s["steps"]
    order, _, nll = arm.partition("+")
    if arm == "nll":  # the control: the chosen answers' NLL alone, the same pairs in random order
        order, nll = "random", ""
    curri = order.startswith("curri")  # ranked pairs, three bands, the reference moved at each stage
    bands = CURRI_BANDS if curri else ["clear", "subtle"]
    cfg = {
        "name": f"{arm}-seed{seed}", "seed": seed, "model": {"path": base},
        "tasks": [{**t, "eval_items": 16} for t in task_configs(s["train_prompts"], s["test_items"])],
        "pairs": [{"kind": "jsonl", "path": pairs}],
        "curriculum": {"order": {"curri": "margin", "curri-random": "random"}.get(order, order), "bands": bands,
                       "eval_every": steps // len(bands)},
        "train": {"max_steps": steps, "batch_size": s["batch"], "lr": LR, "beta": BETA,
                  "loss_type": "sft" if arm == "nll" else "sigmoid", "nll_weight": NLL_WEIGHT if nll else 0.0,
                  "lr_scheduler": "constant", "max_length": 64, "checkpoint": {"every": steps, "keep_last": 1},
                  "log_every": 10, "use_cpu": True, "tensorboard": False, "eval_batch_size": 128, "eval_pairs": 32},
    }
    if curri:
        cfg["train"]["reference"] = "stage"
    return cfg


def score(model_path: str, seed: int, s: dict) -> dict:
    """Sampled pass@1, greedy exact match and mean sampled length per task, on the test items."""
    from curricle.posttrain.checkpoints import load_start_model
    from curricle.posttrain.config import HFModelConfig
    from curricle.posttrain.evaluate import Evaluator
    from curricle.posttrain.sampling import sample_apart
    from curricle.tasks.config import TaskConfig
    from curricle.tasks.load import build_tasks

    model, tok = load_start_model(HFModelConfig(path=model_path))
    tasks = build_tasks([TaskConfig.model_validate(t) for t in task_configs(s["train_prompts"], s["test_items"])], tok)
    greedy = Evaluator(tasks, tok, batch_size=256).evaluate(model, "test")
    out = {}
    for j, task in enumerate(tasks):
        items = task.eval_set("test")
        max_new = task.scoring.max_new_tokens or max(len(i.completion) for i in items) + 2
        groups = sample_apart(model, tok, [i.prompt for i in items], s["samples"], 1.0, max_new, task.scoring.until,
                              seed * 101 + j, 256)
        texts = [(i, t) for i, g in zip(items, groups) for t in g]
        out[task.name] = {"pass1": statistics.fmean(t == i.completion for i, t in texts),
                          "greedy": greedy[task.name]["exact_match"],
                          "length": statistics.fmean(len(t.strip()) for _, t in texts), "n": len(items)}
    return out


def arm_dir(arm: str, base: str, seed: int, pairs: str, s: dict, out: Path) -> Path:
    """Where an arm's run goes (and is cached), named by the hash of its config and scoring; its
    DPO run (``curricle dpo``'s run directory) is ``dpo/`` in it."""
    cfg = dpo_config(arm, base, pairs, seed, s) if arm != "none" else {"name": f"none-seed{seed}", "base": base}
    return out / arm / f"{cfg['name']}-{_key({**cfg, 'scoring': [s['test_items'], s['samples']]})}"


def run_arm(arm: str, base: str, seed: int, pairs: str, s: dict, out: Path) -> dict:
    cfg = dpo_config(arm, base, pairs, seed, s) if arm != "none" else None
    run = arm_dir(arm, base, seed, pairs, s, out)
    done = run / "result.json"
    if done.is_file():
        return {**json.loads(done.read_text()), "cached": True}
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    result: dict = {}
    model = base
    if arm != "none":
        from curricle.dpo.command import dpo_run
        from curricle.dpo.config import DPOConfig

        got = dpo_run(DPOConfig.model_validate(cfg), run / "dpo")
        rows = [json.loads(line) for line in (run / "dpo" / "metrics.jsonl").read_text().splitlines()]
        acc = [r["train/rewards/accuracies"] for r in rows if "train/rewards/accuracies" in r]
        result["pairs"] = {b: c for b, c in got["pairs"]["bands"].items()}
        result["train_reward_accuracy"] = acc[-1] if acc else None
        # DPO's implicit rewards at the last log, beta x (log-prob under the policy - under the
        # reference): a negative chosen reward means the chosen answers themselves became less likely.
        last = [r for r in rows if "train/rewards/chosen" in r][-1:]
        result["train_rewards"] = {k: last[0][f"train/rewards/{k}"] if last else None for k in ("chosen", "rejected")}
        result["band_pref_acc"] = {b: (got["final"].get("heldout") or {}).get(b, {}).get("pref_acc")
                                   for b in result["pairs"]}
        model = str(run / "dpo" / "final")
    result["train_s"] = time.perf_counter() - t0
    result["tasks"] = score(model, seed, s)
    result["wall_s"] = time.perf_counter() - t0
    done.write_text(json.dumps(result))
    record_code(done)
    return result


def mean_stderr(values: list[float]) -> dict:
    """Mean and standard error (sample standard deviation / sqrt(n)) over seeds."""
    n = len(values)
    return {"mean": round(statistics.fmean(values), 4),
            "stderr": round(statistics.stdev(values) / math.sqrt(n), 4) if n > 1 else None, "n": n,
            "per_seed": [round(v, 4) for v in values]}


def arm_figures(tasks: dict[str, dict]) -> dict:
    """One run's figures over tasks: mean sampled pass@1, its worst task, greedy, length."""
    worst = min(tasks, key=lambda t: (tasks[t]["pass1"], t))
    return {"pass1": statistics.fmean(v["pass1"] for v in tasks.values()), "worst": tasks[worst]["pass1"],
            "worst_task": worst, "greedy": statistics.fmean(v["greedy"] for v in tasks.values()),
            "length": statistics.fmean(v["length"] for v in tasks.values())}


def summarize(results: dict[str, dict[int, dict]], seeds: list[int]) -> dict:
    """Per arm mean/stderr of each figure, the paired differences and whether the targets are met."""
    figs = {a: {s: arm_figures(results[a][s]["tasks"]) for s in seeds} for a in results}
    arms = {}
    for a in results:
        arms[a] = {k: mean_stderr([figs[a][s][k] for s in seeds]) for k in ("pass1", "worst", "greedy", "length")}
        arms[a]["worst_task"] = [figs[a][s]["worst_task"] for s in seeds]
        arms[a]["per_task_pass1"] = {t: round(statistics.fmean(results[a][s]["tasks"][t]["pass1"] for s in seeds), 4)
                                     for t in results[a][seeds[0]]["tasks"]}
    out: dict = {"arms": arms}
    diff = {"dpo_gain": ("margin", "none"), "random_gain": ("random", "none"), "curriculum_vs_random": ("margin", "random"),
            "dpo_nll_gain": ("margin+nll", "none"), "random_nll_gain": ("random+nll", "none"),
            "curriculum_vs_random_nll": ("margin+nll", "random+nll"), "nll_only_gain": ("nll", "none"),
            "dpo_nll_vs_nll_only": ("margin+nll", "nll"),
            "curri_gain": ("curri", "none"), "curri_random_gain": ("curri-random", "none"),
            "curri_vs_random": ("curri", "curri-random"), "curri_nll_gain": ("curri+nll", "none"),
            "curri_vs_random_nll": ("curri+nll", "curri-random+nll"), "curri_nll_vs_nll_only": ("curri+nll", "nll"),
            "curri_vs_margin": ("curri", "margin"), "curri_nll_vs_margin_nll": ("curri+nll", "margin+nll")}
    for name, (a, b) in diff.items():
        if a in figs and b in figs:
            out[name] = mean_stderr([figs[a][s]["pass1"] - figs[b][s]["pass1"] for s in seeds])
            out[f"{name}_greedy"] = mean_stderr([figs[a][s]["greedy"] - figs[b][s]["greedy"] for s in seeds])
    met = {}
    for name in ("curriculum_vs_random", "curriculum_vs_random_nll", "curri_vs_random", "curri_vs_random_nll"):
        if name in out:
            met[name] = out[name]["mean"] >= 0
    for name in ("dpo_gain", "dpo_nll_gain", "curri_gain", "curri_nll_gain"):
        if name in out:
            g = out[name]
            met[name] = g["stderr"] is not None and g["mean"] > 2 * g["stderr"]
    out["targets_met"] = met
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="5 seeds, 160 DPO steps, 112 test items a task, 8 samples")
    ap.add_argument("--base", help="an SFT'd HF checkpoint (default: rl_curriculum.py's cold-started base)")
    ap.add_argument("--seeds", help="comma-separated seeds (default: 0-4 quick, 0-9 full; at least 3)")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs",
                    help="where the default base is built and cached (as rl_curriculum.py does)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-preference")
    ap.add_argument("--jobs", type=int, default=2, help="runs at a time, one torch thread each")
    a = ap.parse_args(argv)
    mode = "quick" if a.quick else "full"
    s = SETTINGS[mode]
    seeds = [int(x) for x in a.seeds.split(",")] if a.seeds else s["seeds"]
    if len(seeds) < 3:
        ap.error("--seeds: at least 3 (the standard errors are over seeds)")
    torch.set_num_threads(1)
    out = a.out / mode
    t0 = time.perf_counter()
    train_prompts = check_disjoint(s["train_prompts"], s["test_items"])
    say(f"{sum(map(len, train_prompts.values()))} train prompts, none a test or cold-start item; the base")
    if a.base:
        base, base_runs, base_stores = str(Path(a.base).resolve()), [], []
    else:
        pretrained = ftbench.pretrained_base(a.cache / "bench-finetune" / "quick", 600)
        base = str(rlbench.sft_base(a.cache / "bench-rl" / "quick", pretrained, 600))
        base_runs = [ftbench.pretrain_dir(a.cache / "bench-finetune" / "quick", 600),
                     rlbench.sft_dir(a.cache / "bench-rl" / "quick", pretrained, 600)]
        base_stores = [ftbench.pretrain_data_dir(a.cache / "bench-finetune" / "quick", 600)]
    setup_s = time.perf_counter() - t0
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=a.jobs, mp_context=ctx, initializer=die_with_parent) as pool:
        pairs = {seed: f.result() for seed, f in [(seed, pool.submit(build_pairs, base, seed, s, out)) for seed in seeds]}
        ranked = {seed: f.result() for seed, f in
                  [(seed, pool.submit(build_pairs, base, seed, s, out, "each")) for seed in seeds]}
        for seed, p in pairs.items():
            every = set().union(*train_prompts.values())
            assert set(p["prompts"]) <= every, f"seed {seed}: a pair prompt is not a train prompt"
            say(f"seed {seed}: {p['pairs']} pairs, chosen exactly right {p['chosen_exact']:.2f}, mean margin "
                f"{p['margin_mean']:.3f}")
        for seed, p in ranked.items():
            assert set(p["prompts"]) == set(pairs[seed]["prompts"]), f"seed {seed}: ranked pairs from other prompts"
            say(f"seed {seed}: {p['pairs']} ranked pairs of {p['pair_prompts']} prompts, mean margin "
                f"{p['margin_mean']:.3f}")
        arm_pairs = {(arm, seed): (ranked if arm in CURRI_ARMS else pairs)[seed]["path"]
                     for seed in seeds for arm in ARMS}
        futures = [(arm, seed, pool.submit(run_arm, arm, base, seed, arm_pairs[(arm, seed)], s, out))
                   for seed in seeds for arm in ARMS]
        results: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS}
        for arm, seed, f in futures:
            r = results[arm][seed] = f.result()
            fig = arm_figures(r["tasks"])
            say(f"seed {seed} {arm:>10}: sampled pass@1 {fig['pass1']:.3f} (worst {fig['worst_task']} "
                f"{fig['worst']:.3f}), greedy {fig['greedy']:.3f}, length {fig['length']:.2f}; {r['wall_s']:.0f} s")
    summary: dict = {"benchmark": "preference", "mode": mode, "seeds": seeds, "base": base,
                     "settings": {**{k: v for k, v in s.items() if k != "seeds"}, "lr": LR, "beta": BETA,
                                  "loss": "sigmoid", "nll_weight (+nll arms)": NLL_WEIGHT, "bands": ["clear", "subtle"],
                                  "stages": "two of equal steps, no milestones", "tasks": [rlbench.rung(n) for n in RUNGS],
                                  "curri_arms": {"pairs": "rejected: each", "bands": CURRI_BANDS,
                                                 "stages": "three of equal steps, no milestones",
                                                 "reference": "stage"},
                                  "pair_grader": "1 - Levenshtein / longer length", "score": "exact match",
                                  "temperature": 1.0},
                     "pairs": {seed: {"pairs": p["pairs"], "chosen_exact": round(p["chosen_exact"], 4),
                                      "margin_mean": round(p["margin_mean"], 4),
                                      "dropped": {t: v["dropped"] for t, v in p["per_task"].items()}}
                               for seed, p in pairs.items()},
                     "ranked_pairs": {seed: {"pairs": p["pairs"], "prompts": p["pair_prompts"],
                                             "chosen_exact": round(p["chosen_exact"], 4),
                                             "margin_mean": round(p["margin_mean"], 4)} for seed, p in ranked.items()},
                     "dpo": {arm: {"train_reward_accuracy": [results[arm][s_]["train_reward_accuracy"] for s_ in seeds],
                                   "band_pref_acc": [results[arm][s_]["band_pref_acc"] for s_ in seeds],
                                   "train_rewards": [results[arm][s_]["train_rewards"] for s_ in seeds]}
                             for arm in ARMS if arm != "none"},
                     "setup_s": round(setup_s, 1),
                     "runs_from_cache": sum(bool(r.get("cached")) for m in results.values() for r in m.values()),
                     # the base's runs and every arm's DPO run (the none arm trains nothing: it scores the base)
                     "cached_runs": cached_provenance([*base_runs, *(arm_dir(arm, base, seed, path, s, out) / "dpo"
                                                                     for (arm, seed), path in arm_pairs.items()
                                                                     if arm != "none")]),
                     # the pairs, the none arm's scores (each other arm's: its DPO run's process's), the base's store
                     "cached_products": cached_products([*base_stores,
                         *(pairs_summary(base, seed, s, out, r) for seed in seeds for r in ("worst", "each")),
                         *(arm_dir("none", base, seed, arm_pairs[("none", seed)], s, out) / "result.json"
                           for seed in seeds)])}
    summary.update(summarize(results, seeds))
    none = summary["arms"]["none"]["pass1"]["mean"]
    summary["ceiling"] = {"none_room": round(1 - none, 4),
                          "chosen_exact_share": round(statistics.fmean(p["chosen_exact"] for p in pairs.values()), 4)}
    summary["targets"] = TARGETS
    summary["wall_s"] = round(time.perf_counter() - t0, 1)
    finish("preference", summary, t0, quick=a.quick)


if __name__ == "__main__":
    main()
