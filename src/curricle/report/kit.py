"""The HTML kit every report page is built from: one self-contained file, plotly.js inlined.

A page module (the pretraining run's :mod:`~curricle.report.page`, :mod:`~curricle.report.finetune`,
:mod:`~curricle.report.rl`, :mod:`~curricle.report.pipeline`) declares its panels as
:class:`Panel` objects (name, title, and a ``render`` that gives the panel's HTML, or None when
the run has nothing for it), renders them in order onto a :class:`Page` (which collects the
figures and draws them once plotly.js has loaded) and writes the page with :meth:`Page.html`.
The cells, tables, sections and the run's state are written by the functions below, so every
page reads alike: numbers right-aligned and sortable on click, text left-aligned, the parts a
run lacks listed with why.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from curricle.jsonable import jsonable, short_number

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


def json_script(obj: Any, **attrs: str) -> str:
    """``obj`` as JSON in a ``<script type="application/json">`` (attribute names: ``_`` -> ``-``)."""
    text = json.dumps(jsonable(obj), separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    extra = "".join(f' {k.replace("_", "-")}="{html.escape(v)}"' for k, v in attrs.items())
    return f'<script type="application/json"{extra}>{text}</script>'


class Page:
    """Collects figures (rendered once plotly.js has loaded) and builds the HTML."""

    def __init__(self) -> None:
        self.figs: list[str] = []
        self.n = 0
        self.last_id = ""
        #: The div id of each figure by the name it was added under (a panel finds another's plot).
        self.ids: dict[str, str] = {}

    def fig(self, fig, name: str, audit: str | None = None) -> str:
        """The div of plotly figure ``fig`` (nothing for None); ``audit``: the id prefix of the
        table rows a click on a marker finds."""
        if fig is None:
            return ""
        self.n += 1
        fid = self.last_id = self.ids[name] = f"fig-{name}-{self.n}"
        self.figs.append(json_script(fig.to_plotly_json(), **{"class": "fig", "data_target": fid}))
        extra = f' data-audit="{audit}"' if audit else ""
        return f'<div class="plot" id="{fid}"{extra}></div>'

    def html(self, title: str, header: str, nav: Sequence[tuple[str, str]], body: str, data: Any) -> str:
        """The whole page: ``nav`` is ``(section id, link text)`` pairs; ``data`` is embedded as
        JSON in ``<script type="application/json" id="curricle-data">``."""
        from plotly.offline import get_plotlyjs

        links = "".join(f'<a href="#{p}">{html.escape(t)}</a>' for p, t in nav)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header>{header}<nav>{links}</nav></header><main>{body}</main>"
            f"{json_script(data, id='curricle-data')}"
            f"<script>{get_plotlyjs()}</script>{''.join(self.figs)}<script>{JS}</script>"
            "</body></html>\n")


@dataclass(frozen=True)
class Panel:
    """One section of a page: ``<section id=name data-panel=name>`` under ``title``.

    ``render(page, data, *context)`` returns the panel's HTML (figures added through ``page``),
    or None when the run has nothing for it; the page leaves it out and its header says why
    (the data's ``missing``).
    """

    name: str
    title: str
    render: Callable[..., str | None]


def render_panels(page: Page, panels: Sequence[Panel], data: Any, *context: Any) -> dict[str, str]:
    """Panel name -> its HTML, rendered in the panels' order (figure ids follow it); panels
    with nothing to show are absent."""
    out = {}
    for p in panels:
        inner = p.render(page, data, *context)
        if inner is not None:
            out[p.name] = inner
    return out


def sections(panels: Sequence[Panel], rendered: dict[str, str]) -> str:
    """The rendered panels as sections, in the panels' order."""
    return "".join(section(p.name, rendered[p.name], p.title) for p in panels if p.name in rendered)


def nav(panels: Sequence[Panel], rendered: dict[str, str]) -> list[tuple[str, str]]:
    """The header's links to the rendered panels."""
    return [(p.name, p.title) for p in panels if p.name in rendered]


def section(name: str, inner: str, title: str) -> str:
    return f'<section id="{name}" data-panel="{name}"><h2>{esc(title)}</h2>{inner}</section>'


def esc(v: Any) -> str:
    """``v`` as HTML text."""
    return html.escape(str(v))


def num(v: Any, digits: int = 4) -> str:
    """A number as a table shows it: integers with separators, floats to ``digits``
    significant digits (large ones shortened), booleans as yes / no, None as nothing."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e4 else short_number(v)
    return esc(v)


def td(v: Any, cls: str = "", digits: int = 4) -> str:
    """A cell; its exact value in ``data-v`` (what a column sorts on). ``cls="text"``: left-aligned text."""
    dv = "" if v is None else (str(v) if not isinstance(v, bool) else str(int(v)))
    c = f' class="{cls}"' if cls else ""
    return f'<td data-v="{html.escape(dv)}"{c}>{num(v, digits) if cls != "text" else esc(v)}</td>'


def table(head: list[str], rows: list[str], sortable: bool = True, text: tuple[int, ...] = (0,)) -> str:
    """A table; columns ``text`` are left-aligned text, the others right-aligned numbers."""
    ths = "".join(f'<th class="{"text" if i in text else ""}">{esc(h)}</th>' for i, h in enumerate(head))
    return (f'<div class="tablewrap"><table class="{"sortable" if sortable else ""}"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def missing_list(data: dict[str, Any]) -> str:
    """Every part the run lacks, with why (``data["missing"]``; for some, "none happened" is news too)."""
    items = "".join(f'<li data-missing="{esc(k)}"><b>{esc(k)}</b>: {esc(v)}</li>' for k, v in data["missing"].items())
    return f'<ul class="missing note">{items}</ul>' if items else ""


def state_word(progress: dict[str, Any]) -> str:
    """``finished`` or ``not finished``."""
    return "finished" if progress["finished"] else "not finished"


def run_state(progress: dict[str, Any], of_steps: bool = True) -> str:
    """``finished``, or ``not finished: step N`` (``of M`` where the run's length is known)."""
    if progress["finished"]:
        return state_word(progress)
    total = f" of {progress['steps']:,}" if of_steps and progress.get("steps") else ""
    return f"{state_word(progress)}: step {progress['step']:,}{total}"


__all__ = ["CSS", "JS", "Page", "Panel", "render_panels", "sections", "nav", "section", "json_script", "esc", "num",
           "td", "table", "missing_list", "state_word", "run_state"]
