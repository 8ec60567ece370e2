"""``curricle mine RUN [--out DIR]``: the hardest documents and the hard regions of a run.

Reads the per-document state of the run's ``hard-examples`` controller in its latest complete
checkpoint (:mod:`curricle.mine.signals`) and its token store's metadata and texts, and writes
into ``DIR`` (default ``RUN/mine/``):

``hardest.jsonl``
    per domain, the ``top`` hardest seen documents by latest loss, hardest first: ``domain``,
    ``rank``, ``index`` (in the domain's train split), ``doc_id``, ``source``, every signal
    (``loss``, ``loss_ema``, ``trend``, ``margin``, ``confidence``, ``accuracy``,
    ``calibration``, ``served``, ``last_step``; null where the run keeps none), ``trend_class``,
    the other metadata under ``meta``, and ``text`` (decoded with the store's tokenizer, cut to
    ``max_chars``; ``truncated`` says so).
``regions.json``
    ``{"run", "step", "data_dir", "settings", "domains": {d: {...}}}``: per domain its overall
    figures, the regions sorted by how far above the domain they lie
    (:func:`curricle.mine.regions.domain_regions`), the hard documents split into learning /
    stuck / rising / unknown (:func:`curricle.mine.regions.hard_split`), and ``notes``
    (groupings left out, and why).
``regions.md``
    the same regions as readable tables (also printed).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.config import parse_model
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.jsonable import jsonable
from curricle.mine.config import MineConfig, load_mine_config
from curricle.mine.regions import (Grouping, domain_regions, hard_split, kmeans_grouping, metadata_groupings,
                                   minhash_grouping)
from curricle.mine.signals import SIGNALS, classify_trend, document_signals, load_document_state, state_domains
from curricle.model.build import build_model
from curricle.model.config import ModelConfig
from curricle.probes.console import wide_console
from curricle.runinfo import resolve_data_dir, run_config
from curricle.store import DomainSplit, TokenStore
from curricle.train.checkpoint import latest_complete

log = logging.getLogger(__name__)

HARDEST = "hardest.jsonl"
REGIONS = "regions.json"
REGIONS_MD = "regions.md"
#: Regions shown per domain in regions.md and on the console (regions.json has them all).
SHOWN = 15


class _Texts:
    """Documents' texts, decoded once."""

    def __init__(self, split: DomainSplit, tokenizer):
        self.split, self.tokenizer = split, tokenizer
        self._cache: dict[int, str] = {}

    def __call__(self, i: int) -> str:
        if i not in self._cache:
            self._cache[i] = self.tokenizer.decode(self.split.document(i).tolist())
        return self._cache[i]


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit] + "…", True)


