"""The pretraining page's hard-examples panel, from ``run["hard_examples"]``
(:func:`curricle.report.data.hard_examples`).

Each part is drawn only when the run has it, and the panel says which it lacks: difficulty
signals over training (the controller's document-priority summaries per domain), the regions
``curricle mine`` found (with the hard documents split into learning and stuck), per-group
training shares and held-out losses with the worst group, augmentation counts, and the pruning
funnel of the run's store (per domain in -> kept, removed by reason).
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from curricle.report.kit import Page, esc, table, td
from curricle.report.plots import PALETTE, layout

TITLES = {"signals": "Difficulty signals over training", "regions": "Hard regions (curricle mine)",
          "groups": "Groups: training share and held-out loss", "augmentation": "Augmentation",
          "pruning": "Pruning funnel"}


def signals_figure(part: dict[str, Any], colors: dict[str, str]) -> go.Figure:
    """One subplot per logged number (``effective_docs``, ``capped``, ...), a line per domain."""
    keys = part["keys"]
    fig = make_subplots(rows=1, cols=max(1, len(keys)), subplot_titles=keys, horizontal_spacing=0.08)
    for c, k in enumerate(keys, start=1):
        for d, by_key in part["domains"].items():
            fig.add_trace(go.Scatter(x=part["step"], y=by_key[k], name=d, legendgroup=d, showlegend=c == 1,
                                     mode="lines", line={"color": colors.get(d, PALETTE[0]), "width": 1.5},
                                     hovertemplate=f"{d}: %{{y:.4g}}<extra></extra>"), row=1, col=c)
    fig.update_xaxes(title_text="step")
    return layout(fig, "Document priorities per domain", height=340)


def groups_figure(part: dict[str, Any]) -> go.Figure:
    """Training share (left) and held-out loss (right) per group; the worst group's loss dotted."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08,
                        subplot_titles=("share of its domain's training tokens", "held-out loss"))
    for i, g in enumerate(part["names"]):
        color = PALETTE[i % len(PALETTE)]
        if part["share"]["step"]:
            fig.add_trace(go.Scatter(x=part["share"]["step"], y=part["share"]["by_group"][g], name=g, legendgroup=g,
                                     mode="lines", line={"color": color, "width": 1.5}, connectgaps=True,
                                     hovertemplate=f"{g}: %{{y:.3f}}<extra></extra>"), row=1, col=1)
        if part["loss"]["step"]:
            fig.add_trace(go.Scatter(x=part["loss"]["step"], y=part["loss"]["by_group"][g], name=g, legendgroup=g,
                                     showlegend=not part["share"]["step"], mode="lines+markers",
                                     line={"color": color, "width": 1.5}, marker={"size": 5},
                                     hovertemplate=f"{g}: %{{y:.3f}}<extra></extra>"), row=1, col=2)
    if any(v is not None for v in part["loss"]["worst"]):
        fig.add_trace(go.Scatter(x=part["loss"]["step"], y=part["loss"]["worst"], name="worst group",
                                 mode="lines", line={"color": "#222", "width": 2.5, "dash": "dot"},
                                 customdata=part["loss"]["worst_group"],
                                 hovertemplate="worst: %{y:.3f} (%{customdata})<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text="step")
    return layout(fig, "Per-group share and held-out loss", height=380)


def _interval(stat: dict[str, Any] | None) -> str:
    if not stat or not stat.get("ci95"):
        return ""
    lo, hi = stat["ci95"]
    return f"{lo:.3f}–{hi:.3f}"


def _mean(stat: dict[str, Any] | None) -> float | None:
    return stat.get("mean") if stat else None


def regions_html(part: dict[str, Any]) -> str:
    out = []
    for d, v in part["domains"].items():
        split = v["hard_split"]
        counts = ", ".join(f"{split.get(c) or 0} {c}" for c in ("learning", "stuck", "rising", "unknown"))
        more = f" (top {len(v['regions'])} of {v['n_regions']}; regions.json has all)" if v["n_regions"] > len(
            v["regions"]) else ""
        out.append(f'<p class="note" data-domain="{esc(d)}"><b>{esc(d)}</b>: {v["seen"] or 0:,} documents seen, '
                   f'regions ranked by {esc(v["ranked_by"])}{more}. Hard documents: {split.get("hard") or 0} '
                   f"({esc(counts)}; stuck ones are noise candidates).</p>")
        rows = [f'<tr data-region="{esc(r["column"])}={esc(r["value"])}">{td(r["column"], "text")}'
                f'{td(r["value"], "text")}{td(r["count"])}{td(_mean(r["error_rate"]), digits=3)}'
                f'{td(_interval(r["error_rate"]), "text")}{td(_mean(r["loss"]), digits=4)}'
                f'{td(_interval(r["loss"]), "text")}{td(_mean(r["margin"]), digits=3)}{td(r["excess"], digits=3)}'
                f'{td(r["separated"])}</tr>' for r in v["regions"]]
        if rows:
            out.append(table(["column", "value", "docs", "error rate", "95% interval", "mean loss", "95% interval",
                              "mean margin", "excess", "apart from rest"], rows, text=(0, 1, 4, 6)))
    return "".join(out)


def augmentation_html(part: dict[str, Any]) -> str:
    rows = [f"<tr>{td(t['domain'], 'text')}{td(t['augmenter'], 'text')}{td(t['rounds'])}{td(t['documents'])}"
            f"{td(t.get('last_step'))}{td(t.get('share'), digits=3)}</tr>" for t in part["totals"]]
    return (f'<p class="note">{part["n_rounds"]:,} augmentation rounds (RUN/augment_log.jsonl); share: the '
            "augmented documents' share of the domain after its last round.</p>"
            + table(["domain", "augmenter", "rounds", "documents", "last step", "share"], rows, text=(0, 1)))


def pruning_html(part: dict[str, Any]) -> str:
    reasons = sorted({r for v in part["domains"].values() for r in (v.get("removed") or {})})
    rows = []
    for d, v in sorted(part["domains"].items()):
        n_in, kept = v.get("in"), v.get("kept")
        share = kept / n_in if isinstance(n_in, int) and n_in and isinstance(kept, int) else None
        rows.append(f'<tr data-domain="{esc(d)}">{td(d, "text")}{td(n_in)}{td(kept)}{td(share, digits=3)}'
                    + "".join(td((v.get("removed") or {}).get(r, 0)) for r in reasons) + "</tr>")
    how = ", ".join(f"{k} {part[k]}" for k in ("by", "keep", "order", "seed") if part.get(k) is not None)
    return (f'<p class="note">The run\'s store <code>{esc(part["store"])}</code> was pruned from '
            f'<code>{esc(part.get("parent"))}</code> ({esc(how)}); documents per domain.</p>'
            + table(["domain", "in", "kept", "kept share", *[f"removed: {r}" for r in reasons]], rows))


def render(page: Page, run: dict[str, Any], colors: dict[str, str], key: str) -> str | None:
    """The panel's HTML, or None when the run has none of its parts."""
    h = run.get("hard_examples")
    if not h:
        return None
    parts = []
    if "signals" in h:
        parts.append(("signals", page.fig(signals_figure(h["signals"], colors), f"hard_signals-{key}")))
    if "regions" in h:
        parts.append(("regions", regions_html(h["regions"])))
    if "groups" in h:
        parts.append(("groups", page.fig(groups_figure(h["groups"]), f"hard_groups-{key}")))
    if "augmentation" in h:
        parts.append(("augmentation", augmentation_html(h["augmentation"])))
    if "pruning" in h:
        parts.append(("pruning", pruning_html(h["pruning"])))
    body = "".join(f'<div data-part="{name}"><h3>{esc(TITLES[name])}</h3>{inner}</div>' for name, inner in parts)
    absent = "".join(f'<li data-absent="{esc(k)}"><b>{esc(TITLES[k])}</b>: {esc(v)}</li>' for k, v in h["absent"].items())
    return body + (f'<ul class="missing note">{absent}</ul>' if absent else "")


__all__ = ["render", "signals_figure", "groups_figure", "regions_html", "augmentation_html", "pruning_html"]
