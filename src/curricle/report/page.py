"""The pretraining run's page: one self-contained HTML file (plotly.js, data and styles inline).

``write_report(RUN)`` writes one run's page; ``write_compare([RUN, ...])`` the same panels side
by side for several runs, with the emergence-ordering consistency between them. The page
fetches nothing when opened: plotly.js is inlined (no CDN, no MathJax, no fonts from the
network), and so is every figure's data.

Panels (:data:`PRETRAIN_PANELS`, built with :mod:`~curricle.report.kit`), each a
``<section data-panel=NAME>`` (left out when the run has nothing for it; the page header says
which and why): ``losses``, ``mixture`` (weights and the LR / sequence-length
schedules), ``audit`` (the controller's log; a row click marks its step on the weights plot, a
click on a change marker finds its row), ``skills`` (heatmap of skills x checkpoints with
emergence and saturation points and their intervals), ``funnel``, ``events``, ``hard_examples``
(difficulty signals, mined regions, group shares and losses, augmentation, pruning:
:mod:`~curricle.report.hard_examples`), ``checkpoints``
(held-out loss per domain, calibration and probe scores per checkpoint; columns sort on click).
A run that post-training went on from (``run["post_training"]``, which ``curricle demo`` sets
from :func:`~curricle.report.pipeline.post_training_links`) gets a last panel,
``post_training``: its stages' scores with links to the pipeline's page and each stage's.

All data is also embedded as JSON in ``<script type="application/json" id="curricle-data">``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from curricle import atomic
from curricle.emergence.config import MapConfig
from curricle.emergence.map import map_rows
from curricle.errors import CurricleError
from curricle.jsonable import short_number
from curricle.report import figures, hard_examples
from curricle.report.data import collect_run
from curricle.report.kind import kind_words, run_kind
from curricle.report.kit import (Page, Panel, esc, missing_list, nav, num, render_panels, section, sections,
                                 state_word, table, td)
from curricle.report import plots
from curricle.report.plots import domain_colors, x_axis


def _progress(run: dict[str, Any]) -> str:
    p = run["progress"]
    if p["steps"]:
        frac = min(1.0, p["step"] / p["steps"])
        badge = "done" if p["finished"] else "running"
        state = f'<span class="badge {badge}">{state_word(p)}</span>'
        text = f"step {p['step']:,} of {p['steps']:,} ({100 * frac:.0f}%)"
        bar = f'<span class="progress"><span style="width:{100 * frac:.1f}%"></span></span>'
    else:
        state, bar, text = "", "", f"step {p['step']:,}"
    if p.get("stopped"):  # a hook ended the run early (TrainState.stop)
        text += f" (stopped at step {p['stopped']['step']:,}: {esc(p['stopped'].get('reason'))})"
    tokens = f", {short_number(p['tokens'])} tokens" if p.get("tokens") else ""
    if p.get("tokens") and p.get("eval_tokens"):  # what evaluation and probing cost, beside training
        tokens += (f" trained + {short_number(p['eval_tokens'])} evaluated and probed "
                   f"({100 * p['eval_tokens'] / (p['tokens'] + p['eval_tokens']):.1f}% of all)")
    ck = f"; latest checkpoint: step {p['latest_checkpoint']:,}" if p["latest_checkpoint"] is not None else ""
    bad = {k: v for k, v in p["unreadable_lines"].items() if v}
    warn = (f"; unreadable lines skipped: {', '.join(f'{k} {v}' for k, v in bad.items())}" if bad else "")
    return f'<div class="meta" data-progress="{p["step"]}">{bar}{state} {text}{tokens}{ck}{warn}</div>'


def _audit_rows(run: dict[str, Any], fig_id: str, key: str) -> list[str]:
    # The weights plot's x of each change: figures.mixture() puts its markers there too.
    xs, _ = x_axis(run, run["series"])
    x_at = dict(zip(run["series"]["step"], xs))
    out = []
    for i, a in enumerate(run["audit"]):
        old, new = a.get("old") or {}, a.get("new") or {}
        moves = sorted(((d, old.get(d, 0.0), new.get(d, 0.0)) for d in new), key=lambda t: -abs(t[2] - t[1]))
        change = "; ".join(f"{d} {o:.3f}→{n:.3f}" for d, o, n in moves[:4] if abs(n - o) > 5e-4)
        signal = ", ".join(f"{k} {num(v, 3)}" for k, v in list((a.get("signal") or {}).items())[:8])
        out.append(f'<tr class="link" id="{key}-{i}" data-fig="{fig_id}" data-x="{x_at.get(a["step"])}">{td(a.get("step"))}'
                   f'{td(a.get("reason", ""), "text")}{td(change or "(no change above 0.001)", "text")}'
                   f'{td(signal, "text")}</tr>')
    return out


def _event_rows(run: dict[str, Any]) -> list[str]:
    out = []
    for e in run["events"]:
        details = ", ".join(f"{k}={num(v, 4) if not isinstance(v, (dict, list)) else esc(json.dumps(v))}"
                            for k, v in e.items() if k not in ("step", "event", "reason"))
        out.append(f"<tr>{td(e.get('step'))}{td(e.get('event', ''), 'text')}{td(e.get('reason', ''), 'text')}"
                   f"{td(details, 'text')}</tr>")
    return out


def _checkpoint_table(run: dict[str, Any]) -> str:
    tasks = sorted({t for r in run["checkpoints"] for t in r["probes"]})
    head = ["step", "tokens", "on disk", "held-out mean", "held-out worst", *[f"loss {d}" for d in run["domains"]],
            "ECE", *tasks]
    rows = []
    for r in run["checkpoints"]:
        cls = ' class="best"' if r["step"] == run["best_checkpoint"] else ""
        cells = [td(r["step"]), td(r.get("tokens")), td(r["on_disk"]), td(r.get("eval_loss_mean")),
                 td(r.get("eval_loss_worst"))]
        cells += [td((r.get("eval_loss") or {}).get(d)) for d in run["domains"]]
        cells += [td(r.get("ece"), digits=3)] + [td(r["probes"].get(t), digits=3) for t in tasks]
        rows.append(f'<tr data-step="{r["step"]}"{cls}>{"".join(cells)}</tr>')
    best = run["best_checkpoint"]
    sel = run.get("selection") or {}
    note = ""
    if best is not None:
        by = "the rule given to curricle select" if sel.get("given") else "the default rule"
        note = f"Highlighted: step {best:,}, by {by}: {sel.get('rule', 'the lowest mean held-out loss')}. "
        if sel.get("feasible") is False:
            note += f"No checkpoint met every constraint: {sel.get('reason')}. "
    metric = (run.get("skills") or {}).get("metric_setting")
    note += f"Probe columns: the {metric} metric of each task." if tasks and metric else ""
    return f'<p class="note">{esc(note)}</p>' + table(head, rows)


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
        rows.append(f'<tr data-skill="{esc(name)}">{td(name, "text")}{td(s["emerged"])}{td(e)}{td(eci, "text")}'
                    f'{td(s.get("emergence_probability"), digits=2)}{td(sat)}{td(sci, "text")}'
                    f'{td(s.get("phase") or "", "text")}{td(s["metric"], "text")}{td(s.get("chance"), digits=3)}'
                    f'{td(s.get("best"), digits=3)}</tr>')
    unit = "tokens" if key_tokens else "step"
    head = ["skill", "emerged", f"emergence ({unit})", "95% interval", "P(emerged)", f"saturation ({unit})",
            "95% interval", "phase", "metric", "chance", "best"]
    text = (0, 3, 6, 7, 8)
    order = " < ".join(sk["emerged"]) or "none yet"
    phases = "; ".join(f"{p['phase']}: {p['emerged']} emerged (uniform over steps: {p['expected_if_uniform']:g})"
                       for p in sk.get("phase_summary") or [])
    return (f'<p class="note" data-order="{esc(json.dumps(sk["emerged"]))}">Emergence order: <b>{esc(order)}</b>'
            f'{(" — not emerged: " + esc(", ".join(sk["censored"]))) if sk["censored"] else ""}.'
            f'{(" Per phase: " + esc(phases) + ".") if phases else ""} Intervals: bootstrap over the probe '
            f'scores\' standard errors.</p>' + table(head, rows, text=text))


def _funnel_table(run: dict[str, Any]) -> str:
    f = run["funnel"]
    docs, tokens = figures.funnel_totals(f, "docs"), figures.funnel_totals(f, "tokens")
    reasons = []
    for step in figures.funnel_steps(f):
        for r, n in sorted(docs[step]["dropped"].items(), key=lambda t: -t[1]):
            reasons.append(f"<tr>{td(step, 'text')}{td(r, 'text')}{td(n)}{td(tokens[step]['dropped'].get(r, 0))}</tr>")
    by_reason = table(["step", "reason", "docs dropped", "tokens dropped"], reasons, text=(0, 1))
    rows = []
    for d, v in sorted(run["funnel"]["domains"].items()):
        i, o = v["in"], v["out"]
        frac = o["docs"] / i["docs"] if i["docs"] else None
        rows.append(f"<tr>{td(d, 'text')}{td(i['docs'])}{td(o['docs'])}{td(frac, digits=3)}"
                    f"{td(i['tokens'])}{td(o['tokens'])}</tr>")
    by_domain = table(["domain", "docs in", "docs kept", "kept share", "tokens in", "tokens kept"], rows)
    return (f'<div class="grid2"><div>{by_domain}</div><div>{by_reason}</div></div>'
            + _pipeline_table(f, docs) + _license_table(f))


def _pipeline_table(f: dict[str, Any], docs: dict[str, dict[str, Any]]) -> str:
    """The steps in pipeline order (user steps too), each with its documents in / kept /
    dropped, errors (reason ``error``) apart, summed over domains."""
    rows = []
    for i, (step, kind, ref) in enumerate(figures.funnel_pipeline(f)):
        t = docs.get(step)
        dropped = dict(t["dropped"]) if t else {}
        errors = dropped.pop("error", 0)
        reasons = ", ".join(f"{r} {n:,}" for r, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])))
        kept = t["kept"] if t else None
        n_in = kept + sum(dropped.values()) + errors if t else None
        what = kind + (f" {ref}" if ref else "")
        rows.append(f'<tr data-curate-step="{esc(step)}">{td(i)}{td(step, "text")}{td(what, "text")}'
                    f"{td(n_in)}{td(kept)}{td(sum(dropped.values()) if t else None)}{td(errors if t else None)}"
                    f"{td(reasons, 'text')}</tr>")
    return ('<p class="note">The pipeline, in order (documents summed over domains; a step no domain ran is '
            'blank).</p>' + table(["#", "step", "kind", "docs in", "kept", "dropped", "errors", "drop reasons"],
                                  rows, sortable=False, text=(1, 2, 7)))


def _license_table(f: dict[str, Any]) -> str:
    """Documents per licence, read to curated (shown when any document has one)."""
    lic = f.get("licenses") or []
    if not any(r["license"] is not None for r in lic):
        return ""
    rows = []
    for r in lic:
        reasons = ", ".join(f"{k} {n:,}" for k, n in sorted(r["dropped"].items(), key=lambda kv: (-kv[1], kv[0])))
        name = r["license"] if r["license"] is not None else "(none)"
        rows.append(f'<tr>{td(name, "text")}{td(r["in"])}{td(r["kept"])}{td(sum(r["dropped"].values()))}'
                    f'{td(reasons, "text")}{td(r["tokens_kept"])}</tr>')
    return ('<p class="note">Documents per licence (the source\'s <code>license</code> or the record\'s '
            '<code>license_field</code>), from read to curated.</p>'
            + table(["licence", "docs in", "kept", "dropped", "drop reasons", "tokens kept"], rows, text=(0, 4)))


@dataclass(frozen=True)
class _View:
    """What a panel of one run needs besides its data: the domains' colours, the run's key in
    its figures' and rows' ids, and the loss plots' y range (one for every run compared)."""

    colors: dict[str, str]
    key: str
    loss_range: list[float] | None = None


