"""The report of an RL run (``curricle rl``).

Read from ``RUN/``: ``metrics.jsonl`` (per step: rollouts, mean reward, the share of
zero-variance groups, completion length, the drawn prompts' difficulty and categories,
ungraded completions by reason; per evaluation: each task's test exact match),
``curriculum_log.jsonl`` (its first record names the curriculum; then the sampling
distribution's changes), ``events.jsonl`` (the guards' flags, the budget's end),
``final_scores.json``, ``config.yaml`` and ``checkpoints/``. Panels: training reward, the share
of zero-variance groups and the held-out metric per task over rollouts, with the flags marked;
the drawn difficulty (and the target, for ``target-difficulty``) and categories over rollouts;
grader reasons; flags; the curriculum log; one row per evaluation. Every part is optional: a
run in progress shows what it has.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from curricle import atomic
from curricle.errors import CurricleError
from curricle.report import figures
from curricle.report.data import read_json, read_jsonl
from curricle.report.page import _e, _missing, _Page, _section, _table, _td, run_state

SCHEMA = "curricle.rl-report/1"
PANELS = ("rl_progress", "rl_sampling", "rl_graders", "rl_flags", "rl_log", "rl_evals")
TITLES = {"rl_progress": "Reward and held-out metric", "rl_sampling": "What was drawn", "rl_graders": "Graders",
          "rl_flags": "Flags", "rl_log": "Curriculum log", "rl_evals": "Evaluations"}
LOG_ROWS = 200  # the curriculum log's table shows at most this many records, evenly spaced


def _first_record(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.readline() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def is_rl_run(run: Path) -> bool:
    """An RL run's curriculum log starts with a record naming its group size."""
    return "num_generations" in _first_record(Path(run) / "curriculum_log.jsonl")


def collect_rl(run: Path | str) -> dict[str, Any]:
    """Everything the RL report shows, as one JSON-able dict."""
    run = Path(run)
    if not run.is_dir():
        raise CurricleError(f"{run}: no such run directory")
    rows, bad = read_jsonl(run / "metrics.jsonl")
    log, bad_log = read_jsonl(run / "curriculum_log.jsonl")
    events, bad_events = read_jsonl(run / "events.jsonl")
    start = next((e for e in log if e.get("event") == "start"), {})
    final = read_json(run / "final_scores.json")
    try:
        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    steps: dict[int, dict] = {}
    evals: dict[int, dict] = {}
    for r in rows:  # a resumed run rewrites a step: the last record counts
        if any(k.startswith("eval/") for k in r):
            evals[r["step"]] = r
        elif "rollouts" in r:
            steps[r["step"]] = r
    tasks_file = read_json(run / "tasks.json") or {}
    tasks = [t["task"] for t in tasks_file.get("tasks", [])]
    if not tasks and evals:
        first = evals[min(evals)]
        tasks = sorted({k.split("/")[1] for k in first if k.startswith("eval/") and k.count("/") == 2})
    s_steps = sorted(steps)
    categories = sorted({k.removeprefix("drawn/") for r in steps.values() for k in r
                         if k.startswith("drawn/") and k != "drawn/difficulty"})
    reasons = sorted({k.removeprefix("ungraded/") for r in steps.values() for k in r if k.startswith("ungraded/")})
    series = {"step": s_steps, "rollouts": [steps[s]["rollouts"] for s in s_steps],
              "reward": [steps[s].get("reward") for s in s_steps],
              "zero_variance": [steps[s].get("zero_variance_groups") for s in s_steps],
              "length": [steps[s].get("completion_length") for s in s_steps],
              "difficulty": [steps[s].get("drawn/difficulty") for s in s_steps],
              "drawn": {c: [steps[s].get(f"drawn/{c}", 0) for s in s_steps] for c in categories},
              "ungraded": {r: [steps[s].get(f"ungraded/{r}", 0) for s in s_steps] for r in reasons},
              "replaced": [steps[s].get("replaced_groups") for s in s_steps]}
    e_steps = sorted(evals)
    ev = {"step": e_steps, "rollouts": [evals[s].get("rollouts") for s in e_steps],
          "score": {t: [evals[s].get(f"eval/{t}/exact_match") for s in e_steps] for t in tasks},
          "se": {t: [evals[s].get(f"eval/{t}/exact_match_se") for s in e_steps] for t in tasks},
          "mean": [evals[s].get("eval/mean") for s in e_steps], "worst": [evals[s].get("eval/worst") for s in e_steps]}
    history = {h["step"]: h for h in (final or {}).get("history", [])}
    table = []
    for i, s in enumerate(e_steps):
        h = history.get(s, {})
        table.append({"step": s, "rollouts": ev["rollouts"][i], "scores": {t: ev["score"][t][i] for t in tasks},
                      "mean": ev["mean"][i], "worst": ev["worst"][i], "reward": h.get("reward"),
                      "length": h.get("length"), "format": h.get("format")})
    completions = series["rollouts"][-1] if s_steps else 0
    ungraded = {r: int(sum(v)) for r, v in series["ungraded"].items()}
    targets = [(e["step"], e["target"]) for e in log if e.get("event") == "target"]
    flags = [e for e in events if e.get("event") not in ("budget",)]
    on_disk = []
    ck_root = run / "checkpoints"
    for p in ck_root.glob("checkpoint-*") if ck_root.is_dir() else []:
        n = p.name.removeprefix("checkpoint-")
        if n.isdigit() and (p / "trainer_state.json").is_file():
            on_disk.append(int(n))
    missing = {}
    if not s_steps:
        missing["rl_progress"] = "no training step logged yet"
    if not e_steps:
        missing["rl_evals"] = "no evaluation yet"
    return {
        "schema": SCHEMA, "kind": "rl", "name": run.name, "path": str(run),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "progress": {"step": s_steps[-1] if s_steps else 0, "steps": (config.get("grpo") or {}).get("steps"),
                     "rollouts": completions, "budget": (config.get("grpo") or {}).get("rollouts"),
                     "finished": final is not None,
                     "unreadable_lines": {"metrics.jsonl": bad, "curriculum_log.jsonl": bad_log,
                                          "events.jsonl": bad_events}},
        "curriculum": start.get("curriculum") or (config.get("curriculum") or {}).get("kind"),
        "reward_kind": (config.get("grpo") or {}).get("reward", "grader"),
        "num_generations": start.get("num_generations"), "prompts_per_step": start.get("prompts_per_step"),
        "prompts": start.get("prompts"), "tasks": tasks, "categories": categories, "series": series, "eval": ev,
        "evaluations": table, "log": [e for e in log if e.get("event") != "start"], "events": events,
        "flags": flags, "targets": targets, "ungraded": ungraded, "completions": completions,
        "pass_rates": (final or {}).get("pass_rates"), "checkpoints_on_disk": sorted(on_disk),
        "final": final, "missing": missing,
    }


