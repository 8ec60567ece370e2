"""The report of a drift comparison (``curricle drift OLD NEW --out DIR``, then ``curricle report DIR``).

Read from ``DIR/drift.json`` (:mod:`curricle.drift.compare`). Panels: the verdict (counts, both
sides with their snapshot ids, and what each run served); the flagged checks, worst first, with
their null (mean, sd, p-value) and notes; every check's z-score as a heatmap (domains x
statistics, coloured by verdict) and as points against the WARN and DRIFT thresholds; the
mixture's shares OLD vs NEW (served shares for runs); the metadata columns' quantile shifts; the
tokens whose share moved most, decoded; the lineage (documents retained, added, removed per
domain); and every check of every section as rows. The last panel reads only the checks'
common fields, so a section added to ``curricle drift`` shows on the page without new code here;
the figures above are for the sections that have them.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from curricle import atomic
from curricle.errors import CurricleError
from curricle.report.kit import Page, Panel, esc, missing_list, nav, render_panels, sections, table, td
from curricle.report.plots import domain_colors, layout

SCHEMA = "curricle.drift-report/1"
#: Verdicts mildest first, and their colours (cells, bars, heatmap).
LEVELS = ("OK", "WARN", "DRIFT")
COLORS = {"OK": "#2ca02c", "WARN": "#ff7f0e", "DRIFT": "#d62728"}
CELL = {"OK": "#e9f5ea", "WARN": "#fff3d6", "DRIFT": "#fde0e0"}
#: The z-score plot's x axis stops here (in units of drift_sd); larger z are drawn at the edge.
Z_CLIP = 4.0
#: Characters of a check's detail shown in the all-checks tables (drift.json has all of it).
DETAIL_CHARS = 160


def is_drift_dir(path: Path) -> bool:
    """Whether ``path`` is a ``curricle drift`` output (it has ``drift.json``)."""
    return (Path(path) / "drift.json").is_file()


def collect_drift(out_dir: Path | str) -> dict[str, Any]:
    """``drift.json`` with what the page adds (its schema, path, time, the panels it lacks)."""
    out_dir = Path(out_dir)
    try:
        result = json.loads((out_dir / "drift.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CurricleError(f"{out_dir / 'drift.json'}: cannot read the comparison ({err})") from None
    if not isinstance(result, dict) or not {"old", "new", "verdict", "checks"} <= set(result):
        raise CurricleError(f"{out_dir / 'drift.json'}: not a 'curricle drift' result (no old, new, verdict, checks)")
    checks = result["checks"]
    present = {c["section"] for c in checks}
    missing = {}
    for name, section, why in (("drift_mixture", "mixture", "no mixture checks"),
                               ("drift_metadata", "metadata", "no metadata column both sides have"),
                               ("drift_tokens", "tokens", "no token checks")):
        if section not in present:
            missing[name] = why
    if not result.get("lineage", {}).get("domains"):
        missing["drift_lineage"] = "no lineage in drift.json"
    return {**result, "schema": SCHEMA, "kind": "drift", "path": str(out_dir),
            "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "missing": missing}


def ranked(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The flagged checks (WARN, DRIFT), worst first: DRIFT before WARN, then by z, largest
    first, then by name (as :func:`curricle.drift.compare.summarize` orders ``drifted``)."""
    return sorted((c for c in checks if c["verdict"] != "OK"),
                  key=lambda c: (-LEVELS.index(c["verdict"]), -(_num(c["z"]) or 0.0), c["section"], c["domain"] or "",
                                 c["statistic"]))


