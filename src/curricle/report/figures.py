"""The pretraining run's plots (and a comparison's), as plotly figures built from
:func:`~curricle.report.data.collect_run`'s dict; the plot kit they share with the other pages
is :mod:`~curricle.report.plots`.

Each function takes one run's data and returns a ``plotly.graph_objects.Figure`` (or None when
the run has nothing to show for it). The x axis is tokens wherever the run logged them (steps
otherwise); curriculum phase boundaries are dashed vertical lines, named at the top.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from curricle.jsonable import short_number
from curricle.report.plots import PALETTE, ema, layout, x_axis

EVENT_COLORS = {"skip": "#d62728", "rollback": "#7f0000", "resume": "#2ca02c", "reference": "#7f7f7f"}


def _phase_lines(fig: go.Figure, run: dict[str, Any], axis: str, cols: int = 1) -> None:
    """A dashed line where each phase starts, named inside the plot's top edge."""
    for p in run["phases"][1:]:
        x = p["start_tokens"] if axis == "tokens" else p["start_step"]
        if x is None:
            continue
        for c in range(1, cols + 1):
            where = {"row": 1, "col": c} if cols > 1 else {}
            fig.add_vline(x=x, line={"dash": "dash", "color": "#888", "width": 1}, annotation_text=p["name"],
                          annotation_position="top right", annotation_font={"size": 10, "color": "#555"}, **where)


def losses(run: dict[str, Any], colors: dict[str, str], y_range: list[float] | None = None) -> go.Figure | None:
    s, ev = run["series"], run["eval"]
    if not s["step"]:
        return None
    x, axis = x_axis(run, s)
    fig = make_subplots(rows=1, cols=2, shared_xaxes=False, horizontal_spacing=0.08,
                        subplot_titles=("training loss (EMA 0.9)", "held-out loss"))
    for d in run["domains"]:
        fig.add_trace(go.Scatter(x=x, y=ema(s["loss_by_domain"].get(d, [])), name=d, legendgroup=d,
                                 mode="lines", line={"color": colors[d], "width": 1.5}, connectgaps=True,
                                 hovertemplate=f"{d}: %{{y:.3f}}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=ema(s["loss"]), name="all (batch)", mode="lines",
                             line={"color": "#222", "width": 2.5}, hovertemplate="all: %{y:.3f}<extra></extra>"),
                  row=1, col=1)
    if ev["step"]:
        ex, _ = x_axis(run, ev)
        for d in run["domains"]:
            fig.add_trace(go.Scatter(x=ex, y=ev["loss_by_domain"].get(d, []), name=d, legendgroup=d,
                                     showlegend=False, mode="lines+markers", marker={"size": 5},
                                     line={"color": colors[d], "width": 1.5},
                                     hovertemplate=f"{d}: %{{y:.3f}}<extra></extra>"), row=1, col=2)
        fig.add_trace(go.Scatter(x=ex, y=ev["loss"], name="all (held-out)", mode="lines+markers",
                                 line={"color": "#222", "width": 2.5, "dash": "dot"},
                                 hovertemplate="all: %{y:.3f}<extra></extra>"), row=1, col=2)
    _events_marks(fig, run)
    _phase_lines(fig, run, axis, cols=2)
    fig.update_xaxes(title_text=axis)
    fig.update_yaxes(title_text="loss (nats/token)", col=1)
    if y_range:
        fig.update_yaxes(range=y_range)
    return layout(fig, "Loss per domain", height=420)


def _events_marks(fig: go.Figure, run: dict[str, Any]) -> None:
    """Stability events as markers along the bottom of the training-loss plot."""
    x_at = dict(zip(run["series"]["step"], x_axis(run, run["series"])[0]))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for e in run["events"]:
        if e.get("event") in ("skip", "rollback"):
            by_kind.setdefault(e["event"], []).append(e)
    ys = [v for v in run["series"]["loss"] if v is not None]
    if not by_kind or not ys:
        return
    y0 = min(ys)
    for kind, es in by_kind.items():
        xs = [x_at.get(e["step"]) for e in es]
        fig.add_trace(go.Scatter(
            x=xs, y=[y0] * len(es), mode="markers", name=f"{kind} ({len(es)})",
            marker={"symbol": "x" if kind == "skip" else "triangle-up", "size": 9, "color": EVENT_COLORS[kind]},
            text=[f"step {e['step']}: {kind} ({e.get('reason', '')})" for e in es],
            hovertemplate="%{text}<extra></extra>"), row=1, col=1)