def _summary(e: dict[str, Any]) -> str:
    body = {k: v for k, v in e.items() if k not in ("event", "step")}
    parts = []
    for k, v in body.items():
        if isinstance(v, float):
            parts.append(f"{k} {v:.3f}")
        elif isinstance(v, dict):
            parts.append(f"{k} " + ", ".join(f"{a} {b:.3f}" if isinstance(b, float) else f"{a} {b}"
                                            for a, b in v.items()))
        else:
            parts.append(f"{k} {v}")
    return "; ".join(parts)


def _log_rows(rl: dict[str, Any]) -> tuple[list[str], str]:
    log = rl["log"]
    if len(log) > LOG_ROWS:
        idx = sorted({round(i * (len(log) - 1) / (LOG_ROWS - 1)) for i in range(LOG_ROWS)})
        shown, note = [log[i] for i in idx], f"{len(idx)} of {len(log)} records, evenly spaced (all in curriculum_log.jsonl)."
    else:
        shown, note = log, ""
    return [f"<tr>{_td(e.get('step'))}{_td(e.get('event', ''), 'text')}{_td(_summary(e), 'text')}</tr>"
            for e in shown], note


def _flag_rows(rl: dict[str, Any]) -> list[str]:
    return [f"<tr>{_td(e.get('step'))}{_td(e.get('event', ''), 'text')}{_td(_summary(e), 'text')}</tr>"
            for e in rl["events"]]


def _grader_rows(rl: dict[str, Any]) -> list[str]:
    n = rl["completions"] or 0
    out = [f"<tr>{_td(r, 'text')}{_td(c)}{_td(c / n if n else None, digits=4)}</tr>"
           for r, c in sorted(rl["ungraded"].items(), key=lambda kv: -kv[1])]
    graded = n - sum(rl["ungraded"].values())
    return [f"<tr>{_td('graded (a score in [0, 1])', 'text')}{_td(graded)}{_td(graded / n if n else None)}</tr>"] + out