def _losses(page: Page, run: dict[str, Any], view: _View) -> str | None:
    if not run["series"]["step"]:
        return None
    return page.fig(figures.losses(run, view.colors, view.loss_range), f"losses-{view.key}")


def _mixture(page: Page, run: dict[str, Any], view: _View) -> str | None:
    if not run["series"]["step"]:
        return None
    mix = page.fig(figures.mixture(run, view.colors), f"mixture-{view.key}",
                   audit=f"audit-{view.key}" if run["audit"] else None)
    return mix + page.fig(figures.schedules(run), f"schedules-{view.key}")


def _audit(page: Page, run: dict[str, Any], view: _View) -> str | None:
    if not run["series"]["step"] or not run["audit"]:
        return None
    shown = (f" (showing {len(run['audit']):,}: every k-th and the last; mixture_log.jsonl has all)"
             if run["counts"]["audit"] > len(run["audit"]) else "")
    mix_id = page.ids.get(f"mixture-{view.key}", "")  # the weights plot a row click marks (none: no weights)
    return (f'<p class="note">{run["counts"]["audit"]:,} changes by the {esc(run["controller"])} '
            f'controller{shown}. '
            "Click a row to mark its step on the weights plot; click a ▼ marker there to find "
            "its row.</p>" + table(["step", "reason", "largest changes", "signal"],
                                   _audit_rows(run, mix_id, f"audit-{view.key}"), text=(1, 2, 3)))