def _num(v: Any) -> float | None:
    """A number of drift.json (an infinite one is written as a string)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _label(c: dict[str, Any]) -> str:
    return f"{c['section']}: {c['statistic']}"


def _verdict_td(verdict: str) -> str:
    return (f'<td data-v="{LEVELS.index(verdict)}" class="text" style="background:{CELL[verdict]};'
            f'color:{COLORS[verdict]};font-weight:600">{esc(verdict)}</td>')


def _badge(verdict: str) -> str:
    return (f'<span class="badge" data-verdict="{esc(verdict)}" style="background:{CELL[verdict]};'
            f'color:{COLORS[verdict]}">{esc(verdict)}</span>')


def _null(c: dict[str, Any]) -> str:
    mean, sd = _num(c.get("null_mean")), _num(c.get("null_sd"))
    return "" if mean is None else f"{mean:.4g} ± {sd or 0.0:.2g}"


def _check_row(c: dict[str, Any], detail: bool = False) -> str:
    cells = [_verdict_td(c["verdict"]), td(c["section"], "text"), td(c["domain"] or "(all)", "text"),
             td(c["statistic"], "text"), td(_num(c["value"])), td(_num(c["z"]), digits=3),
             f'<td data-v="{esc("" if _num(c.get("null_mean")) is None else _num(c["null_mean"]))}">{esc(_null(c))}</td>',
             td(_num(c.get("p_value")), digits=3), td(c.get("note") or "", "text")]
    if detail:
        text = json.dumps(c.get("detail") or {}, separators=(",", ":"))
        cells.append(td(text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + " …", "text"))
    return f'<tr data-check="{esc(_label(c))}/{esc(c["domain"] or "")}">{"".join(cells)}</tr>'


CHECK_HEAD = ["verdict", "section", "domain", "statistic", "value", "z", "null mean ± sd", "p-value", "note"]


# -- figures -------------------------------------------------------------------------------

def z_heatmap(dr: dict[str, Any]) -> go.Figure | None:
    """Domains x statistics, coloured by verdict, the z-score written in each cell."""
    checks = dr["checks"]
    if not checks:
        return None
    stats = list(dict.fromkeys(_label(c) for c in checks))
    domains = sorted({c["domain"] for c in checks if c["domain"] is not None})
    rows = domains + (["(all)"] if any(c["domain"] is None for c in checks) else [])
    cell = {(c["domain"] or "(all)", _label(c)): c for c in checks}
    z, text, hover = [], [], []
    for d in rows:
        zr, tr, hr = [], [], []
        for s in stats:
            c = cell.get((d, s))
            zr.append(None if c is None else LEVELS.index(c["verdict"]))
            zv = None if c is None else _num(c["z"])
            tr.append("" if c is None else ("–" if zv is None else f"{zv:.1f}"))
            hr.append("" if c is None else f"{d} · {s}<br>{c['verdict']}: value {c['value']}, z {c['z']}, "
                                           f"null {_null(c)}")
        z.append(zr), text.append(tr), hover.append(hr)
    scale = [[0.0, CELL["OK"]], [1 / 3, CELL["OK"]], [1 / 3, COLORS["WARN"]], [2 / 3, COLORS["WARN"]],
             [2 / 3, COLORS["DRIFT"]], [1.0, COLORS["DRIFT"]]]
    fig = go.Figure(go.Heatmap(z=z, x=stats, y=rows, text=text, texttemplate="%{text}", hovertext=hover,
                               hoverinfo="text", zmin=-0.5, zmax=2.5, colorscale=scale, xgap=2, ygap=2,
                               colorbar={"tickvals": [0, 1, 2], "ticktext": list(LEVELS), "title": "verdict"}))
    s = dr["settings"]
    return layout(fig, f"z of every check (cell colour: verdict; WARN above z {s['warn_sd']:g}, "
                       f"DRIFT above {s['drift_sd']:g})", height=max(300, 110 + 34 * len(rows)),
                  hovermode="closest", xaxis={"tickangle": -35, "automargin": True}, yaxis={"automargin": True})


def z_points(dr: dict[str, Any], colors: dict[str, str]) -> go.Figure | None:
    """Every check's z against the WARN and DRIFT lines (z beyond the axis drawn at its edge)."""
    checks = [c for c in dr["checks"] if _num(c["z"]) is not None]
    if not checks:
        return None
    s = dr["settings"]
    edge = Z_CLIP * s["drift_sd"]
    fig = go.Figure()
    for level in LEVELS:
        mine = [c for c in checks if c["verdict"] == level]
        if not mine:
            continue
        zs = [_num(c["z"]) for c in mine]
        fig.add_trace(go.Scatter(
            x=[max(min(z, edge), -edge) for z in zs], y=[_label(c) for c in mine], mode="markers", name=level,
            marker={"color": COLORS[level], "size": 9, "symbol": ["triangle-right" if z > edge else "triangle-left" if z < -edge
                                                                   else "circle" for z in zs]},
            text=[f"{c['domain'] or '(all)'}: z {z:.2f}, value {c['value']}, null {_null(c)}" for c, z in zip(mine, zs)],
            hoverinfo="text+y"))
    for x, name, where in ((s["warn_sd"], "WARN", "top left"), (s["drift_sd"], "DRIFT", "top right")):
        fig.add_vline(x=x, line={"color": COLORS[name], "dash": "dash", "width": 1.5},
                      annotation_text=f"{name} (z {x:g})", annotation_position=where)
    n = len({_label(c) for c in checks})
    return layout(fig, f"z per statistic, one point per domain (beyond ±{edge:g}: at the edge, ▶ ◀)",
                  height=max(300, 120 + 26 * n), hovermode="closest", xaxis_title="z (value − null mean) / null sd",
                  yaxis={"automargin": True})


