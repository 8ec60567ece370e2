"""What a report shows, read from a run directory into one JSON-able dict.

Everything the page plots is in this dict, and the page embeds it as JSON
(``<script type="application/json" id="curricle-data">``), so what a reader sees can be
checked from the file itself. Every part is optional: a run still in progress, or one
without probes, curation, a controller or stability events, gives a dict without those parts
and a ``missing`` entry saying why, never an error.

Read from ``RUN/``: ``config.yaml`` (phases, schedules, where the curation output is; the
run's length until it recorded its own, :func:`_run_length`),
``metrics.jsonl`` (per step: tokens, lr, seq_len, phase, weights, losses; held-out loss and
calibration on evaluation steps), ``mixture_log.jsonl`` (the controller's audit log),
``events.jsonl`` (skips, rollbacks, resumes, stops, run lengths), ``checkpoints/step_N/``
(which are on disk; the newest one's run length and stop) and
``probes.jsonl`` (probe scores; more files with ``probes=``). The curation funnel is the
``funnel.json`` in the config's ``curate.output_dir``. Hard examples (:func:`hard_examples`):
the document priorities in ``mixture_log.jsonl``, ``RUN/mine/regions.json`` (``curricle mine``),
the group metrics, ``RUN/augment_log.jsonl`` and the ``lineage.json`` of a pruned store. The
checkpoint table's choice: by the rule in ``RUN/selection.json`` (``curricle select``), else
``best-mean`` (:func:`_selection`).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from pydantic import ValidationError

from curricle.config import read_yaml
from curricle.curate.funnel import read_funnel
from curricle.emergence.config import MapConfig
from curricle.emergence.map import map_rows, metric_of
from curricle.emergence.phases import run_phases
from curricle.errors import CurricleError
from curricle.probes.results import read_rows, read_run_rows
from curricle.selection.config import SelectRule
from curricle.selection.rule import choose, pareto_front
from curricle.selection.tables import pretrain_rows, pretrain_rule
from curricle.train.checkpoint import STATE_FILE, check_complete, step_dirs

SCHEMA = "curricle.report/1"
#: Series longer than this are thinned to about this many points (evaluation steps, phase
#: starts, audit and event steps are always kept), so a 100k-step run still opens quickly.
MAX_POINTS = 2000
#: Audit-log entries and stability events shown (and embedded) at most: a controller that
#: updates every step of a long run writes one entry a step. Every k-th is kept, and the last.
MAX_ROWS = 2000


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Rows of a JSON Lines file and how many lines could not be read (a run still writing
    may end in half a line)."""
    rows, bad = [], 0
    if not path.is_file():
        return rows, bad
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    return rows, bad


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or None if it is missing or unreadable (a run still writing it)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _num(v: Any) -> float | int | None:
    """A finite number as it was logged (integers stay integers), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, int):
        return v
    return v if math.isfinite(v) else None


def _read_config(run: Path) -> dict[str, Any]:
    p = run / "config.yaml"
    data = read_yaml(p, "run config") if p.is_file() else None
    return data if isinstance(data, dict) else {}


def _phases(config: dict[str, Any], total_steps: int | None) -> list[dict[str, Any]]:
    starts = run_phases(config)
    out = []
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else total_steps
        out.append({"name": name, "start_step": start, "end_step": end})
    return out


def _thin(n: int, limit: int, keep=lambda i: False) -> list[int]:
    """Indices of ``n`` items to show, about ``limit`` of them: every k-th, the last, and
    those ``keep(i)`` asks for (all of them when ``n <= limit``)."""
    if n <= limit:
        return list(range(n))
    k = math.ceil(n / limit)
    return [i for i in range(n) if i % k == 0 or i == n - 1 or keep(i)]


def _every_kth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rows[i] for i in _thin(len(rows), MAX_ROWS)]


def _metrics(rows: list[dict[str, Any]], keep: set[int]) -> dict[str, Any]:
    by_step: dict[int, dict[str, Any]] = {}
    for r in rows:
        s = r.get("step")
        if isinstance(s, int):
            by_step[s] = r  # after a resume or rollback, the last record of a step is the one that counted
    steps = sorted(by_step)
    recs = [by_step[s] for s in steps]
    domains = sorted({k.split("/", 1)[1] for r in recs for k in r if k.startswith(("weight/", "loss/"))})
    eval_recs = [r for r in recs if "eval/loss" in r]
    keep = keep | {r["step"] for r in eval_recs}
    idx = _thin(len(steps), MAX_POINTS, lambda i: steps[i] in keep)
    pick = [recs[i] for i in idx]

    def col(key: str, rs: Sequence[dict[str, Any]] = pick) -> list[float | None]:
        return [_num(r.get(key)) for r in rs]

    series = {
        "step": [r["step"] for r in pick], "tokens": col("tokens"), "lr": col("lr"), "seq_len": col("seq_len"),
        "phase": [r.get("phase") for r in pick], "loss": col("loss"), "grad_norm": col("grad_norm"),
        "tokens_per_s": col("tokens_per_s"),
        "loss_by_domain": {d: col(f"loss/{d}") for d in domains},
        "weights": {d: col(f"weight/{d}") for d in domains},
        "thinned": len(pick) < len(recs),
    }
    evals = {
        "step": [r["step"] for r in eval_recs], "tokens": col("tokens", eval_recs),
        "loss": col("eval/loss", eval_recs), "ece": col("eval/ece", eval_recs),
        "loss_by_domain": {d: col(f"eval/loss/{d}", eval_recs) for d in domains},
        "ppl_by_domain": {d: col(f"eval/ppl/{d}", eval_recs) for d in domains},
        "ece_by_domain": {d: col(f"eval/ece/{d}", eval_recs) for d in domains},
    }
    return {"domains": domains, "series": series, "eval": evals, "last": recs[-1] if recs else None,
            "token_at_step": {r["step"]: r.get("tokens") for r in recs}}


def _checkpoints_on_disk(run: Path) -> dict[int, str]:
    return {step: str(p) for step, p in step_dirs(run / "checkpoints") if check_complete(p) is None}


def _run_length(config: dict[str, Any], on_disk: dict[int, str], events: list[dict[str, Any]]
                ) -> tuple[int | None, dict[str, Any] | None]:
    """How many steps the run trains, as it recorded it, and the stop that ended it early (None
    if none): the newest checkpoint's ``total_steps`` and ``stopped`` (its length after
    ``--max-steps``, the length a resumed run kept, a stop), then the ``run-length`` (a resume's
    ``--max-steps``) and ``stop`` events from that step on; before any checkpoint, config.yaml's
    ``train.steps`` and the events."""
    train = config.get("train")
    total = train.get("steps") if isinstance(train, dict) else None
    total = total if isinstance(total, int) and not isinstance(total, bool) else None
    since, stopped = 0, None
    if on_disk:
        since = max(on_disk)
        state = read_json(Path(on_disk[since]) / STATE_FILE)
        state = state if isinstance(state, dict) else {}
        if isinstance(state.get("total_steps"), int):
            total = state["total_steps"]
        if isinstance(state.get("stopped"), dict) and isinstance(state["stopped"].get("step"), int):
            stopped = state["stopped"]
    for e in events:
        if not isinstance(e.get("step"), int) or e["step"] < since:
            continue  # the checkpoint has it
        if e.get("event") == "run-length" and isinstance(e.get("new"), int):
            total = e["new"]
        elif e.get("event") == "stop" and stopped is None:
            stopped = {k: v for k, v in e.items() if k != "event"}
    if stopped is not None:
        total = stopped["step"] if total is None else min(total, stopped["step"])
    return total, stopped


def _probe_rows(run: Path, probes: Iterable[Path]) -> tuple[list[dict[str, Any]], list[str], int]:
    """Probe rows of this run: all of ``RUN/probes.jsonl`` and the rows of ``probes`` files
    whose ``run`` is this directory; and whether ``RUN/probes.jsonl`` ended in half a line (a
    run still probing, or killed while it did: that line is skipped and counted)."""
    own = run / "probes.jsonl"
    files = ([own] if own.is_file() else []) + [Path(p) for p in probes]
    rows, used = [], []
    target = run.resolve()
    bad = 0
    for f in files:
        if f == own:
            got, bad = read_run_rows(f)
        else:
            got = [r for r in read_rows(f) if r.get("run") and Path(r["run"]).resolve() == target]
        if got:
            used.append(str(f))
        for r in got:
            rows.append({**r, "run": str(run)})
    return rows, used, bad


def _skills(run: Path, rows: list[dict[str, Any]], map_config) -> tuple[dict[str, Any] | None, str | None]:
    """The run's emergence map, or None and why not."""
    if not rows:
        return None, "no probe results: RUN/probes.jsonl, 'curricle probe RUN', or report --probes"
    try:
        result = map_rows(rows, map_config)
    except CurricleError as err:
        return None, f"the probe results cannot be mapped: {err}"
    r = result["runs"].get(str(run))
    if r is None or not r["skills"]:
        return None, "fewer than 2 probed checkpoints per task: nothing to map yet"
    return {"metric_setting": map_config.metric, "variant": map_config.variant, "order": r["order"],
            "emerged": r["emerged"], "censored": r["censored"], "phase_summary": r["phase_summary"],
            "skills": r["skills"]}, None