def _eval_rows(rl: dict[str, Any]) -> tuple[list[str], list[str]]:
    head = ["step", "rollouts", "on disk", "reward since last", "test mean", "test worst", *rl["tasks"],
            "completion length", "format failures"]
    best = max(rl["evaluations"], key=lambda r: (r["mean"] is not None, r["mean"] or 0.0))["step"] \
        if rl["evaluations"] else None
    rows = []
    for r in rl["evaluations"]:
        cls = ' class="best"' if r["step"] == best else ""
        cells = [_td(r["step"]), _td(r["rollouts"]), _td(r["step"] in rl["checkpoints_on_disk"]),
                 _td(r["reward"], digits=3), _td(r["mean"], digits=3), _td(r["worst"], digits=3)]
        cells += [_td(r["scores"].get(t), digits=3) for t in rl["tasks"]]
        cells += [_td(r["length"], digits=2), _td(r["format"], digits=3)]
        rows.append(f'<tr data-step="{r["step"]}"{cls}>{"".join(cells)}</tr>')
    return head, rows


def render_rl(rl: dict[str, Any]) -> str:
    page = _Page()
    colors = figures.domain_colors(rl["tasks"])
    panels: dict[str, str] = {}
    s = rl["series"]
    if s["step"] or rl["eval"]["step"]:
        zv = [v for v in s["zero_variance"] if v is not None]
        note = (f"Zero-variance groups (all {rl['num_generations']} completions scored alike: no advantage, "
                f"nothing learned): {100 * sum(zv) / len(zv):.0f}% of groups on average." if zv else "")
        if rl["reward_kind"] == "random":
            note += " The reward is a coin (the random-reward control): the held-out metric should not move."
        panels["rl_progress"] = page.fig(figures.rl_progress(rl, colors), "rl-progress") + \
            (f'<p class="note">{_e(note)}</p>' if note else "")
    if s["step"]:
        panels["rl_sampling"] = page.fig(figures.rl_sampling(rl), "rl-sampling")
        rows = _grader_rows(rl)
        replaced = [v for v in s["replaced"] if v is not None]
        extra = (f" Dynamic sampling replaced {replaced[-1]:,} groups whose rewards were all equal."
                 if replaced and replaced[-1] else "")
        panels["rl_graders"] = (f'<p class="note">Completions graded: {rl["completions"]:,}. An ungraded '
                                f'completion (the grader threw, timed out or found no answer) has no reward and is '
                                f'left out of its group.{_e(extra)}</p>' + _table(["outcome", "completions", "share"],
                                                                                  rows))
    flags = rl["flags"]
    panels["rl_flags"] = (
        (f'<p class="note">{len(flags)} flag(s): training reward rising while the held-out metric falls '
         f'(reward-hacking), or completions\' length or format drifting.</p>' if flags else
         '<p class="note">No flag: the held-out metric did not fall while the reward rose, and completions\' '
         'length and format held.</p>')
        + (_table(["step", "event", "details"], _flag_rows(rl), sortable=False, text=(1, 2)) if rl["events"] else ""))
    if rl["log"]:
        rows, note = _log_rows(rl)
        panels["rl_log"] = (f'<p class="note">{_e(note)}</p>' if note else "") + \
            _table(["step", "event", "state after the step"], rows, sortable=False, text=(1, 2))
    if rl["evaluations"]:
        head, rows = _eval_rows(rl)
        panels["rl_evals"] = ('<p class="note">Test exact match (greedy; independent of the training reward) at each '
                              'evaluation; highlighted: the best mean.</p>' + _table(head, rows))
    body = "".join(_section(p, panels[p], TITLES[p]) for p in PANELS if p in panels)
    p = rl["progress"]
    state = run_state(p)
    budget = f" of {p['budget']:,}" if p.get("budget") else ""
    header = (f"<h1>curricle RL: {_e(rl['name'])}</h1><div class=\"meta\"><code>{_e(rl['path'])}</code> · "
              f"curriculum <b>{_e(rl['curriculum'])}</b> · {len(rl['tasks'])} tasks, {rl['prompts'] or 0:,} prompts · "
              f"{p['rollouts']:,}{budget} rollouts · {_e(state)} · report written {_e(rl['generated'])}</div>"
              f"{_missing(rl)}")
    return page.html(f"curricle: {rl['name']}", header, [p for p in PANELS if p in panels], body, rl, TITLES)


def save_rl_report(rl: dict[str, Any], out: Path | str | None = None) -> Path:
    """Write the page of ``rl`` (from :func:`collect_rl`) to ``out`` (default ``RUN/report.html``)."""
    out = Path(out) if out is not None else Path(rl["path"]) / "report.html"
    atomic.write_text(out, render_rl(rl))
    return out
