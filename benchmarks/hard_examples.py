"""Hard examples measured: pruning, targeted augmentation and group floors, each paired with its
baseline on the same seeds and scored on held-out documents nothing was chosen on.

Usage::

    .venv/bin/python benchmarks/hard_examples.py --quick     # micro model, ~10 min on 2 CPU cores
    .venv/bin/python benchmarks/hard_examples.py             # tiny-1m, longer runs (a GPU)

Every run of a part trains the same model for the same number of steps of the same batch (equal
training tokens); seeds pair runs (a seed fixes the model's initialization and the draws).

**(a) Pruning** (``prune``). One domain, ``web``: Python's documentation prose, plus as many
boilerplate documents (cookie notices, copyright lines, navigation bars, newsletter prompts:
four templates with a few words varied), the redundancy of crawled web text that
deduplication removes (RefinedWeb removes about half of its crawl as duplicates; SemDeDup half
of LAION). The held-out split (20% of the documents, both kinds, copied unchanged into every
pruned store) is what is scored: each document's first window, the mean over documents.
``curricle prune`` keeps 50% and 70% of the training documents by each metric: ``loss`` (the
per-document loss of a short proxy run's hard-examples state, EL2N-like), ``prototype``
(distance to the nearest of k centroids of the proxy checkpoint's mean-pooled hidden states,
Sorscher et al. 2022), ``near-duplicate`` (one representative per MinHash cluster, then random
to the fraction), ``semantic-duplicate`` (SemDeDup, Abbas et al. 2023: within k-means clusters
of the same embeddings, the documents most similar to another go first) and ``random`` (the
control); for the ranked metrics the hardest are kept (the data-abundant regime). The full data is trained at 0.5, 0.7, 1, 1.4 and 2 x T: a power law fitted to those
five per seed is the baseline's loss-vs-tokens curve, and a pruned run's speedup is
``S = L_full^-1(L_pruned(T)) / T``, how many times its tokens the full data needs to reach its
loss (the mixing benchmark's estimator; its tokens-to-full-loss reading: ``S > 1`` means the
pruned run reached the full-data run's loss at T in ``T / S`` tokens, by the fitted curve).
The proxy run's tokens (``proxy_steps``) are reported, not charged. The ceiling, estimated
(``prune_composite_bound``; added 2026-12-07 after the target was missed, from the same runs, no
training): per seed, a pruned arm's prose documents' held-out losses with the full-data run's
boilerplate losses, as if pruning had cost the boilerplate nothing; the best arm's composite
``S`` (``source``) bounds what the pruned stores measured here could save. It assumes the two
kinds' losses are separable; it is an estimate from measured parts, not a run.

**(b) Targeted augmentation** (``augment``): see ``augment_part``.

**(c) Fairness** (``fairness``). One domain, ``text``: documentation prose (the majority group)
and 5% ``forms`` (the minority): a fixed form whose values are, in three of four documents,
one of four filler words (easy) and in the fourth, words taken from prose (its hard cases).
The group is a JSONL field carried into the store's metadata (``meta_fields: [group]``).
Arms: ``uniform`` (no controller), ``hard-examples`` (rank by latest loss, released defaults)
and ``floors`` (the same with ``groups: {column: group, gamma: 1}``: each group's draw
probability at least its natural token share). Scored: the held-out loss of each group (mean
over its documents' windows), the worst group's, per seed, with intervals over seeds.

The last stdout line is one JSON object (see ``main``); progress goes to stderr. Runs go under
``--out/<mode>/<part>/...``; a finished run is read, not retrained (``cached_runs`` in the JSON
counts the runs by the commit that trained them, ``benchmarks/common.py``). The products that
are not runs are read back too: the token stores (under ``--out/<mode>-data``; the pruned ones
under ``pruned``, by their settings), the runs' evaluations (``bench-eval-<key>.npz``) and the
augmentation part's shared tokenizer; ``cached_products`` counts them by the commit that made
them.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common import (add_parts_arguments, cached_products, cached_provenance, finish, parts_variant, record_code, say,
                    seeds_and_parts)
from mixing import (BUDGETS, Job, analyse, base_config, build_store, config_hash, eval_cache, eval_set, eval_set_hash,
                    load_losses, prose_texts, run_all, write_jsonl)

PARTS = ("prune", "augment", "fairness")
DEFAULT_SEEDS = [0, 1, 2]
KEEPS = (0.5, 0.7)
#: semantic-duplicate was added after the first four had been run and reported (near-duplicate's best,
#: 1.19x, just missed 1.2): SemDeDup is the method the issue names for removing redundancy,
#: run at its released defaults (clusters 8, farthest-from-centroid kept), decided before it ran.
PRUNE_METRICS = ("loss", "prototype", "near-duplicate", "semantic-duplicate", "random")
PROXY_SHARE = 0.625  # 500 steps in --quick: a shorter proxy leaves more documents unscored than 50% keeps
PROXY_SEED = 1000
MINORITY_EVERY = 20  # every 20th document is a form: 5%
BOOTSTRAP = 1000
TARGETS = {"prune_best_speedup": 1.2, "augment_gain_se": 2.0}


@dataclass(frozen=True)
class Mode:
    name: str
    preset: str
    batch_rows: int
    seq_len: int
    steps: int
    lr: float
    prose_docs: int
    max_eval_docs: int
    tokenizer_vocab: int

    @property
    def tokens_per_run(self) -> int:
        return self.steps * self.batch_rows * self.seq_len


QUICK = Mode("quick", preset="micro", batch_rows=8, seq_len=64, steps=800, lr=3e-3, prose_docs=1200,
             max_eval_docs=400, tokenizer_vocab=2048)
FULL = Mode("full", preset="tiny-1m", batch_rows=16, seq_len=128, steps=3000, lr=2e-3, prose_docs=4000,
            max_eval_docs=1000, tokenizer_vocab=4096)


def mode_config(mode: Mode, data_dir: Path, srcs: list[dict[str, Any]], seed: int, steps: int) -> dict[str, Any]:
    """The mixing benchmark's run config (its model, batch, LR and checkpointing) at this mode."""
    return base_config(mode, data_dir, srcs, seed, steps)  # reads the fields both modes share