def mixture(run: dict[str, Any], colors: dict[str, str]) -> go.Figure | None:
    s = run["series"]
    if not s["step"] or not any(any(v for v in w if v) for w in s["weights"].values()):
        return None
    x, axis = x_axis(run, s)
    fig = go.Figure()
    for d in run["domains"]:
        fig.add_trace(go.Scatter(x=x, y=s["weights"].get(d, []), name=d, stackgroup="w", mode="lines",
                                 line={"width": 0.5, "color": colors[d]}, fillcolor=colors[d],
                                 hovertemplate=f"{d}: %{{y:.3f}}<extra></extra>"))
    if run["audit"]:
        x_at = dict(zip(s["step"], x))
        xs = [x_at.get(a["step"]) for a in run["audit"]]
        fig.add_trace(go.Scatter(
            x=xs, y=[1.02] * len(xs), mode="markers", name=f"controller changes ({len(xs)})",
            marker={"symbol": "triangle-down", "size": 9, "color": "#222"},
            customdata=list(range(len(xs))),
            text=[f"step {a['step']}: {a.get('reason', '')}" for a in run["audit"]],
            hovertemplate="%{text}<br>click: the audit log row<extra></extra>"))
    _phase_lines(fig, run, axis)
    fig.update_xaxes(title_text=axis)
    fig.update_yaxes(title_text="share of tokens", range=[0, 1.06])
    return layout(fig, "Mixture weights", height=380)


def schedules(run: dict[str, Any]) -> go.Figure | None:
    s = run["series"]
    if not s["step"]:
        return None
    x, axis = x_axis(run, s)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=("learning rate", "sequence length"))
    fig.add_trace(go.Scatter(x=x, y=s["lr"], name="lr", mode="lines", line={"color": "#1f77b4"},
                             hovertemplate="lr %{y:.3g}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=s["seq_len"], name="seq_len", mode="lines", line={"color": "#ff7f0e", "shape": "hv"},
                             hovertemplate="seq_len %{y}<extra></extra>"), row=1, col=2)
    _phase_lines(fig, run, axis, cols=2)
    fig.update_xaxes(title_text=axis)
    fig.update_layout(showlegend=False)
    return layout(fig, "Schedules", height=300)


