"""The report of a post-training pipeline (``curricle pipeline``).

Read from ``DIR/pipeline.json`` (the checkpoint table and the rule that chose the best) and
``DIR/selection.json``: where ``curricle select DIR`` wrote a rule, the best is the row it
chooses in the table as it is now (as :func:`curricle.report.data._selection` does for a
pretraining run), else the pipeline's own choice. Panels: each chosen checkpoint's test score
per task with the probes' mean (a regression check against the starting model), the checkpoint
table with the best marked by the selection rule and the Pareto front of its objective against
tokens and completion length, and the stages with links to their own reports, which
:func:`save_pipeline_report` writes too (fine-tuning, DPO and RL stages). :func:`post_training_links`
is what the pretraining page of the run the pipeline started from shows of it (``curricle demo``).

A pipeline still running (or stopped before its end) has no ``pipeline.json`` yet (it is
written when every stage is done): its page has the stages done so far (each one's
``DIR/<stage>/stage.json``, in the order they finished) and the stage started after them (a
stage folder with a ``run.json`` and no ``stage.json``), with their own pages, and says that
the checkpoint table comes at the end.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from pydantic import ValidationError

from curricle import atomic
from curricle.errors import CurricleError
from curricle.report.data import read_json
from curricle.report.finetune import collect_dpo, collect_finetune, save_finetune_report
from curricle.report.kind import run_kind
from curricle.report.kit import Page, Panel, esc, missing_list, nav, render_panels, sections, table, td
from curricle.report.plots import domain_colors, layout, pareto
from curricle.report.rl import collect_rl, save_rl_report
from curricle.selection.config import SelectRule
from curricle.selection.rule import choose, fronts
from curricle.selection.tables import pipeline_rows, stage_flags

SCHEMA = "curricle.pipeline-report/1"
#: A stage's own page, by its run kind (pretraining and rft stages have none here).
STAGE_PAGES = {"finetune": (collect_finetune, save_finetune_report), "rl": (collect_rl, save_rl_report),
               "dpo": (collect_dpo, save_finetune_report)}


def collect_pipeline(run: Path | str) -> dict[str, Any]:
    """Everything the pipeline's page shows (see the module docstring), as one JSON-able dict."""
    run = Path(run)
    if not run.is_dir():
        raise CurricleError(f"{run}: no such pipeline directory")
    if not (run / "pipeline.json").exists():
        return _running(run)
    try:
        pl = json.loads((run / "pipeline.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CurricleError(f"{run / 'pipeline.json'}: cannot read the pipeline's table ({err})") from None
    tasks = list(pl["table"][0]["test"]) if pl.get("table") else []
    probes = sorted({p for r in pl.get("table", []) for p in r.get("probes") or {}})
    out = {"schema": SCHEMA, "kind": "pipeline", "name": pl.get("name") or run.name, "path": str(run),
           "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "finished": True,
           "stages": pl.get("stages", []), "table": pl.get("table", []), "best": pl.get("best"),
           "rule": pl.get("rule", ""), "chosen_by": "pipeline.json", "tasks": tasks,
           "feasible": pl.get("feasible", True), "reason": pl.get("reason"), "pareto": pl.get("pareto") or {},
           "objective": pl.get("objective", "mean"),
           "probes": probes, "stage_reports": {}, "missing": {} if pl.get("table") else
           {"pl_table": "no checkpoint was scored"}}
    if out["table"]:
        out.update(_selection(run, out["table"]))
    return out


def _selection(run: Path, table: list[dict[str, Any]]) -> dict[str, Any]:
    """The choice of the rule ``curricle select`` last wrote to ``DIR/selection.json``, applied to
    the table as it is now (best, rule, feasible, reason, objective, Pareto fronts by stage);
    nothing (the pipeline's own choice stands) without one, or for a rule naming a column the
    table no longer has."""
    saved = read_json(run / "selection.json")
    if not isinstance(saved, dict) or saved.get("kind") != "pipeline" or "spec" not in saved:
        return {}
    try:
        rule = SelectRule.model_validate(saved["spec"])
    except ValidationError:
        return {}
    names = [r["stage"] for r in table]
    rows, known = pipeline_rows(table, stage_flags(run, names))
    try:
        choice = choose(rows, rule, known)
    except CurricleError:
        return {}
    by_cost = {cost: [names[i] for i in idx] for cost, idx in fronts(rows, rule).items()}
    return {"best": names[choice["chosen"]] if choice["chosen"] is not None else None, "rule": choice["rule"],
            "chosen_by": "selection.json", "feasible": choice["feasible"], "reason": choice.get("reason"),
            "objective": rule.objective, "pareto": by_cost}


def _running(run: Path) -> dict[str, Any]:
    """The page of a pipeline without ``pipeline.json``: the stages done (their ``stage.json``, in
    the order they finished) and those started (a stage folder with ``run.json``)."""
    done, started = [], []
    for d in sorted(p for p in run.iterdir() if p.is_dir()):
        record = read_json(d / "stage.json")
        if isinstance(record, dict) and isinstance(record.get("stage"), str):
            done.append(((d / "stage.json").stat().st_mtime_ns, record))
        elif (d / "run.json").is_file():
            started.append({"stage": d.name, "kind": run_kind(d), "running": True})
    stages = [r for _, r in sorted(done, key=lambda t: t[0])] + started
    why = (f"the pipeline has not finished (still running, or stopped): {len(done)} stage(s) done so far; "
           f"pipeline.json, the table of every chosen checkpoint's scores, is written when every stage is done")
    return {"schema": SCHEMA, "kind": "pipeline", "name": run.name, "path": str(run),
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "finished": False,
            "stages": stages, "table": [], "best": None, "rule": "", "chosen_by": None, "tasks": [],
            "feasible": True, "reason": None, "pareto": {}, "objective": "mean", "probes": [], "stage_reports": {},
            "missing": {"pl_table": why}}


def _table_rows(pl: dict[str, Any]) -> tuple[list[str], list[str]]:
    head = ["stage", *pl["tasks"], "mean", "worst", "completion length", *pl["probes"],
            "probe mean", "Δ probes from start", "tokens spent", "checkpoint"]
    rows = []
    for r in pl["table"]:
        cls = ' class="best"' if r["stage"] == pl["best"] else ""
        cells = [td(r["stage"], "text"), *[td(r["test"].get(t), digits=3) for t in pl["tasks"]],
                 td(r["mean"], digits=3), td(r["worst"], digits=3), td(r["length"], digits=2),
                 *[td((r.get("probes") or {}).get(p), digits=3) for p in pl["probes"]],
                 td(r.get("probe_mean"), digits=3), td(r.get("probe_change"), digits=3), td(r["tokens"]),
                 td(r["checkpoint"], "text")]
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return head, rows


def _stage_rows(pl: dict[str, Any]) -> list[str]:
    out = []
    for s in pl["stages"]:
        link = pl["stage_reports"].get(s["stage"])
        name = f'<a href="{esc(link)}">{esc(s["stage"])}</a>' if link else esc(s["stage"])
        if s.get("running"):
            chosen = "not finished (no stage.json yet)"
        elif s.get("skipped"):
            chosen = f"{s['skipped']} (goes on from {s['chosen']})"
        else:
            chosen = s["chosen"] + (f" (step {s['step']:,}, rule {s['rule']})" if s.get("step") is not None else "")
        out.append(f'<tr><td data-v="{esc(s["stage"])}" class="text">{name}</td>{td(s["kind"], "text")}'
                   f'{td(s.get("from") or "", "text")}{td(chosen, "text")}{td(s.get("tokens"))}</tr>')
    return out


# -- figures -------------------------------------------------------------------------------

def pipeline_scores(pl: dict[str, Any], colors: dict[str, str]) -> go.Figure | None:
    """Each checkpoint's test score per task (bars), its mean and the probes' mean (lines)."""
    rows = pl["table"]
    if not rows:
        return None
    names = [r["stage"] for r in rows]
    fig = go.Figure()
    for task in pl["tasks"]:
        fig.add_trace(go.Bar(x=names, y=[r["test"].get(task) for r in rows], name=task,
                             marker={"color": colors[task]}))
    fig.add_trace(go.Scatter(x=names, y=[r["mean"] for r in rows], name="mean", mode="lines+markers",
                             line={"color": "#000", "width": 2}))
    if any(r.get("probe_mean") is not None for r in rows):
        fig.add_trace(go.Scatter(x=names, y=[r.get("probe_mean") for r in rows], name="probes (regression check)",
                                 mode="lines+markers", line={"color": "#7f7f7f", "dash": "dash"}))
    fig.update_layout(barmode="group")
    return layout(fig, "Test exact match per task, at each stage's chosen checkpoint", height=420,
                   xaxis_title="stage", yaxis_title="score", yaxis_range=[0, 1.02], hovermode="closest")


def pipeline_pareto(pl: dict[str, Any], cost: str) -> go.Figure | None:
    """The selection's objective against ``cost`` (tokens spent, completion length) per
    checkpoint, the Pareto front and the chosen one."""
    rows = pl["table"]
    names = [r["stage"] for r in rows]
    objective = pl["objective"]
    y = [r.get(objective, (r.get("test") or {}).get(objective)) for r in rows]
    front = [names.index(n) for n in pl["pareto"].get(cost, []) if n in names]
    chosen = names.index(pl["best"]) if pl["best"] in names else None
    label = {"tokens": "training tokens spent", "length": "mean completion length (tokens)"}[cost]
    return pareto(names, [r.get(cost) for r in rows], y, front, chosen, label, objective,
                  f"{objective} against {label}: the Pareto front")


# -- panels --------------------------------------------------------------------------------

def _scores(page: Page, pl: dict[str, Any], colors: dict[str, str]) -> str | None:
    return page.fig(pipeline_scores(pl, colors), "pl-scores") if pl["table"] else None


def _checkpoints(page: Page, pl: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not pl["table"]:
        return None
    head, rows = _table_rows(pl)
    compromise = ("" if pl["feasible"] else f' <b>No checkpoint met every constraint</b>: {esc(pl["reason"])}.')
    figs = "".join(page.fig(pipeline_pareto(pl, cost), f"pl-pareto-{cost}") for cost in ("tokens", "length")
                   if cost in pl["pareto"])
    by = (" (from selection.json, which <code>curricle select</code> wrote)" if pl["chosen_by"] == "selection.json"
          else "")
    return (f'<p class="note">Highlighted: <b>{esc(pl["best"])}</b>, by the rule: {esc(pl["rule"])}{by}.{compromise} '
            "The release is a choice among these checkpoints, not the last one.</p>"
            + table(head, rows, text=(0, len(head) - 1)) + figs)


def _stages(page: Page, pl: dict[str, Any], colors: dict[str, str]) -> str | None:
    if not pl["stages"]:
        return None
    return table(["stage", "kind", "from", "chosen checkpoint", "tokens"], _stage_rows(pl), sortable=False,
                 text=(0, 1, 2, 3))


#: The pipeline's panels, in page order.
PIPELINE_PANELS = (
    Panel("pl_scores", "Scores per stage", _scores),
    Panel("pl_table", "Checkpoint table", _checkpoints),
    Panel("pl_stages", "Stages", _stages),
)
PANELS = tuple(p.name for p in PIPELINE_PANELS)


def render_pipeline(pl: dict[str, Any]) -> str:
    page = Page()
    panels = render_panels(page, PIPELINE_PANELS, pl, domain_colors(pl["tasks"]))
    state = (f"best: {esc(pl['best'])}" if pl["finished"] else
             f'<span class="badge running">not finished</span> {sum(not s.get("running") for s in pl["stages"])} '
             f"stage(s) done")
    header = (f"<h1>curricle pipeline: {esc(pl['name'])}</h1><div class=\"meta\"><code>{esc(pl['path'])}</code> · "
              f"{len(pl['stages'])} stages · {state} · report written {esc(pl['generated'])}</div>"
              f"{missing_list(pl)}")
    return page.html(f"curricle: {pl['name']}", header, nav(PIPELINE_PANELS, panels),
                     sections(PIPELINE_PANELS, panels), pl)


def save_pipeline_report(pl: dict[str, Any], out: Path | str | None = None, stage_reports: bool = True) -> Path:
    """Write the page (default ``DIR/report.html``) and, with ``stage_reports``, each
    fine-tuning or RL stage's own report beside its files, linked from the stages table."""
    root = Path(pl["path"])
    out = Path(out) if out is not None else root / "report.html"
    if stage_reports:
        for s in pl["stages"]:
            d = root / s["stage"]
            stage_page = STAGE_PAGES.get(run_kind(d)) if d.is_dir() else None  # a stage not run yet: no page
            if stage_page is None:
                continue
            collect, save = stage_page
            page = save(collect(d))
            pl["stage_reports"][s["stage"]] = str(page.relative_to(out.parent)) if page.is_relative_to(out.parent) \
                else str(page)
    atomic.write_text(out, render_pipeline(pl))
    return out


def post_training_links(pl: dict[str, Any], page: Path, out: Path) -> dict[str, Any]:
    """What a pretraining run's page (written to ``out``) shows of a pipeline that started from
    it: ``pl`` (from :func:`collect_pipeline`, after :func:`save_pipeline_report` wrote its page
    ``page`` and the stages' pages) as links relative to ``out``'s folder, and the checkpoint
    table's rows (stage, its page, mean and worst test score, the probes' change), best marked."""
    here = Path(out).parent

    def rel(p: Path) -> str:
        return Path(os.path.relpath(Path(p).resolve(), here.resolve())).as_posix()

    links = {s: rel(Path(page).parent / link) for s, link in pl["stage_reports"].items()}
    kinds = {s["stage"]: s["kind"] for s in pl["stages"]}
    rows = [{"stage": r["stage"], "kind": kinds.get(r["stage"], "start"), "page": links.get(r["stage"]),
             "mean": r["mean"], "worst": r["worst"], "probe_change": r.get("probe_change"),
             "checkpoint": r["checkpoint"]} for r in pl["table"]]
    return {"page": rel(page), "name": pl["name"], "best": pl["best"], "rule": pl["rule"], "rows": rows,
            "stages": [{"stage": s["stage"], "kind": s["kind"], "page": links.get(s["stage"])} for s in pl["stages"]]}
