"""The report page: one self-contained HTML file (plotly.js, data and styles inline).

``write_report(RUN)`` writes one run's page; ``write_compare([RUN, ...])`` the same panels side
by side for several runs, with the emergence-ordering consistency between them. The page
fetches nothing when opened: plotly.js is inlined (no CDN, no MathJax, no fonts from the
network), and so is every figure's data.

Panels, each a ``<section data-panel=NAME>`` (left out when the run has nothing for it; the
page header says which and why): ``losses``, ``mixture`` (weights and the LR / sequence-length
schedules), ``audit`` (the controller's log; a row click marks its step on the weights plot, a
click on a change marker finds its row), ``skills`` (heatmap of skills x checkpoints with
emergence and saturation points and their intervals), ``funnel``, ``events``, ``checkpoints``
(held-out loss per domain, calibration and probe scores per checkpoint; columns sort on click).

All data is also embedded as JSON in ``<script type="application/json" id="curricle-data">``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Sequence

from curricle import atomic
from curricle.emergence.config import MapConfig
from curricle.emergence.map import map_rows
from curricle.errors import CurricleError
from curricle.jsonable import jsonable, short_number
from curricle.report import figures
from curricle.report.data import collect_run

PANELS = ("losses", "mixture", "audit", "skills", "funnel", "events", "checkpoints")
TITLES = {"overview": "Overview", "ordering": "Ordering", "losses": "Losses", "mixture": "Mixture and schedules", "audit": "Controller audit log",
          "skills": "Skill map", "funnel": "Curation funnel", "events": "Stability events",
          "checkpoints": "Checkpoints"}

CSS = """
:root { --fg:#1d1d1f; --muted:#6e6e73; --line:#e3e3e8; --accent:#1f77b4; --bg:#fafafa; }
* { box-sizing: border-box; }
body { margin:0; font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color:var(--fg);
       background:var(--bg); font-size:14px; }
header { background:#fff; border-bottom:1px solid var(--line); padding:18px 28px 12px; position:sticky; top:0; z-index:5; }
header h1 { margin:0 0 4px; font-size:20px; }
header .meta { color:var(--muted); font-size:13px; }
nav a { margin-right:14px; color:var(--accent); text-decoration:none; font-size:13px; }
main { padding:8px 28px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:10px; margin:18px 0; padding:14px 18px; }
section h2 { margin:0 0 8px; font-size:16px; }
.note { color:var(--muted); font-size:13px; margin:4px 0 8px; }
.grid { display:grid; gap:14px; grid-auto-flow:column; grid-auto-columns:minmax(520px, 1fr); overflow-x:auto; }
.grid > div { min-width:0; }
.grid2 { display:grid; gap:14px; grid-template-columns: 1fr 1fr; }
.runlabel { font-weight:600; margin:4px 0; }
.progress { height:8px; background:var(--line); border-radius:4px; overflow:hidden; width:260px;
            display:inline-block; vertical-align:middle; margin-right:8px; }
.progress > span { display:block; height:100%; background:var(--accent); }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.badge.done { background:#e3f4e5; color:#1b6e2a; } .badge.running { background:#fff3d6; color:#8a5a00; }
.tablewrap { max-height:420px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; width:100%; font-size:12.5px; font-variant-numeric: tabular-nums; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th { background:#f4f4f7; position:sticky; top:0; cursor:pointer; user-select:none; }
th:first-child, td:first-child, td.text, th.text { text-align:left; }
td.text { white-space:normal; max-width:520px; }
tr.best td { background:#e9f5ea; font-weight:600; }
tr.picked td { background:#fff3d6; }
tbody tr:hover td { background:#f0f6fc; }
tr.link { cursor:pointer; }
.missing li { color:var(--muted); }
code { font-size:12px; }
"""

JS = r"""
(function () {
  var config = {displaylogo: false, responsive: true};
  var figs = {};
  document.querySelectorAll('script.fig').forEach(function (s) {
    var el = document.getElementById(s.dataset.target);
    var fig = JSON.parse(s.textContent);
    Plotly.newPlot(el, fig.data, fig.layout, config);
    figs[s.dataset.target] = el;
  });
  // Sortable tables: click a header; numbers sort as numbers, blanks last.
  document.querySelectorAll('table.sortable th').forEach(function (th, _) {
    th.addEventListener('click', function () {
      var table = th.closest('table'), body = table.tBodies[0];
      var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
      var asc = th.dataset.sort !== 'asc';
      th.parentNode.querySelectorAll('th').forEach(function (h) { delete h.dataset.sort; });
      th.dataset.sort = asc ? 'asc' : 'desc';
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[idx].dataset.v, y = b.cells[idx].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        if (x === undefined || x === '') return 1;
        if (y === undefined || y === '') return -1;
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  // Audit log <-> weights plot.
  function mark(figId, x) {
    var el = figs[figId];
    if (!el) return;
    var shapes = (el.layout.shapes || []).filter(function (s) { return s.name !== 'picked'; });
    shapes.push({type: 'line', name: 'picked', xref: 'x', yref: 'paper', x0: x, x1: x, y0: 0, y1: 1,
                 line: {color: '#d62728', width: 2}});
    Plotly.relayout(el, {shapes: shapes});
  }
  document.querySelectorAll('tr.link').forEach(function (tr) {
    tr.addEventListener('click', function () {
      document.querySelectorAll('tr.picked').forEach(function (r) { r.classList.remove('picked'); });
      tr.classList.add('picked');
      mark(tr.dataset.fig, parseFloat(tr.dataset.x));
      figs[tr.dataset.fig].scrollIntoView({behavior: 'smooth', block: 'center'});
    });
  });
  Object.keys(figs).forEach(function (id) {
    var el = figs[id];
    if (!el.dataset.audit) return;
    el.on('plotly_click', function (ev) {
      var p = ev.points && ev.points[0];
      if (!p || p.customdata === undefined) return;
      var row = document.getElementById(el.dataset.audit + '-' + p.customdata);
      if (!row) return;
      document.querySelectorAll('tr.picked').forEach(function (r) { r.classList.remove('picked'); });
      row.classList.add('picked');
      row.scrollIntoView({behavior: 'smooth', block: 'center'});
    });
  });
})();
"""


def _json_script(obj: Any, **attrs: str) -> str:
    text = json.dumps(jsonable(obj), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    extra = "".join(f' {k.replace("_", "-")}="{html.escape(v)}"' for k, v in attrs.items())
    return f'<script type="application/json"{extra}>{text}</script>'


class _Page:
    """Collects figures (rendered once plotly.js has loaded) and builds the HTML."""

    def __init__(self) -> None:
        self.figs: list[str] = []
        self.n = 0
        self.last_id = ""

    def fig(self, fig, name: str, audit: str | None = None) -> str:
        if fig is None:
            return ""
        self.n += 1
        fid = self.last_id = f"fig-{name}-{self.n}"
        self.figs.append(_json_script(fig.to_plotly_json(), **{"class": "fig", "data_target": fid}))
        extra = f' data-audit="{audit}"' if audit else ""
        return f'<div class="plot" id="{fid}"{extra}></div>'

    def html(self, title: str, header: str, nav: list[str], body: str, data: Any,
             titles: dict[str, str] | None = None) -> str:
        from plotly.offline import get_plotlyjs

        titles = titles or TITLES
        links = "".join(f'<a href="#{p}">{html.escape(titles[p])}</a>' for p in nav)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header>{header}<nav>{links}</nav></header><main>{body}</main>"
            f"{_json_script(data, id='curricle-data')}"
            f"<script>{get_plotlyjs()}</script>{''.join(self.figs)}<script>{JS}</script>"
            "</body></html>\n")


def _e(v: Any) -> str:
    return html.escape(str(v))


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e4 else short_number(v)
    return _e(v)


def _td(v: Any, cls: str = "", digits: int = 4) -> str:
    dv = "" if v is None else (str(v) if not isinstance(v, bool) else str(int(v)))
    c = f' class="{cls}"' if cls else ""
    return f'<td data-v="{html.escape(dv)}"{c}>{_num(v, digits) if cls != "text" else _e(v)}</td>'


def _table(head: list[str], rows: list[str], sortable: bool = True, text: tuple[int, ...] = (0,)) -> str:
    """A table; columns ``text`` are left-aligned text, the others right-aligned numbers."""
    ths = "".join(f'<th class="{"text" if i in text else ""}">{_e(h)}</th>' for i, h in enumerate(head))
    return (f'<div class="tablewrap"><table class="{"sortable" if sortable else ""}"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _progress(run: dict[str, Any]) -> str:
    p = run["progress"]
    if p["steps"]:
        frac = min(1.0, p["step"] / p["steps"])
        state = ('<span class="badge done">finished</span>' if p["finished"]
                 else '<span class="badge running">not finished</span>')
        text = f"step {p['step']:,} of {p['steps']:,} ({100 * frac:.0f}%)"
        bar = f'<span class="progress"><span style="width:{100 * frac:.1f}%"></span></span>'
    else:
        state, bar, text = "", "", f"step {p['step']:,}"
    tokens = f", {short_number(p['tokens'])} tokens" if p.get("tokens") else ""
    ck = f"; latest checkpoint: step {p['latest_checkpoint']:,}" if p["latest_checkpoint"] is not None else ""
    bad = {k: v for k, v in p["unreadable_lines"].items() if v}
    warn = (f"; unreadable lines skipped: {', '.join(f'{k} {v}' for k, v in bad.items())}" if bad else "")
    return f'<div class="meta" data-progress="{p["step"]}">{bar}{state} {text}{tokens}{ck}{warn}</div>'


def run_state(progress: dict[str, Any], of_steps: bool = True) -> str:
    """``finished``, or ``not finished: step N`` (``of M`` where the run's length is known)."""
    if progress["finished"]:
        return "finished"
    total = f" of {progress['steps']:,}" if of_steps and progress.get("steps") else ""
    return f"not finished: step {progress['step']:,}{total}"


def _missing(run: dict[str, Any]) -> str:
    # Every part the run lacks, with why (for audit and events, "none happened" is news too).
    items = "".join(f'<li data-missing="{_e(k)}"><b>{_e(k)}</b>: {_e(v)}</li>' for k, v in run["missing"].items())
    return f'<ul class="missing note">{items}</ul>' if items else ""


def _audit_rows(run: dict[str, Any], fig_id: str, key: str) -> list[str]:
    # The weights plot's x of each change: figures.mixture() puts its markers there too.
    xs, _ = figures._x(run, run["series"])
    x_at = dict(zip(run["series"]["step"], xs))
    out = []
    for i, a in enumerate(run["audit"]):
        old, new = a.get("old") or {}, a.get("new") or {}
        moves = sorted(((d, old.get(d, 0.0), new.get(d, 0.0)) for d in new), key=lambda t: -abs(t[2] - t[1]))
        change = "; ".join(f"{d} {o:.3f}→{n:.3f}" for d, o, n in moves[:4] if abs(n - o) > 5e-4)
        signal = ", ".join(f"{k} {_num(v, 3)}" for k, v in list((a.get("signal") or {}).items())[:8])
        out.append(f'<tr class="link" id="{key}-{i}" data-fig="{fig_id}" data-x="{x_at.get(a["step"])}">{_td(a.get("step"))}'
                   f'{_td(a.get("reason", ""), "text")}{_td(change or "(no change above 0.001)", "text")}'
                   f'{_td(signal, "text")}</tr>')
    return out


def _event_rows(run: dict[str, Any]) -> list[str]:
    out = []
    for e in run["events"]:
        details = ", ".join(f"{k}={_num(v, 4) if not isinstance(v, (dict, list)) else _e(json.dumps(v))}"
                            for k, v in e.items() if k not in ("step", "event", "reason"))
        out.append(f"<tr>{_td(e.get('step'))}{_td(e.get('event', ''), 'text')}{_td(e.get('reason', ''), 'text')}"
                   f"{_td(details, 'text')}</tr>")
    return out


def _checkpoint_table(run: dict[str, Any]) -> str:
    tasks = sorted({t for r in run["checkpoints"] for t in r["probes"]})
    head = ["step", "tokens", "on disk", "held-out mean", "held-out worst", *[f"loss {d}" for d in run["domains"]],
            "ECE", *tasks]
    rows = []
    for r in run["checkpoints"]:
        cls = ' class="best"' if r["step"] == run["best_checkpoint"] else ""
        cells = [_td(r["step"]), _td(r.get("tokens")), _td(r["on_disk"]), _td(r.get("eval_loss_mean")),
                 _td(r.get("eval_loss_worst"))]
        cells += [_td((r.get("eval_loss") or {}).get(d)) for d in run["domains"]]
        cells += [_td(r.get("ece"), digits=3)] + [_td(r["probes"].get(t), digits=3) for t in tasks]
        rows.append(f'<tr data-step="{r["step"]}"{cls}>{"".join(cells)}</tr>')
    best = run["best_checkpoint"]
    note = (f"Highlighted: step {best:,}, the lowest mean held-out loss over domains"
            f"{' among checkpoints still on disk' if any(r['on_disk'] for r in run['checkpoints']) else ''}. "
            if best is not None else "")
    metric = (run.get("skills") or {}).get("metric_setting")
    note += f"Probe columns: the {metric} metric of each task." if tasks and metric else ""
    return f'<p class="note">{_e(note)}</p>' + _table(head, rows)


def _skill_table(run: dict[str, Any]) -> str:
    sk = run["skills"]
    key_tokens = True
    rows = []
    for name in sk["order"]:
        s = sk["skills"][name]
        key = "tokens" if s.get("axis") == "tokens" else "step"
        key_tokens = key_tokens and key == "tokens"

        def at(what: str) -> tuple[Any, str]:
            p = s.get(what)
            if not p:
                return None, ""
            ci = (s.get(f"{what}_ci95") or {}).get(key)
            return p[key], (f"{short_number(ci[0])}–{short_number(ci[1])}" if ci else "")

        e, eci = at("emergence")
        sat, sci = at("saturation")
        rows.append(f'<tr data-skill="{_e(name)}">{_td(name, "text")}{_td(s["emerged"])}{_td(e)}{_td(eci, "text")}'
                    f'{_td(s.get("emergence_probability"), digits=2)}{_td(sat)}{_td(sci, "text")}'
                    f'{_td(s.get("phase") or "", "text")}{_td(s["metric"], "text")}{_td(s.get("chance"), digits=3)}'
                    f'{_td(s.get("best"), digits=3)}</tr>')
    unit = "tokens" if key_tokens else "step"
    head = ["skill", "emerged", f"emergence ({unit})", "95% interval", "P(emerged)", f"saturation ({unit})",
            "95% interval", "phase", "metric", "chance", "best"]
    text = (0, 3, 6, 7, 8)
    order = " < ".join(sk["emerged"]) or "none yet"
    phases = "; ".join(f"{p['phase']}: {p['emerged']} emerged (uniform over steps: {p['expected_if_uniform']:g})"
                       for p in sk.get("phase_summary") or [])
    return (f'<p class="note" data-order="{_e(json.dumps(sk["emerged"]))}">Emergence order: <b>{_e(order)}</b>'
            f'{(" — not emerged: " + _e(", ".join(sk["censored"]))) if sk["censored"] else ""}.'
            f'{(" Per phase: " + _e(phases) + ".") if phases else ""} Intervals: bootstrap over the probe '
            f'scores\' standard errors.</p>' + _table(head, rows, text=text))


def _funnel_table(run: dict[str, Any]) -> str:
    f = run["funnel"]
    docs, tokens = figures.funnel_totals(f, "docs"), figures.funnel_totals(f, "tokens")
    reasons = []
    for step in figures.funnel_steps(f):
        for r, n in sorted(docs[step]["dropped"].items(), key=lambda t: -t[1]):
            reasons.append(f"<tr>{_td(step, 'text')}{_td(r, 'text')}{_td(n)}{_td(tokens[step]['dropped'].get(r, 0))}</tr>")
    by_reason = _table(["step", "reason", "docs dropped", "tokens dropped"], reasons, text=(0, 1))
    rows = []
    for d, v in sorted(run["funnel"]["domains"].items()):
        i, o = v["in"], v["out"]
        frac = o["docs"] / i["docs"] if i["docs"] else None
        rows.append(f"<tr>{_td(d, 'text')}{_td(i['docs'])}{_td(o['docs'])}{_td(frac, digits=3)}"
                    f"{_td(i['tokens'])}{_td(o['tokens'])}</tr>")
    by_domain = _table(["domain", "docs in", "docs kept", "kept share", "tokens in", "tokens kept"], rows)
    return f'<div class="grid2"><div>{by_domain}</div><div>{by_reason}</div></div>'


def _panels(page: _Page, run: dict[str, Any], colors: dict[str, str], key: str,
            loss_range: list[float] | None = None) -> dict[str, str]:
    """Panel name -> its HTML for one run (absent: nothing to show)."""
    out: dict[str, str] = {}
    if run["series"]["step"]:
        out["losses"] = page.fig(figures.losses(run, colors, loss_range), f"losses-{key}")
        mix = figures.mixture(run, colors)
        mix_html = page.fig(mix, f"mixture-{key}", audit=f"audit-{key}" if run["audit"] else None)
        mix_id = page.last_id if mix is not None else ""
        out["mixture"] = mix_html + page.fig(figures.schedules(run), f"schedules-{key}")
        if run["audit"]:
            shown = (f" (showing {len(run['audit']):,}: every k-th and the last; mixture_log.jsonl has all)"
                     if run["counts"]["audit"] > len(run["audit"]) else "")
            out["audit"] = (f'<p class="note">{run["counts"]["audit"]:,} changes by the {_e(run["controller"])} '
                            f'controller{shown}. '
                            "Click a row to mark its step on the weights plot; click a ▼ marker there to find "
                            "its row.</p>" + _table(["step", "reason", "largest changes", "signal"],
                                                     _audit_rows(run, mix_id, f"audit-{key}"), text=(1, 2, 3)))
    if run.get("skills"):
        out["skills"] = page.fig(figures.skill_map(run), f"skills-{key}") + _skill_table(run)
    if run.get("funnel"):
        out["funnel"] = page.fig(figures.funnel(run), f"funnel-{key}") + _funnel_table(run)
    if run["events"]:
        kinds: dict[str, int] = {}
        for e in run["events"]:
            kinds[e.get("event", "?")] = kinds.get(e.get("event", "?"), 0) + 1
        shown = (f" (showing {len(run['events']):,} of {run['counts']['events']:,}: every k-th and the last)"
                 if run["counts"]["events"] > len(run["events"]) else "")
        out["events"] = (f'<p class="note">{_e(", ".join(f"{v} {k}" for k, v in kinds.items()))}{shown}; skips and '
                         "rollbacks are marked on the training-loss plot.</p>"
                         + _table(["step", "event", "reason", "details"], _event_rows(run), text=(1, 2, 3)))
    if run["checkpoints"]:
        out["checkpoints"] = _checkpoint_table(run)
    return out


def _section(name: str, inner: str, title: str | None = None) -> str:
    """A panel; ``title`` defaults to the run report's name for it."""
    return f'<section id="{name}" data-panel="{name}"><h2>{_e(title or TITLES[name])}</h2>{inner}</section>'


def render_report(run: dict[str, Any]) -> str:
    page = _Page()
    colors = figures.domain_colors(run["domains"])
    panels = _panels(page, run, colors, "0")
    body = "".join(_section(p, panels[p]) for p in PANELS if p in panels)
    header = (f"<h1>curricle run: {_e(run['name'])}</h1><div class=\"meta\"><code>{_e(run['path'])}</code> · "
              f"{len(run['domains'])} domains · mixture: {_e(run['controller'])}"
              f"{' · phases: ' + _e(', '.join(p['name'] for p in run['phases'])) if run['phases'] else ''}"
              f" · report written {_e(run['generated'])}</div>{_progress(run)}{_missing(run)}")
    return page.html(f"curricle: {run['name']}", header, [p for p in PANELS if p in panels], body, run)


def write_report(run_dir: Path | str, out: Path | str | None = None, probes: Sequence[Path | str] = (),
                 map_config=None) -> Path:
    """Write the report of ``run_dir`` (default ``RUN/report.html``) and return its path."""
    return save_report(collect_run(run_dir, probes, map_config), out)


def save_report(run: dict[str, Any], out: Path | str | None = None) -> Path:
    """Write the page of ``run`` (from :func:`collect_run`) to ``out`` (default ``RUN/report.html``)."""
    out = Path(out) if out is not None else Path(run["path"]) / "report.html"
    atomic.write_text(out, render_report(run))
    return out


def _labels(runs: list[dict[str, Any]]) -> list[str]:
    """The runs' names if they differ, else the shortest ends of their paths that do."""
    labels = [r["name"] for r in runs]
    if len(set(labels)) == len(labels):
        return labels
    parts = [Path(r["path"]).resolve().parts for r in runs]
    for k in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i}: {r['path']}" for i, r in enumerate(runs)]


def _ordering(runs: list[dict[str, Any]], map_config) -> dict[str, Any] | None:
    """Emergence-ordering consistency between the runs (as ``curricle map`` computes it)."""
    rows = [r for run in runs for r in run.pop("_probe_rows", [])]
    if len({r["run"] for r in rows}) < 2:
        return None
    result = map_rows(rows, map_config or MapConfig())
    return result["ordering"] | {"composites": result["composites"]}


def _summary_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for r in runs:
        ev = r["eval"]
        mean = worst = None
        if ev["step"]:
            last = [ev["loss_by_domain"][d][-1] for d in r["domains"] if ev["loss_by_domain"][d][-1] is not None]
            mean, worst = (sum(last) / len(last), max(last)) if last else (None, None)
        p = r["progress"]
        emerged = len(r["skills"]["emerged"]) if r.get("skills") else None
        rows.append(f'<tr data-run="{_e(r["label"])}">{_td(r["label"], "text")}{_td(r["controller"], "text")}'
                    f'{_td(p["step"])}{_td(p["steps"])}{_td(p.get("tokens"))}{_td(mean)}{_td(worst)}'
                    f'{_td(r["best_checkpoint"])}{_td(emerged)}</tr>')
    return _table(["run", "mixture", "step", "of", "tokens", "final held-out mean", "final held-out worst",
                   "best checkpoint", "skills emerged"], rows)


def _ordering_html(o: dict[str, Any] | None, labels: dict[str, str]) -> str:
    if o is None:
        return '<p class="note">Ordering consistency needs probe results from at least two runs.</p>'
    if "kendall" not in o:
        return f'<p class="note">{_e(o.get("note", "no ordering figures"))}</p>'
    head = (f'<p class="note" data-kendall="{o["kendall"]["mean"]:.6f}" data-spearman="{o["spearman"]["mean"]:.6f}">'
            f"Over the {len(o['skills'])} skills every run probed: mean pairwise Kendall τ "
            f"<b>{o['kendall']['mean']:.3f}</b> (95% CI {o['kendall']['ci95'][0]:.3f}–{o['kendall']['ci95'][1]:.3f}, "
            f"permutation p = {o['kendall']['p_value']:.3g}); Spearman ρ <b>{o['spearman']['mean']:.3f}</b> "
            f"(95% CI {o['spearman']['ci95'][0]:.3f}–{o['spearman']['ci95'][1]:.3f}, p = "
            f"{o['spearman']['p_value']:.3g}). Skills that never emerged tie for last.</p>")
    rows = [f"<tr>{_td(labels.get(ps['run_a'], ps['run_a']), 'text')}{_td(labels.get(ps['run_b'], ps['run_b']), 'text')}"
            f"{_td(ps['spearman'], digits=3)}{_td(pk['kendall'], digits=3)}</tr>"
            for ps, pk in zip(o["spearman"]["pairs"], o["kendall"]["pairs"])]
    return head + _table(["run A", "run B", "Spearman ρ", "Kendall τ"], rows)


def render_compare(runs: list[dict[str, Any]], ordering: dict[str, Any] | None) -> str:
    page = _Page()
    domains = sorted({d for r in runs for d in r["domains"]})
    colors = figures.domain_colors(domains)
    # One y range for every run's loss plot, so side-by-side plots compare by eye.
    ys = [v for r in runs for vals in [*r["series"]["loss_by_domain"].values(), *r["eval"]["loss_by_domain"].values()]
          for v in vals if v is not None]
    loss_range = [max(0.0, min(ys) * 0.95), max(ys) * 1.02] if ys else None
    per_run = [_panels(page, r, colors, str(i), loss_range) for i, r in enumerate(runs)]
    n = len(runs)
    sections = []
    overview = page.fig(figures.mean_eval(runs), "mean-eval") + _summary_table(runs)
    sections.append(_section("overview", overview))
    labels = {r["path"]: r["label"] for r in runs}
    sections.append(_section("ordering", _ordering_html(ordering, labels), "Emergence-order consistency"))
    nav = ["overview", "ordering"]
    for p in PANELS:
        if not any(p in pr for pr in per_run):
            continue
        nav.append(p)
        cells = "".join(f'<div data-run="{_e(r["label"])}"><div class="runlabel">{_e(r["label"])}</div>'
                        f'{pr.get(p) or "<p class=note>" + _e(r["missing"].get(_MISSING_KEY.get(p, p), "nothing to show")) + "</p>"}</div>'
                        for r, pr in zip(runs, per_run))
        sections.append(_section(p, f'<div class="grid" style="grid-template-columns:repeat({n}, '
                                    f'minmax(520px, 1fr))">{cells}</div>'))
    header = (f"<h1>curricle: {n} runs compared</h1><div class=\"meta\">"
              + " · ".join(f"<b>{_e(r['label'])}</b> <code>{_e(r['path'])}</code> "
                           f"({'finished' if r['progress']['finished'] else 'not finished'}, "
                           f"step {r['progress']['step']:,})" for r in runs) + "</div>")
    return page.html("curricle: " + " vs ".join(r["label"] for r in runs), header, nav, "".join(sections),
                     {"schema": "curricle.compare/1", "runs": runs, "ordering": ordering})


_MISSING_KEY = {"losses": "training", "mixture": "training", "checkpoints": "checkpoints"}


def write_compare(run_dirs: Sequence[Path | str], out: Path | str, probes: Sequence[Path | str] = (),
                  map_config=None) -> Path:
    """Write the comparison of ``run_dirs`` to ``out`` and return its path."""
    if len(run_dirs) < 2:
        raise CurricleError("compare needs at least two run directories")
    runs = [collect_run(r, probes, map_config, keep_probe_rows=True) for r in run_dirs]
    for r, label in zip(runs, _labels(runs)):
        r["label"] = label
    ordering = _ordering(runs, map_config)
    out = Path(out)
    atomic.write_text(out, render_compare(runs, ordering))
    return out


__all__ = ["write_report", "write_compare", "render_report", "render_compare", "PANELS"]
