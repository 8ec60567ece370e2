"""The report of an RL run (``curricle rl``).

Read from ``RUN/``: ``metrics.jsonl`` (per step: rollouts, mean reward, the share of
zero-variance groups, completion length, the drawn prompts' difficulty and categories,
ungraded completions and format failures (graded 0) by reason, each composite-reward
component's mean score; per evaluation:
each task's test exact match),
``curriculum_log.jsonl`` (its first record names the curriculum; then the sampling
distribution's changes), ``events.jsonl`` (the guards' flags, the budget's end),
``final_scores.json``, ``config.yaml`` and ``checkpoints/``. Panels: training reward, the share
of zero-variance groups and the held-out metric per task over rollouts, with the flags marked;
the drawn difficulty (and the target, for ``target-difficulty``) and categories over rollouts;
a composite reward's components over rollouts, with their configured weights and annealing;
grader reasons; the sampled completions' diversity (with ``eval.samples``); flags; the
curriculum log; one row per evaluation. Every part is optional: a
run in progress shows what it has.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from curricle import atomic
from curricle.errors import CurricleError
from curricle.report.data import read_json, read_jsonl
from curricle.report.kind import run_kind
from curricle.report.kit import Page, Panel, esc, missing_list, nav, render_panels, run_state, sections, table, td
from curricle.report.plots import PALETTE, domain_colors, ema, layout, se_band
from curricle.rl.rewards import FORMAT_REASONS
from curricle.runinfo import read_run_config

SCHEMA = "curricle.rl-report/1"
#: The diversity measures drawn (``diversity/<name>`` in metrics.jsonl), with their labels.
DIVERSITY = {"edit_distance": "pairwise edit distance", "distinct_1": "distinct-1", "distinct_2": "distinct-2",
             "answer_entropy": "answer entropy (bits)", "distinct_1_all": "distinct-1 over all prompts"}
LOG_ROWS = 200  # the curriculum log's table shows at most this many records, evenly spaced


def is_rl_run(run: Path) -> bool:
    """Whether ``run`` is an RL run (its run.json; for an older run, its files)."""
    return run_kind(run) == "rl"


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
    config = read_run_config(run) or {}
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
    # (runs from before format failures were logged apart had them as ungraded/<reason>)
    legacy = {f"ungraded/{r}": f"format/{r}" for r in FORMAT_REASONS}
    for r in steps.values():
        for old, new in legacy.items():
            if old in r:
                r[new] = r.get(new, 0) + r.pop(old)
    reasons = sorted({k.removeprefix("ungraded/") for r in steps.values() for k in r if k.startswith("ungraded/")})
    formats = sorted({k.removeprefix("format/") for r in steps.values() for k in r if k.startswith("format/")})
    components = sorted({k.removeprefix("reward/") for r in steps.values() for k in r if k.startswith("reward/")})
    series = {"step": s_steps, "rollouts": [steps[s]["rollouts"] for s in s_steps],
              "reward": [steps[s].get("reward") for s in s_steps],
              "zero_variance": [steps[s].get("zero_variance_groups") for s in s_steps],
              "length": [steps[s].get("completion_length") for s in s_steps],
              "difficulty": [steps[s].get("drawn/difficulty") for s in s_steps],
              "drawn": {c: [steps[s].get(f"drawn/{c}", 0) for s in s_steps] for c in categories},
              "ungraded": {r: [steps[s].get(f"ungraded/{r}", 0) for s in s_steps] for r in reasons},
              "format": {r: [steps[s].get(f"format/{r}", 0) for s in s_steps] for r in formats},
              "replaced": [steps[s].get("replaced_groups") for s in s_steps],
              "components": {c: [steps[s].get(f"reward/{c}") for s in s_steps] for c in components}}
    e_steps = sorted(evals)
    ev = {"step": e_steps, "rollouts": [evals[s].get("rollouts") for s in e_steps],
          "score": {t: [evals[s].get(f"eval/{t}/exact_match") for s in e_steps] for t in tasks},
          "se": {t: [evals[s].get(f"eval/{t}/exact_match_se") for s in e_steps] for t in tasks},
          "mean": [evals[s].get("eval/mean") for s in e_steps], "worst": [evals[s].get("eval/worst") for s in e_steps]}
    # The sampled completions' diversity (curricle.rl.diversity), where the run measured it.
    measures = [m for m in DIVERSITY if any(f"diversity/{m}" in evals[s] for s in e_steps)]
    ev["diversity"] = {m: [evals[s].get(f"diversity/{m}") for s in e_steps] for m in measures}
    # The plot shows sampled pass@1 when the run scored it (eval.samples), else greedy exact match.
    sampled = any("eval/pass1_sampled_mean" in evals[s] for s in e_steps)
    ev["plot"] = ({"label": "sampled pass@1", "mean": [evals[s].get("eval/pass1_sampled_mean") for s in e_steps],
                   "score": {t: [evals[s].get(f"eval/{t}/pass1_sampled") for s in e_steps] for t in tasks},
                   "se": {t: [None] * len(e_steps) for t in tasks}}
                  if sampled else {"label": "exact match", "mean": ev["mean"], "score": ev["score"], "se": ev["se"]})
    history = {h["step"]: h for h in (final or {}).get("history", [])}
    table = []
    for i, s in enumerate(e_steps):
        h = history.get(s, {})
        table.append({"step": s, "rollouts": ev["rollouts"][i], "scores": {t: ev["score"][t][i] for t in tasks},
                      "mean": ev["mean"][i], "worst": ev["worst"][i], "reward": h.get("reward"),
                      "length": h.get("length"), "format": h.get("format")})
    completions = series["rollouts"][-1] if s_steps else 0
    ungraded = {r: int(sum(v)) for r, v in series["ungraded"].items()}
    format_failures = {r: int(sum(v)) for r, v in series["format"].items()}
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
        "reward_terms": _reward_terms(config),
        "num_generations": start.get("num_generations"), "prompts_per_step": start.get("prompts_per_step"),
        "prompts": start.get("prompts"), "tasks": tasks, "categories": categories, "series": series, "eval": ev,
        "evaluations": table, "log": [e for e in log if e.get("event") != "start"], "events": events,
        "flags": flags, "targets": targets, "ungraded": ungraded, "format": format_failures,
        "completions": completions,
        "pass_rates": (final or {}).get("pass_rates"), "checkpoints_on_disk": sorted(on_disk),
        "final": final, "missing": missing,
    }


def _reward_terms(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Each composite reward's components as the run's config states them: task, name, grader,
    weight and its annealing (``to`` by ``steps``)."""
    out = []
    for task in config.get("tasks") or []:
        for c in (task or {}).get("reward") or []:
            grader = c.get("grader") or {}
            anneal = c.get("anneal") or {}
            out.append({"task": task.get("name"), "name": c.get("name") or grader.get("kind"),
                        "grader": grader.get("function") or grader.get("kind"), "weight": c.get("weight", 1.0),
                        "anneal_to": anneal.get("to"), "anneal_steps": anneal.get("steps")})
    return out


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
    return [f"<tr>{td(e.get('step'))}{td(e.get('event', ''), 'text')}{td(_summary(e), 'text')}</tr>"
            for e in shown], note


