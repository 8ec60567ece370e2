"""``curricle sample``: draw batches from the mixture and show what the model would see."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curricle.mixture.sampler import MixtureSampler
from curricle.store import TokenStore

if TYPE_CHECKING:
    from curricle.config import RunConfig


def preview_mixture(config: "RunConfig", steps: int) -> dict[str, Any]:
    """Draw ``steps`` batches; per phase, the realized token share of each domain next to the
    mean scheduled weight, the sequence lengths, and the first and last batch."""
    store = TokenStore(config.data_dir)
    sampler = MixtureSampler(store, config.mixture, seed=config.seed)
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
        ph["weights"] += batch.weights
        ph["seq_lens"].add(batch.seq_len)
    return {"sampler": sampler, "phases": phases, "per_phase": per_phase, "first": first, "last": last}


def print_preview(result: dict[str, Any], show: int, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    sampler: MixtureSampler = result["sampler"]
    tok = sampler.store.load_tokenizer()
    table = Table(title=f"mixture preview: {sampler.step} steps of {sampler.config.batch_rows} rows",
                  title_justify="left")
    table.add_column("phase")
    table.add_column("steps", justify="right")
    table.add_column("seq_len", justify="right")
    for d in sampler.domains:
        table.add_column(d, justify="right")
    for name, ph in result["per_phase"].items():
        share = ph["tokens"] / ph["tokens"].sum()
        want = ph["weights"] / ph["steps"]
        lens = sorted(ph["seq_lens"])
        table.add_row(name, str(ph["steps"]), f"{lens[0]}" if len(lens) == 1 else f"{lens[0]}-{lens[-1]}",
                      *[f"{s:.2f} ({w:.2f})" for s, w in zip(share, want)])
    console.print(table)
    console.print("cells: realized token share (scheduled mean weight)")
    for label, batch in (("first", result["first"]), ("last", result["last"])):
        if batch is None:
            continue
        for row in range(min(show, len(batch.tokens))):
            domain = sampler.domains[int(batch.domain_ids[row])]
            text = tok.decode(batch.tokens[row, :48].tolist())
            console.print(f"[dim]{label} step {batch.step}, row {row} ({domain}):[/] {text!r}")
    epochs = ", ".join(f"{d} {e:.2f}" for d, e in sampler.epochs.items())
    console.print(f"epochs served: {epochs}")


def preview_command(config_path: Path, steps: int = 200, show: int = 2) -> dict[str, Any]:
    from curricle.config import load_config

    config = load_config(config_path)
    result = preview_mixture(config, steps)
    print_preview(result, show)
    return result
