"""The checkpoint tables a rule chooses from, as rows of named columns, and what the
shorthands ``best-mean`` and ``last`` mean for each.

**Pipeline** (``DIR/pipeline.json``'s table; one row per stage's chosen checkpoint, the start
first): each ``evaluate`` task's test exact match under the task's own name, ``mean``,
``worst``, ``length`` (mean greedy completion tokens), ``tokens`` (training tokens spent to get
there), ``probe_mean``, ``probe_change`` (from the start), ``probe_drop`` (its negative: how far
the probes fell), ``probe:<name>`` per probe, ``flags`` (the stage's RL guard flags) and ``row``
(0 for the first). ``best-mean``: the highest ``mean`` subject to ``probe_drop <=
max_probe_drop``, ties: fewer ``tokens``; ``last``: the last row.

**Pretraining** (the report's checkpoint table; one row per step with a checkpoint on disk, an
evaluation or probe scores): ``step``, ``tokens``, ``on_disk`` (1 or 0), ``loss_mean`` and
``loss_worst`` (held-out loss over domains), ``loss_all``, ``loss:<domain>``, ``ece``,
``probe:<task>`` per probe task, ``probe_mean`` and ``row``. ``best-mean``: the lowest
``loss_mean`` subject to ``on_disk == 1`` (a run with no checkpoint on disk yet: among all
rows, flagged infeasible); ``last``: the highest ``step`` on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from curricle.selection.config import PIPELINE_COLUMNS, PRETRAIN_COLUMNS, SelectRule, SelectSpec

#: The RL guards' flag events counted in a pipeline row's ``flags``.
FLAG_EVENTS = ("reward-hacking", "length-drift", "format-drift", "mode-collapse", "grader-failure")


def pipeline_rule(spec: SelectSpec, max_probe_drop: float) -> SelectRule:
    """``spec`` as a rule over the pipeline's table (the shorthands resolved)."""
    if spec == "best-mean":
        return SelectRule(maximize="mean", subject_to={"probe_drop": f"<= {max_probe_drop}"}, tie="tokens")
    if spec == "last":
        return SelectRule(maximize="row")
    return spec  # type: ignore[return-value]


def pretrain_rule(spec: SelectSpec | None) -> SelectRule:
    """``spec`` as a rule over a pretraining run's table (None: ``best-mean``)."""
    if spec is None or spec == "best-mean":
        return SelectRule(minimize="loss_mean", subject_to={"on_disk": "== 1"})
    if spec == "last":
        return SelectRule(maximize="step", subject_to={"on_disk": "== 1"})
    return spec  # type: ignore[return-value]


def pipeline_rows(table: Sequence[dict[str, Any]], flags: dict[str, int] | None = None
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """``(rows, known columns)`` of the pipeline's checkpoint table (a task named like a fixed
    column is shadowed by it)."""
    flags = flags or {}
    rows, tasks, probes = [], [], []
    for i, r in enumerate(table):
        change = r.get("probe_change")
        row: dict[str, Any] = {}
        for t, v in (r.get("test") or {}).items():
            row[t] = v
            tasks.append(t)
        for p, v in (r.get("probes") or {}).items():
            name = p if p.startswith("probe:") else f"probe:{p}"
            row[name] = v
            probes.append(name)
        row.update({"mean": r.get("mean"), "worst": r.get("worst"), "length": r.get("length"),
                    "tokens": r.get("tokens"), "probe_mean": r.get("probe_mean"), "probe_change": change,
                    "probe_drop": -change if change is not None else None,
                    "flags": flags.get(r.get("stage"), 0), "row": i})
        rows.append(row)
    extra = [c for c in dict.fromkeys(tasks + probes) if c not in PIPELINE_COLUMNS]
    return rows, [*extra, *PIPELINE_COLUMNS]


def pretrain_rows(table: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """``(rows, known columns)`` of a pretraining run's checkpoint table (``collect_run``'s)."""
    rows, domains, probes = [], [], []
    for i, r in enumerate(table):
        row: dict[str, Any] = {"step": r["step"], "tokens": r.get("tokens"), "on_disk": 1 if r.get("on_disk") else 0,
                               "loss_mean": r.get("eval_loss_mean"), "loss_worst": r.get("eval_loss_worst"),
                               "loss_all": r.get("eval_loss_all"), "ece": r.get("ece"), "row": i}
        for d, v in (r.get("eval_loss") or {}).items():
            row[f"loss:{d}"] = v
            domains.append(f"loss:{d}")
        scores = {f"probe:{t}": v for t, v in (r.get("probes") or {}).items()}
        row.update(scores)
        probes.extend(scores)
        vals = [v for v in scores.values() if v is not None]
        row["probe_mean"] = sum(vals) / len(vals) if vals else None
        rows.append(row)
    return rows, [*PRETRAIN_COLUMNS, *dict.fromkeys(domains), *dict.fromkeys(probes)]


def stage_flags(run_dir: Path, stages: Sequence[str]) -> dict[str, int]:
    """Each pipeline stage's RL guard flags (:data:`FLAG_EVENTS` in ``DIR/<stage>/events.jsonl``;
    an unreadable line is skipped)."""
    out = {}
    for s in stages:
        path = Path(run_dir) / s / "events.jsonl"
        n = 0
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                n += isinstance(e, dict) and e.get("event") in FLAG_EVENTS
        out[s] = n
    return out


__all__ = ["FLAG_EVENTS", "PIPELINE_COLUMNS", "PRETRAIN_COLUMNS", "pipeline_rule", "pretrain_rule",
           "pipeline_rows", "pretrain_rows", "stage_flags"]