def _flag_rows(rl: dict[str, Any]) -> list[str]:
    return [f"<tr>{td(e.get('step'))}{td(e.get('event', ''), 'text')}{td(_summary(e), 'text')}</tr>"
            for e in rl["events"]]


def _grader_rows(rl: dict[str, Any]) -> list[str]:
    n = rl["completions"] or 0

    def rows(counts: dict[str, int], label: str = "{}") -> list[str]:
        return [f"<tr>{td(label.format(r), 'text')}{td(c)}{td(c / n if n else None, digits=4)}</tr>"
                for r, c in sorted(counts.items(), key=lambda kv: -kv[1])]
    graded = n - sum(rl["ungraded"].values())
    # Format failures are graded (0): among the graded, not subtracted from them.
    return ([f"<tr>{td('graded (a score in [0, 1])', 'text')}{td(graded)}{td(graded / n if n else None)}</tr>"]
            + rows(rl.get("format", {}), "graded 0: {}") + rows(rl["ungraded"]))


def _eval_rows(rl: dict[str, Any]) -> tuple[list[str], list[str]]:
    head = ["step", "rollouts", "on disk", "reward since last", "test mean", "test worst", *rl["tasks"],
            "completion length", "format failures"]
    best = max(rl["evaluations"], key=lambda r: (r["mean"] is not None, r["mean"] or 0.0))["step"] \
        if rl["evaluations"] else None
    rows = []
    for r in rl["evaluations"]:
        cls = ' class="best"' if r["step"] == best else ""
        cells = [td(r["step"]), td(r["rollouts"]), td(r["step"] in rl["checkpoints_on_disk"]),
                 td(r["reward"], digits=3), td(r["mean"], digits=3), td(r["worst"], digits=3)]
        cells += [td(r["scores"].get(t), digits=3) for t in rl["tasks"]]
        cells += [td(r["length"], digits=2), td(r["format"], digits=3)]
        rows.append(f'<tr data-step="{r["step"]}"{cls}>{"".join(cells)}</tr>')
    return head, rows