def skill_map(run: dict[str, Any]) -> go.Figure | None:
    """Skills (rows, in emergence order) x checkpoints (evenly spaced columns); colour is the
    measured score from chance to perfect (text probes: from worst to best). Emergence and saturation points sit on top
    with their 95% intervals, placed between columns by log-interpolating their position."""
    sk = run.get("skills")
    if not sk or not sk["skills"]:
        return None
    order = [s for s in sk["order"] if s in sk["skills"]]
    positions = sorted({(p["step"], p["tokens"]) for s in order for p in sk["skills"][s]["positions"]})
    use_tokens = all(t is not None for _, t in positions)
    key = "tokens" if use_tokens else "step"
    axis = [float(t if use_tokens else st) for st, t in positions]
    col_of = {p: i for i, p in enumerate(positions)}
    z, text = [], []
    for name in order:
        s = sk["skills"][name]
        row: list[float | None] = [None] * len(positions)
        raw: list[float | None] = [None] * len(positions)
        # Colour: a score in [0, 1] with a chance level (accuracy, exact match, probability)
        # from chance to perfect, so noise around chance stays dark; an unbounded one (the
        # log-probability of text probes) from its worst to its best checkpoint.
        vals = [v for v in s["scores"] if v is not None]
        bounded = s.get("chance") is not None and all(0.0 <= v <= 1.0 for v in vals)
        lo, hi = (s["chance"], 1.0) if bounded else (min(vals), max(vals))
        span = hi - lo if hi > lo else None
        for p, v in zip(s["positions"], s["scores"]):
            i = col_of[(p["step"], p["tokens"])]
            raw[i] = v
            row[i] = max(0.0, min(1.0, (v - lo) / span)) if span and v is not None else 0.0
        z.append(row)
        text.append([f"{name} at step {positions[i][0]:,}: {s['metric']} = {v:.3f}" if v is not None else ""
                     for i, v in enumerate(raw)])
    labels = [f"{n} ✓" if sk["skills"][n]["emerged"] else n for n in order]
    fig = go.Figure(go.Heatmap(
        x=list(range(len(positions))), y=labels, z=z, text=text, hovertemplate="%{text}<extra></extra>",
        colorscale="Viridis", zmin=0, zmax=1, xgap=1, ygap=1,
        colorbar={"title": {"text": "chance → perfect", "side": "right"}, "thickness": 12}))
    for what, symbol, color in (("emergence", "diamond", "#00d5ff"), ("saturation", "star", "#ff4f4f")):
        xs, ys, lo_err, hi_err, hover = [], [], [], [], []
        for name, label in zip(order, labels):
            s = sk["skills"][name]
            point = s.get(what)
            if not point or point.get(key) is None:
                continue
            x0 = _column(axis, point[key])
            ci = (s.get(f"{what}_ci95") or {}).get(key)
            xs.append(x0)
            ys.append(label)
            lo_err.append(max(0.0, x0 - _column(axis, ci[0])) if ci else 0.0)
            hi_err.append(max(0.0, _column(axis, ci[1]) - x0) if ci else 0.0)
            hover.append(f"{name}: {what} at {key} {short_number(point[key])}"
                         + (f" (95% interval {short_number(ci[0])}–{short_number(ci[1])})" if ci else "")
                         + (f"; in phase {s['phase']}" if what == "emergence" and s.get("phase") else ""))
        if xs:
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="markers", name=what, text=hover, hovertemplate="%{text}<extra></extra>",
                marker={"symbol": symbol, "size": 12, "color": color, "line": {"color": "#111", "width": 1}},
                error_x={"type": "data", "symmetric": False, "array": hi_err, "arrayminus": lo_err,
                         "color": color, "thickness": 2, "width": 4}))
    every = max(1, math.ceil(len(positions) / 8))  # at most ~8 labels: they stay level and legible
    shown = [i for i in range(len(positions)) if i % every == 0]
    ticks = [f"{positions[i][0]:,}<br>{short_number(positions[i][1])}" if use_tokens else f"{positions[i][0]:,}"
             for i in shown]
    fig.update_xaxes(title_text="checkpoint: step" + (" / tokens" if use_tokens else ""), tickmode="array",
                     tickvals=shown, ticktext=ticks, tickangle=0, showgrid=False)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    out = layout(fig, "Probe score per checkpoint, skills in emergence order",
                  height=max(320, 140 + 24 * len(order)), hovermode="closest")
    out.update_layout(legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
                      margin={"b": 80})
    return out


def _column(axis: list[float], x: float) -> float:
    """Where position ``x`` falls on evenly spaced columns at ``axis`` (log-interpolated)."""
    if x <= axis[0]:
        return 0.0
    if x >= axis[-1]:
        return float(len(axis) - 1)
    for i in range(1, len(axis)):
        if x <= axis[i]:
            a, b = axis[i - 1], axis[i]
            if a > 0 and b > 0:
                return i - 1 + (math.log(x) - math.log(a)) / (math.log(b) - math.log(a))
            return i - 1 + (x - a) / (b - a)
    return float(len(axis) - 1)