def _skills(page: Page, run: dict[str, Any], view: _View) -> str | None:
    if not run.get("skills"):
        return None
    return page.fig(figures.skill_map(run), f"skills-{view.key}") + _skill_table(run)


def _funnel(page: Page, run: dict[str, Any], view: _View) -> str | None:
    if not run.get("funnel"):
        return None
    return page.fig(figures.funnel(run), f"funnel-{view.key}") + _funnel_table(run)


def _events(page: Page, run: dict[str, Any], view: _View) -> str | None:
    if not run["events"]:
        return None
    kinds: dict[str, int] = {}
    for e in run["events"]:
        kinds[e.get("event", "?")] = kinds.get(e.get("event", "?"), 0) + 1
    shown = (f" (showing {len(run['events']):,} of {run['counts']['events']:,}: every k-th and the last)"
             if run["counts"]["events"] > len(run["events"]) else "")
    return (f'<p class="note">{esc(", ".join(f"{v} {k}" for k, v in kinds.items()))}{shown}; skips and '
            "rollbacks are marked on the training-loss plot.</p>"
            + table(["step", "event", "reason", "details"], _event_rows(run), text=(1, 2, 3)))


def _checkpoints(page: Page, run: dict[str, Any], view: _View) -> str | None:
    if not run["checkpoints"]:
        return None
    return page.fig(_pareto(run), f"pareto-{view.key}") + _checkpoint_table(run)


