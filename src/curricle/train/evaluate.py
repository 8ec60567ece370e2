"""Held-out evaluation per domain: loss, its standard error, perplexity and next-token
calibration (ECE).

Rows are fixed: consecutive windows of each domain's held-out token stream (documents in
store order, each followed by EOS), so every evaluation scores the same tokens. Under DDP the
rows are sharded over ranks and the sums all-reduced.

The standard error of a domain's held-out loss, ``eval/loss_se/<d>``, treats its rows as the
samples: the standard deviation of the rows' mean losses (``ddof=1``) over the square root of
the number of rows (absent with one row). Rows have equal length, so the mean of the rows' means
is the loss itself; tokens within a row are not independent, rows (windows of different
documents) nearly are. It lets a reader of the loss tell a change from noise (the plateau
detector, :mod:`curricle.controllers.plateau`).

With groups (a metadata column of the held-out documents, :func:`eval_row_groups`), each
label's loss also counts toward its document's group: ``eval/group_loss/<domain>/<group>``,
and the worst of them, ``eval/worst_group_loss`` and ``eval/worst_group`` (``"<domain>/<group>"``).
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


def eval_row_groups(split: DomainSplit, rows: np.ndarray, column: str) -> tuple[list[str], np.ndarray]:
    """The group (value of metadata ``column``) of the document of every label of ``rows``
    (from :func:`eval_rows` on ``split``): the group names and (n, seq_len) indices into them.
    The label at column ``c`` of row ``r`` is token ``r * (seq_len + 1) + c + 1`` of the
    held-out stream; the document index says whose it is (a document's EOS is its own)."""
    values = split.column(column)
    names, doc_group = np.unique(np.asarray([str(v) for v in values], dtype=object), return_inverse=True)
    n, width = rows.shape
    pos = np.arange(n)[:, None] * width + np.arange(1, width)[None, :]  # (n, width - 1)
    doc = np.searchsorted(split.index, pos, side="right") - 1
    return [str(x) for x in names], doc_group.astype(np.int64)[doc]


@torch.no_grad()
def evaluate(loss_model: TokenLoss, rows: dict[str, np.ndarray], batch_rows: int, device: torch.device,
             rank: int = 0, world_size: int = 1, autocast=None,
             groups: dict[str, tuple[list[str], np.ndarray]] | None = None) -> dict[str, float | str]:
    """``eval/loss/<d>``, ``eval/loss_se/<d>`` (the module doc), ``eval/ppl/<d>``,
    ``eval/ece/<d>`` per domain plus token-weighted ``eval/loss`` and ``eval/ece`` over all
    domains: ``eval/ece`` is the domains' ECEs weighted by their labels, ``sum_d N_d ECE_d / N``
    (not the ECE of all labels in pooled bins, where one domain's over-confidence offsets
    another's under-confidence: that is at most this). The logits are read a chunk of positions
    at a time (:class:`TokenLoss`). Every rank runs the same number of forward passes (a rank
    short of rows repeats one, uncounted), as a sharded model needs. ``groups``: per domain,
    :func:`eval_row_groups` of its rows, for the per-group losses (the module doc)."""
    groups = groups or {}
    model = loss_model.model
    was_training = model.training
    model.eval()
    domains = sorted(rows)
    # Per domain: loss sum, tokens, per ECE bin: count, confidence sum, correct sum; then
    # rows, and the sum and sum of squares of the rows' mean losses (the loss's standard error).
    # Accumulated on the device and copied to the host once, at the end.
    sums = torch.zeros(len(domains), 2 + 3 * ECE_BINS + 3, dtype=torch.float64, device=device)
    rows_at = 2 + 3 * ECE_BINS
    # Per (domain, group), flat in domain order: loss sum and tokens.
    offsets, n_groups = {}, 0
    for d in domains:
        if d in groups:
            offsets[d], n_groups = n_groups, n_groups + len(groups[d][0])
    group_sums = torch.zeros(n_groups, 2, dtype=torch.float64, device=device)
    for i, d in enumerate(domains):
        mine = rows[d][rank::world_size]
        ids = groups[d][1][rank::world_size] if d in groups else None
        per_rank = -(-len(rows[d]) // world_size)
        counted = np.ones(per_rank, dtype=bool)
        if len(mine) < per_rank:
            counted[len(mine):] = False
            mine = np.concatenate([mine, np.repeat(rows[d][:1], per_rank - len(mine), axis=0)])
            if ids is not None:
                ids = np.concatenate([ids, np.repeat(groups[d][1][:1], per_rank - len(ids), axis=0)])
        for start in range(0, len(mine), batch_rows):
            x = torch.from_numpy(mine[start : start + batch_rows]).to(device)
            keep = torch.from_numpy(counted[start : start + batch_rows]).to(device)
            with autocast() if autocast else torch.autocast("cpu", enabled=False):
                nll, top_logp, correct = loss_model(x, with_stats=True)  # (b, L) each
            if ids is not None:
                g = torch.from_numpy(ids[start : start + batch_rows]).to(device)[keep].flatten() + offsets[d]
                group_sums[:, 0].index_add_(0, g, nll[keep].flatten().double())
                group_sums[:, 1].index_add_(0, g, torch.ones_like(g, dtype=torch.float64))
            row_mean = nll[keep].double().mean(1)  # (rows,)
            sums[i, rows_at] += row_mean.numel()
            sums[i, rows_at + 1] += row_mean.sum()
            sums[i, rows_at + 2] += row_mean.square().sum()
            nll, top_logp, correct = nll[keep].flatten(), top_logp[keep].flatten(), correct[keep].flatten().double()
            conf = top_logp.double().exp()
            bins = torch.clamp((conf * ECE_BINS).long(), max=ECE_BINS - 1)
            sums[i, 0] += nll.double().sum()
            sums[i, 1] += nll.numel()
            sums[i, 2 : 2 + ECE_BINS] += torch.bincount(bins, minlength=ECE_BINS).double()
            sums[i, 2 + ECE_BINS : 2 + 2 * ECE_BINS] += torch.bincount(bins, conf, minlength=ECE_BINS)
            sums[i, 2 + 2 * ECE_BINS : rows_at] += torch.bincount(bins, correct, minlength=ECE_BINS)
    if world_size > 1:
        dist.all_reduce(sums)
        if n_groups:
            dist.all_reduce(group_sums)
    sums, group_sums = sums.cpu(), group_sums.cpu()
    if was_training:
        model.train()

    def ece(row: torch.Tensor) -> float:
        count, conf, corr = row[2 : 2 + ECE_BINS], row[2 + ECE_BINS : 2 + 2 * ECE_BINS], row[2 + 2 * ECE_BINS : rows_at]
        total = count.sum()
        return float(((conf - corr).abs()).sum() / total) if total > 0 else float("nan")

    out: dict[str, float | str] = {}
    for i, d in enumerate(domains):
        loss = float(sums[i, 0] / sums[i, 1])
        out[f"eval/loss/{d}"] = loss
        n, s1, s2 = sums[i, rows_at : rows_at + 3].tolist()
        if n > 1:
            out[f"eval/loss_se/{d}"] = math.sqrt(max((s2 - s1 * s1 / n) / (n - 1), 0.0) / n)
        out[f"eval/ppl/{d}"] = math.exp(min(loss, 50.0))
        out[f"eval/ece/{d}"] = ece(sums[i])
    total = sums.sum(0)
    out["eval/loss"] = float(total[0] / total[1])
    out["eval/tokens"] = float(total[1])  # the held-out labels scored, all ranks
    # The domains' ECEs weighted by their labels (bins pooled over domains would offset errors).
    weighted = sum(float(row[1]) * ece(row) for row in sums if row[1] > 0)
    out["eval/ece"] = weighted / float(total[1]) if total[1] > 0 else float("nan")
    worst = None
    for d, start in offsets.items():
        for j, g in enumerate(groups[d][0]):
            loss_sum, n = group_sums[start + j].tolist()
            if n > 0:
                out[f"eval/group_loss/{d}/{g}"] = loss = loss_sum / n
                if worst is None or loss > worst[0]:
                    worst = (loss, f"{d}/{g}")
    if worst is not None:
        out["eval/worst_group_loss"], out["eval/worst_group"] = worst
    return out