def funnel(run: dict[str, Any]) -> go.Figure | None:
    """Per curation step (top to bottom, in pipeline order): what it kept and what it dropped,
    documents and tokens, summed over domains; the hover names each reason."""
    f = run.get("funnel")
    if not f or not f.get("domains"):
        return None
    steps = funnel_steps(f)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14, shared_yaxes=True,
                        subplot_titles=("documents", "tokens (words)"))
    for col, unit in ((1, "docs"), (2, "tokens")):
        totals = funnel_totals(f, unit)
        fig.add_trace(go.Bar(y=steps, x=[totals[s]["kept"] for s in steps], orientation="h", name="kept",
                             marker_color="#2ca02c", showlegend=col == 1, legendgroup="kept",
                             hovertemplate=f"%{{y}}: %{{x:,}} {unit} kept<extra></extra>"), row=1, col=col)
        dropped = [sum(totals[s]["dropped"].values()) for s in steps]
        why = ["<br>".join(f"{r}: {n:,}" for r, n in sorted(totals[s]["dropped"].items(), key=lambda t: -t[1])[:8])
               for s in steps]
        fig.add_trace(go.Bar(y=steps, x=dropped, orientation="h", name="dropped", marker_color="#d62728",
                             showlegend=col == 1, legendgroup="dropped", customdata=why,
                             hovertemplate=f"%{{y}}: %{{x:,}} {unit} dropped<br>%{{customdata}}<extra></extra>"),
                      row=1, col=col)
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed")
    return layout(fig, "What each step kept and dropped, summed over domains",
                   height=max(260, 120 + 30 * len(steps)), hovermode="closest")


def funnel_steps(f: dict[str, Any]) -> list[str]:
    """The steps some domain ran, in pipeline order."""
    steps: list[str] = []
    for d in f["domains"].values():
        for st in d["steps"]:
            if st["step"] not in steps:
                steps.append(st["step"])
    order = [name for name, _, _ in funnel_pipeline(f)]
    return sorted(steps, key=lambda s: order.index(s) if s in order else len(order))


def funnel_pipeline(f: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """``(step, kind, ref)`` of every step of the pipeline, in order (``ref``: a user step's
    function or class). A funnel written before pipelines existed: the steps it holds, each
    its own kind."""
    if f.get("pipeline"):
        return [(p["step"], p["kind"], p.get("ref")) for p in f["pipeline"]]
    steps: list[str] = []
    for d in f["domains"].values():
        for st in d["steps"]:
            if st["step"] not in steps:
                steps.append(st["step"])
    return [(s, s, None) for s in steps]


def funnel_totals(f: dict[str, Any], unit: str) -> dict[str, dict[str, Any]]:
    """step -> {"kept": n, "dropped": {reason: n}} summed over domains (unit: docs or tokens)."""
    out: dict[str, dict[str, Any]] = {}
    for d in f["domains"].values():
        for st in d["steps"]:
            t = out.setdefault(st["step"], {"kept": 0, "dropped": {}})
            t["kept"] += st[unit]["kept"]
            for r, n in st[unit]["dropped"].items():
                t["dropped"][r] = t["dropped"].get(r, 0) + n
    return out


def mean_eval(runs: list[dict[str, Any]]) -> go.Figure | None:
    """Compare: mean and worst-domain held-out loss of every run on one plot."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("mean held-out loss over domains", "worst-domain held-out loss"))
    any_data = False
    for i, run in enumerate(runs):
        ev = run["eval"]
        if not ev["step"]:
            continue
        any_data = True
        x, axis = x_axis(run, ev)
        per = [[ev["loss_by_domain"][d][j] for d in run["domains"] if ev["loss_by_domain"][d][j] is not None]
               for j in range(len(ev["step"]))]
        mean = [sum(v) / len(v) if v else None for v in per]
        worst = [max(v) if v else None for v in per]
        color = PALETTE[i % len(PALETTE)]
        for col, ys in ((1, mean), (2, worst)):
            fig.add_trace(go.Scatter(x=x, y=ys, name=run["label"], legendgroup=run["label"], showlegend=col == 1,
                                     mode="lines+markers", line={"color": color},
                                     hovertemplate=f"{run['label']}: %{{y:.4f}}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text=axis)
    return layout(fig, "Held-out loss, all runs", height=400) if any_data else None


__all__ = ["losses", "mixture", "schedules", "skill_map", "funnel", "funnel_steps", "funnel_pipeline", "funnel_totals",
           "mean_eval"]