def _pareto(run: dict[str, Any]):
    """The selection's objective against tokens, the Pareto front and the chosen step."""
    sel = run.get("selection") or {}
    rows = run["checkpoints"]
    if not sel.get("objective") or len(rows) < 2:
        return None
    column = {"loss_mean": "eval_loss_mean", "loss_worst": "eval_loss_worst", "loss_all": "eval_loss_all"}
    key = column.get(sel["objective"], sel["objective"])
    steps = [r["step"] for r in rows]
    y = [r.get(key) for r in rows]
    if all(v is None for v in y):
        return None
    front = [steps.index(s) for s in sel.get("pareto_steps", [])]
    chosen = steps.index(run["best_checkpoint"]) if run["best_checkpoint"] in steps else None
    return plots.pareto([f"step {s:,}" for s in steps], [r.get("tokens") for r in rows], y, front, chosen,
                        "tokens", sel["objective"], f"Checkpoints: {sel['objective']} against tokens, the Pareto front")


def _hard_examples(page: Page, run: dict[str, Any], view: _View) -> str | None:
    return hard_examples.render(page, run, view.colors, view.key)


def _post_training(page: Page, run: dict[str, Any], view: _View) -> str | None:
    post = run.get("post_training")
    if not post:
        return None
    rows = []
    for r in post["rows"]:
        name = f'<a href="{esc(r["page"])}">{esc(r["stage"])}</a>' if r["page"] else esc(r["stage"])
        cls = ' class="best"' if r["stage"] == post["best"] else ""
        rows.append(f'<tr{cls}><td data-v="{esc(r["stage"])}" class="text">{name}</td>{td(r["kind"], "text")}'
                    f'{td(r["mean"], digits=3)}{td(r["worst"], digits=3)}{td(r["probe_change"], digits=3)}'
                    f'{td(r["checkpoint"], "text")}</tr>')
    line = " → ".join(f'<a href="{esc(s["page"])}">{esc(s["stage"])}</a> ({esc(s["kind"])})' if s["page"]
                      else f'{esc(s["stage"])} ({esc(s["kind"])})' for s in post["stages"])
    return (f'<p class="note">From this run\'s last checkpoint: {line}. The pipeline\'s page: '
            f'<a href="{esc(post["page"])}">{esc(post["name"])}</a>. Chosen: <b>{esc(post["best"])}</b>, by the rule: '
            f'{esc(post["rule"])}.</p>'
            + table(["stage", "kind", "mean test score", "worst task", "Δ probes from start", "checkpoint"], rows,
                    text=(0, 1, 5)))