# -- (a) pruning -------------------------------------------------------------------------------

BOILERPLATE = (
    "This page uses cookies to improve your experience. By continuing to browse the site you agree to our use of "
    "cookies. Read our privacy policy for {x} details. Accept all cookies or manage your {y} preferences.",
    "Copyright (c) {n} Example Corporation. All rights reserved. Unauthorized copying of this file, via any medium, "
    "is strictly prohibited. Proprietary and {x}. Written by {y}.",
    "Subscribe to our newsletter to get the latest {x} news delivered to your inbox every {y}. We respect your "
    "privacy and you can unsubscribe at any time. Sign up now and save {n} percent.",
    "Home | About | Products | Services | Blog | Contact | {x} | Login | Register | Cart ({n}) | Search the {y} site",
)
FILLERS = ("more", "important", "all", "weekly", "monthly", "daily", "your", "our", "tech", "company",
           "confidential", "secret", "Alice", "Bob", "site", "account")


def boilerplate(i: int) -> str:
    rng = np.random.default_rng([i, 0xB0])
    t = BOILERPLATE[i % len(BOILERPLATE)]
    return " ".join(t.format(x=rng.choice(FILLERS), y=rng.choice(FILLERS), n=int(rng.integers(1, 99)))
                    for _ in range(int(rng.integers(3, 7))))


def web_docs(mode: Mode) -> list[dict[str, str]]:
    """Prose and as many boilerplate documents, interleaved in a fixed shuffled order."""
    docs = [{"id": f"prose-{i}", "text": t, "kind": "prose"} for i, (_, t) in enumerate(prose_texts(mode.prose_docs))]
    docs += [{"id": f"boiler-{i}", "text": boilerplate(i), "kind": "boilerplate"} for i in range(len(docs))]
    order = np.random.default_rng(0xEB).permutation(len(docs))
    return [docs[i] for i in order]


# -- (c) fairness ------------------------------------------------------------------------------

FORM_FILLERS = ("yes", "no", "none", "n/a")


def form(words: list[str], hard: bool) -> str:
    fields = [f"field {k}: " + (" ".join(words[3 * k : 3 * k + 3]) if hard else FORM_FILLERS[k % 4]) for k in range(12)]
    return "FORM\n" + "\n".join(fields)


