"""The report of a post-training pipeline (``curricle pipeline``).

Read from ``DIR/pipeline.json`` (the checkpoint table and the rule that chose the best) and each
stage's ``DIR/<stage>/stage.json``. Panels: each chosen checkpoint's test score per task with
the probes' mean (a regression check against the starting model), the checkpoint table with
the best marked, and the stages with links to their own reports, which
:func:`save_pipeline_report` writes too (fine-tuning and RL stages).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from curricle import atomic
from curricle.errors import CurricleError
from curricle.report import figures
from curricle.report.finetune import collect_finetune, is_finetune_run, save_finetune_report
from curricle.report.page import _e, _missing, _Page, _section, _table, _td
from curricle.report.rl import collect_rl, is_rl_run, save_rl_report

SCHEMA = "curricle.pipeline-report/1"
PANELS = ("pl_scores", "pl_table", "pl_stages")
TITLES = {"pl_scores": "Scores per stage", "pl_table": "Checkpoint table", "pl_stages": "Stages"}


def is_pipeline_run(run: Path) -> bool:
    return (Path(run) / "pipeline.json").is_file()


def collect_pipeline(run: Path | str) -> dict[str, Any]:
    run = Path(run)
    try:
        pl = json.loads((run / "pipeline.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CurricleError(f"{run / 'pipeline.json'}: cannot read the pipeline's table ({err})") from None
    tasks = list(pl["table"][0]["test"]) if pl.get("table") else []
    probes = sorted({p for r in pl.get("table", []) for p in r.get("probes") or {}})
    return {"schema": SCHEMA, "kind": "pipeline", "name": pl.get("name") or run.name, "path": str(run),
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "stages": pl.get("stages", []),
            "table": pl.get("table", []), "best": pl.get("best"), "rule": pl.get("rule", ""), "tasks": tasks,
            "probes": probes, "stage_reports": {}, "missing": {} if pl.get("table") else
            {"pl_table": "no checkpoint was scored"}}


def _table_rows(pl: dict[str, Any]) -> tuple[list[str], list[str]]:
    head = ["stage", *pl["tasks"], "mean", "worst", "completion length", *pl["probes"],
            "probe mean", "Δ probes from start", "tokens spent", "checkpoint"]
    rows = []
    for r in pl["table"]:
        cls = ' class="best"' if r["stage"] == pl["best"] else ""
        cells = [_td(r["stage"], "text"), *[_td(r["test"].get(t), digits=3) for t in pl["tasks"]],
                 _td(r["mean"], digits=3), _td(r["worst"], digits=3), _td(r["length"], digits=2),
                 *[_td((r.get("probes") or {}).get(p), digits=3) for p in pl["probes"]],
                 _td(r.get("probe_mean"), digits=3), _td(r.get("probe_change"), digits=3), _td(r["tokens"]),
                 _td(r["checkpoint"], "text")]
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return head, rows


def _stage_rows(pl: dict[str, Any]) -> list[str]:
    out = []
    for s in pl["stages"]:
        link = pl["stage_reports"].get(s["stage"])
        name = f'<a href="{_e(link)}">{_e(s["stage"])}</a>' if link else _e(s["stage"])
        chosen = s["chosen"] + (f" (step {s['step']:,}, rule {s['rule']})" if s.get("step") is not None else "")
        out.append(f'<tr><td data-v="{_e(s["stage"])}" class="text">{name}</td>{_td(s["kind"], "text")}'
                   f'{_td(s.get("from") or "", "text")}{_td(chosen, "text")}{_td(s.get("tokens"))}</tr>')
    return out


def render_pipeline(pl: dict[str, Any]) -> str:
    page = _Page()
    colors = figures.domain_colors(pl["tasks"])
    panels: dict[str, str] = {}
    if pl["table"]:
        panels["pl_scores"] = page.fig(figures.pipeline_scores(pl, colors), "pl-scores")
        head, rows = _table_rows(pl)
        panels["pl_table"] = (f'<p class="note">Highlighted: <b>{_e(pl["best"])}</b>, by the rule: {_e(pl["rule"])}. '
                              "The release is a choice among these checkpoints, not the last one.</p>"
                              + _table(head, rows, text=(0, len(head) - 1)))
    if pl["stages"]:
        panels["pl_stages"] = _table(["stage", "kind", "from", "chosen checkpoint", "tokens"], _stage_rows(pl),
                                     sortable=False, text=(0, 1, 2, 3))
    body = "".join(_section(p, panels[p], TITLES[p]) for p in PANELS if p in panels)
    header = (f"<h1>curricle pipeline: {_e(pl['name'])}</h1><div class=\"meta\"><code>{_e(pl['path'])}</code> · "
              f"{len(pl['stages'])} stages · best: {_e(pl['best'])} · report written {_e(pl['generated'])}</div>"
              f"{_missing(pl)}")
    return page.html(f"curricle: {pl['name']}", header, [p for p in PANELS if p in panels], body, pl, TITLES)


def save_pipeline_report(pl: dict[str, Any], out: Path | str | None = None, stage_reports: bool = True) -> Path:
    """Write the page (default ``DIR/report.html``) and, with ``stage_reports``, each
    fine-tuning or RL stage's own report beside its files, linked from the stages table."""
    root = Path(pl["path"])
    out = Path(out) if out is not None else root / "report.html"
    if stage_reports:
        for s in pl["stages"]:
            d = root / s["stage"]
            if is_rl_run(d):
                page = save_rl_report(collect_rl(d))
            elif is_finetune_run(d):
                page = save_finetune_report(collect_finetune(d))
            else:
                continue
            pl["stage_reports"][s["stage"]] = str(page.relative_to(out.parent)) if page.is_relative_to(out.parent) \
                else str(page)
    atomic.write_text(out, render_pipeline(pl))
    return out