#: The pretraining run's panels, in page order (a comparison shows each for every run).
PRETRAIN_PANELS = (
    Panel("losses", "Losses", _losses),
    Panel("mixture", "Mixture and schedules", _mixture),
    Panel("audit", "Controller audit log", _audit),
    Panel("skills", "Skill map", _skills),
    Panel("funnel", "Curation funnel", _funnel),
    Panel("events", "Events", _events),
    Panel("hard_examples", "Hard examples", _hard_examples),
    Panel("checkpoints", "Checkpoints", _checkpoints),
)
PANELS = tuple(p.name for p in PRETRAIN_PANELS)
#: Shown on a run's own page only, after the others, where post-training went on from the run.
POST_TRAINING_PANEL = Panel("post_training", "Post-training", _post_training)


def render_report(run: dict[str, Any]) -> str:
    page = Page()
    shown = (*PRETRAIN_PANELS, POST_TRAINING_PANEL)
    panels = render_panels(page, shown, run, _View(domain_colors(run["domains"]), "0"))
    header = (f"<h1>curricle run: {esc(run['name'])}</h1><div class=\"meta\"><code>{esc(run['path'])}</code> · "
              f"{len(run['domains'])} domains · mixture: {esc(run['controller'])}"
              f"{' · phases: ' + esc(', '.join(p['name'] for p in run['phases'])) if run['phases'] else ''}"
              f" · report written {esc(run['generated'])}</div>{_progress(run)}{missing_list(run)}")
    return page.html(f"curricle: {run['name']}", header, nav(shown, panels), sections(shown, panels), run)


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
        rows.append(f'<tr data-run="{esc(r["label"])}">{td(r["label"], "text")}{td(r["controller"], "text")}'
                    f'{td(p["step"])}{td(p["steps"])}{td(p.get("tokens"))}{td(mean)}{td(worst)}'
                    f'{td(r["best_checkpoint"])}{td(emerged)}</tr>')
    return table(["run", "mixture", "step", "of", "tokens", "final held-out mean", "final held-out worst",
                   "best checkpoint", "skills emerged"], rows)


def _ordering_html(o: dict[str, Any] | None, labels: dict[str, str]) -> str:
    if o is None:
        return '<p class="note">Ordering consistency needs probe results from at least two runs.</p>'
    if "kendall" not in o:
        return f'<p class="note">{esc(o.get("note", "no ordering figures"))}</p>'
    head = (f'<p class="note" data-kendall="{o["kendall"]["mean"]:.6f}" data-spearman="{o["spearman"]["mean"]:.6f}">'
            f"Over the {len(o['skills'])} skills every run probed: mean pairwise Kendall τ "
            f"<b>{o['kendall']['mean']:.3f}</b> (95% CI {o['kendall']['ci95'][0]:.3f}–{o['kendall']['ci95'][1]:.3f}, "
            f"permutation p = {o['kendall']['p_value']:.3g}); Spearman ρ <b>{o['spearman']['mean']:.3f}</b> "
            f"(95% CI {o['spearman']['ci95'][0]:.3f}–{o['spearman']['ci95'][1]:.3f}, p = "
            f"{o['spearman']['p_value']:.3g}). Skills that never emerged tie for last.</p>")
    rows = [f"<tr>{td(labels.get(ps['run_a'], ps['run_a']), 'text')}{td(labels.get(ps['run_b'], ps['run_b']), 'text')}"
            f"{td(ps['spearman'], digits=3)}{td(pk['kendall'], digits=3)}</tr>"
            for ps, pk in zip(o["spearman"]["pairs"], o["kendall"]["pairs"])]
    return head + table(["run A", "run B", "Spearman ρ", "Kendall τ"], rows)