def mixture_bars(dr: dict[str, Any], colors: dict[str, str]) -> go.Figure | None:
    """Each domain's share OLD vs NEW (served shares for a run), bars coloured by the share check's verdict."""
    shares = [c for c in dr["checks"] if c["section"] == "mixture" and c["statistic"] == "share"
              and "old" in (c.get("detail") or {})]
    if not shares:
        return None
    names = [c["domain"] for c in shares]
    fig = go.Figure()
    for side, key, pattern in (("OLD", "old", ""), ("NEW", "new", "/")):
        fig.add_trace(go.Bar(x=names, y=[c["detail"][key] for c in shares], name=f"{side}: {_what(dr[key])}",
                             marker={"color": [COLORS[c["verdict"]] if side == "NEW" else "#9e9e9e" for c in shares],
                                     "pattern": {"shape": pattern}},
                             text=[f"{c['detail'][key]:.3f}" for c in shares], textposition="outside"))
    fig.update_layout(barmode="group")
    return layout(fig, "Share of the tokens per domain, OLD (grey) vs NEW (coloured by verdict)", height=400,
                  yaxis_title="share", hovermode="closest")


def _what(side: dict[str, Any]) -> str:
    return "served share" if side.get("served") else "token share"


def quantile_shifts(dr: dict[str, Any], colors: dict[str, str]) -> go.Figure | None:
    """Per metadata column, NEW's quantile minus OLD's at each quantile, a line per domain."""
    checks = [c for c in dr["checks"] if c["section"] == "metadata" and (c.get("detail") or {}).get("quantile_shift")]
    if not checks:
        return None
    columns = sorted({c["statistic"].split("/", 1)[1] for c in checks})
    fig = make_subplots(rows=len(columns), cols=1, subplot_titles=columns, vertical_spacing=0.3 / max(1, len(columns)))
    shown = set()
    for i, col in enumerate(columns, start=1):
        for c in (c for c in checks if c["statistic"].split("/", 1)[1] == col):
            qs = c["detail"]["quantile_shift"]
            d = c["domain"]
            fig.add_trace(go.Scatter(x=list(qs), y=list(qs.values()), name=d, legendgroup=d, showlegend=d not in shown,
                                     mode="lines+markers", line={"color": colors.get(d)},
                                     hovertemplate=f"{d} · {col} %{{x}}: %{{y:.4g}} ({c['verdict']})<extra></extra>"),
                          row=i, col=1)
            shown.add(d)
        fig.add_hline(y=0, line={"color": "#9e9e9e", "width": 1}, row=i, col=1)
    return layout(fig, "Metadata: NEW's quantile − OLD's, per column (in the column's units)",
                  height=140 + 200 * len(columns), hovermode="closest")


def lineage_bars(dr: dict[str, Any]) -> go.Figure | None:
    domains = dr.get("lineage", {}).get("domains") or {}
    if not domains:
        return None
    names = list(domains)
    fig = go.Figure()
    for key, color in (("retained", "#9e9e9e"), ("added", "#2ca02c"), ("removed", "#d62728")):
        fig.add_trace(go.Bar(x=names, y=[domains[d][key] for d in names], name=key, marker={"color": color}))
    fig.update_layout(barmode="group")
    return layout(fig, "Documents per domain: retained, added, removed", height=360, yaxis_title="documents",
                  hovermode="closest")


# -- panels --------------------------------------------------------------------------------

def _side_rows(dr: dict[str, Any]) -> list[str]:
    rows = []
    for name in ("old", "new"):
        side = dr[name]
        docs = sum(d["docs"] for d in side["domains"].values())
        tokens = sum(d["tokens"] for d in side["domains"].values())
        served = side.get("served")
        what = (f"run of {served['steps']:,} steps on {side.get('store')}" if served else side["kind"])
        rows.append(f'<tr data-side="{name}">{td(name.upper(), "text")}{td(side["label"], "text")}{td(what, "text")}'
                    f'{td(side["snapshot"] or "(none recorded)", "text")}{td(len(side["domains"]))}{td(docs)}'
                    f'{td(tokens)}{td(sum(served["tokens"].values()) if served else None)}</tr>')
    return rows