@torch.no_grad()
def embed_documents(model: torch.nn.Module, docs: list[np.ndarray], max_tokens: int, batch_size: int,
                    pad_id: int, device: torch.device) -> np.ndarray:
    """Mean-pooled last hidden states of ``docs`` (their first ``max_tokens`` tokens; an empty
    one is its pad token), one row per document (float32)."""
    out = []
    for s in range(0, len(docs), batch_size):
        chunk = [np.asarray(d[:max_tokens], dtype=np.int64) for d in docs[s:s + batch_size]]
        chunk = [c if len(c) else np.array([pad_id]) for c in chunk]
        width = max(len(c) for c in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, c in enumerate(chunk):
            ids[r, :len(c)] = torch.from_numpy(c)
            mask[r, :len(c)] = 1
        hidden = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       output_hidden_states=True).hidden_states[-1].float()  # (B, T, C)
        m = mask.to(device).unsqueeze(-1).float()
        out.append(((hidden * m).sum(1) / m.sum(1)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _embedder(config: MineConfig, run_dir: Path, store: TokenStore):
    """A function from a split and its document indices to their embeddings, with the
    checkpoint named by ``config.model`` (default: the run's latest)."""
    path = config.model
    if path is None:
        latest = latest_complete(run_dir / "checkpoints")
        path = latest[1]  # load_document_state found one
    device = torch.device(config.device)
    model = build_model(ModelConfig(path=path), store.vocab_size, store.eos_id).to(device).eval()

    def embed(split: DomainSplit, index: list[int]) -> np.ndarray:
        return embed_documents(model, [split.document(i) for i in index], config.embed_tokens, config.batch_size,
                               store.eos_id, device)

    return embed, str(path)


def mine_domain(domain: str, arrays: dict[str, np.ndarray], split: DomainSplit, tokenizer, config: MineConfig,
                embed=None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One domain's regions, hard split and notes (for ``regions.json``) and its hardest
    documents (``hardest.jsonl`` rows)."""
    signals = document_signals(arrays, domain)
    n = split.n_docs
    if len(signals["loss"]) != n:
        raise CurricleError(f"domain '{domain}': the run's state has {len(signals['loss'])} documents, the store's "
                            f"train split {n} (a different store? pass the run's with --data-dir)")
    meta = split.meta().to_pydict()
    doc_ids = meta.get("doc_id") or [str(i) for i in range(n)]
    seen = np.isfinite(signals["loss"])
    classes = classify_trend(signals["trend"], config.trend_threshold)
    texts = _Texts(split, tokenizer)
    notes: list[str] = []

    groupings: list[Grouping] = metadata_groupings(meta, seen, config.by, config.max_values, config.numeric_bins,
                                                   notes)
    if config.minhash and seen.any():
        try:
            require("datasketch", "curricle mine's MinHash clusters")
            require("xxhash", "curricle mine's MinHash clusters")
        except CurricleError as err:
            notes.append(f"MinHash clusters skipped: {err}")
        else:
            seen_idx = np.flatnonzero(seen).tolist()
            groupings.append(minhash_grouping({i: texts(i) for i in seen_idx}, n, doc_ids, config.minhash_bands,
                                              config.minhash_rows, config.shingle_size))
    if embed is not None and seen.any():
        seen_idx = np.flatnonzero(seen).tolist()
        groupings.append(kmeans_grouping(embed(split, seen_idx), seen_idx, n, config.clusters, config.seed))
    missing = [c for c in config.by if c not in meta]
    if missing:
        notes.append(f"no column {', '.join(missing)} in this domain's metadata")

    def describe(i: int, limit: int) -> dict[str, Any]:
        text, cut = _cut(texts(i), limit)
        row = {"domain": domain, "index": i, "doc_id": doc_ids[i], "source": (meta.get("source") or [None] * n)[i]}
        row.update({s: signals[s][i] for s in SIGNALS})
        row["trend_class"] = classes[i]
        row["meta"] = {k: v[i] for k, v in meta.items() if k not in ("doc_id", "source")}
        return {**row, "text": text, "truncated": cut}

    result = domain_regions(signals, groupings, config.min_count)
    result["hard_split"] = hard_split(signals, config.hard_fraction, classes, config.examples,
                                      lambda i: describe(i, max(20, config.max_chars // 5)))
    result["groupings"] = [f"{g.kind}:{g.name}" for g in groupings]
    result["notes"] = notes
    idx = np.flatnonzero(seen)
    order = idx[np.lexsort((idx, -signals["loss"][idx]))][:config.top]
    hardest = [{"rank": r + 1, **describe(int(i), config.max_chars)} for r, i in enumerate(order)]
    return result, hardest


def mine_run(run_dir: Path | str, config: MineConfig | None = None, out: Path | str | None = None,
             data_dir: Path | str | None = None) -> dict[str, Any]:
    """Mine ``run_dir`` (see the module doc); returns what ``regions.json`` holds, with the
    output directory under ``out``."""
    run_dir = Path(run_dir)
    config = config or MineConfig()
    step, arrays = load_document_state(run_dir)
    data = resolve_data_dir(run_dir, run_config(run_dir), Path(data_dir) if data_dir is not None else None)
    store = TokenStore(data)
    tokenizer = store.load_tokenizer()
    domains = state_domains(arrays)
    if config.by:
        have = {c for d in domains for c in store.split(d).meta().column_names}
        absent = [c for c in config.by if c not in have]
        if absent:
            raise CurricleError(f"by: no metadata column {', '.join(absent)} in the mined domains "
                                f"(they have: {', '.join(sorted(have))})")
    embed, model = _embedder(config, run_dir, store) if config.clusters else (None, None)
    results, hardest = {}, []
    for d in domains:
        results[d], rows = mine_domain(d, arrays, store.split(d), tokenizer, config, embed)
        hardest.extend(rows)
    out_dir = Path(out) if out is not None else run_dir / "mine"
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = jsonable({"run": str(run_dir), "step": step, "data_dir": str(data), "embedding_model": model,
                        "settings": config.model_dump(mode="json"), "domains": results})
    atomic.write_text(out_dir / HARDEST, "".join(json.dumps(jsonable(r), ensure_ascii=False) + "\n" for r in hardest))
    atomic.write_text(out_dir / REGIONS, json.dumps(summary, indent=1, ensure_ascii=False))
    atomic.write_text(out_dir / REGIONS_MD, regions_markdown(summary))
    return {**summary, "out": str(out_dir)}


def _fmt(stat: dict[str, Any] | None, digits: int = 3) -> str:
    if not stat:
        return "-"
    ci = stat.get("ci95")
    return f"{stat['mean']:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _region_rows(domain: dict[str, Any]) -> list[list[str]]:
    rows = []
    for r in domain["regions"][:SHOWN]:
        rows.append([f"{r['column']} = {r['value']}", str(r["count"]), _fmt(r["error_rate"]), _fmt(r["loss"]),
                     _fmt(r["margin"]), f"{r['excess']:+.3f}" if r["excess"] is not None else "-",
                     "yes" if r["separated"] else "no"])
    return rows


HEAD = ["region", "docs", "error rate [95%]", "mean loss [95%]", "mean margin [95%]", "excess", "apart"]


def _split_line(s: dict[str, Any]) -> str:
    return (f"{s['hard']} hard (loss >= {s['loss_at_least']:.3f}): " if s["loss_at_least"] is not None else
            f"{s['hard']} hard: ") + ", ".join(f"{s[c]['count']} {c}" for c in ("learning", "stuck", "rising", "unknown"))


def regions_markdown(summary: dict[str, Any]) -> str:
    """``regions.md``: per domain, its regions as a table and the hard documents' split."""
    lines = [f"# Hard regions of {summary['run']} at step {summary['step']}", "",
             "Error rate: the document mean of 1 - top-1 accuracy, Wilson 95% interval over documents. "
             "Means: over documents, t 95% interval. Excess: the region's figure minus the domain's "
             "(error rate where the run keeps accuracies, else mean loss); apart: the region's interval and the rest of the domain's do not overlap. Stuck: |loss trend| <= "
             f"{summary['settings']['trend_threshold']} nats per visit; learning: below its negative.", ""]
    for name, d in summary["domains"].items():
        o = d["overall"]
        lines += [f"## {name}", "",
                  f"{d['seen']} documents seen ({d['unseen']} not yet); error rate {_fmt(o['error_rate'])}, "
                  f"mean loss {_fmt(o['loss'])}; regions ranked by {d['ranked_by']}.", ""]
        rows = _region_rows(d)
        if rows:
            lines += ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
            if len(d["regions"]) > SHOWN:
                lines.append(f"\n({len(d['regions']) - SHOWN} more in regions.json)")
        else:
            lines.append("No region with enough documents.")
        lines += ["", f"Hard documents: {_split_line(d['hard_split'])}.", ""]
        lines += [f"- {n}" for n in d["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def print_regions(summary: dict[str, Any], console: Console) -> None:
    for name, d in summary["domains"].items():
        table = Table(title=f"{name}: {d['seen']} documents seen, regions by {d['ranked_by']}", title_justify="left")
        for h in HEAD:
            table.add_column(h, justify="left" if h == "region" else "right")
        for r in _region_rows(d):
            table.add_row(*r)
        console.print(table)
        console.print(f"  hard documents: {_split_line(d['hard_split'])}")
        for n in d["notes"]:
            console.print(f"  note: {n}")


def mine_command(run_dir: Path, out: Path | None = None, top: int | None = None, by: list[str] | None = None,
                 clusters: int | None = None, model: Path | None = None, data_dir: Path | None = None,
                 config_path: Path | None = None, console: Console | None = None) -> dict[str, Any]:
    """The CLI verb: ``--config``'s settings, with the flags given on top."""
    config = load_mine_config(config_path)
    flags = {k: v for k, v in {"top": top, "by": by or None, "clusters": clusters, "model": model}.items()
             if v is not None}
    if flags:
        config = parse_model({**config.model_dump(), **flags}, MineConfig, "curricle mine")
    result = mine_run(run_dir, config, out, data_dir)
    console = console or wide_console()
    print_regions(result, console)
    console.print(f"mine: {result['out']}/{HARDEST}, {REGIONS}, {REGIONS_MD}")
    return result


__all__ = ["mine_run", "mine_domain", "mine_command", "embed_documents", "regions_markdown", "resolve_data_dir",
           "HARDEST", "REGIONS", "REGIONS_MD"]
