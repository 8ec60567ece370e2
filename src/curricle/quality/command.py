"""``curricle quality train``: a quality classifier from the user's reference documents.

DCLM's recipe: reference documents (``--positive``) against other documents: given ones
(``--negative``) or a seeded random sample of a domain of the run config (``--negative-from
DOMAIN``, read from all of that domain's sources, as ``curate`` reads them). The classes are
balanced (the larger sampled down to the smaller, at most ``max_docs_per_class`` each), a share
of each is held out (10%), and the held-out precision, recall and AUC are printed as a table
and written beside the model (``MODEL`` with ``.metrics.json`` for its suffix).

``FILES`` are read with curricle's source readers, by what they are: ``.jsonl`` /
``.jsonl.gz`` / ``.jsonl.zst`` (one document per record, its ``text_field``), ``.parquet``
(the ``text_field`` column), a directory (every ``*.txt`` under it, one document per file, as
the ``text`` source), or any other file (one document: the whole file, as the ``text`` source
reads it). A glob names several.
"""

from __future__ import annotations

import glob as globlib
import logging
from pathlib import Path
from typing import Iterator

import numpy as np
from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.config import load_config, load_model_file, parse_model
from curricle.errors import CurricleError
from curricle.quality.classifier import TrainResult, train
from curricle.quality.config import QualityTrainConfig
from curricle.sources import build_source
from curricle.sources.config import JsonlConfig, ParquetConfig, SourceConfig, TextDirConfig

log = logging.getLogger(__name__)


def file_sources(spec: str, text_field: str, flag: str) -> list[SourceConfig]:
    """The source configs reading ``spec`` (a file, a directory or a glob); a one-line error
    naming ``flag`` and ``spec`` when it matches nothing."""
    expanded = str(Path(spec).expanduser())
    paths = sorted(Path(p) for p in globlib.glob(expanded, recursive=True)) if globlib.has_magic(expanded) \
        else [Path(expanded)]
    paths = [p for p in paths if p.exists()]
    if not paths:
        raise CurricleError(f"{flag}: no such file or directory: {spec}")
    out: list[SourceConfig] = []
    for p in paths:
        name = p.name.lower()
        if p.is_dir():
            out.append(TextDirConfig(domain=flag.lstrip("-"), path=str(p)))
        elif name.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst")):
            out.append(JsonlConfig(domain=flag.lstrip("-"), path=str(p), text_field=text_field))
        elif name.endswith(".parquet"):
            out.append(ParquetConfig(domain=flag.lstrip("-"), path=str(p), text_field=text_field))
        else:
            out.append(TextDirConfig(domain=flag.lstrip("-"), path=str(p.parent), glob=globlib.escape(p.name)))
    return out


def read_texts(specs: list[str], text_field: str, flag: str) -> list[str]:
    """Every document text of the files ``specs`` name, in order; one-line errors naming ``flag``."""
    texts: list[str] = []
    for spec in specs:
        for cfg in file_sources(spec, text_field, flag):
            try:
                texts.extend(d.text for d in build_source(cfg))
            except CurricleError as e:
                raise CurricleError(f"{flag}: {e}") from None
    return texts


def domain_texts(run_config: Path, domain: str) -> Iterator[str]:
    """The documents of ``domain``'s sources in the run config, as ``curate`` reads them."""
    cfg = load_config(run_config)
    sources = [s for s in cfg.sources if s.domain == domain]
    if not sources:
        known = sorted({s.domain for s in cfg.sources})
        raise CurricleError(f"--negative-from: no source of domain '{domain}' in {run_config} "
                            f"(its domains: {', '.join(known)})")
    for s in sources:
        for d in build_source(s):
            if d.domain == domain:
                yield d.text


def reservoir(items: Iterator[str], k: int, rng: np.random.Generator) -> tuple[list[str], int]:
    """A uniform sample of ``k`` of ``items`` (Algorithm R; in stream order) and how many there were."""
    sample: list[str] = []
    slots: list[int] = []
    n = 0
    for n, item in enumerate(items, start=1):
        if len(sample) < k:
            sample.append(item)
            slots.append(n)
        else:
            j = int(rng.integers(0, n))
            if j < k:
                sample[j] = item
                slots[j] = n
    order = np.argsort(slots, kind="stable")
    return [sample[i] for i in order], n


