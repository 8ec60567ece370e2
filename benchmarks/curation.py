"""Curation quality and throughput: near-duplicate P/R/F1, decontamination recall, documents/s,
against datatrove's MinHash deduplication on the same corpus in the same run.

Usage::

    .venv/bin/python benchmarks/curation.py --quick   # < 10 minutes on 2 CPU cores
    .venv/bin/python benchmarks/curation.py           # more planted documents, synthetic sources too

Stages:

1. **Base corpus.** The built-in sources: Python's documentation topics and docstrings
   (``prose``) and standard-library modules (``code``); the full run adds synthetic skill
   documents. Documents under 50 words are left out, and so are *natural* near-duplicates
   (exact 5-word-shingle Jaccard >= 0.5 with an earlier document, computed exactly with a
   sparse matrix product), so the only near-duplicates are the planted ones.
2. **Planted near-duplicates.** Copies of randomly chosen base documents, one copy per
   original, with a known word edit rate: that share of the words substituted, deleted or
   inserted (uniformly), whitespace kept. Rates 0 (an exact copy), 1 %, 2 % and 3 % are
   *near-duplicates* (5-word-shingle Jaccard about 1, 0.9, 0.82, 0.74: the regime the default
   14 x 8 LSH, threshold about 0.72, is built for); 10 % copies (Jaccard about 0.33) are
   planted as *distinct* documents: removing one is a false positive.
3. **Planted contamination.** Other base documents get, at a random line, either a held-out
   item of a synthetic skill probe (``31+79=110``, ``reverse: liza -> azil``) or a 20-word
   span of an evaluation passage. The evaluation passages are documents held out of the
   corpus and written to an evaluation file that the decontamination step is given.
4. **Runs, same corpus, same machine, one after the other.**

   - ``curricle dedup+decontam`` (2 workers): read, exact and near-duplicate removal,
     decontamination; every other step off. Dedup precision / recall / F1 and contamination
     recall come from its quarantine files.
   - ``datatrove minhash`` (2 workers): datatrove's own 4-stage MinHash pipeline
     (``MinhashDedupSignature`` -> ``MinhashDedupBuckets`` -> ``MinhashDedupCluster`` ->
     ``MinhashDedupFilter``) with the same parameters (5-word shingles, 14 buckets of 8
     hashes), reading the same JSONL files with datatrove's ``JsonlReader``; its removed
     documents are scored the same way. Both use curricle's regex word splitter (datatrove's
     default English splitter needs spaCy); datatrove keeps its own text normalisation.
   - ``curricle full funnel`` at 1 and 2 workers: every step on, defaults.

Scoring. Each original and its copy form a pair. A pair with at least one of its two documents
removed is a true positive; removing both, or removing a document outside a near-duplicate
pair, is a false positive; a pair with none removed is a false negative. Contamination recall
is the share of contaminated documents the decontamination step dropped; false positives are
uncontaminated documents it dropped. ``docs_per_s`` is documents read per wall-clock second of
the full funnel at 2 workers (executor start-up included).

The last stdout line is one JSON object (``dedup_f1``, ``decontam_recall``, ``docs_per_s`` and
the rest); progress and tables go to stderr. Targets: F1 >= 0.95, contamination recall >= 0.99;
they are reported as met or not, nothing is tuned to them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import finish

SEED = 0
SHINGLE = 5
NEAR_RATES = (0.0, 0.01, 0.02, 0.03)
DISTINCT_RATES = (0.10,)
MIN_WORDS = 50
CLEAN_JACCARD = 0.5
TARGET_F1 = 0.95
TARGET_DECONTAM_RECALL = 0.99
_WORD = re.compile(r"\w+")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- corpus -----------------------------------------------------------------------------------

def base_documents(full: bool) -> list[dict[str, str]]:
    from curricle.sources import build_source
    from curricle.sources.python_code import PythonCodeConfig
    from curricle.sources.python_prose import PythonProseConfig
    from curricle.sources.synthetic import SyntheticConfig

    logging.getLogger("curricle.sources.base").setLevel(logging.ERROR)
    configs: list[Any] = [PythonProseConfig(domain="prose"), PythonCodeConfig(domain="code")]
    if full:
        configs += [SyntheticConfig(domain="synthetic", skill=s, n_docs=300, seed=7)
                    for s in ("arithmetic", "copy", "facts", "agreement")]
    docs = []
    for cfg in configs:
        for d in build_source(cfg):
            if len(d.text.split()) >= MIN_WORDS:
                docs.append({"id": f"{cfg.domain}:{d.id}", "text": d.text, "domain": cfg.domain})
    return docs


def shingle_sets(texts: list[str]) -> list[set[int]]:
    from xxhash import xxh64_intdigest

    out = []
    for t in texts:
        w = _WORD.findall(t.lower())
        out.append({xxh64_intdigest(" ".join(w[i : i + SHINGLE]).encode()) for i in range(max(1, len(w) - SHINGLE + 1))})
    return out


def pairwise_jaccard_above(sets: list[set[int]], threshold: float) -> list[tuple[int, int, float]]:
    """Every pair (i < j) with exact Jaccard >= threshold, by a sparse matrix product."""
    from scipy import sparse

    vocab: dict[int, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for h in s:
            rows.append(i)
            cols.append(vocab.setdefault(h, len(vocab)))
    x = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(sets), len(vocab)))
    inter = (x @ x.T).tocoo()
    sizes = np.array([len(s) for s in sets])
    i, j, n = inter.row, inter.col, inter.data
    keep = i < j
    i, j, n = i[keep], j[keep], n[keep]
    jac = n / (sizes[i] + sizes[j] - n)
    sel = jac >= threshold
    return list(zip(i[sel].tolist(), j[sel].tolist(), jac[sel].tolist()))


def remove_natural_duplicates(docs: list[dict]) -> tuple[list[dict], int]:
    sets = shingle_sets([d["text"] for d in docs])
    drop = {j for i, j, _ in pairwise_jaccard_above(sets, CLEAN_JACCARD)}
    return [d for k, d in enumerate(docs) if k not in drop], len(drop)


def edit_words(text: str, rate: float, vocab: list[str], rng: random.Random) -> str:
    """Substitute, delete or insert ``round(rate * words)`` words (at least one if rate > 0)."""
    if rate == 0:
        return text
    parts = re.split(r"(\s+)", text)
    word_at = [k for k in range(0, len(parts), 2) if parts[k]]
    n = max(1, round(rate * len(word_at)))
    for k in sorted(rng.sample(word_at, n), reverse=True):
        op = rng.choice(("sub", "del", "ins"))
        if op == "sub":
            parts[k] = rng.choice(vocab)
        elif op == "del":
            parts[k] = ""
        else:
            parts[k] = parts[k] + " " + rng.choice(vocab)
    return "".join(parts)


def build_corpus(full: bool, out: Path) -> dict[str, Any]:
    """Write ``out/{prose,code,...}/*.jsonl`` and ``out/eval.jsonl``; return the ground truth."""
    from curricle.synthetic import GENERATORS, make_generator

    rng = random.Random(SEED)
    t0 = time.perf_counter()
    docs = base_documents(full)
    docs, natural = remove_natural_duplicates(docs)
    log(f"base corpus: {len(docs)} documents of >= {MIN_WORDS} words ({natural} natural near-duplicates "
        f"left out) in {time.perf_counter() - t0:.1f}s")
    rng.shuffle(docs)

    # Evaluation passages: prose documents held out of the corpus.
    prose_idx = [k for k, d in enumerate(docs) if d["domain"] == "prose"]
    n_eval = 60 if not full else 120
    eval_idx = set(prose_idx[:n_eval])
    eval_passages = [" ".join(docs[k]["text"].split()[:60]) for k in sorted(eval_idx)]
    docs = [d for k, d in enumerate(docs) if k not in eval_idx]

    vocab = sorted({w for d in docs[:300] for w in d["text"].split() if w.isalpha() and len(w) > 2})
    n_pairs = 100 if not full else 250  # per edit rate
    n_contam = 150 if not full else 400
    order = list(range(len(docs)))
    rng.shuffle(order)
    rates = NEAR_RATES + DISTINCT_RATES
    originals = order[: n_pairs * len(rates)]
    contaminated = order[n_pairs * len(rates) : n_pairs * len(rates) + n_contam]

    pairs: list[dict[str, Any]] = []
    copies = []
    for m, k in enumerate(originals):
        rate = rates[m % len(rates)]
        d = docs[k]
        copy = {"id": f"{d['id']}~copy", "text": edit_words(d["text"], rate, vocab, rng), "domain": d["domain"]}
        copies.append(copy)
        pairs.append({"original": d["id"], "copy": copy["id"], "rate": rate})

    probes = {name: make_generator(name).items("heldout", 64) for name in GENERATORS}
    contam_ids = []
    for m, k in enumerate(contaminated):
        d = docs[k]
        if m % 2 == 0:
            skill = rng.choice(sorted(probes))
            planted = rng.choice(probes[skill]).text
        else:
            words = rng.choice(eval_passages).split()
            start = rng.randrange(0, max(1, len(words) - 20))
            planted = " ".join(words[start : start + 20])
        lines = d["text"].split("\n")
        at = rng.randrange(len(lines) + 1)
        lines.insert(at, planted)
        d["text"] = "\n".join(lines)
        contam_ids.append(d["id"])

    corpus = docs + copies
    rng.shuffle(corpus)
    domains = sorted({d["domain"] for d in corpus})
    for domain in domains:
        part = [d for d in corpus if d["domain"] == domain]
        for f in range(4):
            path = out / domain / f"{f}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                for d in part[f::4]:
                    fh.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
    with open(out / "eval.jsonl", "w", encoding="utf-8") as fh:
        for p in eval_passages:
            fh.write(json.dumps({"text": p}) + "\n")
    planted = set(contam_ids)
    natural_contam = natural_contamination([d for d in corpus if d["id"] not in planted], eval_passages,
                                           [i.text for items in probes.values() for i in items])
    return {"docs": len(corpus), "domains": domains, "pairs": pairs, "contaminated": contam_ids,
            "naturally_contaminated": sorted(natural_contam),
            "natural_near_duplicates_left_out": natural, "eval_passages": len(eval_passages)}


def natural_contamination(docs: list[dict], passages: list[str], probe_texts: list[str]) -> set[str]:
    """Documents that already hold an evaluation 13-gram (of at least 7 words) or a whole probe
    item before anything was planted: overlap that is really there, checked here with plain
    Python sets of token tuples (independently of curricle's hashing)."""
    tok = re.compile(r"\w+|[^\w\s]")
    grams: set[tuple[str, ...]] = set()
    for p in passages:
        t = tok.findall(p.lower())
        for i in range(len(t) - 12):
            g = tuple(t[i : i + 13])
            if sum(x[0].isalnum() or x[0] == "_" for x in g) >= 7:
                grams.add(g)
    items = {tuple(tok.findall(p.lower())) for p in probe_texts}
    items = {i for i in items if len(i) >= 4}
    lengths = sorted({len(i) for i in items})
    out = set()
    for d in docs:
        t = tok.findall(d["text"].lower())
        if any(tuple(t[i : i + 13]) in grams for i in range(len(t) - 12)) or any(
                tuple(t[i : i + L]) in items for L in lengths for i in range(len(t) - L + 1)):
            out.add(d["id"])
    return out


# -- scoring ----------------------------------------------------------------------------------

def score_dedup(removed: set[str], truth: dict[str, Any], gone_before: set[str] = frozenset()) -> dict[str, Any]:
    """Pair-level precision / recall / F1 of the documents dedup ``removed``; pairs with a
    member another step dropped before dedup (``gone_before``) are not scored."""
    tp = fp = fn = 0
    in_pair: set[str] = set()
    by_rate: dict[float, list[int]] = {}
    for p in truth["pairs"]:
        members = {p["original"], p["copy"]}
        in_pair |= members
        if members & gone_before:
            continue
        hit = len(members & removed)
        near = p["rate"] in NEAR_RATES
        by_rate.setdefault(p["rate"], []).append(1 if hit else 0)
        if near:
            tp += 1 if hit else 0
            fn += 0 if hit else 1
            fp += max(0, hit - 1)
        else:
            fp += hit
    fp += len(removed - in_pair)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "tp": tp, "fp": fp, "fn": fn,
            "removed_share_by_edit_rate": {str(r): round(sum(v) / len(v), 4) for r, v in sorted(by_rate.items())}}


# -- contenders -------------------------------------------------------------------------------

def run_curricle(corpus: Path, out: Path, steps: dict[str, Any], workers: int, truth: dict[str, Any]):
    from curricle.config import parse_config
    from curricle.curate.pipeline import curate
    from curricle.curate.config import CurateConfig

    run = parse_config({"data_dir": str(out / "data"), "sources": [
        {"kind": "jsonl", "path": str(corpus / d / "*.jsonl"), "domain": d} for d in truth["domains"]]})
    cfg = CurateConfig.model_validate({"output_dir": str(out / "curated"), "workers": workers, **steps})
    t0 = time.perf_counter()
    report = curate(cfg, run.sources, progress=False)
    seconds = time.perf_counter() - t0
    assert report.check() == [], report.check()
    return report, seconds


def quarantined_ids(out: Path, step: str) -> list[str]:
    path = out / "curated" / "quarantine" / f"{step}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def run_datatrove(corpus: Path, work: Path, workers: int, truth: dict[str, Any]) -> tuple[set[str], float]:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    from curricle.curate.executors import quiet_datatrove
    from curricle.curate.regex_tokenizer import WORD_TOKENIZER

    # All domains in one input folder, as datatrove deduplicates one dataset at a time.
    data = work / "input"
    for d in truth["domains"]:
        for f in sorted((corpus / d).glob("*.jsonl")):
            dst = data / f"{d}-{f.name}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dst)
    files = len(list(data.glob("*.jsonl")))
    # datatrove's default shingle hash (xxhash of str) fails with xxhash 4 ("Strings must be
    # encoded before hashing"); its sha1 variant encodes first.
    cfg = MinhashConfig(n_grams=SHINGLE, num_buckets=14, hashes_per_bucket=8, seed=1,
                        hash_config=HashConfig(precision=64, hash_fc="sha1"))
    sigs, buckets, clusters, removed = (work / n for n in ("sigs", "buckets", "clusters", "removed"))
    reader = lambda: JsonlReader(str(data), glob_pattern="*.jsonl")  # noqa: E731
    stages = [
        ([reader(), MinhashDedupSignature(output_folder=str(sigs), config=cfg, language=WORD_TOKENIZER)], files),
        ([MinhashDedupBuckets(input_folder=str(sigs), output_folder=str(buckets), config=cfg)], cfg.num_buckets),
        ([MinhashDedupCluster(input_folder=str(buckets), output_folder=str(clusters), config=cfg)], 1),
        ([reader(), MinhashDedupFilter(input_folder=str(clusters),
                                       exclusion_writer=JsonlWriter(str(removed), compression=None))], files),
    ]
    t0 = time.perf_counter()
    with quiet_datatrove():
        for k, (pipeline, tasks) in enumerate(stages):
            LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(workers, tasks),
                                  logging_dir=str(work / f"logs{k}")).run()
    seconds = time.perf_counter() - t0
    ids = set()
    for f in removed.glob("*.jsonl"):
        ids |= {json.loads(line)["id"] for line in f.read_text(encoding="utf-8").splitlines()}
    return ids, seconds


# -- main -------------------------------------------------------------------------------------

DEDUP_DECONTAM = {name: {"enabled": False} for name in ("extract", "langid", "quality", "code_quality", "pii",
                                                        "line_dedup")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer planted documents, built-in prose and code only")
    ap.add_argument("--work-dir", type=Path, default=None, help="where the corpus and outputs go (default: a temp dir)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="curricle-bench-"))
    if work.exists():
        shutil.rmtree(work)
    corpus = work / "corpus"
    truth = build_corpus(not args.quick, corpus)
    (work / "truth.json").write_text(json.dumps(truth))
    n_docs = truth["docs"]
    log(f"corpus: {n_docs} documents ({len(truth['pairs'])} planted copies, {len(truth['contaminated'])} "
        f"contaminated) in {corpus}")

    # 1. curricle: dedup + decontamination.
    steps = {**DEDUP_DECONTAM, "decontam": {"eval_files": [{"path": str(corpus / "eval.jsonl")}]}}
    out = work / "curricle-dedup"
    report, t_dedup = run_curricle(corpus, out, steps, 2, truth)
    removed = set(quarantined_ids(out, "exact-dedup")) | set(quarantined_ids(out, "near-dedup"))
    dropped = set(quarantined_ids(out, "decontam"))  # decontamination runs before dedup
    dedup = score_dedup(removed, truth, gone_before=dropped)
    contaminated = set(truth["contaminated"])
    decontam_recall = len(dropped & contaminated) / len(contaminated)
    natural = set(truth["naturally_contaminated"])
    decontam_fp = len(dropped - contaminated - natural)
    log(f"curricle dedup+decontam: {t_dedup:.1f}s, {n_docs / t_dedup:.0f} docs/s; dedup {dedup}; "
        f"decontam recall {decontam_recall:.4f} ({len(dropped & contaminated)}/{len(contaminated)}), "
        f"natural overlaps found {len(dropped & natural)}/{len(natural)}, false positives {decontam_fp}")

    # 2. datatrove's MinHash pipeline on the same files.
    dt_removed, t_dt = run_datatrove(corpus, work / "datatrove", 2, truth)
    dt = score_dedup(dt_removed, truth, gone_before=dropped)
    log(f"datatrove minhash: {t_dt:.1f}s, {n_docs / t_dt:.0f} docs/s; dedup {dt}")

    # 3. The full funnel at 1 and 2 workers.
    full_steps = {"decontam": {"eval_files": [{"path": str(corpus / "eval.jsonl")}]}}
    full = {}
    for workers in (1, 2):
        rep, t = run_curricle(corpus, work / f"curricle-full-{workers}", full_steps, workers, truth)
        full[workers] = {"seconds": round(t, 2), "docs_per_s": round(n_docs / t, 1),
                         "kept": sum(rep.kept(d)[0] for d in rep.domains)}
        log(f"curricle full funnel, {workers} worker(s): {t:.1f}s, {n_docs / t:.0f} docs/s, "
            f"{full[workers]['kept']} of {n_docs} kept")

    result = {
        "dedup_f1": dedup["f1"],
        "dedup_precision": dedup["precision"],
        "dedup_recall": dedup["recall"],
        "dedup_removed_share_by_edit_rate": dedup["removed_share_by_edit_rate"],
        "decontam_recall": round(decontam_recall, 4),
        "decontam_false_positives": decontam_fp,
        "decontam_natural_overlaps_found": f"{len(dropped & natural)}/{len(natural)}",
        "docs_per_s": full[2]["docs_per_s"],
        "docs_per_s_1_worker": full[1]["docs_per_s"],
        "dedup_decontam_docs_per_s": round(n_docs / t_dedup, 1),
        "datatrove_minhash": {"f1": dt["f1"], "precision": dt["precision"], "recall": dt["recall"],
                              "removed_share_by_edit_rate": dt["removed_share_by_edit_rate"],
                              "docs_per_s": round(n_docs / t_dt, 1)},
        "targets_met": {"dedup_f1": dedup["f1"] >= TARGET_F1, "decontam_recall": decontam_recall >= TARGET_DECONTAM_RECALL},
        "corpus": {k: v for k, v in truth.items() if k not in ("pairs", "contaminated", "naturally_contaminated")}
                  | {"planted_copies": len(truth["pairs"]), "contaminated": len(truth["contaminated"]),
                     "near_duplicate_edit_rates": list(NEAR_RATES), "distinct_edit_rates": list(DISTINCT_RATES)},
        "settings": {"shingle": SHINGLE, "bands": 14, "rows": 8, "decontam_n": 13, "quick": args.quick,
                     "cpus": os.cpu_count(),
                     # Other work on the machine skews docs/s (and hides the second worker's gain).
                     "load_average_1_5_15min": {"start": load_before,
                                                "end": [round(x, 2) for x in os.getloadavg()]}},
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    if args.work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    finish("curation", result, t_start, quick=args.quick)


if __name__ == "__main__":
    main()
