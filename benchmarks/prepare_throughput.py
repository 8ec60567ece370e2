"""How fast ``curricle prepare`` tokenizes a large JSONL corpus, against ``datasets.map``, and
whether its memory stays flat as the corpus grows.

Usage::

    .venv/bin/python benchmarks/prepare_throughput.py --quick   # a 200 MB corpus; ~10 minutes on 2 cores
    .venv/bin/python benchmarks/prepare_throughput.py           # 400 MB, more repeats

Stages:

1. **Corpus, not timed.** A JSON Lines file of at least ``--mb`` megabytes of text, built from
   the Python standard library's source files and documentation (the built-in ``python-code``
   and ``python-prose`` sources), repeated under new ids until it is large enough; and the same
   again twice as large (different ids), for the memory check. Kept under ``--work`` and reused.
2. **Tokenizer, not timed.** One byte-level BPE of 8192 tokens (HF ``tokenizers``), trained on
   a sample, saved as a fast tokenizer; both sides encode with it.
3. **Timed**, each side in a fresh process, repeats interleaved:

   - ``curricle``: ``prepare()`` of the corpus as one ``jsonl`` source into an empty data
     directory: reading and parsing every line, encoding (worker processes, the default),
     the held-out split, per-document metrics, the store's files.
   - ``hf_map``: ``datasets.load_dataset("json", ...)`` of the same file into an empty cache,
     then ``.map(tokenizer, batched=True, num_proc=2)`` with the same tokenizer (as a
     transformers fast tokenizer), its result written to the cache as datasets does.

   Peak memory is the peak resident set of each process, read from ``ru_maxrss`` (the main
   process; its workers' peak is reported apart).
4. **Memory growth.** ``curricle`` prepares the 2x corpus too; ``rss_growth_ratio`` is its main
   process's peak there over its peak on the 1x corpus (target <= 1.15: memory independent of
   corpus size).

The last stdout line is one JSON object with ``speedup_vs_hf_map`` (hf_map's median seconds
over curricle's; target >= 1.0), ``peak_rss_mb`` and ``rss_growth_ratio``, their spreads, and
the settings. Nothing here is tuned to meet the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import finish

TARGET_SPEEDUP = 1.0
TARGET_GROWTH = 1.15
VOCAB = 8192


def build_corpus(path: Path, mb: float, tag: str) -> dict:
    """At least ``mb`` MB of standard-library text as JSONL, one document per line."""
    if path.is_file():
        return json.loads(path.with_suffix(".json").read_text())
    from curricle.sources.config import PythonCodeConfig, PythonProseConfig
    from curricle.sources.python_code import PythonCodeSource
    from curricle.sources.python_prose import PythonProseSource

    docs = [d.text for d in PythonCodeSource(PythonCodeConfig(domain="code"))]
    docs += [d.text for d in PythonProseSource(PythonProseConfig(domain="prose"))]
    target, written, n, copy = mb * 1e6, 0, 0, 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        while written < target:
            for text in docs:
                line = json.dumps({"id": f"{tag}-{copy}-{n}", "text": text}) + "\n"
                f.write(line)
                written += len(text.encode("utf-8"))
                n += 1
                if written >= target:
                    break
            copy += 1
    tmp.replace(path)
    info = {"docs": n, "text_mb": round(written / 1e6, 1), "file_mb": round(path.stat().st_size / 1e6, 1)}
    path.with_suffix(".json").write_text(json.dumps(info))
    return info


def build_tokenizer(corpus: Path, out: Path) -> None:
    if (out / "tokenizer.json").is_file():
        return
    from curricle.store.tokenizer import train_bpe

    def sample():
        with open(corpus, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= 3000:
                    break
                yield json.loads(line)["text"]

    train_bpe(sample(), VOCAB).save_pretrained(str(out))


def run_curricle(corpus: str, tokenizer: str, data_dir: str) -> dict:
    from curricle.prepare.config import PrepareConfig, TokenizerConfig
    from curricle.prepare.pipeline import prepare
    from curricle.sources.config import JsonlConfig

    t0 = time.perf_counter()
    report = prepare([JsonlConfig(path=corpus, domain="corpus")], TokenizerConfig(kind="pretrained", path=tokenizer),
                     PrepareConfig(), Path(data_dir), progress=False)
    seconds = time.perf_counter() - t0
    d = report.domains[0]
    return {"seconds": seconds, "docs": d.train_docs + d.heldout_docs, "tokens": d.train_tokens + d.heldout_tokens}


def run_hf(corpus: str, tokenizer: str, cache_dir: str) -> dict:
    import datasets
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    tok = AutoTokenizer.from_pretrained(tokenizer)
    t0 = time.perf_counter()
    ds = datasets.load_dataset("json", data_files=corpus, split="train", cache_dir=cache_dir)
    out = ds.map(lambda batch: tok(batch["text"]), batched=True, num_proc=2, remove_columns=ds.column_names)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "docs": len(out), "tokens": None}


def in_fresh_process(fn: str, *args: str) -> dict:
    """``fn(*args)`` in a new interpreter, with its peak memory (main process, and the largest
    of its children)."""
    code = (f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import prepare_throughput as b; r = b.{fn}(*{list(args)!r}); "
            f"r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
            f"r['children_peak_rss_mb'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024; "
            f"print(json.dumps(r))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "HF_DATASETS_OFFLINE": "1"})
    if p.returncode != 0:
        raise RuntimeError(f"{fn}: {p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 200 MB corpus, 2 repeats")
    ap.add_argument("--mb", type=float, default=None, help="text in the 1x corpus (MB)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--work", type=Path, default=Path("runs/bench/prepare_throughput"))
    a = ap.parse_args()
    started = time.perf_counter()
    mb = a.mb or (200.0 if a.quick else 400.0)
    repeats = a.repeats or (2 if a.quick else 3)
    work = a.work
    work.mkdir(parents=True, exist_ok=True)
    one = build_corpus(work / f"corpus-{int(mb)}mb.jsonl", mb, "a")
    two = build_corpus(work / f"corpus-{int(2 * mb)}mb.jsonl", 2 * mb, "b")
    tok = work / "tokenizer"
    build_tokenizer(work / f"corpus-{int(mb)}mb.jsonl", tok)
    print(f"corpus: {one['docs']:,} documents, {one['text_mb']} MB of text ({one['file_mb']} MB of JSONL); "
          f"2x: {two['text_mb']} MB", file=sys.stderr)

    def fresh(name: str) -> str:
        p = work / name
        shutil.rmtree(p, ignore_errors=True)
        return str(p)

    ours, theirs = [], []
    for i in range(repeats):
        ours.append(in_fresh_process("run_curricle", str(work / f"corpus-{int(mb)}mb.jsonl"), str(tok), fresh("data")))
        print(f"[{i + 1}/{repeats}] curricle prepare: {ours[-1]['seconds']:.1f}s, peak {ours[-1]['peak_rss_mb']:.0f} MB "
              f"(workers {ours[-1]['children_peak_rss_mb']:.0f} MB)", file=sys.stderr)
        theirs.append(in_fresh_process("run_hf", str(work / f"corpus-{int(mb)}mb.jsonl"), str(tok), fresh("hf-cache")))
        print(f"[{i + 1}/{repeats}] datasets.map: {theirs[-1]['seconds']:.1f}s, peak {theirs[-1]['peak_rss_mb']:.0f} MB "
              f"(workers {theirs[-1]['children_peak_rss_mb']:.0f} MB)", file=sys.stderr)
    double = in_fresh_process("run_curricle", str(work / f"corpus-{int(2 * mb)}mb.jsonl"), str(tok), fresh("data2"))
    print(f"curricle prepare, 2x corpus: {double['seconds']:.1f}s, peak {double['peak_rss_mb']:.0f} MB", file=sys.stderr)
    shutil.rmtree(work / "data", ignore_errors=True)
    shutil.rmtree(work / "data2", ignore_errors=True)
    shutil.rmtree(work / "hf-cache", ignore_errors=True)

    speedups = [t["seconds"] / o["seconds"] for o, t in zip(ours, theirs)]
    peak_1x = statistics.median(o["peak_rss_mb"] for o in ours)
    out = {
        "benchmark": "prepare_throughput", "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "load_avg": round(os.getloadavg()[0], 2), "repeats": repeats,
        "corpus_text_mb": one["text_mb"], "corpus_docs": one["docs"], "tokens": ours[0]["tokens"],
        "curricle_seconds": round(statistics.median(o["seconds"] for o in ours), 2),
        "hf_map_seconds": round(statistics.median(t["seconds"] for t in theirs), 2),
        "curricle_mb_per_s": round(one["text_mb"] / statistics.median(o["seconds"] for o in ours), 2),
        "speedup_vs_hf_map": round(statistics.median(speedups), 3),
        "speedup_range": [round(min(speedups), 3), round(max(speedups), 3)],
        "peak_rss_mb": round(peak_1x, 1),
        "workers_peak_rss_mb": round(max(o["children_peak_rss_mb"] for o in ours), 1),
        "hf_map_peak_rss_mb": round(statistics.median(t["peak_rss_mb"] for t in theirs), 1),
        "peak_rss_mb_2x": round(double["peak_rss_mb"], 1),
        "rss_growth_ratio": round(double["peak_rss_mb"] / peak_1x, 3),
        "targets": {"speedup_vs_hf_map": f">= {TARGET_SPEEDUP}", "rss_growth_ratio": f"<= {TARGET_GROWTH}"},
    }
    out["speedup_met"] = out["speedup_vs_hf_map"] >= TARGET_SPEEDUP
    out["memory_met"] = out["rss_growth_ratio"] <= TARGET_GROWTH
    finish("prepare_throughput", out, started, quick=a.quick)


if __name__ == "__main__":
    main()