def balanced(pos: list[str], neg: list[str], cap: int | None, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Both classes sampled (seeded, order kept) down to ``min(len(pos), len(neg), cap)``."""
    n = min(len(pos), len(neg), cap or len(pos))

    def down(x: list[str]) -> list[str]:
        return x if len(x) == n else [x[i] for i in np.sort(rng.choice(len(x), n, replace=False))]

    return down(pos), down(neg)


def train_quality_model(positive: list[str], out: Path, *, negative: list[str] | None = None,
                        negative_from: str | None = None, run_config: Path | None = None,
                        cfg: QualityTrainConfig | None = None, progress: bool = False) -> TrainResult:
    """Train, write the model to ``out`` and its metrics beside it; returns both."""
    cfg = cfg or QualityTrainConfig()
    if not positive:
        raise CurricleError("--positive: give at least one file of reference documents")
    if negative and negative_from:
        raise CurricleError("--negative and --negative-from: give one of them, not both")
    if not negative and not negative_from:
        raise CurricleError("--negative or --negative-from: give the documents to tell the reference from")
    if negative_from and run_config is None:
        raise CurricleError("--negative-from: needs a run config (CONFIG) whose sources hold the domain")
    pos = read_texts(positive, cfg.text_field, "--positive")
    if not pos:
        raise CurricleError(f"--positive: no documents in {', '.join(positive)}")
    rng = np.random.default_rng(cfg.seed)
    cap = min(len(pos), cfg.max_docs_per_class or len(pos))
    if negative:
        neg = read_texts(negative, cfg.text_field, "--negative")
        if not neg:
            raise CurricleError(f"--negative: no documents in {', '.join(negative)}")
        seen, where = len(neg), {"negative_files": list(negative)}
    else:
        neg, seen = reservoir(domain_texts(Path(run_config), negative_from), cap, rng)
        if not neg:
            raise CurricleError(f"--negative-from: domain '{negative_from}' of {run_config} has no documents")
        where = {"negative_from": negative_from, "run_config": str(run_config)}
    pos_b, neg_b = balanced(pos, neg, cfg.max_docs_per_class, rng)
    provenance = {"positive_files": list(positive), **where, "positives_read": len(pos), "negatives_read": seen}
    result = train(pos_b, neg_b, cfg, provenance, progress=progress)
    sha = result.classifier.save(out)
    result.metrics["model"] = {"path": str(out), "sha256": sha, "bytes": out.stat().st_size}
    result.metrics["data"] = provenance
    atomic.write_json(metrics_path(out), result.metrics)
    return result


def metrics_path(model: Path) -> Path:
    """Where the training metrics of ``model`` go: its name with ``.metrics.json`` for its suffix."""
    return Path(model).with_suffix(".metrics.json")


def print_metrics(result: TrainResult, console: Console) -> None:
    m = result.metrics
    h = m["heldout"]
    table = Table(title="quality classifier, held-out documents")
    for col in ("positives", "negatives", "precision", "recall", "AUC", "accuracy"):
        table.add_column(col, justify="right")
    fmt = lambda x: "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)  # noqa: E731
    table.add_row(*(fmt(h[k]) for k in ("positives", "negatives", "precision", "recall", "auc", "accuracy")))
    console.print(table)
    t = m["train"]
    console.print(f"trained on {t['positives']} + {t['negatives']} documents ({t['words']:,} words) in "
                  f"{t['seconds']:.2f}s; precision and recall at score >= {h['threshold']}")
    if m.get("data", {}).get("negative_from"):
        console.print("negatives are a sample of the corpus: its reference-like documents count as negatives here, "
                      "so a classifier that finds every junk document has a held-out AUC of about 1 - (their share) "
                      "/ 2 (0.75 at half), not 1")
    info = result.classifier.info
    if "combiner" in info:
        console.print(f"score: a logistic regression on {', '.join(info['features'])} "
                      f"({len(info['combiner']['signals'])} signals, cross-fitted in {info['combiner']['folds']} folds)")
    else:
        console.print("score: fastText's probability")
    console.print(f"model: {m['model']['path']} (sha256 {m['model']['sha256'][:16]}); metrics: "
                  f"{metrics_path(Path(m['model']['path']))}")


def quality_train_command(config: Path | None, positive: list[str], negative: list[str], negative_from: str | None,
                          out: Path, settings: Path | None = None, text_field: str | None = None) -> TrainResult:
    """``curricle quality train``: train, write, print the held-out table."""
    cfg = load_model_file(settings, QualityTrainConfig, "quality settings") if settings else QualityTrainConfig()
    if text_field is not None:
        cfg = parse_model({**cfg.model_dump(), "text_field": text_field}, QualityTrainConfig, "--text-field")
    result = train_quality_model(positive, Path(out), negative=negative, negative_from=negative_from,
                                 run_config=config, cfg=cfg, progress=True)
    print_metrics(result, Console())
    return result