# -- figures -------------------------------------------------------------------------------

def _flag_marks(fig: go.Figure, rl: dict[str, Any], cols: int = 1) -> None:
    """A dotted red line at each flag, at the rollouts of its step."""
    at = dict(zip(rl["series"]["step"], rl["series"]["rollouts"]))
    at.update(zip(rl["eval"]["step"], rl["eval"]["rollouts"]))
    for f in rl["flags"]:
        x = at.get(f["step"])
        if x is None:
            continue
        for c in range(1, cols + 1):
            fig.add_vline(x=x, line={"dash": "dot", "color": "#d62728", "width": 1}, annotation_text=f["event"],
                          annotation_position="top left", annotation_font={"size": 10, "color": "#d62728"},
                          row=1, col=c)


def rl_progress(rl: dict[str, Any], colors: dict[str, str]) -> go.Figure | None:
    """Left: training reward (EMA) and the share of zero-variance groups; right: each task's
    test sampled pass@1 (with ``eval.samples``) or greedy exact match (±1 s.e.) and their mean,
    over rollouts; flags marked."""
    s, ev = rl["series"], rl["eval"]
    shown = ev.get("plot") or {"label": "exact match", "mean": ev["mean"], "score": ev["score"], "se": ev["se"]}
    if not s["step"] and not ev["step"]:
        return None
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("training reward and zero-variance groups (EMA 0.9)",
                                        f"held-out: test {shown['label']}"))
    fig.add_trace(go.Scatter(x=s["rollouts"], y=ema(s["reward"]), name="reward", mode="lines",
                             line={"color": PALETTE[0]}), row=1, col=1)
    fig.add_trace(go.Scatter(x=s["rollouts"], y=ema(s["zero_variance"]), name="zero-variance share", mode="lines",
                             line={"color": "#7f7f7f", "dash": "dash"}), row=1, col=1)
    x = ev["rollouts"]
    for task in rl["tasks"]:
        y, color = shown["score"][task], colors[task]
        fig.add_trace(se_band(x, y, shown["se"][task], color, task), row=1, col=2)
        fig.add_trace(go.Scatter(x=x, y=y, name=task, mode="lines+markers", line={"color": color},
                                 marker={"size": 4}, legendgroup=task), row=1, col=2)
    fig.add_trace(go.Scatter(x=x, y=shown["mean"], name="mean over tasks", mode="lines",
                             line={"color": "#000", "width": 2, "dash": "dot"}), row=1, col=2)
    _flag_marks(fig, rl, cols=2)
    fig.update_xaxes(title_text="rollouts (completions generated)")
    fig.update_yaxes(range=[-0.02, 1.02])
    return layout(fig, f"RL with the {rl['curriculum']} curriculum", height=420)


def rl_sampling(rl: dict[str, Any]) -> go.Figure | None:
    """Left: the drawn prompts' mean difficulty (0-100 rank scale) per step, with the target of
    ``target-difficulty``; right: each category's share of the drawn prompts (EMA)."""
    s = rl["series"]
    if not s["step"]:
        return None
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("drawn difficulty (0-100: rank among all prompts)",
                                        "drawn prompts by category (share, EMA 0.9)"))
    fig.add_trace(go.Scatter(x=s["rollouts"], y=s["difficulty"], name="mean drawn difficulty", mode="lines",
                             line={"color": PALETTE[1], "width": 1}, opacity=0.5), row=1, col=1)
    fig.add_trace(go.Scatter(x=s["rollouts"], y=ema(s["difficulty"]), name="mean drawn difficulty (EMA)",
                             mode="lines", line={"color": PALETTE[1], "width": 2}), row=1, col=1)
    if rl["targets"]:
        at = dict(zip(s["step"], s["rollouts"]))
        pts = [(at[st + 1], t) for st, t in rl["targets"] if st + 1 in at]
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name="target T", mode="lines",
                                 line={"color": "#000", "width": 1, "shape": "hv"}, opacity=0.6), row=1, col=1)
    colors = domain_colors(rl["categories"])
    totals = [sum(s["drawn"][c][i] for c in rl["categories"]) for i in range(len(s["step"]))]
    for c in rl["categories"]:
        share = [n / t if t else None for n, t in zip(s["drawn"][c], totals)]
        fig.add_trace(go.Scatter(x=s["rollouts"], y=ema(share), name=c, mode="lines", stackgroup="drawn",
                                 line={"color": colors[c], "width": 0.5}), row=1, col=2)
    fig.update_xaxes(title_text="rollouts (completions generated)")
    return layout(fig, "What the curriculum drew", height=400)