def _probe_scores(rows: list[dict[str, Any]], metric_setting: str) -> dict[int, dict[str, float | None]]:
    """step -> task -> the score the map orders by (last row of a step wins)."""
    out: dict[int, dict[str, float | None]] = {}
    for r in rows:
        if r.get("step") is None:
            continue
        try:
            m = metric_of(r, metric_setting)
        except KeyError:
            continue
        out.setdefault(int(r["step"]), {})[r["task"]] = _num((r.get("metrics") or {}).get(m))
    return out


def _candidates(run: Path, path: str) -> list[Path]:
    """Where a path in the run's config may be: a relative one is relative to where the run
    was started, so try here, then the run's ancestors (a run started from a repository root,
    reported from elsewhere)."""
    return [Path(path)] if Path(path).is_absolute() else [Path.cwd() / path, *(a / path for a in run.resolve().parents)]


def _funnel(run: Path, config: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    out_dir = (config.get("curate") or {}).get("output_dir") if isinstance(config.get("curate"), dict) else None
    if not out_dir:
        return None, "the run's config has no curate block"
    for c in _candidates(run, out_dir):
        if (c / "funnel.json").is_file():
            funnel = read_funnel(c)
            return (funnel, None) if funnel else (None, f"{c / 'funnel.json'}: not a funnel.json curricle can read")
    return None, f"no funnel.json under {out_dir}"


#: Regions per domain a report shows (``regions.json`` has them all).
REGIONS_SHOWN = 10
#: What the hard-examples panel shows when the run has it, and why a part is absent.
HARD_PARTS = {
    "signals": "no document priorities in mixture_log.jsonl (the hard-examples controller logs them)",
    "regions": "no RUN/mine/regions.json ('curricle mine RUN' writes it)",
    "groups": "no group metrics (group/share/<domain>/<group>, eval/group_loss/<domain>/<group>)",
    "augmentation": "no RUN/augment_log.jsonl",
    "pruning": "the run's store has no lineage.json (a store 'prune' wrote has one)",
}


def _last_per_step(rows: list[dict[str, Any]], wanted) -> list[dict[str, Any]]:
    """The last record of each step that has a key ``wanted(key)`` accepts, in step order."""
    by_step: dict[int, dict[str, Any]] = {}
    for r in rows:
        if isinstance(r.get("step"), int) and any(wanted(k) for k in r):
            by_step[r["step"]] = r
    return [by_step[s] for s in sorted(by_step)]


def _thinned(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rows[i] for i in _thin(len(rows), MAX_POINTS)]


def hard_examples(run: Path, config: dict[str, Any], metric_rows: list[dict[str, Any]],
                  audit: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """The hard-examples panel's data, or None and why not. Each part is present only when
    the run has it (``absent`` says why the others are not): ``signals`` (per domain, every
    number the controller's document-priority summaries log, e.g. ``effective_docs`` and
    ``capped``, over steps), ``regions`` (``curricle mine``'s top regions and hard split per
    domain), ``groups`` (per-group training share and held-out loss over steps, the worst group),
    ``augmentation`` (rounds and documents per domain and augmenter) and ``pruning`` (the
    store's lineage: per domain in, kept, removed by reason)."""
    out: dict[str, Any] = {}
    prio = [a for a in audit if isinstance(a.get("priorities"), dict) and isinstance(a.get("step"), int)]
    if prio:
        pick = _thinned(prio)
        domains = sorted({d for a in prio for d in a["priorities"]})
        keys = sorted({k for a in prio for v in a["priorities"].values() if isinstance(v, dict)
                       for k, x in v.items() if _num(x) is not None})
        out["signals"] = {"step": [a["step"] for a in pick], "keys": keys, "domains": {
            d: {k: [_num((a["priorities"].get(d) or {}).get(k)) for a in pick] for k in keys} for d in domains}}

    mined = read_json(run / "mine" / "regions.json")
    if isinstance(mined, dict) and isinstance(mined.get("domains"), dict):
        keep = ("kind", "column", "value", "count", "error_rate", "loss", "margin", "excess", "separated")
        out["regions"] = {"step": mined.get("step"), "domains": {d: {
            "ranked_by": v.get("ranked_by"), "seen": v.get("seen"), "unseen": v.get("unseen"),
            "overall": {k: (v.get("overall") or {}).get(k) for k in ("error_rate", "loss")},
            "regions": [{k: r.get(k) for k in keep} for r in (v.get("regions") or [])[:REGIONS_SHOWN]],
            "n_regions": len(v.get("regions") or []),
            "hard_split": {c: (v.get("hard_split") or {}).get(c, {}).get("count")
                           for c in ("learning", "stuck", "rising", "unknown")} | {
                "hard": (v.get("hard_split") or {}).get("hard")}}
            for d, v in mined["domains"].items() if isinstance(v, dict)}}

    shares = _thinned(_last_per_step(metric_rows, lambda k: k.startswith("group/share/")))
    losses = _last_per_step(metric_rows, lambda k: k.startswith("eval/group_loss/") or k == "eval/worst_group_loss")
    if shares or losses:
        names = sorted({k.removeprefix("group/share/") for r in shares for k in r if k.startswith("group/share/")} |
                       {k.removeprefix("eval/group_loss/") for r in losses for k in r if k.startswith("eval/group_loss/")})
        out["groups"] = {
            "names": names,
            "share": {"step": [r["step"] for r in shares], "tokens": [_num(r.get("tokens")) for r in shares],
                      "by_group": {g: [_num(r.get(f"group/share/{g}")) for r in shares] for g in names}},
            "loss": {"step": [r["step"] for r in losses], "tokens": [_num(r.get("tokens")) for r in losses],
                     "by_group": {g: [_num(r.get(f"eval/group_loss/{g}")) for r in losses] for g in names},
                     "worst": [_num(r.get("eval/worst_group_loss")) for r in losses],
                     "worst_group": [r.get("eval/worst_group") for r in losses]}}

    rounds, _ = read_jsonl(run / "augment_log.jsonl")
    if rounds:
        totals: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rounds:
            t = totals.setdefault((str(r.get("domain")), str(r.get("augmenter"))), {"rounds": 0, "documents": 0})
            t["rounds"] += 1
            t["documents"] += r.get("n") if isinstance(r.get("n"), int) else 0
            t["last_step"], t["share"] = r.get("step"), _num(r.get("share"))
        out["augmentation"] = {
            "totals": [{"domain": d, "augmenter": a, **t} for (d, a), t in sorted(totals.items())],
            "rounds": [{k: r.get(k) for k in ("step", "domain", "augmenter", "n", "target", "share")}
                       for r in _every_kth(rounds)], "n_rounds": len(rounds)}

    for c in _candidates(run, str(config["data_dir"])) if config.get("data_dir") else []:
        lineage = read_json(c / "lineage.json")
        if isinstance(lineage, dict) and isinstance(lineage.get("domains"), dict):
            out["pruning"] = {**{k: lineage.get(k) for k in ("parent", "by", "keep", "order", "seed")},
                              "store": str(c), "domains": lineage["domains"]}
            break

    if not out:
        return None, ("no hard-examples data: no document priorities in mixture_log.jsonl, RUN/mine/regions.json, "
                      "group metrics, RUN/augment_log.jsonl or store lineage.json")
    out["absent"] = {k: why for k, why in HARD_PARTS.items() if k not in out}
    return out, None


def _checkpoint_table(evals: dict[str, Any], domains: list[str], on_disk: dict[int, str],
                      scores: dict[int, dict[str, float | None]], token_at: dict[int, Any]) -> list[dict[str, Any]]:
    """One row per step that has a checkpoint on disk, an evaluation or probe scores (a
    checkpoint that retention removed still shows how it did): held-out loss per domain, their
    mean and worst, calibration, probe scores."""
    by_eval = {s: i for i, s in enumerate(evals["step"])}
    steps = sorted(set(on_disk) | set(scores) | set(by_eval))
    out = []
    for s in steps:
        row: dict[str, Any] = {"step": s, "tokens": token_at.get(s), "on_disk": s in on_disk,
                               "path": on_disk.get(s)}
        i = by_eval.get(s)
        if i is not None:
            losses = {d: evals["loss_by_domain"][d][i] for d in domains}
            vals = [v for v in losses.values() if v is not None]
            row.update(eval_loss=losses, eval_loss_mean=(sum(vals) / len(vals)) if vals else None,
                       eval_loss_worst=max(vals) if vals else None, eval_loss_all=evals["loss"][i],
                       ece=evals["ece"][i])
        row["probes"] = scores.get(s, {})
        out.append(row)
    return out


def _selection(run: Path, table: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint table's choice: by the rule ``curricle select`` last wrote to
    ``RUN/selection.json`` (applied to the table as it is now), else by ``best-mean`` (the
    lowest mean held-out loss among checkpoints on disk); with the Pareto front of the
    objective against tokens, as steps."""
    saved = read_json(run / "selection.json")
    try:
        rule = SelectRule.model_validate(saved["spec"]) if isinstance(saved, dict) and "spec" in saved else None
    except ValidationError:
        rule = None
    rule = rule or pretrain_rule(None)
    rows, known = pretrain_rows(table)
    try:
        choice = choose(rows, rule, known)
    except CurricleError:  # a saved rule naming a column this table no longer has
        rule = pretrain_rule(None)
        choice = choose(rows, rule, known)
    front = pareto_front(rows, rule.objective, "tokens", maximize=rule.sense == "max")
    return {"rule": choice["rule"], "given": rule != pretrain_rule(None), "chosen": choice["chosen"],
            "feasible": choice["feasible"], "reason": choice.get("reason"), "objective": rule.objective,
            "sense": rule.sense, "pareto_steps": [table[i]["step"] for i in front]}


def collect_run(run: Path | str, probes: Sequence[Path | str] = (), map_config=None,
                keep_probe_rows: bool = False) -> dict[str, Any]:
    """Everything the report of ``run`` shows (see the module docstring). With
    ``keep_probe_rows``, the run's probe rows are kept under ``_probe_rows`` (for the
    ordering figures of a comparison; not embedded)."""
    run = Path(run)
    if not run.is_dir():
        raise CurricleError(f"{run}: no such run directory")
    config = _read_config(run)
    metric_rows, bad_metrics = read_jsonl(run / "metrics.jsonl")
    if not config and not metric_rows:
        raise CurricleError(f"{run}: not a curricle run (no config.yaml and no metrics.jsonl)")
    audit, bad_audit = read_jsonl(run / "mixture_log.jsonl")
    events, bad_events = read_jsonl(run / "events.jsonl")
    counts = {"audit": len(audit), "events": len(events)}
    hard, hard_missing = hard_examples(run, config, metric_rows, audit)
    on_disk = _checkpoints_on_disk(run)
    total, stopped = _run_length(config, on_disk, events)
    audit, events = _every_kth(audit), _every_kth(events)
    keep = {int(a["step"]) for a in audit if isinstance(a.get("step"), int)}
    keep |= {int(e["step"]) for e in events if isinstance(e.get("step"), int)}
    m = _metrics(metric_rows, keep)
    phases = _phases(config, total)
    for p in phases:
        p["start_tokens"] = m["token_at_step"].get(p["start_step"]) if p["start_step"] else 0
    rows, probe_files, bad_probes = _probe_rows(run, [Path(p) for p in probes])
    last = m["last"] or {}
    step = last.get("step", 0)
    progress = {
        "step": step, "steps": total, "tokens": last.get("tokens"),
        "eval_tokens": last.get("eval_tokens"),
        "fraction": (step / total) if total else None,
        "finished": bool(total) and step >= total, "stopped": stopped,
        "latest_checkpoint": max(on_disk) if on_disk else None,
        "unreadable_lines": {"metrics.jsonl": bad_metrics, "mixture_log.jsonl": bad_audit,
                             "events.jsonl": bad_events, "probes.jsonl": bad_probes},
    }
    map_config = map_config or MapConfig()
    skills, skills_missing = _skills(run, rows, map_config)
    scores = _probe_scores(rows, map_config.metric) if rows else {}
    funnel, funnel_missing = _funnel(run, config)
    table = _checkpoint_table(m["eval"], m["domains"], on_disk, scores, m["token_at_step"])
    selection = _selection(run, table)
    best = table[selection["chosen"]]["step"] if selection["chosen"] is not None else None

    missing: dict[str, str] = {}
    if not metric_rows:
        missing["training"] = "no metrics.jsonl yet"
    if not m["eval"]["step"]:
        missing["eval"] = "no evaluation step yet (train.eval_every)"
    if not audit:
        missing["audit"] = ("the mixture follows its schedule: no controller changed the weights"
                            if metric_rows else "no mixture_log.jsonl")
    if not events:
        missing["events"] = "no events: no step was skipped or rolled back, nothing plateaued or stopped the run"
    if skills is None:
        missing["skills"] = skills_missing
    if funnel is None:
        missing["funnel"] = funnel_missing or "no curation"
    if not table:
        missing["checkpoints"] = "no checkpoint, evaluation or probe yet"
    if hard is None:
        missing["hard_examples"] = hard_missing

    out = {
        "schema": SCHEMA, "name": str(config.get("name") or run.name), "path": str(run),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "progress": progress, "domains": m["domains"], "phases": phases,
        "controller": _controller_name(config), "series": m["series"], "eval": m["eval"],
        "audit": audit, "events": events, "counts": counts, "checkpoints": table, "best_checkpoint": best,
        "selection": selection, "skills": skills, "probe_files": probe_files, "funnel": funnel,
        "hard_examples": hard, "missing": missing,
    }
    if keep_probe_rows:
        out["_probe_rows"] = rows
    return out


def _controller_name(config: dict[str, Any]) -> str:
    c = config.get("controller")
    if isinstance(c, dict) and c.get("kind") and c["kind"] != "schedule":
        return str(c["kind"])
    sched = (config.get("mixture") or {}).get("schedule") if isinstance(config.get("mixture"), dict) else None
    kind = sched.get("kind") if isinstance(sched, dict) else None
    return f"schedule ({kind})" if kind else "schedule"


__all__ = ["collect_run", "read_jsonl", "SCHEMA"]
