"""Compare two data versions: every section on OLD vs NEW, judged against split-halves of OLD.

The null pairs are split-halves of OLD matched to how much of each domain changed
(:func:`~curricle.drift.corpus.churn`, :meth:`~curricle.drift.corpus.Corpus.null_pair`): two
versions that share 90% of a domain's documents are judged against halves that share 90%,
since a statistic between largely shared sides is far less noisy than between disjoint ones;
two versions with nothing in common are judged against plain split-halves.

:func:`compare` is the whole comparison as a function (``curricle drift`` and the benchmark
call it); it returns the JSON-able content of ``drift.json``::

    {"old": {label, kind, snapshot, domains}, "new": {...},   a run's side adds store and served
     "verdict": worst verdict, "counts": {OK, WARN, DRIFT},
     "drifted": [{section, domain, statistic, verdict, value, z}],   WARN and DRIFT, worst first
     "lineage": {...},                                               curricle.drift.lineage
     "churn": {domain: share of documents not in common, by content},  what the null swaps
     "checks": [Check.to_json() ...],                                every statistic, judged
     "settings": DriftConfig, "docs": documents read, "seconds": wall time}

A check's numbers, in ``drifted`` and ``checks`` alike, are valid JSON
(:func:`~curricle.drift.verdict.json_number`): NaN as null and an infinity as the string
``"inf"`` (a constant column on OLD against a varying one on NEW moves infinitely many of
OLD's standard deviations).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np
from rich.progress import Progress

from curricle.drift.config import SECTIONS, DriftConfig
from curricle.drift.corpus import Corpus, churn
from curricle.drift.lineage import lineage
from curricle.drift.verdict import LEVELS, Check, judge, json_number, worst


def _side(corpus: Corpus) -> dict[str, Any]:
    side = {"label": corpus.label, "kind": corpus.kind, "snapshot": corpus.snapshot,
            "domains": {d: {"docs": docs.n_docs, "tokens": docs.n_tokens} for d, docs in sorted(corpus.domains.items())}}
    if corpus.served is not None:  # a training run: its store and what it served
        side.update(store=corpus.info.get("store"), served=corpus.served.to_json())
    return side


def compare(old: Corpus, new: Corpus, config: DriftConfig | None = None, progress: bool = False) -> dict[str, Any]:
    """OLD against NEW (see the module docstring)."""
    config = config or DriftConfig()
    start = time.perf_counter()
    sections = [SECTIONS[name](config) for name in config.section_names()]
    rng = np.random.default_rng(config.seed)
    swapped = churn(old, new)
    null: dict[tuple, list[float]] = defaultdict(list)
    observed = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("drift", total=len(sections) * (1 + config.null_splits))
        for section in sections:
            bar.update(task, description=f"drift: {section.name} OLD vs NEW")
            observed.extend(section.measure(old, new, detail=True))
            bar.advance(task)
        for r in range(config.null_splits):
            a, b = old.null_pair(rng, swapped)
            for section in sections:
                bar.update(task, description=f"drift: {section.name} on halves of OLD ({r + 1}/{config.null_splits})")
                for m in section.measure(a, b, detail=False):
                    null[m.key].append(m.value)
                bar.advance(task)
    checks = [judge(m, null.get(m.key, []), config.warn_sd, config.drift_sd, config.min_docs) for m in observed]
    return summarize(old, new, checks, config, time.perf_counter() - start, swapped)


def summarize(old: Corpus, new: Corpus, checks: list[Check], config: DriftConfig, seconds: float,
              swapped: dict[str, float]) -> dict[str, Any]:
    counts = {level: sum(c.verdict == level for c in checks) for level in LEVELS}
    # Worst first: DRIFT before WARN, then by z as drift.json writes it (6 decimals), then by
    # name, so the order is the same for every reader of the file.
    flagged = sorted((c for c in checks if c.verdict != "OK"),
                     key=lambda c: (-LEVELS.index(c.verdict), -(round(c.z, 6) if c.z is not None else 0.0),
                                    c.section, c.domain or "", c.statistic))
    docs = sum(d.n_docs for d in old.domains.values()) + sum(d.n_docs for d in new.domains.values())
    return {
        "old": _side(old), "new": _side(new),
        "verdict": worst([c.verdict for c in checks]), "counts": counts,
        "drifted": [{"section": c.section, "domain": c.domain, "statistic": c.statistic, "verdict": c.verdict,
                     "value": json_number(c.value), "z": json_number(c.z, 2)} for c in flagged],
        "lineage": lineage(old, new),
        "churn": {d: round(c, 6) for d, c in swapped.items()},
        "checks": [c.to_json() for c in checks],
        "settings": config.model_dump(mode="json"),
        "docs": docs,
        "seconds": round(seconds, 3),
    }


def fails(result: dict[str, Any], fail_on: str) -> bool:
    """Whether ``result``'s worst verdict reaches ``fail_on`` (``warn``, ``drift``; ``never``: no)."""
    if fail_on == "never":
        return False
    return LEVELS.index(result["verdict"]) >= LEVELS.index(fail_on.upper())
