"""Preview the mixture: draw batches and compare the realized token shares with the schedule
(``curricle sample``; the command is :mod:`curricle.mixture.command`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from curricle.mixture.config import MixtureConfig
from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore


def preview_mixture(store: TokenStore, mixture: MixtureConfig, seed: int, steps: int) -> dict[str, Any]:
    """Draw ``steps`` batches; per phase, the realized token share of each domain next to the
    scheduled weight (averaged over the phase's tokens), the sequence lengths, and the first
    and last batch."""
    sampler = MixtureSampler(store, mixture, seed=seed)
    phases = sampler.schedule.phases()
    per_phase: dict[str, dict[str, Any]] = {}
    first = last = None
    for _ in range(steps):
        batch = sampler.next_batch()
        first = first or batch
        last = batch
        name = sampler.schedule.phase_at(batch.step)
        ph = per_phase.setdefault(name, {"steps": 0, "tokens": np.zeros(len(sampler.domains)),
                                         "weights": np.zeros(len(sampler.domains)), "seq_lens": set()})
        ph["steps"] += 1
        ph["tokens"] += np.bincount(batch.domain_ids.numpy(), minlength=len(sampler.domains)) * (batch.seq_len + 1)
        # Weights count tokens: the phase's target is the token-weighted mean of its steps.
        ph["weights"] += batch.weights * sampler.config.batch_rows * (batch.seq_len + 1)
        ph["seq_lens"].add(batch.seq_len)
    return {"sampler": sampler, "phases": phases, "per_phase": per_phase, "first": first, "last": last}


def print_preview(result: dict[str, Any], show: int, console: Console | None = None) -> None:
    console = console or Console()
    sampler: MixtureSampler = result["sampler"]
    tok = sampler.store.load_tokenizer()
    table = Table(title=f"mixture preview: {sampler.step} steps of {sampler.config.batch_rows} rows",
                  title_justify="left")
    table.add_column("domain")
    phases = list(result["per_phase"].items())
    for name, ph in phases:
        lens = sorted(ph["seq_lens"])
        span = f"{lens[0]}" if len(lens) == 1 else f"{lens[0]}-{lens[-1]}"
        table.add_column(f"{name}\n{ph['steps']} steps, len {span}", justify="right")
    shares = [ph["tokens"] / ph["tokens"].sum() for _, ph in phases]
    wants = [ph["weights"] / ph["weights"].sum() for _, ph in phases]
    for i, d in enumerate(sampler.domains):
        table.add_row(d, *[f"{s[i]:.3f} ({w[i]:.3f})" for s, w in zip(shares, wants)])
    console.print(table)
    console.print("cells: realized token share (scheduled weight, token-weighted over the phase)")
    for label, batch in (("first", result["first"]), ("last", result["last"])):
        if batch is None:
            continue
        for row in range(min(show, len(batch.tokens))):
            domain = sampler.domains[int(batch.domain_ids[row])]
            text = tok.decode(batch.tokens[row, :48].tolist())
            console.print(f"[dim]{label} step {batch.step}, row {row} ({domain}):[/] {text!r}")
    epochs = ", ".join(f"{d} {e:.2f}" for d, e in sampler.epochs.items())
    console.print(f"epochs served: {epochs}")
