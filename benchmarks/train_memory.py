"""Peak memory of curricle's loss path against the plain full-logits loss, at large vocabularies.

Usage::

    .venv/bin/python benchmarks/train_memory.py --quick   # about a minute on 2 CPU cores
    .venv/bin/python benchmarks/train_memory.py           # longer rows, more repeats

What is compared: one training step's forward and backward of a causal LM through
:class:`curricle.train.loss.TokenLoss`,

- ``curricle``: ``TokenLoss(model, chunk_tokens=1024)``, the default of ``train.loss_chunk_tokens``:
  the output layer and the cross-entropy fused and run 1024 positions at a time, their
  gradients found chunk by chunk in the forward pass;
- ``full_logits``: ``TokenLoss(model, chunk_tokens=None)``: ``model(x).logits.float()`` and one
  cross-entropy over all of them, as a plain training loop computes it;

both per-token (so per-domain loss is exact either way), on the same model, weights and rows.
The model is a small Llama body (hidden 64, 2 layers) with a vocabulary of 32k or 128k, so the
output layer and the loss are what the memory is made of, as in a real model's loss path.
Each measurement runs in a fresh process: on CPU its peak resident memory (``ru_maxrss``) after
the step, less the process's peak before it (torch, the model, the rows); on a GPU, when one is
present, ``torch.cuda.max_memory_allocated`` over the step, less what was allocated before.
The two paths' losses are checked equal (within 1e-4 of the mean; the chunked path's per-token
losses are checked against the plain ones to 1e-6 in the test suite).

The last stdout line is one JSON object; ``loss_peak_mem_ratio`` is curricle's loss-path memory
over the full-logits path's at vocabulary 32k (target <= 0.5). Repeats give the spread.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

from common import finish

TARGET_RATIO = 0.5
VOCABS = (32_000, 128_000)


def measure(vocab: int, chunk: int | None, rows: int, seq_len: int, device: str) -> dict:
    """One step in this process; what it cost, in MB."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from curricle.train.loss import TokenLoss

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=128, max_position_embeddings=seq_len + 1,
                                         tie_word_embeddings=True)).to(device)
    loss_model = TokenLoss(model, chunk_tokens=chunk)
    tokens = torch.randint(0, vocab, (rows, seq_len + 1), generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        loss_model._check_chunkable(tokens[:, :-1])  # decided once, before anything is measured
    loss_model._chunked = chunk is not None
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    loss, token_loss = loss_model(tokens)  # the mean, and (rows, seq_len) fp32
    loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seconds = time.perf_counter() - t0
    return {"mb": (peak - before) / 2**20, "seconds": seconds, "mean_loss": float(loss)}


def run_one(vocab: int, chunk: int | None, rows: int, seq_len: int, device: str) -> dict:
    """``measure`` in a fresh interpreter (so one measurement's peak cannot hide another's)."""
    code = (f"import json, sys; sys.path.insert(0, {repr(str(__import__('pathlib').Path(__file__).parent))}); "
            f"import train_memory as t; print(json.dumps(t.measure({vocab}, {chunk!r}, {rows}, {seq_len}, {device!r})))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4 x 1024-token rows, 2 repeats")
    ap.add_argument("--repeats", type=int, default=None)
    a = ap.parse_args()
    started = time.perf_counter()
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows, seq_len = (4, 1024) if a.quick else (8, 2048)
    repeats = a.repeats or (2 if a.quick else 3)
    results: dict = {}
    for vocab in VOCABS:
        for name, chunk in (("curricle", 1024), ("full_logits", None)):
            runs = [run_one(vocab, chunk, rows, seq_len, device) for _ in range(repeats)]
            results[(vocab, name)] = runs
            mb = [r["mb"] for r in runs]
            print(f"vocab {vocab:>7,} {name:>11}: {statistics.median(mb):8.1f} MB "
                  f"(min {min(mb):.1f}, max {max(mb):.1f}), {statistics.median(r['seconds'] for r in runs):.2f} s/step",
                  file=sys.stderr)
    out: dict = {"benchmark": "train_memory", "device": device, "machine": platform.processor() or platform.machine(),
                 "rows": rows, "seq_len": seq_len, "chunk_tokens": 1024, "repeats": repeats,
                 "measure": "peak RSS growth over the step (CPU)" if device == "cpu" else "CUDA max allocated over the step"}
    for vocab in VOCABS:
        ours, plain = results[(vocab, "curricle")], results[(vocab, "full_logits")]
        ratios = [o["mb"] / p["mb"] for o, p in zip(ours, plain)]
        agree = abs(ours[0]["mean_loss"] - plain[0]["mean_loss"]) < 1e-4
        key = f"{vocab // 1000}k"
        out[f"curricle_mb_{key}"] = round(statistics.median(o["mb"] for o in ours), 1)
        out[f"full_logits_mb_{key}"] = round(statistics.median(p["mb"] for p in plain), 1)
        out[f"ratio_{key}"] = round(statistics.median(ratios), 4)
        out[f"ratio_{key}_range"] = [round(min(ratios), 4), round(max(ratios), 4)]
        out[f"seconds_curricle_{key}"] = round(statistics.median(o["seconds"] for o in ours), 3)
        out[f"seconds_full_logits_{key}"] = round(statistics.median(p["seconds"] for p in plain), 3)
        out[f"losses_agree_{key}"] = agree
    out["loss_peak_mem_ratio"] = out["ratio_32k"]
    out["target"] = f"loss_peak_mem_ratio <= {TARGET_RATIO}"
    out["target_met"] = out["loss_peak_mem_ratio"] <= TARGET_RATIO
    finish("train_memory", out, started, quick=a.quick)


if __name__ == "__main__":
    main()
