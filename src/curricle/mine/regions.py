"""Hard regions: where in a domain the errors are, with counts and intervals.

A *grouping* labels each document of a domain (a metadata value, a quantile bin of a numeric
column, a cluster); a *region* is one label's documents. For each region with at least
``min_count`` seen documents (documents the run has a loss for), :func:`domain_regions` gives:

- ``error_rate``: the document mean of 1 - accuracy (each document's smoothed share of its
  tokens whose top-1 prediction is wrong), with a Wilson 95% interval over the documents
  (conservative: each document's error lies in [0, 1], so its variance is at most
  p(1 - p)); None when the run's controller keeps no accuracy;
- the document mean of ``loss``, ``margin``, ``confidence``, ``calibration`` and ``trend``,
  each with a t 95% interval;
- ``excess``: how far the region's ranking metric lies above the domain's (the error rate
  when the domain has accuracies, else the mean loss), and the rest of the domain's figure and
  interval beside it; ``separated`` says the two intervals do not overlap.

Regions are sorted by ``excess``, highest first. Groupings: :func:`metadata_groupings` (every
column with few values, quantile bins of numeric ones, the columns asked for),
:func:`minhash_groupings` (documents sharing a MinHash LSH band, as connected components, the
curate step's signatures) and :func:`kmeans_grouping` (k-means on document embeddings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.stats import t as student_t

from curricle.curate.config import NearDedupConfig
from curricle.curate.dedup import MinHasher

Z95 = 1.959963984540054
#: Columns never grouped by: one value per document.
IDENTIFIERS = frozenset({"doc_id"})
#: The signals a region reports the mean of.
MEANS = ("loss", "margin", "confidence", "calibration", "trend")


@dataclass
class Grouping:
    """One way of cutting a domain into regions: ``labels[i]`` is document ``i``'s region
    (None: in none). ``kind``: ``meta``, ``minhash`` or ``kmeans``; ``name``: the column."""

    kind: str
    name: str
    labels: list[str | None]


def wilson(p: float, n: int, z: float = Z95) -> list[float] | None:
    """Wilson score interval of a proportion ``p`` observed over ``n`` trials."""
    if n <= 0:
        return None
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def t_interval(values: np.ndarray) -> dict[str, Any] | None:
    """Mean of the finite ``values`` with a t 95% interval (None for the interval with fewer
    than 2 values); None when there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    mean = float(v.mean())
    if len(v) < 2:
        return {"mean": mean, "ci95": None, "n": 1}
    half = float(student_t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": int(len(v))}


def error_rate(accuracy: np.ndarray) -> dict[str, Any] | None:
    """Document mean of 1 - accuracy with a Wilson interval over the documents; None
    without accuracies."""
    a = np.asarray(accuracy, dtype=np.float64)
    a = a[np.isfinite(a)]
    if not len(a):
        return None
    p = float(np.clip(1.0 - a, 0.0, 1.0).mean())
    return {"mean": p, "ci95": wilson(p, len(a)), "n": int(len(a))}


def summarize(signals: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, Any]:
    """Count, error rate and mean signals of the documents in ``mask``."""
    out: dict[str, Any] = {"count": int(mask.sum()), "error_rate": error_rate(signals["accuracy"][mask])}
    for name in MEANS:
        out[name] = t_interval(signals[name][mask])
    return out


def _value(stat: dict[str, Any] | None) -> float | None:
    return None if stat is None else stat["mean"]


def domain_regions(signals: dict[str, np.ndarray], groupings: Sequence[Grouping],
                   min_count: int) -> dict[str, Any]:
    """The domain's overall figures and its regions (see the module doc), over the documents
    the run has seen (a finite ``loss``)."""
    seen = np.isfinite(signals["loss"])
    overall = summarize(signals, seen)
    metric = "error_rate" if overall["error_rate"] is not None else "loss"
    base = _value(overall[metric])
    regions, small = [], 0
    for g in groupings:
        labels = np.array(["" if x is None else str(x) for x in g.labels], dtype=object)
        has = np.array([x is not None for x in g.labels])
        for value in sorted(set(labels[has & seen].tolist())):
            mask = seen & has & (labels == value)
            if mask.sum() < min_count:
                small += 1
                continue
            r = summarize(signals, mask)
            rest = summarize(signals, seen & ~mask)
            mine, other = r[metric], rest[metric]
            r = {"kind": g.kind, "column": g.name, "value": value, **r,
                 "excess": (_value(mine) - base) if mine is not None and base is not None else None,
                 "rest": {"count": rest["count"], metric: other},
                 "separated": bool(mine and other and mine["ci95"] and other["ci95"]
                                   and (mine["ci95"][0] > other["ci95"][1] or mine["ci95"][1] < other["ci95"][0]))}
            regions.append(r)
    regions.sort(key=lambda r: (-(r["excess"] if r["excess"] is not None else -math.inf), r["column"], r["value"]))
    return {"ranked_by": metric, "seen": int(seen.sum()), "unseen": int((~seen).sum()), "overall": overall,
            "regions": regions, "regions_too_small": small}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _label(v: Any) -> str:
    """A metadata value as a region's label (a float to 4 significant digits)."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def quantile_labels(values: Sequence[Any], seen: np.ndarray, bins: int) -> list[str | None]:
    """Each document's quantile bin of ``values`` (over the seen documents), as
    ``q2 [lo, hi]``; None for a missing value."""
    x = np.array([float(v) if _is_number(v) and math.isfinite(v) else np.nan for v in values])
    ok = np.isfinite(x)
    pool = x[ok & seen]
    if not len(pool):
        return [None] * len(x)
    edges = np.unique(np.quantile(pool, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges[1:-1], x, side="right"), 0, max(len(edges) - 2, 0))
    out: list[str | None] = []
    for i, v in enumerate(x):
        if not ok[i]:
            out.append(None)
            continue
        lo, hi = edges[which[i]], edges[min(which[i] + 1, len(edges) - 1)]
        out.append(f"q{which[i] + 1} [{lo:.4g}, {hi:.4g}]")
    return out


def metadata_groupings(meta: dict[str, list[Any]], seen: np.ndarray, by: Sequence[str], max_values: int,
                       numeric_bins: int, notes: list[str] | None = None) -> list[Grouping]:
    """Groupings by metadata: every column with 2 to ``max_values`` distinct values over the
    seen documents, numeric columns with more in ``numeric_bins`` quantile bins, ``source``
    whenever it has 2 values or more, and the columns in ``by`` whatever their values (numeric
    ones binned, 4 bins if ``numeric_bins`` is 0). Identifiers (``doc_id``) are never used.
    ``notes``: where to say which columns with values to group by were left out, and why."""
    out = []
    for col, values in meta.items():
        if col in IDENTIFIERS and col not in by:
            continue
        values = [_plain(v) for v in values]
        present = [v for v, s in zip(values, seen) if s and v is not None]
        distinct = set(map(str, present))
        numeric = present and all(_is_number(v) for v in present)
        always = col in by or (col == "source" and len(distinct) >= 2)
        if 2 <= len(distinct) <= max_values or (always and not numeric and distinct):
            out.append(Grouping("meta", col, [None if v is None else _label(v) for v in values]))
        elif numeric and len(distinct) > max_values and (numeric_bins or col in by):
            out.append(Grouping("meta", col, quantile_labels(values, seen, numeric_bins or 4)))
        elif notes is not None and (len(distinct) > max_values or col in by):
            why = ("a single value among the seen documents" if len(distinct) <= 1 else
                   "numeric, and numeric_bins is 0" if numeric else
                   f"{len(distinct)} values, more than max_values ({max_values}); --by {col} groups by it anyway")
            notes.append(f"metadata column '{col}' left out: {why}")
    return out


def band_components(signatures: Sequence[np.ndarray | None], bands: int, rows: int) -> np.ndarray:
    """Connected components of documents sharing any LSH band (``rows`` hash values) of
    their MinHash signatures: the component's smallest document index per document (-1 for a
    document without a signature)."""
    parent = list(range(len(signatures)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    buckets: dict[tuple[int, bytes], int] = {}
    for i, sig in enumerate(signatures):
        if sig is None:
            continue
        for b in range(bands):
            key = (b, np.asarray(sig[b * rows:(b + 1) * rows]).tobytes())
            j = buckets.setdefault(key, i)
            if j != i:
                ri, rj = find(i), find(j)
                parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) if sig is not None else -1 for i, sig in enumerate(signatures)], dtype=np.int64)


def minhash_grouping(texts: dict[int, str], n_docs: int, doc_ids: Sequence[Any], bands: int, rows: int,
                     shingle_size: int) -> Grouping:
    """Documents (``texts``: the seen ones by index) clustered by shared MinHash LSH bands; a
    cluster of two or more is labelled ``like <doc_id of its first document>``."""
    hasher = MinHasher(NearDedupConfig(bands=bands, rows=rows, shingle_size=shingle_size))
    index = sorted(texts)
    comp = band_components([hasher(texts[i]) for i in index], bands, rows)
    sizes: dict[int, int] = {}
    for c in comp[comp >= 0].tolist():
        sizes[c] = sizes.get(c, 0) + 1
    labels: list[str | None] = [None] * n_docs
    for k, c in zip(index, comp.tolist()):
        if c >= 0 and sizes[c] >= 2:
            labels[k] = f"like {doc_ids[index[c]]}"
    return Grouping("minhash", "minhash", labels)


def kmeans_grouping(embeddings: np.ndarray, index: Sequence[int], n_docs: int, k: int, seed: int) -> Grouping:
    """k-means (scipy's ``kmeans2``, k-means++ start, ``seed``) of the rows of
    ``embeddings`` (documents ``index``) into ``k`` clusters, labelled ``k-means <c>``."""
    x = np.asarray(embeddings, dtype=np.float64)
    k = min(k, len(x))
    labels: list[str | None] = [None] * n_docs
    if k < 2:
        return Grouping("kmeans", "kmeans", labels)
    _, assign = kmeans2(x, k, minit="++", rng=np.random.default_rng(seed))
    for doc, c in zip(index, assign.tolist()):
        labels[doc] = f"k-means {c}"
    return Grouping("kmeans", "kmeans", labels)


def hard_split(signals: dict[str, np.ndarray], fraction: float, classes: np.ndarray, examples: int,
               describe: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """The hardest ``fraction`` of the seen documents (by latest loss) by trend class, counted,
    with up to ``examples`` documents per class (hardest first, ``describe(i)`` each)."""
    loss = signals["loss"]
    seen = np.flatnonzero(np.isfinite(loss))
    n_hard = int(math.ceil(fraction * len(seen))) if len(seen) else 0
    order = seen[np.lexsort((seen, -loss[seen]))][:n_hard]
    out: dict[str, Any] = {"hard": n_hard, "loss_at_least": float(loss[order[-1]]) if n_hard else None}
    for cls in ("learning", "stuck", "rising", "unknown"):
        docs = [int(i) for i in order if classes[i] == cls]
        out[cls] = {"count": len(docs), "examples": [describe(i) for i in docs[:examples]]}
    return out


__all__ = ["Grouping", "wilson", "t_interval", "error_rate", "summarize", "domain_regions", "quantile_labels",
           "metadata_groupings", "band_components", "minhash_grouping", "kmeans_grouping", "hard_split", "Z95"]
