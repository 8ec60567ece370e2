"""The plot kit every report page's figures share: colours, the layout, the x axis, smoothing
and standard-error bands (plotly). Each page's own figures live with it: the pretraining run's
in :mod:`~curricle.report.figures`, the fine-tuning, RL and pipeline pages' in their modules.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

PALETTE = qualitative.D3 + qualitative.Set2 + qualitative.Dark2
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


def domain_colors(domains: list[str]) -> dict[str, str]:
    """A colour per domain (or task), the same for the same sorted names on every page."""
    return {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(sorted(domains))}


def layout(fig: go.Figure, title: str, height: int = 380, **kw) -> go.Figure:
    """Every figure's look: its title at the top left, a white template, the legend below."""
    kw.setdefault("hovermode", "x unified")
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}}, height=height, template="plotly_white",
        font={"family": FONT, "size": 12}, margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.18, "x": 0}, **kw)
    return fig


def x_axis(run: dict[str, Any], block: dict[str, Any]) -> tuple[list, str]:
    """Tokens if every point has them, else steps."""
    tokens = block.get("tokens") or []
    if tokens and all(t is not None for t in tokens):
        return tokens, "tokens"
    return block["step"], "step"


def ema(values: list[float | None], alpha: float = 0.9) -> list[float | None]:
    """Exponential moving average over the logged values (a domain absent from a batch has no
    loss that step: the average holds, the point is left out)."""
    out, m = [], None
    for v in values:
        if v is None:
            out.append(None)
            continue
        m = v if m is None else alpha * m + (1 - alpha) * v
        out.append(m)
    return out


def se_band(x: list, y: list, se: list, color: str, group: str) -> go.Scatter:
    """The ±1 standard-error band around ``y`` (points without a value or an error are gaps)."""
    lo = [v - e if v is not None and e is not None else None for v, e in zip(y, se)]
    hi = [v + e if v is not None and e is not None else None for v, e in zip(y, se)]
    return go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=color, opacity=0.12,
                      line={"width": 0}, hoverinfo="skip", showlegend=False, legendgroup=group)


def pareto(names: list[str], x: list, y: list, front: list[int], chosen: int | None, x_title: str, y_title: str,
           title: str) -> go.Figure | None:
    """Checkpoints as points of ``y`` (the selection's objective) against ``x`` (a cost: tokens,
    completion length), the Pareto front (indices ``front``, in order of ``x``) joined as a
    step line and the chosen one ringed; None when no point has both values."""
    pts = [i for i in range(len(names)) if x[i] is not None and y[i] is not None]
    if not pts:
        return None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[x[i] for i in pts], y=[y[i] for i in pts], text=[names[i] for i in pts],
                             mode="markers+text", textposition="top center", name="checkpoints",
                             marker={"color": "#7f7f7f", "size": 8}))
    if front:
        fig.add_trace(go.Scatter(x=[x[i] for i in front], y=[y[i] for i in front], mode="lines+markers",
                                 name="Pareto front", line={"color": PALETTE[0], "shape": "hv"},
                                 marker={"color": PALETTE[0], "size": 9}))
    if chosen is not None and x[chosen] is not None and y[chosen] is not None:
        fig.add_trace(go.Scatter(x=[x[chosen]], y=[y[chosen]], mode="markers", name=f"chosen: {names[chosen]}",
                                 marker={"symbol": "circle-open", "size": 18, "color": "#d62728",
                                         "line": {"width": 2}}))
    return layout(fig, title, height=360, xaxis_title=x_title, yaxis_title=y_title, hovermode="closest")


__all__ = ["PALETTE", "FONT", "domain_colors", "layout", "x_axis", "ema", "se_band", "pareto"]
