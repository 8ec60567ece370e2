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

from curricle.store import DomainSplit
from curricle.train.loss import TokenLoss

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
def evaluate(loss_model: TokenLoss, rows: dict[str, np.ndarray], batch_rows: int, device: torch.device,
             rank: int = 0, world_size: int = 1, autocast=None) -> dict[str, float]:
    """``eval/loss/<d>``, ``eval/ppl/<d>``, ``eval/ece/<d>`` per domain plus token-weighted
    ``eval/loss`` and ``eval/ece`` over all domains. The logits are read a chunk of positions
    at a time (:class:`TokenLoss`). Every rank runs the same number of forward passes (a rank
    short of rows repeats one, uncounted), as a sharded model needs."""
    model = loss_model.model
    was_training = model.training
    model.eval()
    domains = sorted(rows)
    # Per domain: loss sum, tokens, and per ECE bin: count, confidence sum, correct sum.
    # Accumulated on the device and copied to the host once, at the end.
    sums = torch.zeros(len(domains), 2 + 3 * ECE_BINS, dtype=torch.float64, device=device)
    for i, d in enumerate(domains):
        mine = rows[d][rank::world_size]
        per_rank = -(-len(rows[d]) // world_size)
        counted = np.ones(per_rank, dtype=bool)
        if len(mine) < per_rank:
            counted[len(mine):] = False
            mine = np.concatenate([mine, np.repeat(rows[d][:1], per_rank - len(mine), axis=0)])
        for start in range(0, len(mine), batch_rows):
            x = torch.from_numpy(mine[start : start + batch_rows]).to(device)
            keep = torch.from_numpy(counted[start : start + batch_rows]).to(device)
            with autocast() if autocast else torch.autocast("cpu", enabled=False):
                nll, top_logp, correct = loss_model(x, with_stats=True)  # (b, L) each
            nll, top_logp, correct = nll[keep].flatten(), top_logp[keep].flatten(), correct[keep].flatten().double()
            conf = top_logp.double().exp()
            bins = torch.clamp((conf * ECE_BINS).long(), max=ECE_BINS - 1)
            sums[i, 0] += nll.double().sum()
            sums[i, 1] += nll.numel()
            sums[i, 2 : 2 + ECE_BINS] += torch.bincount(bins, minlength=ECE_BINS).double()
            sums[i, 2 + ECE_BINS : 2 + 2 * ECE_BINS] += torch.bincount(bins, conf, minlength=ECE_BINS)
            sums[i, 2 + 2 * ECE_BINS :] += torch.bincount(bins, correct, minlength=ECE_BINS)
    if world_size > 1:
        dist.all_reduce(sums)
    sums = sums.cpu()
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
