"""``curricle prune STORE --by METRIC --keep FRACTION --out STORE2``: a new store without the
easy, redundant (or, with ``--keep-easiest``, the hard) training documents of some domains.

The pruned store is complete: its own ``manifest.json`` (the parent's, with the pruned
domains' training counts), the tokenizer, every domain's ``train/`` and ``heldout/`` (held-out
splits and unpruned domains are the parent's files, hard-linked where the file system allows,
else copied), plus ``lineage.json`` and ``removed.jsonl``
(:mod:`curricle.store.lineage`; its ``code`` is the code that pruned it, as a run's
``run.json`` records it). A pruned training split keeps its documents in their order,
with their metadata rows. Its ``snapshot.json`` (:mod:`curricle.store.snapshot`) hashes the
prune settings and the parent's snapshot id (also ``lineage.json``'s ``parent_snapshot``) with
its own files. Everything is written into a temporary directory renamed to
``--out`` at the end, so a killed prune leaves nothing. A run config whose ``data_dir`` is the
pruned store and whose sources are the parent's trains on it without re-preparing it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from curricle import atomic
from curricle.config import parse_model, read_yaml
from curricle.errors import CurricleError
from curricle.prune.base import Removal, keep_count
from curricle.prune.config import METRICS, PruneConfig
from curricle.prune.groups import domain_groups, floored_removals, group_lineage
from curricle.runinfo import code_record
from curricle.store import TokenStore
from curricle.store.lineage import LINEAGE_FILE, REMOVED_FILE
from curricle.store.manifest import DomainEntry, SplitCounts, manifest_text, write_manifest
from curricle.store.snapshot import commit_sha256, file_cache, store_snapshot, write_snapshot


@dataclass
class PruneReport:
    out: Path
    lineage: dict[str, Any]
    seconds: float = 0.0
    removed: dict[str, list[Removal]] = field(default_factory=dict)


def _link_tree(src: Path, dst: Path) -> None:
    """``dst`` as a copy of ``src`` whose files are hard links (store files are never written
    in place) or, across file systems, copies."""
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link)


def _write_kept(split, kept: np.ndarray, dst: Path) -> SplitCounts:
    """The documents ``kept`` (ascending indices) of ``split``: tokens with their EOS, the
    index and the metadata rows, under ``dst``."""
    dst.mkdir(parents=True)
    index = split.index
    lengths = index[kept + 1] - index[kept]
    with open(dst / "tokens.bin", "wb") as f:
        for i in kept.tolist():  # one document at a time: memory stays one document
            f.write(split.tokens[index[i] : index[i + 1]].tobytes())
    np.save(dst / "index.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    pq.write_table(split.meta().take(kept), dst / "meta.parquet")
    return SplitCounts(docs=len(kept), tokens=int(lengths.sum()))


def prune_store(store_dir: Path | str, config: PruneConfig, out: Path | str, progress: bool = True) -> PruneReport:
    """Write the pruned copy of the store in ``store_dir`` to ``out`` (a new or empty directory)."""
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CurricleError(f"--out {out}: exists and is not an empty directory; give a new one")
    store = TokenStore(store_dir)
    domains = config.domains if config.domains is not None else store.domains
    unknown = [d for d in domains if d not in store.manifest.domains]
    if unknown:
        raise CurricleError(f"--domains: unknown domain '{unknown[0]}' (the store at {store_dir} has: "
                            f"{', '.join(store.domains)})")
    lineage: dict[str, Any] = {"parent": str(Path(store_dir).resolve()), "parent_snapshot": store.snapshot_id,
                               "by": config.by, "keep": config.keep, "order": config.effective_order,
                               "seed": config.seed, "domains": {}, "code": code_record()}
    groups = config.groups
    if groups is not None:
        lineage["groups"] = groups.model_dump(exclude_none=True)
        by_domain = {d: domain_groups(store.split(d, "train"), groups, d) for d in sorted(domains)}
        missing = sorted(set(groups.min_share or ()) - {g for dg in by_domain.values() for g in dg.names})
        if missing:
            raise CurricleError(f"groups.min_share: no training document of {', '.join(sorted(domains))} has "
                                f"{groups.column} '{missing[0]}'")
    report = PruneReport(out=out, lineage=lineage)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   disable=not progress, transient=True)
    with bar:
        metric = METRICS[config.metric](config, store, bar)
        plans: dict[str, tuple[np.ndarray, list[Removal]]] = {}
        for d in sorted(domains):
            split = store.split(d, "train")
            n_keep = keep_count(config.keep, split.n_docs)
            if groups is not None and groups.floored:
                candidates = metric.candidates(d, split, n_keep)
                plain = sorted(candidates[: split.n_docs - n_keep], key=lambda r: r.index)
                removed = floored_removals(candidates, split.n_docs - n_keep, by_domain[d])
            else:
                removed = plain = metric.removals(d, split, n_keep)
            gone = {r.index for r in removed}
            if len(gone) != len(removed) or len(removed) != split.n_docs - n_keep:  # a metric's bug, not the user's
                raise RuntimeError(f"metric {config.metric} removed {len(gone)} documents of '{d}', not "
                                   f"{split.n_docs - n_keep}")
            kept = np.array([i for i in range(split.n_docs) if i not in gone], dtype=np.int64)
            plans[d] = (kept, removed)
            reasons: dict[str, int] = {}
            for r in removed:
                reasons[r.reason] = reasons.get(r.reason, 0) + 1
            lineage["domains"][d] = {"in": split.n_docs, "kept": len(kept), "unscored": metric.unscored(d, split),
                                     "removed": dict(sorted(reasons.items()))}
            if groups is not None:
                lineage["domains"][d].update(group_lineage(by_domain[d], plain, removed))
            report.removed[d] = removed

        if out.is_dir():
            out.rmdir()  # empty (checked above): the finished directory is renamed onto its place
        manifest = copy.deepcopy(store.manifest)
        task = bar.add_task("writing the pruned store", total=len(store.domains))
        with atomic.directory(out) as tmp:
            if store.tokenizer_dir.is_dir():
                shutil.copytree(store.tokenizer_dir, tmp / manifest.tokenizer.dir)
            for d in store.domains:
                entry = manifest.domains[d]
                src, dst = store.data_dir / entry.dir, tmp / entry.dir
                if d not in plans:
                    _link_tree(src, dst)
                else:
                    kept, removed = plans[d]
                    train = _write_kept(store.split(d, "train"), kept, dst / "train")
                    _link_tree(src / "heldout", dst / "heldout")
                    manifest.domains[d] = DomainEntry(dir=entry.dir, group=entry.group, train=train,
                                                      heldout=entry.heldout)
                bar.advance(task)
            lines = []
            for d in sorted(plans):
                ids = store.split(d, "train").meta(["doc_id"]).column(0).to_pylist() if plans[d][1] else []
                lines += [json.dumps({"domain": d, "doc_id": ids[r.index], "reason": r.reason, "score": r.score})
                          for r in plans[d][1]]
            (tmp / REMOVED_FILE).write_text("".join(line + "\n" for line in lines))
            atomic.write_json(tmp / LINEAGE_FILE, lineage)
            # Linked files keep the parent's size and time: their hashes come from its snapshot.
            settings = {"prune": config.model_dump(mode="json"), "parent_snapshot": store.snapshot_id}
            snap = store_snapshot(tmp, manifest, settings, cache=file_cache(store.snapshot))
            write_snapshot(tmp, snap, commit_sha256(manifest_text(manifest)))
            write_manifest(tmp, manifest)
    report.seconds = time.perf_counter() - t0
    return report


def print_report(report: PruneReport, console: Console | None = None) -> None:
    """The pruning funnel: per domain, documents in, kept, and removed by reason."""
    console = console or Console()
    lin = report.lineage
    table = Table(title=f"pruned store: {report.out} (by {lin['by']}, keep {lin['keep']:g}, {lin['order']})",
                  title_justify="left")
    for col in ("domain", "in", "kept", "unscored", "removed"):
        table.add_column(col, justify="left" if col in ("domain", "removed") else "right")
    for d, c in lin["domains"].items():
        reasons = ", ".join(f"{r} {n:,}" for r, n in c["removed"].items())
        table.add_row(d, f"{c['in']:,}", f"{c['kept']:,}", f"{c['unscored']:,}" if c["unscored"] else "", reasons)
    console.print(table)
    if "groups" in lin:
        column = lin["groups"]["column"]
        for d, c in lin["domains"].items():
            t = Table(title=f"{d}: token share by {column}", title_justify="left")
            for col in ("group", "before", "after", "floor", "floor kept"):
                t.add_column(col, justify="left" if col == "group" else "right")
            for g, v in c["groups"].items():
                t.add_row(g, f"{v['before']:.3f}", f"{v['after']:.3f}",
                          "" if v["floor"] is None else f"{v['floor']:.3f}", f"{c['floor_kept'].get(g, 0):,}")
            console.print(t)
            if c["below_floor"]:
                console.print(f"[yellow]{d}: the floors could not all hold with {c['kept']:,} documents kept; below "
                              f"their floor: {', '.join(c['below_floor'])}[/yellow]")
    console.print(f"lineage.json and removed.jsonl written; done in {report.seconds:.1f}s")


def prune_command(store: Path, out: Path, by: str | None, keep: float | None, config_file: Path | None = None,
                  groups: str | None = None, gamma: float | None = None, **options: Any) -> PruneReport:
    """The CLI's entry: ``config_file`` (YAML of :class:`PruneConfig` fields) under the
    options given on the command line (None: not given). ``groups`` (``--groups COLUMN``)
    and ``gamma`` (``--gamma G``) set ``groups.column`` and ``groups.gamma`` over the file's
    ``groups``."""
    data = (read_yaml(config_file, "prune settings file") if config_file is not None else None) or {}
    if not isinstance(data, dict):
        raise CurricleError(f"{config_file}: expected a mapping of prune settings")
    data = {**data, **{k: v for k, v in {"by": by, "keep": keep, **options}.items() if v is not None}}
    if groups is not None or gamma is not None:
        section = data.get("groups")
        section = dict(section) if isinstance(section, dict) else {}
        if groups is not None:
            section["column"] = groups
        elif "column" not in section:
            raise CurricleError("--gamma: sets the floors of groups; name their column with --groups COLUMN")
        if gamma is not None:
            section["gamma"] = gamma
        data["groups"] = section
    config = parse_model(data, PruneConfig, f"{config_file} (with the flags)" if config_file is not None else "prune")
    report = prune_store(store, config, out)
    print_report(report)
    return report