def _summary(page: Page, dr: dict[str, Any], colors) -> str:
    c, s = dr["counts"], dr["settings"]
    same = dr.get("lineage", {}).get("snapshots", {}).get("same")
    snap = (" Both sides have the same snapshot id." if same else "")
    return (f'<p style="font-size:16px">Verdict: {_badge(dr["verdict"])} &nbsp; '
            f'<b data-count="DRIFT">{c["DRIFT"]}</b> DRIFT · <b data-count="WARN">{c["WARN"]}</b> WARN · '
            f'<b data-count="OK">{c["OK"]}</b> OK</p>'
            f'<p class="note">Each statistic is judged against its spread over {s["null_splits"]} random split-halves '
            f'of OLD (seed {s["seed"]}): DRIFT above the null mean + {s["drift_sd"]:g} sd, WARN above + '
            f'{s["warn_sd"]:g} sd; p-values are shown, never deciding. A statistic on fewer than {s["min_docs"]} '
            f'documents on a side is unreliable and at most WARN.{snap} {dr.get("docs", 0):,} documents read in '
            f'{dr.get("seconds", 0):g} s.</p>'
            + table(["side", "path", "what", "snapshot id", "domains", "documents", "tokens", "tokens served"],
                    _side_rows(dr), sortable=False, text=(0, 1, 2, 3)))


def _flagged(page: Page, dr: dict[str, Any], colors) -> str:
    flagged = ranked(dr["checks"])
    if not flagged:
        return '<p class="note">Nothing flagged: every check is within its split-half null.</p>'
    return table(CHECK_HEAD, [_check_row(c) for c in flagged], text=(0, 1, 2, 3, 8))


def _zscores(page: Page, dr: dict[str, Any], colors) -> str | None:
    if not dr["checks"]:
        return None
    return page.fig(z_heatmap(dr), "drift-z-heatmap") + page.fig(z_points(dr, colors), "drift-z-points")


def _mixture(page: Page, dr: dict[str, Any], colors) -> str | None:
    fig = mixture_bars(dr, colors)
    if fig is None:
        return None
    whole = {c["statistic"]: c for c in dr["checks"] if c["section"] == "mixture" and c["domain"] is None}
    parts = []
    if "js" in whole:
        parts.append(f"Jensen-Shannon distance {whole['js']['value']} ({whole['js']['verdict']})")
    if "effective_domains" in whole:
        e = whole["effective_domains"]
        parts.append(f"effective number of domains {e['detail'].get('old')} → {e['detail'].get('new')} "
                     f"({e['verdict']})")
    runs = any(dr[k].get("served") for k in ("old", "new"))
    note = ("A run's side shows the tokens it served; its null is formed from random halves of its steps. "
            if runs else "")
    return f'<p class="note">{esc(note + "; ".join(parts))}</p>' + page.fig(fig, "drift-mixture")


def _metadata(page: Page, dr: dict[str, Any], colors) -> str | None:
    checks = [c for c in dr["checks"] if c["section"] == "metadata" and c["statistic"].startswith("wasserstein/")]
    if not checks:
        return None
    ks = {(c["domain"], c["statistic"].split("/", 1)[1]): c for c in dr["checks"]
          if c["section"] == "metadata" and c["statistic"].startswith("ks/")}
    rows = []
    for c in checks:
        col = c["statistic"].split("/", 1)[1]
        k = ks.get((c["domain"], col))
        det = c.get("detail") or {}
        rows.append(f"<tr>{td(c['domain'], 'text')}{td(col, 'text')}{td(det.get('old_mean'))}{td(det.get('new_mean'))}"
                    f"{td(_num(c['value']))}{_verdict_td(c['verdict'])}{td(_num(k['value']) if k else None)}"
                    f"{_verdict_td(k['verdict']) if k else td(None)}</tr>")
    return (page.fig(quantile_shifts(dr, colors), "drift-quantiles")
            + table(["domain", "column", "OLD mean", "NEW mean", "W1 / OLD sd", "verdict", "KS", "KS verdict"], rows,
                    text=(0, 1, 5, 7)))


def _tokens(page: Page, dr: dict[str, Any], colors) -> str | None:
    checks = [c for c in dr["checks"] if c["section"] == "tokens" and (c.get("detail") or {}).get("moved")]
    if not checks:
        return None
    rows = []
    for c in checks:
        for m in c["detail"]["moved"]:
            delta = m["new"] - m["old"]
            rows.append(f"<tr>{td(c['domain'], 'text')}{td(m['token'])}{td(m.get('text') if m.get('text') is not None else '', 'text')}"
                        f"{td(m['old'], digits=3)}{td(m['new'], digits=3)}{td(round(delta, 6), digits=3)}"
                        f"{_verdict_td(c['verdict'])}</tr>")
    return ('<p class="note">Per domain, the tokens whose share of the domain\'s tokens moved most '
            '(decoded where the side has its tokenizer); verdict: the domain\'s unigram_js.</p>'
            + table(["domain", "token id", "text", "OLD share", "NEW share", "change", "verdict"], rows,
                    text=(0, 2, 6)))