def render_compare(runs: list[dict[str, Any]], ordering: dict[str, Any] | None) -> str:
    page = Page()
    domains = sorted({d for r in runs for d in r["domains"]})
    colors = domain_colors(domains)
    # One y range for every run's loss plot, so side-by-side plots compare by eye.
    ys = [v for r in runs for vals in [*r["series"]["loss_by_domain"].values(), *r["eval"]["loss_by_domain"].values()]
          for v in vals if v is not None]
    loss_range = [max(0.0, min(ys) * 0.95), max(ys) * 1.02] if ys else None
    per_run = [render_panels(page, PRETRAIN_PANELS, r, _View(colors, str(i), loss_range)) for i, r in enumerate(runs)]
    n = len(runs)
    overview = page.fig(figures.mean_eval(runs), "mean-eval") + _summary_table(runs)
    labels = {r["path"]: r["label"] for r in runs}
    parts = [section("overview", overview, "Overview"),
             section("ordering", _ordering_html(ordering, labels), "Emergence-order consistency")]
    links = [("overview", "Overview"), ("ordering", "Ordering")]
    for p in PRETRAIN_PANELS:
        if not any(p.name in pr for pr in per_run):
            continue
        links.append((p.name, p.title))
        cells = "".join(f'<div data-run="{esc(r["label"])}"><div class="runlabel">{esc(r["label"])}</div>'
                        f'{pr.get(p.name) or "<p class=note>" + esc(r["missing"].get(_MISSING_KEY.get(p.name, p.name), "nothing to show")) + "</p>"}</div>'
                        for r, pr in zip(runs, per_run))
        parts.append(section(p.name, f'<div class="grid" style="grid-template-columns:repeat({n}, '
                                     f'minmax(520px, 1fr))">{cells}</div>', p.title))
    header = (f"<h1>curricle: {n} runs compared</h1><div class=\"meta\">"
              + " · ".join(f"<b>{esc(r['label'])}</b> <code>{esc(r['path'])}</code> "
                           f"({state_word(r['progress'])}, step {r['progress']['step']:,})" for r in runs) + "</div>")
    return page.html("curricle: " + " vs ".join(r["label"] for r in runs), header, links, "".join(parts),
                     {"schema": "curricle.compare/1", "runs": runs, "ordering": ordering})


_MISSING_KEY = {"losses": "training", "mixture": "training", "checkpoints": "checkpoints"}


def write_compare(run_dirs: Sequence[Path | str], out: Path | str, probes: Sequence[Path | str] = (),
                  map_config=None) -> Path:
    """Write the comparison of ``run_dirs`` (pretraining runs) to ``out`` and return its path."""
    if len(run_dirs) < 2:
        raise CurricleError("compare needs at least two run directories")
    for r in run_dirs:
        kind = run_kind(r)
        if kind != "pretrain":
            raise CurricleError(f"{r}: {kind_words(kind)}; compare puts pretraining runs side by side "
                                f"(curricle report {r} draws its own page)")
    runs = [collect_run(r, probes, map_config, keep_probe_rows=True) for r in run_dirs]
    for r, label in zip(runs, _labels(runs)):
        r["label"] = label
    ordering = _ordering(runs, map_config)
    out = Path(out)
    atomic.write_text(out, render_compare(runs, ordering))
    return out


__all__ = ["write_report", "write_compare", "render_report", "render_compare", "PANELS", "PRETRAIN_PANELS"]