def fairness_docs(mode: Mode) -> list[dict[str, str]]:
    """Prose (group ``prose``) with every 20th document a form (group ``forms``), one in four of
    those filled with prose words (its hard cases)."""
    out = []
    for i, (_, t) in enumerate(prose_texts(2 * mode.prose_docs)):
        if i % MINORITY_EVERY == 0:
            out.append({"id": f"form-{i}", "text": form(t.split(), hard=(i // MINORITY_EVERY) % 4 == 0),
                        "group": "forms"})
        else:
            out.append({"id": f"prose-{i}", "text": t, "group": "prose"})
    return out


# -- the runs ----------------------------------------------------------------------------------


def make_job(part: str, method: str, seed: int, cd: dict[str, Any], out: Path, es_key: str, store_key: str) -> Job:
    """A run, named by a hash of its config and of its store's manifest (new data: new runs)."""
    h = config_hash({**cd, "store": store_key})
    return Job(part, method, seed, cd, out / part / method / f"seed{seed}-{h}", es_key)


def store_key(data_dir: Path) -> str:
    return hashlib.sha256((Path(data_dir) / "manifest.json").read_bytes()).hexdigest()[:10]


def save_eval_set(es: dict[str, Any], path_dir: Path) -> tuple[str, str]:
    key = eval_set_hash(es)
    path = path_dir / f"eval-set-{key}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        np.savez(path, es=np.array(es, dtype=object))
    return key, str(path)


def one_domain_store(mode: Mode, data_root: Path, domain: str, docs: list[dict[str, str]], meta_field: str,
                     seed: int) -> tuple[Path, list[dict[str, Any]]]:
    """A store of one JSONL domain (``meta_field`` carried into its metadata): its directory and
    sources."""
    path = data_root / f"{domain}-sources" / f"{domain}.jsonl"
    write_jsonl(path, docs)
    srcs = [{"kind": "jsonl", "domain": domain, "path": str(path), "meta_fields": [meta_field]}]
    data_dir = data_root / domain
    build_store(mode_config(mode, data_dir, srcs, seed, mode.steps))
    return data_dir, srcs


def heldout_column(store, domain: str, column: str, max_docs: int) -> np.ndarray:
    """A ``meta.parquet`` column of the documents ``eval_set`` scores in ``domain`` (the same
    selection: at most ``max_docs`` spread over the held-out split, none shorter than a token)."""
    split = store.split(domain, "heldout")
    n = split.n_docs
    idx = np.unique(np.linspace(0, n - 1, min(n, max_docs)).round().astype(int)) if n else np.zeros(0, int)
    values = np.asarray(split.column(column), dtype=object)
    return np.array([values[i] for i in idx if len(split.document(int(i))) >= 1], dtype=object)


def paired_interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean, standard error and half-width of the 95% Student t interval of paired differences."""
    from scipy.stats import t as student_t

    se = float(d.std(ddof=1) / math.sqrt(len(d)))
    return float(d.mean()), se, float(student_t.ppf(0.975, len(d) - 1)) * se


def everything_tested(es: dict[str, Any]) -> dict[str, Any]:
    """``es`` with every document in the scored half: no part chooses anything on held-out data."""
    return {d: {**e, "test": np.ones(len(e["lengths"]), dtype=bool)} for d, e in es.items()}


def prune_part(mode: Mode, seeds: list[int], out: Path, data_root: Path, jobs: int
               ) -> tuple[dict[str, Any], list[Path], list[Path]]:
    """(a) Pruning; returns the figures, the run directories they read and the cached products
    they read that are not runs (as every part does: ``common.cached_products``)."""
    from curricle.prune.command import prune_store
    from curricle.prune.config import PruneConfig
    from curricle.store import TokenStore

    T = mode.steps
    data_dir, srcs = one_domain_store(mode, data_root, "web", web_docs(mode), "kind", seeds[0])
    store = TokenStore(data_dir)
    es = everything_tested(eval_set(store, ["web"], mode.seq_len, mode.max_eval_docs))
    es_key, es_path = save_eval_set(es, out / "prune")
    key = store_key(data_dir)
    say(f"prune: web {store.natural_tokens()['web']:,} training tokens, {store.split('web', 'train').n_docs} "
        f"documents, {len(es['web']['lengths'])} held-out documents scored")

    # The proxy: one short hard-examples run on the full data (its per-document losses and its
    # checkpoint are what `loss` and `prototype` read); the pruned stores are made once from it.
    proxy_steps = round(PROXY_SHARE * T)
    cd = mode_config(mode, data_dir, srcs, PROXY_SEED, proxy_steps)
    cd["controller"] = {"kind": "hard-examples", "warmup_steps": 0, "update_every": max(1, round(0.02 * T))}
    proxy = make_job("prune", "proxy", PROXY_SEED, cd, out, es_key, key)
    say(f"prune: proxy run ({proxy_steps} steps, hard-examples)")
    run_all([proxy], {"prune": es_path}, 1)
    from curricle.train.checkpoint import latest_complete

    proxy_ckpt = latest_complete(proxy.run_dir / "checkpoints")[1]
    pruned: dict[str, Path] = {}
    kinds_kept: dict[str, float] = {}
    for metric in PRUNE_METRICS:
        for keep in KEEPS:
            name = f"{metric}@{keep}"
            extra = ({"run": proxy.run_dir} if metric == "loss"
                     else {"model": proxy_ckpt} if metric in ("prototype", "semantic-duplicate") else {})
            cfg = PruneConfig(by=metric, keep=keep, seed=0, **extra)
            dst = data_root / "pruned" / f"{name}-{config_hash({'cfg': cfg.model_dump(mode='json'), 'store': key, 'proxy': str(proxy.run_dir)})}"
            if not (dst / "lineage.json").is_file():
                shutil.rmtree(dst, ignore_errors=True)
                prune_store(data_dir, cfg, dst, progress=False)
            pruned[name] = dst
            kinds = TokenStore(dst).split("web", "train").column("kind")
            kinds_kept[name] = round(float(np.mean(np.asarray(kinds) == "boilerplate")), 4)
    say("prune: boilerplate share of the kept documents: " + ", ".join(f"{k} {v}" for k, v in kinds_kept.items()))

    wave: dict[tuple[str, int], Job] = {}
    for seed in seeds:
        for b in BUDGETS:
            wave[(f"uniform@{b}", seed)] = make_job("prune", f"full@{b}", seed,
                                                   mode_config(mode, data_dir, srcs, seed, round(b * T)), out, es_key, key)
        for name, dst in pruned.items():
            wave[(name, seed)] = make_job("prune", name, seed, mode_config(mode, dst, srcs, seed, T), out, es_key,
                                          store_key(dst))
    say(f"prune: {len(wave)} runs")
    run_all(list(wave.values()), {"prune": es_path}, jobs)
    losses = {k: load_losses(j) for k, j in wave.items()}
    res = analyse("prune", ["web"], seeds, list(pruned), losses, es, np.random.default_rng(12345), {})
    # Held-out loss by kind (mean over documents, then seeds): what each metric traded for what.
    kinds = heldout_column(store, "web", "kind", mode.max_eval_docs)
    by_kind = {name: {kind: round(float(np.mean([losses[(name, s)]["web"][kinds == kind].mean() for s in seeds])), 4)
                      for kind in ("prose", "boilerplate")} for name in ["uniform@1.0", *pruned]}
    rows = res["views"]["all"]["methods"]
    bound = composite_bound(losses, es, seeds, list(pruned), kinds == "prose")
    ranked = [m for m in pruned if not m.startswith("random")]
    best = max(ranked, key=lambda m: rows[m]["speedup"])
    best_random = max((m for m in pruned if m.startswith("random")), key=lambda m: rows[m]["speedup"])
    # Paired by seed: the best metric's speedup over random pruning's at the same kept fraction.
    control = f"random@{best.split('@')[1]}"
    mean, _, half = paired_interval(np.log(np.array(rows[best]["speedup_per_seed"])
                                           / np.array(rows[control]["speedup_per_seed"])))
    runs = [proxy.run_dir, *(j.run_dir for j in wave.values())]
    # the full store and the pruned ones (a pruned store's lineage has its code), and the evaluations
    products = [data_dir, *pruned.values(), *(eval_cache(j) for j in wave.values())]
    return {
        "prune_best_metric": best,
        "prune_best_over_random": {"control": control, "ratio": round(float(np.exp(mean)), 4),
                                   "ci": [round(float(np.exp(mean - half)), 4), round(float(np.exp(mean + half)), 4)]},
        "prune_best_speedup": rows[best]["speedup"], "prune_best_speedup_ci": rows[best]["speedup_ci"],
        "prune_random_speedup": rows[best_random]["speedup"], "prune_random_speedup_ci": rows[best_random]["speedup_ci"],
        "prune_random_keep": best_random.split("@")[1],
        "prune_speedups": {m: {"speedup": rows[m]["speedup"], "ci": rows[m]["speedup_ci"],
                               "test_loss_minus_full": rows[m]["test_loss_minus_uniform"],
                               "test_loss_minus_full_ci": rows[m]["test_loss_minus_uniform_ci"],
                               "boilerplate_share_kept": kinds_kept[m]} for m in pruned},
        "prune_heldout_loss_by_kind": {("full" if k == "uniform@1.0" else k): v for k, v in by_kind.items()},
        "prune_composite_bound": bound,
        "full_data_own_speedup": rows["uniform@1.0"]["speedup"],
        "full_data_curve": res["views"]["all"]["uniform_curve"],
        "boilerplate_share": 0.5, "proxy_steps": proxy_steps, "prune_heldout_docs": int(len(es["web"]["lengths"])),
    }, runs, products


def composite_bound(losses: dict, es: dict[str, Any], seeds: list[int], arms: list[str], prose: np.ndarray
                    ) -> dict[str, Any]:
    """The estimated ceiling of pruning here: for each pruned arm, per seed, its prose documents'
    held-out losses with the full-data run's (at T) boilerplate losses, scored by ``analyse``
    like a run; the arm whose composite ``S`` is highest. ``prose``: the scored documents' mask."""
    comp = {}
    for arm in arms:
        for s in seeds:
            w = losses[("uniform@1.0", s)]["web"].copy()
            w[prose] = losses[(arm, s)]["web"][prose]
            comp[(f"composite:{arm}", s)] = {"web": w}
    names = [f"composite:{arm}" for arm in arms]
    res = analyse("prune", ["web"], seeds, names, {**losses, **comp}, es, np.random.default_rng(12345), {})
    rows = res["views"]["all"]["methods"]
    best = max(names, key=lambda m: rows[m]["speedup"])
    return {"speedup": rows[best]["speedup"], "ci": rows[best]["speedup_ci"], "source": best[len("composite:"):]}


# -- (b) targeted augmentation -----------------------------------------------------------------

AUG_SKILL = "uppercase"
AUG_LEVELS = ("2", "3", "4", "6", "8")
AUG_PRESET = {"quick": "tiny-1m", "full": "tiny-5m"}
#: The augmentation part's runs are this share of T long (600 steps in --quick): tiny-1m costs
#: about 5x micro's a step. With T = 1000 and this part at T, the quick benchmark ran 16 minutes
#: here; at 1000 and 0.6, 15.8: over its 15.
AUG_STEPS_SHARE = 0.75
#: The skill's documents in the store (16 items each). Augmentation's premise is data that is
#: scarce where the model fails: "more data like it, without collecting any". At 400 documents
#: (6,400 items, about 2.5 passes in a run) nothing was scarce and augmentation gained nothing
#: (-0.002 +/- 0.034 over 3 seeds, commit cf13f95); at 40 (640 items, 6,880 tokens: the base
#: run reads them about 36 times) the base run repeats its items, the regime augmentation is
#: for. Set before the run it is reported from, not tuned on its result; it gained nothing
#: there either (-0.028 +/- 0.068 with a round's documents read level by level, -0.011 +/-
#: 0.028 shuffled; the base's own accuracy higher than at 400 documents, 0.536 against 0.427:
#: repetition taught this model more than fresh items, see the README). Those runs started
#: from scratch, where every level failed the first probe and nothing was targeted; from a
#: start run (``augment_part``, since 2026-12-07, this value unchanged) the levels separate.
AUG_DOCS = 40


def augment_part(mode: Mode, seeds: list[int], out: Path, data_root: Path, jobs: int,
                 control: bool = False) -> tuple[dict[str, Any], list[Path], list[Path]]:
    """(b) A built-in skill with a difficulty ladder (``uppercase`` at 2 to 8 characters, 80% of
    the tokens, ``AUG_DOCS`` documents: scarce, see there; prose the rest), probed in the loop
    every 20% of the steps on 200 held-out items per level (log-likelihood against
    distractors: ``acc``; a third of a run's time when it probed every 10%).

    **The start.** Augmentation is for the levels a model *fails*, which supposes levels it
    passes: from scratch every level is at chance at the first probe (0.22-0.29 in all ten
    seeds when this part started there), so ``failing-levels`` targeted the whole ladder and
    nothing was targeted. So each seed first trains a ``start`` run (the same data and steps,
    no augmentation; it was this part's ``base`` arm until 2026-12-07), and both arms continue
    from its last checkpoint: ``base`` as it is, ``augment`` adding, every 10% of the steps,
    64 documents of new *train* items from the skill's generator at the levels scoring below
    ``fail_below`` (0.5, the default) at the latest in-loop probe (the first at 20%), up to half
    of the skill's tokens (``max_share: 0.5``). Both arms train the same steps, the same
    mixture weights (augmented rows take the skill's own rows), so equal tokens. Scored: the
    final accuracy of the levels that failed at the start (the ``start`` run's last probe,
    shared by both arms), averaged over those levels; the gain is paired by seed. The micro
    model learns none of the ladder at this budget, so this part uses ``tiny-1m``
    (``tiny-5m`` in the full mode), for ``AUG_STEPS_SHARE`` (0.75) of T steps a run.

    ``control`` (``--augment-control``; not in the default run, for its time) adds the arm
    ``augment-all``: the same rounds and budget with ``fail_below: 1.0``, so every level below
    a perfect score is augmented, spread evenly over the ladder. Against it, ``augment`` tells
    what targeting adds to fresh items (``augment_targeting_gain``, paired by seed, on the same
    levels)."""
    T = round(AUG_STEPS_SHARE * mode.steps)
    srcs = [{"kind": "synthetic", "skill": AUG_SKILL, "domain": "skill", "n_docs": AUG_DOCS, "levels": list(AUG_LEVELS)},
            {"kind": "python-prose", "domain": "prose", "max_docs": 600}]
    data_dir = data_root / "skill"
    shared_tokenizer = data_root / "skill-tokenizer"

    def config(seed: int, augment: bool, start: Path | None = None, fail_below: float = 0.5) -> dict[str, Any]:
        cd = mode_config(mode, data_dir, srcs, seed, T)
        cd["tokenizer"]["vocab_size"] = 512  # small: the transform stays close to a per-character map
        cd["model"]["preset"] = AUG_PRESET[mode.name]
        if start is not None:  # the start's weights, and its tokenizer (the store's) from one directory
            cd["model"] = {"path": str(start)}
            cd["tokenizer"] = {"kind": "pretrained", "path": str(shared_tokenizer)}
        cd["mixture"]["schedule"] = {"kind": "static", "weights": {"skill": 0.8, "prose": 0.2}}
        every = max(1, T // 10)
        cd["train"]["probe"] = {"every": 2 * every, "suite": {"tasks": [AUG_SKILL], "levels": {AUG_SKILL: list(AUG_LEVELS)},
                                                          "n": 200, "text_domains": []}}
        if augment:
            cd["augment"] = {"every": every, "budget": 64, "target": "failing-levels", "max_share": 0.5,
                             "augmenter": {"kind": "generator"}}
            if fail_below != 0.5:
                cd["augment"]["fail_below"] = fail_below
        return cd

    build_store(config(seeds[0], False))
    key = store_key(data_dir)
    from curricle.store.token_store import TokenStore

    skill_tokens = TokenStore(data_dir).split("skill", "train").n_tokens
    # the start runs' configs and hashes are the former base arm's: runs trained before are read
    starts = {s: make_job("augment", "base", s, config(s, False), out, "none", key) for s in seeds}
    say(f"augment: {len(starts)} start runs ({AUG_PRESET[mode.name]}, {T} steps)")
    run_all_train_only(list(starts.values()), jobs)
    start_dir = {s: starts[s].run_dir / "checkpoints" / f"step_{T}" for s in seeds}
    # Every start saved the store's tokenizer; the continued runs read it from one directory
    # (a tokenizer is known by its directory's files, so one per start would make a store
    # each), and the store under it is made once here, not by parallel runs racing to make it.
    files = ("tokenizer.json", "tokenizer_config.json")
    for s in seeds:
        if any((start_dir[s] / f).read_bytes() != (start_dir[seeds[0]] / f).read_bytes() for f in files):
            raise SystemExit(f"augment: the start of seed {s} saved another tokenizer than seed {seeds[0]}'s")
    if not shared_tokenizer.is_dir():
        tmp = shared_tokenizer.with_name(shared_tokenizer.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in files:
            shutil.copyfile(start_dir[seeds[0]] / f, tmp / f)
        tmp.rename(shared_tokenizer)
        record_code(shared_tokenizer)
    build_store(config(seeds[0], False, start_dir[seeds[0]]))
    key = store_key(data_dir)
    arms = ("base", "augment") + (("augment-all",) if control else ())
    wave = {(arm, s): make_job("augment", f"continued-{arm}", s,
                               config(s, arm != "base", start_dir[s], 1.0 if arm == "augment-all" else 0.5), out, "none", key)
            for s in seeds for arm in arms}
    say(f"augment: {len(wave)} runs from the starts ({T} steps more)")
    run_all_train_only(list(wave.values()), jobs)

    def probes(job: Job) -> dict[int, dict[str, float]]:
        by: dict[int, dict[str, float]] = {}
        for line in (job.run_dir / "probes.jsonl").read_text().splitlines():
            r = json.loads(line)
            by.setdefault(r["step"], {})[r["level"]] = r["metrics"]["acc"]
        return by

    per_seed, failing_of, start_acc, all_arm = [], {}, {}, []
    for s in seeds:
        start = probes(starts[s])
        at_start = start[max(start)]
        start_acc[s] = {lv: round(at_start[lv], 4) for lv in AUG_LEVELS}
        failing = [lv for lv in AUG_LEVELS if at_start[lv] < 0.5]
        failing_of[s] = failing
        if not failing:
            continue
        base, aug = probes(wave[("base", s)]), probes(wave[("augment", s)])
        end_b, end_a = base[max(base)], aug[max(aug)]
        per_seed.append((float(np.mean([end_b[lv] for lv in failing])), float(np.mean([end_a[lv] for lv in failing])),
                         float(np.mean([at_start[lv] for lv in failing]))))
        if control:
            every_level = probes(wave[("augment-all", s)])
            all_arm.append(float(np.mean([every_level[max(every_level)][lv] for lv in failing])))
    arr = np.array(per_seed)
    gains = arr[:, 1] - arr[:, 0]
    se = paired_interval(gains)[1] if len(gains) > 1 else float("nan")
    logs = [json.loads(x) for s in seeds
            for x in (wave[("augment", s)].run_dir / "augment_log.jsonl").read_text().splitlines()]
    def paired(d: np.ndarray) -> dict[str, Any]:
        """A paired gain over seeds: its mean, standard error and per-seed values."""
        return {"mean": round(float(d.mean()), 4), "stderr": round(paired_interval(d)[1], 4),
                "per_seed": [round(float(g), 4) for g in d]}

    extra: dict[str, Any] = {}
    if control:
        every = np.array(all_arm)
        extra = {"augment_all_gain": paired(every - arr[:, 0]), "augment_targeting_gain": paired(arr[:, 1] - every),
                 "augment_all_final_acc": round(float(every.mean()), 4)}
    return {
        **extra,
        "augment_gain": {"mean": round(float(gains.mean()), 4), "stderr": round(se, 4),
                         "per_seed": [round(float(g), 4) for g in gains]},
        "augment_failing_levels": {str(s): v for s, v in failing_of.items()},
        "augment_start_acc": {str(s): v for s, v in start_acc.items()},
        "augment_final_acc": {"start": round(float(arr[:, 2].mean()), 4), "base": round(float(arr[:, 0].mean()), 4),
                              "augment": round(float(arr[:, 1].mean()), 4)},
        "augment_docs_made": round(sum(e["n"] for e in logs) / len(seeds), 1),
        "augment_targeted": dict(sorted(Counter(t for e in logs for t in e.get("targets", [])).items())),
        "augment_model": AUG_PRESET[mode.name], "augment_steps": T, "augment_start_steps": T,
        "augment_skill_docs": AUG_DOCS, "augment_skill_train_tokens": skill_tokens,
        # how many times a run of T steps reads the skill's train tokens (80% of its tokens)
        "augment_skill_passes": round(0.8 * T * mode.batch_rows * mode.seq_len / max(1, skill_tokens), 1),
    }, [*(j.run_dir for j in starts.values()), *(j.run_dir for j in wave.values())], [data_dir, shared_tokenizer]


def run_all_train_only(jobs_: list[Job], workers: int) -> None:
    """Train ``jobs_`` (unless finished) in parallel processes; no held-out scoring."""
    from concurrent.futures import ProcessPoolExecutor

    from common import die_with_parent

    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent) as pool:
        for fut in [pool.submit(train_only, j) for j in jobs_]:
            fut.result()


def train_only(job: Job) -> None:
    import torch

    torch.set_num_threads(1)
    from curricle.config import parse_config
    from curricle.train.command import train_run

    steps = job.config["train"]["steps"]
    done = job.run_dir / "metrics.jsonl"
    if done.is_file() and (lines := done.read_text().splitlines()) and json.loads(lines[-1]).get("step") == steps:
        return
    shutil.rmtree(job.run_dir, ignore_errors=True)
    train_run(parse_config(job.config, f"{job.method} config"), job.run_dir, progress=False)


# -- (c) fairness ------------------------------------------------------------------------------

FAIR_ARMS = ("uniform", "hard-examples", "floors")


def fairness_part(mode: Mode, seeds: list[int], out: Path, data_root: Path, jobs: int
                  ) -> tuple[dict[str, Any], list[Path], list[Path]]:
    from curricle.store import TokenStore

    T = mode.steps
    data_dir, srcs = one_domain_store(mode, data_root, "text", fairness_docs(mode), "group", seeds[0])
    store = TokenStore(data_dir)
    es = everything_tested(eval_set(store, ["text"], mode.seq_len, 10 ** 6))  # every held-out document
    es_key, es_path = save_eval_set(es, out / "fairness")
    groups = heldout_column(store, "text", "group", 10 ** 6)
    names = sorted(set(groups))
    key = store_key(data_dir)
    update = max(1, round(0.02 * T))
    he = {"kind": "hard-examples", "warmup_steps": round(0.1 * T), "update_every": update}
    arms = {"uniform": None, "hard-examples": he, "floors": {**he, "groups": {"column": "group", "gamma": 1.0}}}
    wave = {}
    for s in seeds:
        for arm, ctrl in arms.items():
            cd = mode_config(mode, data_dir, srcs, s, T)
            if ctrl:
                cd["controller"] = ctrl
            wave[(arm, s)] = make_job("fairness", arm, s, cd, out, es_key, key)
    say(f"fairness: {len(wave)} runs; held-out documents " + ", ".join(f"{g} {int((groups == g).sum())}" for g in names))
    run_all(list(wave.values()), {"fairness": es_path}, jobs)
    loss = {k: load_losses(j)["text"] for k, j in wave.items()}  # per held-out document
    group_loss = {k: {g: float(v[groups == g].mean()) for g in names} for k, v in loss.items()}
    worst = {k: max(v.values()) for k, v in group_loss.items()}
    out_: dict[str, Any] = {"worst_group_loss": {}, "group_loss": {}, "worst_group": {}}
    for arm in arms:
        w = np.array([worst[(arm, s)] for s in seeds])
        out_["worst_group_loss"][arm] = round(float(w.mean()), 4)
        out_["group_loss"][arm] = {g: round(float(np.mean([group_loss[(arm, s)][g] for s in seeds])), 4) for g in names}
        out_["worst_group"][arm] = max(out_["group_loss"][arm], key=out_["group_loss"][arm].get)
    deltas = {}
    for arm in ("hard-examples", "floors"):
        d = np.array([worst[(arm, s)] - worst[("uniform", s)] for s in seeds])
        mean, se, half = paired_interval(d)
        deltas[arm] = {"mean": round(mean, 4), "stderr": round(se, 4),
                       "ci": [round(mean - half, 4), round(mean + half, 4)]}
    out_["worst_group_delta_vs_uniform"] = deltas
    out_["fairness_heldout_docs"] = {g: int((groups == g).sum()) for g in names}
    return out_, [j.run_dir for j in wave.values()], [data_dir, *(eval_cache(j) for j in wave.values())]


# -- the program -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"micro model, {QUICK.steps} steps of 8 x 64 tokens a run")
    add_parts_arguments(parser, PARTS, DEFAULT_SEEDS, "runs/bench-hard-examples")
    parser.add_argument("--augment-control", action="store_true",
                        help="augmentation part: add the augment-all arm (every level augmented; see augment_part)")
    args = parser.parse_args(argv)
    seeds, parts = seeds_and_parts(parser, args, PARTS, reserved=(PROXY_SEED, "the pruning proxy"))
    mode = QUICK if args.quick else FULL
    out = args.out / mode.name
    data_root = args.out / f"{mode.name}-data"
    say(f"hard-examples benchmark, {mode.name}: {mode.preset}, T = {mode.steps} steps of {mode.batch_rows} x "
        f"{mode.seq_len} ({mode.tokens_per_run:,} tokens), seeds {seeds}, parts {parts}, {args.jobs} jobs")
    result: dict[str, Any] = {"benchmark": "hard_examples", "quick": args.quick}
    runners = {"prune": prune_part, "augment": functools.partial(augment_part, control=args.augment_control),
               "fairness": fairness_part}
    runs: list[Path] = []  # every run directory the figures read, trained now or read back
    products: list[Path] = []  # and every cached product that is not a run, made now or read back
    for part in parts:
        t0 = time.perf_counter()
        figures, part_runs, part_products = runners[part](mode, seeds, out, data_root, args.jobs)
        result.update(figures)
        runs += part_runs
        products += part_products
        say(f"{part}: done in {time.perf_counter() - t0:.0f}s")
    result["cached_runs"] = cached_provenance(runs)
    result["cached_products"] = cached_products(products)
    targets: dict[str, bool] = {}
    if "prune" in parts:
        targets["prune_best_speedup"] = (result["prune_best_speedup"] >= TARGETS["prune_best_speedup"]
                                         and result["prune_best_speedup"] > result["prune_random_speedup"])
    if "augment" in parts:
        g = result["augment_gain"]
        targets["augment_gain"] = g["mean"] > TARGETS["augment_gain_se"] * g["stderr"]
    if "fairness" in parts:
        w = result["worst_group_loss"]
        targets["floors_worst_group"] = w["floors"] <= w["uniform"]
    result["targets"] = {"met": targets, "all_met": all(targets.values()) if targets else False, "definitions": {
        "prune_best_speedup": ">= 1.2 and above random pruning's best",
        "augment_gain": "mean paired gain > 2 standard errors",
        "floors_worst_group": "floors' worst-group held-out loss <= uniform's (mean over seeds)"}}
    result["settings"] = {"mode": mode.name, "preset": mode.preset, "steps": mode.steps, "batch_rows": mode.batch_rows,
                          "seq_len": mode.seq_len, "tokens_per_run": mode.tokens_per_run, "lr": mode.lr, "seeds": seeds,
                          "keeps": KEEPS, "prune_metrics": PRUNE_METRICS, "budgets": BUDGETS, "jobs": args.jobs,
                          "torch_threads_per_job": 1, "load_average_at_end": round(os.getloadavg()[0], 2)}
    say(f"targets: {targets}")
    # A run of some parts, or at other seeds, is a variant: its own results file.
    variant = parts_variant(parts, PARTS, seeds, DEFAULT_SEEDS)
    if args.augment_control and "augment" in parts:
        variant = f"{variant or 'all'}.augment-control"
    finish("hard_examples", result, _T0, quick=args.quick, variant=variant)


_T0 = time.perf_counter()

if __name__ == "__main__":
    main()
