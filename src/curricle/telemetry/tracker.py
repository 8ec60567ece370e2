"""Exact per-domain training loss from domain-labelled rows."""

from __future__ import annotations

import torch
import torch.distributed as dist


class DomainLossTracker:
    """Sums token losses and token counts per domain over an optimizer step's micro-batches.

    Every row belongs to one domain (the sampler packs domain-pure rows), so the per-domain
    mean is exact, not an estimate. Under DDP, :meth:`reduce` sums over ranks in one
    all-reduce of a (2, D) tensor.
    """

    def __init__(self, n_domains: int, device: torch.device):
        self.sums = torch.zeros(2, n_domains, dtype=torch.float64, device=device)

    def reset(self) -> None:
        self.sums.zero_()

    def add(self, token_losses: torch.Tensor, domain_ids: torch.Tensor) -> None:
        """``token_losses``: (b, T) float; ``domain_ids``: (b,) int64."""
        per_row = token_losses.detach().double().sum(dim=1)  # (b,)
        self.sums[0].index_add_(0, domain_ids, per_row)
        self.sums[1].index_add_(0, domain_ids, torch.full_like(per_row, token_losses.size(1)))

    def reduce(self) -> None:
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.sums)

    def results(self, domains: list[str], sums: torch.Tensor | None = None) -> dict[str, float]:
        """``loss`` (token mean over all rows) and ``loss/<domain>`` for domains in the step;
        ``sums``: the (2, D) sums already copied to the host (default: copy them now)."""
        sums = self.sums.cpu() if sums is None else sums
        out = {"loss": float(sums[0].sum() / sums[1].sum())}
        for i, d in enumerate(domains):
            if sums[1, i] > 0:
                out[f"loss/{d}"] = float(sums[0, i] / sums[1, i])
        return out
