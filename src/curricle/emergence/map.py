"""``map_runs``: the emergence map of one or more runs from their probe results.

Per run and skill (see :mod:`~curricle.emergence.curves`): emergence (``fixed``, ``stable``
and ``elbow``), saturation, censoring, chaoticness and forgettability, and where the
emergence falls in the run's curriculum phases; with ``bootstrap`` > 0, a 95% interval of
the emergence and saturation points and the probability that the skill emerges, from a
parametric bootstrap over the scores' standard errors (:mod:`~curricle.emergence.intervals`).
Positions are on one axis per run (:func:`run_axis`: tokens, or steps where any row lacks them).
Across runs (seeds, sizes, curricula):
ordering consistency (:mod:`~curricle.emergence.ordering`) over the skills every run
probed, and, per run, whether each composite skill emerged no earlier than its components.

Skills that are levels of one difficulty ladder (probe rows with a ``family`` and a
``level``: ``copy@2`` .. ``copy@16``) are lined up per family: which levels emerged, and the
*frontier*, the hardest level that did (:func:`family_frontiers`). :func:`summarize` counts
what a reader checks first: emerged levels, families with a frontier (an emerged and a
censored level), contaminated probe items, and composites against their components.

Writes ``OUT/emergence.json`` (everything), ``OUT/emergence.csv`` (one row per run and
skill), ``OUT/ordering.csv`` (one row per pair of runs) and ``OUT/summary.json`` (the
counts of :func:`summarize`, one line).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from curricle import atomic
from curricle.emergence.config import MapConfig
from curricle.emergence.curves import analyze, at_index
from curricle.emergence.intervals import point_intervals, skill_rng
from curricle.emergence.ordering import CENSORED, consistency
from curricle.emergence.phases import phase_summary, place, run_phases
from curricle.errors import CurricleError
from curricle.jsonable import jsonable
from curricle.runinfo import read_run_config
from curricle.probes.results import read_rows

SCHEMA = "curricle.map/1"


def metric_of(row: dict[str, Any], metric: str) -> str:
    """The metric name a probe row is read by under the setting ``metric`` (``discrete``,
    ``continuous``, or a metric's own name)."""
    if metric in ("discrete", "continuous"):
        return row[metric] if not (metric == "discrete" and row["output_type"] == "loglikelihood_rolling") \
            else row["continuous"]
    return metric


def run_axis(curves: dict[str, list[dict[str, Any]]]) -> str:
    """The one position axis of a run's skills: ``tokens`` where every row of every task has
    them, else ``step`` (so all of a run's emergence points are in one unit and compare)."""
    return "tokens" if all(r.get("tokens") is not None for rs in curves.values() for r in rs) else "step"


def _by_axis(rs: list[dict[str, Any]], axis: str) -> list[dict[str, Any]]:
    """``rs`` ordered along ``axis`` (a row without it first, as at 0)."""
    return sorted(rs, key=lambda r: (r.get(axis) or 0, r.get("step") or 0, r.get("tokens") or 0))


def _curves(rows: list[dict[str, Any]], config: MapConfig) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``run -> task -> rows``, one row per position (the last wins); :func:`analyze_run` orders
    them along the run's axis (:func:`run_axis`)."""
    out: dict[str, dict[str, dict[Any, dict[str, Any]]]] = {}
    for r in rows:
        if config.tasks is not None and r["task"] not in config.tasks:
            continue
        pos = (r.get("tokens"), r.get("step"))
        if pos == (None, None):
            continue
        out.setdefault(r["run"] or "-", {}).setdefault(r["task"], {})[pos] = r
    return {run: {t: list(by_pos.values()) for t, by_pos in tasks.items()} for run, tasks in out.items()}


def analyze_run(run: str, curves: dict[str, list[dict[str, Any]]], config: MapConfig) -> dict[str, Any]:
    """Per skill of one run: emergence, saturation (each with its bootstrap interval),
    censoring, instability, phase. Two tasks of one skill are refused (the map has one entry
    per skill)."""
    task_of: dict[str, str] = {}
    for task, rs in curves.items():
        skill = rs[0]["skill"]
        if skill in task_of:
            raise CurricleError(f"run {run}: tasks {task_of[skill]} and {task} both have skill '{skill}' (the map "
                                f"has one entry per skill: give one its own skill, or map one with tasks:)")
        task_of[skill] = task
    phases = run_phases(read_run_config(Path(run))) if run != "-" else []
    settings = config.curve_settings()
    skills: dict[str, Any] = {}
    last_step = 0
    # Positions in tokens where every checkpoint of every task has them, else in steps (one
    # axis per run, so emergence points order); a position of 0 (the initial weights) has no
    # logarithm and is left out.
    key = run_axis(curves)
    use_tokens = key == "tokens"
    for task, rs in curves.items():
        pts = [r for r in _by_axis(rs, key) if (r.get(key) or 0) > 0]
        if len(pts) < 2:
            continue
        metric = metric_of(pts[0], config.metric)
        if metric not in pts[0]["metrics"]:
            raise CurricleError(f"task {task}: no metric '{metric}' in the probe results "
                                f"(has: {', '.join(k for k in pts[0]['metrics'] if not k.endswith('_se'))})")
        tokens = np.array([r["tokens"] or 0 for r in pts], dtype=np.float64)
        steps = np.array([r["step"] or 0 for r in pts], dtype=np.float64)
        axis = tokens if use_tokens else steps
        y = np.array([_num(r["metrics"].get(metric)) for r in pts])
        se = np.array([_num(r["metrics"].get(f"{metric}_se")) for r in pts])
        keep = np.isfinite(y)
        if keep.sum() < 2:
            continue
        pts = [r for r, k in zip(pts, keep) if k]
        tokens, steps, axis, y, se = tokens[keep], steps[keep], axis[keep], y[keep], se[keep]
        chance = (pts[0].get("chance") or {}).get(metric)
        res = analyze(np.log(axis), y, chance, settings, se)
        skill = pts[0]["skill"]
        boot = point_intervals(np.log(axis), y, se, chance, settings, config.variant, config.bootstrap,
                               skill_rng(config.seed, skill))
        last_step = max(last_step, int(steps[-1]))

        def pos(p):
            return {"tokens": at_index(tokens, p) if use_tokens else None, "step": at_index(steps, p)}

        def span(lo_hi):
            if lo_hi is None:
                return None
            lo, hi = pos(lo_hi[0]), pos(lo_hi[1])
            return {"tokens": [lo["tokens"], hi["tokens"]] if use_tokens else None, "step": [lo["step"], hi["step"]]}

        head = res.crossings[config.variant]
        last = pts[-1]
        entry = {
            "task": task, "skill": skill, "metric": metric, "axis": key,
            "composite_of": pts[0].get("composite_of") or [], "n_points": len(pts),
            "family": last.get("family") or skill.partition("@")[0], "level": last.get("level"),
            "level_index": last.get("level_index"), "in_sample": bool(last.get("in_sample")),
            "contaminated": last.get("contaminated"),
            "chance": chance, "baseline": res.base, "best": res.best, "gain": res.gain,
            "best_se": res.best_se, "z_score": res.gain / res.best_se if res.best_se > 0 else None,
            "status": status(res, settings),
            "best_at": pos(float(res.best_index)), "emerged": res.emerged,
            "left_censored": res.emerged and head is not None and head == 0.0,
            "emergence": pos(head) if head is not None else None,
            "emergence_ci95": span(boot.emergence) if boot else None,
            "emergence_probability": boot.emergence_probability if boot else None,
            "emergence_by_variant": {k: (pos(v) if v is not None else None) for k, v in res.crossings.items()},
            "saturation": pos(res.saturation) if res.saturation is not None else None,
            "saturation_ci95": span(boot.saturation) if boot else None,
            "censored_after": None if res.emerged else {"tokens": float(tokens[-1]) if use_tokens else None,
                                                        "step": float(steps[-1])},
            "chaoticness": res.chaoticness, "forgettability": res.forgettability,
            "scores": [float(v) for v in y], "smoothed": [float(v) for v in res.smoothed],
            "positions": [{"step": int(s), "tokens": int(t) if use_tokens else None} for s, t in zip(steps, tokens)],
        }
        entry.update(place(entry["emergence"]["step"] if entry["emergence"] else None, phases))
        skills[skill] = entry
    emerged = sorted((s for s in skills.values() if s["emergence"]), key=_order_key)
    order = [s["skill"] for s in emerged] + sorted(s["skill"] for s in skills.values() if not s["emergence"])
    return {
        "run": run, "skills": skills, "order": order,
        "emerged": [s["skill"] for s in emerged],
        "censored": sorted(s["skill"] for s in skills.values() if not s["emergence"]),
        "families": family_frontiers(skills),
        "phases": [{"start": s, "name": n} for s, n in phases],
        "phase_summary": phase_summary([s["emergence"]["step"] for s in emerged], phases, last_step),
    }


def status(res, settings) -> str:
    """``emerged``; else why not: ``not_learned`` (the gain is within ``z`` standard errors of
    the best score, or none: indistinguishable from chance) or ``below_min_gain`` (above the
    noise, but less than ``min_gain``)."""
    if res.emerged:
        return "emerged"
    if res.gain <= 0 or res.gain < settings.z * res.best_se:
        return "not_learned"
    return "below_min_gain"


def counts_as_emerged(s: dict[str, Any]) -> bool:
    """An emerged level the summary counts: out of sample, with a chance level to beat (so
    its gain is over guessing, not over the first checkpoint)."""
    return bool(s["emergence"]) and not s["in_sample"] and s["chance"] is not None


def family_frontiers(skills: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per family with levels (``copy`` for ``copy@2`` .. ``copy@16``): its levels in ladder
    order (``level_index``; the probe order where unknown), which emerged and which not, and
    the ``frontier``, the hardest level that emerged (None: none did). ``has_frontier``: some
    level emerged and some did not; ``monotone``: none emerged after an easier one failed.
    An in-sample level is listed but counts as neither emerged nor censored."""
    by_family: dict[str, list[dict[str, Any]]] = {}
    for s in skills.values():
        if s["level"] is not None:
            by_family.setdefault(s["family"], []).append(s)
    out = {}
    for family, members in by_family.items():
        order = sorted(range(len(members)), key=lambda i: (members[i]["level_index"] is None,
                                                           members[i]["level_index"] or 0, i))
        levels = [members[i] for i in order]
        emerged = [s["level"] for s in levels if counts_as_emerged(s)]
        censored = [s["level"] for s in levels if not s["emergence"] and not s["in_sample"]]
        flags = [counts_as_emerged(s) for s in levels if not s["in_sample"]]
        out[family] = {
            "levels": [s["level"] for s in levels], "skills": [s["skill"] for s in levels],
            "emerged": emerged, "censored": censored,
            "in_sample": [s["level"] for s in levels if s["in_sample"]],
            "frontier": emerged[-1] if emerged else None,
            "has_frontier": bool(emerged) and bool(censored),
            "monotone": flags == sorted(flags, reverse=True),
        }
    return out


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) else math.nan


def _order_key(s: dict[str, Any]) -> float:
    """Where ``s`` emerged on its run's axis (one per run: :func:`run_axis`)."""
    return s["emergence"][s["axis"]]


def composite_checks(run: dict[str, Any]) -> list[dict[str, Any]]:
    """For each composite skill: did it emerge no earlier than every component?"""
    out = []
    skills = run["skills"]
    for name, s in skills.items():
        parts = s["composite_of"]
        if not parts or any(p not in skills for p in parts):
            continue
        c = _order_key(s) if s["emergence"] else CENSORED
        comps = {p: (_order_key(skills[p]) if skills[p]["emergence"] else CENSORED) for p in parts}
        latest = max(comps.values())
        if c == CENSORED and latest == CENSORED:
            verdict = None  # neither has emerged: nothing to compare
        else:
            verdict = c >= latest
        out.append({"run": run["run"], "composite": name, "components": parts, "composite_at": _fin(c),
                    "components_at": {p: _fin(v) for p, v in comps.items()}, "no_earlier": verdict})
    return out


def _fin(v: float) -> float | None:
    return None if v == CENSORED else v


def map_runs(probe_files: Sequence[Path | str], out_dir: Path | str | None = None,
             config: MapConfig | None = None) -> dict[str, Any]:
    """The emergence map of the runs in ``probe_files`` (written under ``out_dir`` if given)."""
    result = map_rows([r for f in probe_files for r in read_rows(f)], config)
    if out_dir is not None:
        write_map(Path(out_dir), result)
    return result


def map_rows(rows: Sequence[dict[str, Any]], config: MapConfig | None = None) -> dict[str, Any]:
    """The emergence map of probe result rows (``map_runs`` without the files)."""
    config = config or MapConfig()
    curves = _curves(list(rows), config)
    if not curves:
        raise CurricleError("no probe rows with a step or token position to map")
    runs = {run: analyze_run(run, c, config) for run, c in curves.items()}

    # Ordering consistency over the skills every run has.
    names = list(runs)
    common = sorted(set.intersection(*(set(r["skills"]) for r in runs.values())))
    ordering: dict[str, Any] = {"runs": names, "skills": common,
                                "emerged_per_run": {n: sum(1 for s in common if runs[n]["skills"][s]["emergence"])
                                                    for n in names}}
    if len(names) >= 2 and len(common) >= 2:
        matrix = np.array([[(_order_key(runs[n]["skills"][s]) if runs[n]["skills"][s]["emergence"] else CENSORED)
                            for s in common] for n in names])
        for stat in ("spearman", "kendall"):
            c = consistency(matrix, names, stat, config.bootstrap, config.permutations, config.seed)
            ordering[stat] = {"mean": c.value, "ci95": [c.ci_low, c.ci_high], "p_value": c.p_value, "pairs": c.pairs}
    else:
        ordering["note"] = "ordering consistency needs at least 2 runs and 2 common skills"

    checks = [c for r in runs.values() for c in composite_checks(r)]
    decided = [c for c in checks if c["no_earlier"] is not None]
    composites = {"checks": checks, "decided": len(decided),
                  "fraction_no_earlier": (sum(c["no_earlier"] for c in decided) / len(decided)) if decided else None}

    result = {"schema": SCHEMA, "config": config.model_dump(mode="json"), "runs": runs, "ordering": ordering,
              "composites": composites, "contamination": contamination(curves)}
    result["summary"] = summarize(result)
    return result


def contamination(curves: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """What the probe rows say of contamination, per run and task (its last row), whether or not
    the task has enough points to map: ``items`` found over tasks meant to be held out (None
    when no such row was checked), the ``by_task`` counts, and the ``in_sample`` tasks."""
    found, in_sample, checked = {}, set(), False
    for run, tasks in curves.items():
        for task, rs in tasks.items():
            last = rs[-1]
            if last.get("in_sample"):
                in_sample.add(task)
            elif last.get("contaminated") is not None:
                checked = True
                if last["contaminated"]:
                    found[f"{run}:{task}" if len(curves) > 1 else task] = int(last["contaminated"])
    return {"items": sum(found.values()) if checked else None, "by_task": found, "in_sample": sorted(in_sample)}


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The map's headline counts, over every run mapped (the demo maps one):

    - ``emerged_levels``: ladder levels that emerged (so their best is at least ``z``
      standard errors above chance, ``z`` from the config), out of sample;
    - ``families_with_frontier``: families with an emerged and a censored level;
    - ``contaminated_items``: probe items found verbatim in the training data, over tasks
      meant to be held out (None when no row says it was checked), from every task's rows,
      mapped or not (:func:`contamination`);
    - ``composites_after_components`` of ``composite_checks``: decided composite checks
      where the composite emerged no earlier than its components;
    - ``levels``, ``emerged_tasks``, ``in_sample_tasks``, ``frontiers`` (family -> hardest
      emerged level) for context.
    """
    levels = emerged_levels = with_frontier = emerged_tasks = 0
    frontiers: dict[str, str | None] = {}
    for run in result["runs"].values():
        for s in run["skills"].values():
            levels += s["level"] is not None
            emerged_levels += s["level"] is not None and counts_as_emerged(s)
            emerged_tasks += bool(s["emergence"])
        for family, f in run["families"].items():
            with_frontier += f["has_frontier"]
            frontiers[family] = f["frontier"]
    comp = result["composites"]
    return {
        "emerged_levels": emerged_levels, "families_with_frontier": with_frontier,
        "contaminated_items": result["contamination"]["items"],
        "composites_after_components": sum(1 for c in comp["checks"] if c["no_earlier"]),
        "composite_checks": comp["decided"],
        "z": result["config"]["z"], "runs": len(result["runs"]), "levels": levels, "emerged_tasks": emerged_tasks,
        "in_sample_tasks": result["contamination"]["in_sample"], "frontiers": frontiers,
    }


CSV_FIELDS = ["run", "skill", "task", "family", "level", "in_sample", "metric", "axis", "n_points", "chance",
              "baseline", "best", "gain", "best_se", "z_score", "status", "emerged",
              "left_censored", "emergence_tokens", "emergence_step", "emergence_probability", "emergence_lo_tokens",
              "emergence_hi_tokens", "emergence_lo_step", "emergence_hi_step", "stable_tokens", "stable_step",
              "elbow_tokens", "elbow_step", "saturation_tokens", "saturation_step", "saturation_lo_tokens",
              "saturation_hi_tokens", "saturation_lo_step", "saturation_hi_step", "censored_after_tokens",
              "censored_after_step", "chaoticness", "forgettability", "phase", "steps_into_phase", "nearest_boundary",
              "steps_from_boundary"]


def _csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for run, r in result["runs"].items():
        for skill in r["order"]:
            s = r["skills"][skill]
            v = s["emergence_by_variant"]
            row = {k: s.get(k) for k in CSV_FIELDS if k in s}
            row.update(run=run, skill=skill)
            for prefix, where in (("emergence", s["emergence"]), ("stable", v["stable"]), ("elbow", v["elbow"]),
                                  ("saturation", s["saturation"]), ("censored_after", s["censored_after"])):
                row[f"{prefix}_tokens"] = where["tokens"] if where else None
                row[f"{prefix}_step"] = where["step"] if where else None
            # The 95% intervals: empty where there are none (bootstrap 0, or too few draws emerged).
            for prefix in ("emergence", "saturation"):
                ci = s.get(f"{prefix}_ci95")
                for i, end in enumerate(("lo", "hi")):
                    row[f"{prefix}_{end}_tokens"] = ci["tokens"][i] if ci and ci["tokens"] else None
                    row[f"{prefix}_{end}_step"] = ci["step"][i] if ci else None
            out.append(row)
    return out


def write_map(out_dir: Path, result: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_dir / "emergence.json", json.dumps(jsonable(result), indent=1) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for row in _csv_rows(result):
        w.writerow({k: _fmt(v) for k, v in row.items()})
    atomic.write_text(out_dir / "emergence.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run_a", "run_b", "n_skills", "spearman", "kendall"])
    o = result["ordering"]
    if "kendall" in o:
        for ps, pk in zip(o["spearman"]["pairs"], o["kendall"]["pairs"]):
            w.writerow([ps["run_a"], ps["run_b"], len(o["skills"]), _fmt(ps["spearman"]), _fmt(pk["kendall"])])
    atomic.write_text(out_dir / "ordering.csv", buf.getvalue())
    atomic.write_text(out_dir / "summary.json", json.dumps(jsonable(result["summary"])) + "\n")


def _fmt(v):
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return "" if v is None else v


__all__ = ["MapConfig", "map_runs", "map_rows", "analyze_run", "composite_checks", "family_frontiers", "summarize"]
