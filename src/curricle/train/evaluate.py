"""Held-out evaluation per domain: loss, perplexity and next-token calibration (ECE).

Rows are fixed: consecutive windows of each domain's held-out token stream (documents in
store order, each followed by EOS), so every evaluation scores the same tokens. Under DDP the
rows are sharded over ranks and the sums all-reduced.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from curricle.store import DomainSplit

ECE_BINS = 15


def eval_rows(split: DomainSplit, seq_len: int, max_rows: int) -> np.ndarray:
    """Up to ``max_rows`` non-overlapping rows of ``seq_len + 1`` tokens; (n, seq_len + 1) int64."""
    tokens = split.tokens
    width = seq_len + 1
    n = min(max_rows, len(tokens) // width)
    if n == 0:  # a held-out split shorter than one row: one shorter row
        return np.asarray(tokens, dtype=np.int64)[None, :]
    return np.asarray(tokens[: n * width], dtype=np.int64).reshape(n, width)


@torch.no_grad()
def evaluate(model, rows: dict[str, np.ndarray], batch_rows: int, device: torch.device,
             rank: int = 0, world_size: int = 1, autocast=None) -> dict[str, float]:
    """``eval/loss/<d>``, ``eval/ppl/<d>``, ``eval/ece/<d>`` per domain plus token-weighted
    ``eval/loss`` and ``eval/ece`` over all domains."""
    was_training = model.training
    model.eval()
    domains = sorted(rows)
    # Per domain: loss sum, tokens, and per ECE bin: count, confidence sum, correct sum.
    sums = torch.zeros(len(domains), 2 + 3 * ECE_BINS, dtype=torch.float64)
    for i, d in enumerate(domains):
        mine = rows[d][rank::world_size]
        for start in range(0, len(mine), batch_rows):
            x = torch.from_numpy(mine[start : start + batch_rows]).to(device)
            with autocast() if autocast else torch.autocast("cpu", enabled=False):
                logits = model(input_ids=x[:, :-1]).logits.float()  # (b, T, V)
            labels = x[:, 1:]
            logp = logits.log_softmax(-1)  # once, for both the loss and the confidence
            loss = F.nll_loss(logp.reshape(-1, logp.size(-1)), labels.reshape(-1), reduction="sum")
            top_logp, pred = logp.max(-1)
            correct = (pred == labels).double().reshape(-1)
            conf = top_logp.double().exp().reshape(-1)
            bins = torch.clamp((conf * ECE_BINS).long(), max=ECE_BINS - 1)
            sums[i, 0] += loss.double().cpu()
            sums[i, 1] += labels.numel()
            sums[i, 2 : 2 + ECE_BINS] += torch.bincount(bins, minlength=ECE_BINS).double().cpu()
            sums[i, 2 + ECE_BINS : 2 + 2 * ECE_BINS] += torch.bincount(bins, conf, minlength=ECE_BINS).cpu()
            sums[i, 2 + 2 * ECE_BINS :] += torch.bincount(bins, correct, minlength=ECE_BINS).cpu()
    if world_size > 1:
        dist.all_reduce(sums)
    if was_training:
        model.train()

    def ece(row: torch.Tensor) -> float:
        count, conf, corr = row[2 : 2 + ECE_BINS], row[2 + ECE_BINS : 2 + 2 * ECE_BINS], row[2 + 2 * ECE_BINS :]
        total = count.sum()
        return float(((conf - corr).abs()).sum() / total) if total > 0 else float("nan")

    out: dict[str, float] = {}
    for i, d in enumerate(domains):
        loss = float(sums[i, 0] / sums[i, 1])
        out[f"eval/loss/{d}"] = loss
        out[f"eval/ppl/{d}"] = math.exp(min(loss, 50.0))
        out[f"eval/ece/{d}"] = ece(sums[i])
    total = sums.sum(0)
    out["eval/loss"] = float(total[0] / total[1])
    out["eval/ece"] = ece(total)
    return out