def rl_components(rl: dict[str, Any]) -> go.Figure | None:
    """Each composite-reward component's mean score per step (EMA 0.9) over rollouts: what the
    total is made of, before its weights; flags marked."""
    s = rl["series"]
    comps = s.get("components") or {}
    if not comps or not s["step"]:
        return None
    fig = go.Figure()
    for i, (name, y) in enumerate(comps.items()):
        fig.add_trace(go.Scatter(x=s["rollouts"], y=ema(y), name=name, mode="lines",
                                 line={"color": PALETTE[i % len(PALETTE)]}))
    _flag_marks(fig, rl)
    fig.update_xaxes(title_text="rollouts (completions generated)")
    fig.update_yaxes(title_text="mean score of the step's completions")
    return layout(fig, "Reward components (EMA 0.9)", height=360)


def rl_diversity(rl: dict[str, Any]) -> go.Figure | None:
    """The sampled completions' diversity at each evaluation over rollouts (each measure per
    prompt, averaged over prompts), with the ``mode-collapse`` flags marked."""
    ev = rl["eval"]
    div = ev.get("diversity") or {}
    if not div:
        return None
    fig = go.Figure()
    for i, (m, y) in enumerate(div.items()):
        fig.add_trace(go.Scatter(x=ev["rollouts"], y=y, name=DIVERSITY[m], mode="lines+markers",
                                 line={"color": PALETTE[i]}, marker={"size": 4}))
    at = dict(zip(ev["step"], ev["rollouts"]))
    for f in rl["flags"]:
        if f.get("event") == "mode-collapse" and at.get(f["step"]) is not None:
            fig.add_vline(x=at[f["step"]], line={"dash": "dot", "color": "#d62728", "width": 1},
                          annotation_text="mode-collapse", annotation_position="top left",
                          annotation_font={"size": 10, "color": "#d62728"})
    fig.update_xaxes(title_text="rollouts (completions generated)")
    return layout(fig, "Diversity of the sampled test completions", height=360)


# -- panels --------------------------------------------------------------------------------

