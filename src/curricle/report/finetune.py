"""The report of a fine-tuning run (``curricle finetune``, or a trainer with curricle's callback).

Read from ``RUN/``: ``metrics.jsonl`` (training loss; each evaluation's per-task scores),
``curriculum_log.jsonl`` (stage changes, milestones, review and revisits), ``forgetting.json``
(the matrix and its statistics), ``final_scores.json`` (held-out and test at the end) and the
``checkpoints/checkpoint-N`` directories on disk. Panels: per-task held-out curves with stage
boundaries and milestones, the forgetting matrix as a heatmap, the curriculum log, and the
checkpoint table (per-task scores, mean, worst, forgetting). Every part is optional: a run in
progress shows what it has, and the header says what is missing and why.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from curricle import atomic
from curricle.errors import CurricleError
from curricle.report.data import read_json, read_jsonl
from curricle.report.kit import Page, Panel, esc, missing_list, nav, num, render_panels, run_state, sections, table, td
from curricle.report.plots import PALETTE, domain_colors, layout, se_band

SCHEMA = "curricle.finetune-report/1"


def collect_finetune(run: Path | str) -> dict[str, Any]:
    """Everything the fine-tuning report shows, as one JSON-able dict."""
    run = Path(run)
    if not run.is_dir():
        raise CurricleError(f"{run}: no such run directory")
    rows, bad = read_jsonl(run / "metrics.jsonl")
    log, bad_log = read_jsonl(run / "curriculum_log.jsonl")
    start = next((e for e in log if e.get("event") == "start"), {})
    forgetting = read_json(run / "forgetting.json")
    final = read_json(run / "final_scores.json")
    evals = {}
    for r in rows:
        if "eval/mean" in r or any(k.startswith("eval/") for k in r):
            evals[r["step"]] = r  # a resumed run rewrites a step: the last record counts
    steps = sorted(evals)
    metrics = (forgetting or {}).get("metrics") or {}
    tasks = list((forgetting or {}).get("tasks") or [])
    if not tasks and steps:  # no forgetting.json yet: every task with an exact-match-like column
        first = evals[steps[0]]
        tasks = sorted({k.split("/")[1] for k in first if k.startswith("eval/") and k.count("/") == 2})
    learned = (forgetting or {}).get("learned_at") or {}
    eval_only = [t for t in tasks if learned.get(t) is None]
    for t in tasks:
        if t not in metrics:
            first = evals[steps[0]] if steps else {}
            metrics[t] = next((m for m in ("exact_match", "acc", "score") if f"eval/{t}/{m}" in first), "exact_match")
    per_step = start.get("examples_per_step")
    ev = {"step": steps, "examples": [evals[s].get("examples", s * (per_step or 1)) for s in steps],
          "stage": [evals[s].get("stage") for s in steps],
          "score": {t: [evals[s].get(f"eval/{t}/{metrics[t]}") for s in steps] for t in tasks},
          "se": {t: [evals[s].get(f"eval/{t}/{metrics[t]}_se") for s in steps] for t in tasks},
          "mean": [evals[s].get("eval/mean") for s in steps], "worst": [evals[s].get("eval/worst") for s in steps]}
    train = [r for r in rows if "train/loss" in r]
    tr = {"step": [r["step"] for r in train], "examples": [r.get("examples") for r in train],
          "loss": [r["train/loss"] for r in train]}
    on_disk = {}
    ck_root = run / "checkpoints"
    for p in ck_root.glob("checkpoint-*") if ck_root.is_dir() else []:
        n = p.name.removeprefix("checkpoint-")
        if n.isdigit() and (p / "curricle_curriculum.json").is_file():
            on_disk[int(n)] = str(p)
    trained = [t for t in tasks if t not in eval_only]
    table = []
    best_so_far: dict[str, float] = {}
    for i, s in enumerate(steps):
        scores = {t: ev["score"][t][i] for t in tasks}
        for t in trained:
            v = scores[t]
            if v is not None:
                best_so_far[t] = max(best_so_far.get(t, v), v)
        vals = [scores[t] for t in trained if scores[t] is not None]
        drops = [best_so_far[t] - scores[t] for t in trained if scores[t] is not None and t in best_so_far]
        table.append({"step": s, "examples": ev["examples"][i], "stage": ev["stage"][i], "on_disk": s in on_disk,
                      "path": on_disk.get(s), "scores": scores, "mean": sum(vals) / len(vals) if vals else None,
                      "worst": min(vals) if vals else None,
                      "forgetting": sum(drops) / len(drops) if drops else None})
    shown = [r for r in table if r["on_disk"]] or table
    best = max(shown, key=lambda r: (r["mean"] is not None, r["mean"] or 0.0))["step"] if shown else None
    last = max((r["step"] for r in rows if isinstance(r.get("step"), int)), default=0)  # trained to, not evaluated at
    total = start.get("steps")
    missing = {}
    if not steps:
        missing["ft_curves"] = "no evaluation yet"
    if not forgetting:
        missing["ft_forgetting"] = "no stage has ended yet (forgetting.json)"
    return {
        "schema": SCHEMA, "kind": "finetune", "name": run.name, "path": str(run),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "progress": {"step": last, "steps": total, "finished": final is not None,
                     "unreadable_lines": {"metrics.jsonl": bad, "curriculum_log.jsonl": bad_log}},
        "tasks": tasks, "metrics": metrics, "eval_only": eval_only, "examples_per_step": per_step,
        "eval": ev, "train": tr, "log": log, "forgetting": forgetting, "final": final,
        "checkpoints": table, "best_checkpoint": best, "missing": missing,
    }


def collect_dpo(run: Path | str) -> dict[str, Any]:
    """A DPO run's page data: fine-tuning's (its margin bands are the curriculum's tasks) and
    its ``pairs.json``."""
    ft = collect_finetune(run)
    ft.update(kind="dpo", pairs=read_json(Path(run) / "pairs.json"))
    return ft


def _log_rows(ft: dict[str, Any]) -> list[str]:
    out = []
    for e in ft["log"]:
        kind = e.get("event", "")
        if kind == "start":
            what = "weights " + ", ".join(f"{k} {v:.2f}" for k, v in e.get("weights", {}).items())
        elif kind == "stage":
            sig = e.get("values") or {k: e.get(k) for k in ("steps_in_stage", "max_steps")}
            what = f"{e['from']} → {e['to']} ({e['reason']}; from step {e['effective_from_step']}): " + \
                ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in sig.items())
        elif kind == "milestone":
            what = f"{e['stage']}: milestone reached " + ", ".join(f"{k} {v:.3f}" for k, v in e["values"].items())
        elif kind == "review":
            what = (f"{e['tested']} review items tested: {e['promoted']} promoted, {e['demoted']} demoted; "
                    f"decks {e['decks']}; correct " + ", ".join(f"{k} {v:.2f}" for k, v in e["correct"].items()))
        elif kind == "review-added":
            what = "into deck 0: " + ", ".join(f"{k} {v}" for k, v in e["items"].items())
        elif kind == "review-floor":
            what = (f"no deck due: {e['share']:.2f} of each step from the {e['items']} queued items "
                    f"(floor interval {e['floor_intervals']})")
        elif kind in ("revisit", "recovered"):
            what = f"{e['task']}: {e['score']:.3f} (at its stage's end {e['reference']:.3f})"
            if "limit" in e:
                what += f"; drop {e['drop']:.3f}, limit {e['margin_se']:g} x s.e. {e['se']:.3f} = {e['limit']:.3f}"
        elif kind == "revisit-end":
            what = f"{e['task']}: revisit ends, {e['why']}"
        elif kind == "plateau":
            w = e.get("window") or [None, None]
            what = (f"{e['stage']}: {e['task']} {e['metric']} on a plateau at {e['value']:.3f} (steps {w[0]}-{w[1]}: "
                    f"best {e['best_window']:.3f} vs {e['best_before']:.3f} before, improvement "
                    f"{e['improvement']:+.3f} < {e['threshold']:.3f})"
                    + (f", milestone {e['at_least']:g}" if e.get("at_least") is not None else "")
                    + f"; {e['policy']}: {e['action']}")
            if e.get("action") == "reinstate":
                what += f" {e['reinstated']} at {e['weight']:g} of each step until step {e['until_step']}"
            if e.get("why"):
                what += f" ({e['why']})"
        elif kind == "reinstate-end":
            what = f"{e['reinstated']} reinstated since step {e['since']} ends: {e['why']}"
        elif kind == "stop":
            what = f"the run ends: {e['reason']}"
        elif kind == "reference":
            what = f"{e['stage']}: DPO's reference is now the policy at this step (move {e['sync']})"
        else:
            what = json.dumps({k: v for k, v in e.items() if k not in ("event", "step")})
        out.append(f"<tr>{td(e.get('step'))}{td(kind, 'text')}{td(what, 'text')}</tr>")
    return out


def _checkpoint_rows(ft: dict[str, Any]) -> tuple[list[str], list[str]]:
    head = ["step", "examples", "stage", "on disk", "mean", "worst", "forgetting", *ft["tasks"]]
    rows = []
    for r in ft["checkpoints"]:
        cls = ' class="best"' if r["step"] == ft["best_checkpoint"] else ""
        cells = [td(r["step"]), td(r["examples"]), td(r["stage"] or "", "text"), td(r["on_disk"]),
                 td(r["mean"], digits=3), td(r["worst"], digits=3), td(r["forgetting"], digits=3)]
        cells += [td(r["scores"].get(t), digits=3) for t in ft["tasks"]]
        rows.append(f'<tr data-step="{r["step"]}"{cls}>{"".join(cells)}</tr>')
    return head, rows


def _stats(ft: dict[str, Any]) -> str:
    f = ft["forgetting"] or {}
    parts = [f"{k} {num(f.get(key), 3)}" for k, key in (("ACC", "acc"), ("BWT", "bwt"), ("FWT", "fwt"),
                                                          ("mean forgetting", "mean_forgetting"))]
    per = ", ".join(f"{t} {v:.3f}" for t, v in (f.get("forgetting") or {}).items())
    change = ", ".join(f"{t} {v:+.3f}" for t, v in (f.get("change_from_baseline") or {}).items())
    note = (f"{'Final' if f.get('final') else 'So far (finished stages only)'}: " + " · ".join(parts)
            + (f". Forgetting per task (best earlier score minus final): {per}" if per else "")
            + (f". Tasks no stage trains, change from before fine-tuning: {change}" if change else "") + ".")
    return f'<p class="note" data-stats="{esc(json.dumps({k: f.get(k) for k in ("acc", "bwt", "fwt")}))}">{esc(note)}</p>'


# -- figures -------------------------------------------------------------------------------

def _stage_marks(fig: go.Figure, ft: dict[str, Any], x_of) -> None:
    """Stage boundaries (dashed, named) and revisits (dotted) from the curriculum log."""
    for e in ft["log"]:
        kind = e.get("event")
        if kind == "stage":
            fig.add_vline(x=x_of(e["effective_from_step"] - 1), line={"dash": "dash", "color": "#888", "width": 1},
                          annotation_text=f"{e['to']} ({e['reason']})", annotation_position="top right",
                          annotation_font={"size": 10, "color": "#555"})
        elif kind in ("revisit", "recovered", "revisit-end"):
            fig.add_vline(x=x_of(e["step"]), line={"dash": "dot", "color": "#d62728" if kind == "revisit"
                                                   else "#2ca02c", "width": 1})


def finetune_tasks(ft: dict[str, Any], colors: dict[str, str]) -> go.Figure | None:
    """Each task's held-out score (its discrete metric, with a ±1 standard-error band) over
    training examples; stage changes, revisits and milestones marked."""
    ev = ft["eval"]
    if not ev["step"]:
        return None
    x = ev["examples"]
    step_to_x = dict(zip(ev["step"], x))
    per_step = ft["examples_per_step"] or 1

    def x_of(step: int):
        return step_to_x.get(step, step * per_step)

    fig = go.Figure()
    for task in ft["tasks"]:
        y, color = ev["score"][task], colors[task]
        fig.add_trace(se_band(x, y, ev["se"][task], color, task))
        dash = "dot" if task in ft["eval_only"] else "solid"
        fig.add_trace(go.Scatter(x=x, y=y, name=f"{task} ({ft['metrics'][task]})", mode="lines+markers",
                                 line={"color": color, "dash": dash}, marker={"size": 4}, legendgroup=task))
    for e in ft["log"]:
        if e.get("event") == "stage" and e.get("reason") == "milestone" or e.get("event") == "milestone":
            for task, v in (e.get("values") or {}).items():
                fig.add_trace(go.Scatter(x=[x_of(e["step"])], y=[v], mode="markers", showlegend=False,
                                         marker={"symbol": "star", "size": 12, "color": colors.get(task, "#000")},
                                         hovertext=f"milestone: {task} {v:.3f} >= {e['at_least']}"))
    _stage_marks(fig, ft, x_of)
    return layout(fig, "Held-out score per task (band: ±1 s.e.; ★ milestone; dotted: revisit / its end)",
                   height=440, xaxis_title="training examples", yaxis_title="score")


def finetune_loss(ft: dict[str, Any]) -> go.Figure | None:
    tr = ft["train"]
    if not tr["step"]:
        return None
    fig = go.Figure(go.Scatter(x=tr["examples"], y=tr["loss"], name="training loss (completions)",
                               mode="lines", line={"color": PALETTE[0]}))
    step_to_x = dict(zip(tr["step"], tr["examples"]))
    _stage_marks(fig, ft, lambda s: step_to_x.get(s, s * (ft["examples_per_step"] or 1)))
    return layout(fig, "Training loss", height=300, xaxis_title="training examples", yaxis_title="nats / token")


def forgetting_heatmap(ft: dict[str, Any]) -> go.Figure | None:
    """``R[stage, task]`` (rows: the baseline, then each stage's end) as a heatmap, values written in."""
    f = ft.get("forgetting")
    if not f or not f.get("R"):
        return None
    rows = [list(r) for r in f["R"]]
    names = [f"after {s} (step {st})" for s, st in zip(f["stages"], f["steps"])]
    if f.get("baseline") is not None:
        rows.insert(0, list(f["baseline"]))
        names.insert(0, "before fine-tuning")
    text = [["" if v is None or v != v else f"{v:.2f}" for v in r] for r in rows]
    fig = go.Figure(go.Heatmap(z=rows, x=f["tasks"], y=names, text=text, texttemplate="%{text}", zmin=0, zmax=1,
                               colorscale="Blues", colorbar={"title": "score"}, hoverongaps=False))
    fig.update_yaxes(autorange="reversed")
    return layout(fig, "Forgetting matrix R[stage, task]", height=140 + 48 * len(rows), hovermode="closest")


# -- panels --------------------------------------------------------------------------------

def _curves(page: Page, ft: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not ft["eval"]["step"]:
        return None
    return page.fig(finetune_tasks(ft, colors), "ft-tasks") + page.fig(finetune_loss(ft), "ft-loss")


def _forgetting(page: Page, ft: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not ft["forgetting"]:
        return None
    return page.fig(forgetting_heatmap(ft), "ft-forgetting") + _stats(ft)


def _log(page: Page, ft: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not ft["log"]:
        return None
    return table(["step", "event", "what, and the signal that caused it"], _log_rows(ft), sortable=False,
                 text=(1, 2))


def _checkpoints(page: Page, ft: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not ft["checkpoints"]:
        return None
    head, rows = _checkpoint_rows(ft)
    best = ft["best_checkpoint"]
    note = (f"One row per evaluation; highlighted: step {best:,}, the best mean held-out score over the trained "
            f"tasks{' among checkpoints on disk' if any(r['on_disk'] for r in ft['checkpoints']) else ''}. "
            "Forgetting: mean over trained tasks of the best earlier score minus this one." if best is not None
            else "")
    return f'<p class="note">{esc(note)}</p>' + table(head, rows, text=(2,))


def _pairs(page: Page, ft: dict[str, Any], colors: dict[str, str]) -> str | None:
    """A DPO run's pairs (``pairs.json``): kept and dropped by reason, and each margin band."""
    pairs = ft.get("pairs")
    if not pairs:
        return None
    dropped = dict(pairs.get("dropped") or {})
    for src in pairs.get("sources") or []:
        for k, v in (src.get("dropped") or {}).items():
            dropped[k] = dropped.get(k, 0) + v
    note = (f"{pairs['kept']:,} pairs kept of {pairs['pairs']:,} ({pairs['order']} order); dropped: "
            + (", ".join(f"{k} {v:,}" for k, v in sorted(dropped.items())) or "none"))
    rows = []
    for band, c in pairs["bands"].items():
        m = c["margin"]
        margins = "-" if m is None else f"{num(m[0])} .. {num(m[1])}"
        rows.append(f"<tr>{td(band, 'text')}{td(c['train'])}{td(c['heldout'])}{td(margins, 'text')}</tr>")
    return f'<p class="note">{esc(note)}</p>' + table(["band", "train", "held-out", "margins"], rows, text=(0, 3))


#: The fine-tuning run's panels, in page order (``ft_pairs``: a DPO run's only).
FINETUNE_PANELS = (
    Panel("ft_pairs", "Preference pairs", _pairs),
    Panel("ft_curves", "Held-out scores", _curves),
    Panel("ft_forgetting", "Forgetting matrix", _forgetting),
    Panel("ft_log", "Curriculum log", _log),
    Panel("ft_checkpoints", "Checkpoints", _checkpoints),
)
PANELS = tuple(p.name for p in FINETUNE_PANELS)


def render_finetune(ft: dict[str, Any]) -> str:
    page = Page()
    panels = render_panels(page, FINETUNE_PANELS, ft, domain_colors(ft["tasks"]))
    p = ft["progress"]
    state = run_state(p)
    what = "DPO" if ft["kind"] == "dpo" else "fine-tuning"
    header = (f"<h1>curricle {what}: {esc(ft['name'])}</h1><div class=\"meta\"><code>{esc(ft['path'])}</code> · "
              f"{len(ft['tasks'])} tasks ({len(ft['eval_only'])} evaluation-only) · {esc(state)} · report written "
              f"{esc(ft['generated'])}</div>{missing_list(ft)}")
    return page.html(f"curricle: {ft['name']}", header, nav(FINETUNE_PANELS, panels), sections(FINETUNE_PANELS, panels),
                     ft)


def save_finetune_report(ft: dict[str, Any], out: Path | str | None = None) -> Path:
    """Write the page of ``ft`` (from :func:`collect_finetune`) to ``out`` (default ``RUN/report.html``)."""
    out = Path(out) if out is not None else Path(ft["path"]) / "report.html"
    atomic.write_text(out, render_finetune(ft))
    return out