def _lineage(page: Page, dr: dict[str, Any], colors) -> str | None:
    lin = dr.get("lineage") or {}
    if not lin.get("domains"):
        return None
    rows = []
    for d, e in lin["domains"].items():
        ex = e.get("examples", {})
        only = f" (only in {e['only_in'].upper()})" if e.get("only_in") else ""
        rows.append(f"<tr>{td(d + only, 'text')}{td(e['old'])}{td(e['new'])}{td(e['retained'])}{td(e['added'])}"
                    f"{td(e['removed'])}{td(', '.join(ex.get('added', [])), 'text')}"
                    f"{td(', '.join(ex.get('removed', [])), 'text')}</tr>")
    t = lin.get("total", {})
    if t:
        rows.append(f"<tr><td class=\"text\" data-v=\"~\"><b>total</b></td>{td(t['old'])}{td(t['new'])}"
                    f"{td(t['retained'])}{td(t['added'])}{td(t['removed'])}{td('', 'text')}{td('', 'text')}</tr>")
    snaps = lin.get("snapshots", {})
    moved = lin.get("moved") or {}
    note = (f"Snapshots: <code>{esc(snaps.get('old') or '(none)')}</code> → <code>{esc(snaps.get('new') or '(none)')}"
            f"</code>. By document id, training and held-out splits together; counts are facts, not judged.")
    if moved:
        note += " Moved between domains: " + esc(", ".join(f"{k}: {v}" for k, v in moved.items())) + "."
    return (f'<p class="note">{note}</p>' + page.fig(lineage_bars(dr), "drift-lineage")
            + table(["domain", "OLD", "NEW", "retained", "added", "removed", "added (examples)",
                     "removed (examples)"], rows, text=(0, 6, 7)))


def _all_checks(page: Page, dr: dict[str, Any], colors) -> str | None:
    by_section: dict[str, list] = {}
    for c in dr["checks"]:
        by_section.setdefault(c["section"], []).append(c)
    if not by_section:
        return None
    parts = []
    for name, checks in by_section.items():
        n = {lv: sum(c["verdict"] == lv for c in checks) for lv in LEVELS}
        parts.append(f'<h3 data-section="{esc(name)}">{esc(name)} <span class="note">({n["DRIFT"]} DRIFT, '
                     f'{n["WARN"]} WARN, {n["OK"]} OK)</span></h3>'
                     + table(CHECK_HEAD + ["detail"], [_check_row(c, detail=True) for c in checks],
                             text=(0, 1, 2, 3, 8, 9)))
    return "".join(parts)


#: The drift page's panels, in page order.
DRIFT_PANELS = (
    Panel("drift_summary", "Verdict", _summary),
    Panel("drift_flagged", "Flagged checks", _flagged),
    Panel("drift_z", "z-scores", _zscores),
    Panel("drift_mixture", "Mixture", _mixture),
    Panel("drift_metadata", "Metadata columns", _metadata),
    Panel("drift_tokens", "Tokens that moved", _tokens),
    Panel("drift_lineage", "Lineage", _lineage),
    Panel("drift_checks", "All checks by section", _all_checks),
)
PANELS = tuple(p.name for p in DRIFT_PANELS)


def render_drift(dr: dict[str, Any]) -> str:
    page = Page()
    colors = domain_colors(sorted({c["domain"] for c in dr["checks"] if c["domain"]}))
    panels = render_panels(page, DRIFT_PANELS, dr, colors)
    old, new = dr["old"]["label"], dr["new"]["label"]
    header = (f"<h1>curricle drift: {esc(old)} → {esc(new)}</h1><div class=\"meta\">{_badge(dr['verdict'])} · "
              f"{dr['counts']['DRIFT']} DRIFT, {dr['counts']['WARN']} WARN, {dr['counts']['OK']} OK · "
              f"<code>{esc(dr['path'])}</code> · report written {esc(dr['generated'])}</div>{missing_list(dr)}")
    return page.html(f"curricle drift: {Path(old).name} → {Path(new).name}", header, nav(DRIFT_PANELS, panels),
                     sections(DRIFT_PANELS, panels), dr)


def save_drift_report(dr: dict[str, Any], out: Path | str | None = None) -> Path:
    """Write the page (default ``DIR/report.html``)."""
    out = Path(out) if out is not None else Path(dr["path"]) / "report.html"
    atomic.write_text(out, render_drift(dr))
    return out


__all__ = ["SCHEMA", "PANELS", "DRIFT_PANELS", "is_drift_dir", "collect_drift", "ranked", "render_drift",
           "save_drift_report"]