def _progress(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    s = rl["series"]
    if not s["step"] and not rl["eval"]["step"]:
        return None
    zv = [v for v in s["zero_variance"] if v is not None]
    note = (f"Zero-variance groups (all {rl['num_generations']} completions scored alike: no advantage, "
            f"nothing learned): {100 * sum(zv) / len(zv):.0f}% of groups on average." if zv else "")
    if rl["reward_kind"] == "random":
        note += " The reward is a coin (the random-reward control): the held-out metric should not move."
    return page.fig(rl_progress(rl, colors), "rl-progress") + (f'<p class="note">{esc(note)}</p>' if note else "")


def _sampling(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    return page.fig(rl_sampling(rl), "rl-sampling") if rl["series"]["step"] else None


def _annealed(term: dict[str, Any]) -> str:
    if term["anneal_to"] is None:
        return "-"
    return f"to {term['anneal_to']:g} by step {term['anneal_steps']:,}"


def _components(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    fig = rl_components(rl)
    if fig is None:
        return None
    rows = [f"<tr>{td(t['task'], 'text')}{td(t['name'], 'text')}{td(t['grader'], 'text')}{td(t['weight'])}"
            f"{td(_annealed(t), 'text')}</tr>" for t in rl["reward_terms"]]
    note = ("Each component's mean score over the step's graded completions (a completion any component could not "
            "grade has no total and is counted under Graders). The total is the weighted sum, the weights "
            "as configured:")
    return (page.fig(fig, "rl-components") + f'<p class="note">{esc(note)}</p>'
            + (table(["task", "component", "grader", "weight", "annealed"], rows, sortable=False, text=(0, 1, 2, 4))
               if rows else ""))


def _graders(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    s = rl["series"]
    if not s["step"]:
        return None
    rows = _grader_rows(rl)
    replaced = [v for v in s["replaced"] if v is not None]
    extra = (f" Dynamic sampling replaced {replaced[-1]:,} groups whose rewards were all equal."
             if replaced and replaced[-1] else "")
    return (f'<p class="note">Completions graded: {rl["completions"]:,}. An ungraded '
            f'completion (the grader threw, timed out or gave no score) has no reward and is '
            f'left out of its group; one the grader could not read (no number, no match) is graded 0 '
            f'and counted apart, for the format-drift guard.{esc(extra)}</p>'
            + table(["outcome", "completions", "share"], rows))


def _flags(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    flags = rl["flags"]
    return (
        (f'<p class="note">{len(flags)} flag(s): training reward rising while the held-out metric falls '
         f'(reward-hacking), completions\' length or format drifting, or their diversity collapsing.</p>' if flags else
         '<p class="note">No flag: the held-out metric did not fall while the reward rose, and completions\' '
         'length and format held.</p>')
        + (table(["step", "event", "details"], _flag_rows(rl), sortable=False, text=(1, 2)) if rl["events"] else ""))


def _diversity(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not (rl["eval"].get("diversity") or {}):
        return None
    collapsed = [f for f in rl["flags"] if f.get("event") == "mode-collapse"]
    note = ("Per test prompt, over its sampled completions (eval.samples): pairwise edit distance over the longer "
            "length, distinct word n-grams over all, the answers' entropy; averaged over prompts. "
            + (f"Mode collapse flagged at step {collapsed[0]['step']:,}: {collapsed[0]['metric']} fell from "
               f"{collapsed[0]['first']:.3f} to {collapsed[0]['now']:.3f} while the score or reward rose."
               if collapsed else "No mode-collapse flag."))
    return page.fig(rl_diversity(rl), "rl-diversity") + f'<p class="note">{esc(note)}</p>'


def _log(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not rl["log"]:
        return None
    rows, note = _log_rows(rl)
    return (f'<p class="note">{esc(note)}</p>' if note else "") + \
        table(["step", "event", "state after the step"], rows, sortable=False, text=(1, 2))


def _evals(page: Page, rl: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not rl["evaluations"]:
        return None
    head, rows = _eval_rows(rl)
    return ('<p class="note">Test exact match (greedy; independent of the training reward) at each '
            'evaluation; highlighted: the best mean.</p>' + table(head, rows))


#: The RL run's panels, in page order.
RL_PANELS = (
    Panel("rl_progress", "Reward and held-out metric", _progress),
    Panel("rl_sampling", "What was drawn", _sampling),
    Panel("rl_components", "Reward components", _components),
    Panel("rl_graders", "Graders", _graders),
    Panel("rl_diversity", "Diversity", _diversity),
    Panel("rl_flags", "Flags", _flags),
    Panel("rl_log", "Curriculum log", _log),
    Panel("rl_evals", "Evaluations", _evals),
)
PANELS = tuple(p.name for p in RL_PANELS)


def render_rl(rl: dict[str, Any]) -> str:
    page = Page()
    panels = render_panels(page, RL_PANELS, rl, domain_colors(rl["tasks"]))
    p = rl["progress"]
    state = run_state(p)
    budget = f" of {p['budget']:,}" if p.get("budget") else ""
    header = (f"<h1>curricle RL: {esc(rl['name'])}</h1><div class=\"meta\"><code>{esc(rl['path'])}</code> · "
              f"curriculum <b>{esc(rl['curriculum'])}</b> · {len(rl['tasks'])} tasks, {rl['prompts'] or 0:,} prompts · "
              f"{p['rollouts']:,}{budget} rollouts · {esc(state)} · report written {esc(rl['generated'])}</div>"
              f"{missing_list(rl)}")
    return page.html(f"curricle: {rl['name']}", header, nav(RL_PANELS, panels), sections(RL_PANELS, panels), rl)


def save_rl_report(rl: dict[str, Any], out: Path | str | None = None) -> Path:
    """Write the page of ``rl`` (from :func:`collect_rl`) to ``out`` (default ``RUN/report.html``)."""
    out = Path(out) if out is not None else Path(rl["path"]) / "report.html"
    atomic.write_text(out, render_rl(rl))
    return out
