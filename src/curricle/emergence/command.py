"""``curricle map PROBE_FILES... --out DIR``: the emergence map of probed runs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.table import Table

from curricle.emergence.config import MapConfig, load_map_config
from curricle.emergence.map import map_runs
from curricle.errors import CurricleError
from curricle.jsonable import short_number
from curricle.probes.console import wide_console


def map_command(probe_files: list[Path], out: Path, config_path: Path | None = None,
                config: MapConfig | None = None, console=None) -> dict[str, Any]:
    if not probe_files:
        raise CurricleError("give at least one probe results file (from 'curricle probe' or RUN/probes.jsonl)")
    config = config or load_map_config(config_path)
    result = map_runs(probe_files, out, config)
    console = console or wide_console()
    print_map(result, console)
    console.print(f"map: {out}/emergence.json, emergence.csv, ordering.csv, summary.json")
    return result


def _where(e: dict[str, Any] | None) -> str:
    """``1.36M tok/s133``-style position: tokens (if known) and step."""
    if not e:
        return "-"
    step = f"s{e['step']:.0f}" if e.get("step") is not None else ""
    if e.get("tokens") is not None:
        return f"{short_number(e['tokens'])} ({step})" if step else short_number(e["tokens"])
    return step


def print_map(result: dict[str, Any], console) -> None:
    for run, r in result["runs"].items():
        cfg = result["config"]
        table = Table(title=f"{Path(run).name}: emergence order ({cfg['metric']} score, {cfg['variant']} "
                            f"crossing at {cfg['fraction']:g}; tokens (step))", title_justify="left")
        for col in ("#", "skill", "chance", "best", "emerges", "saturates", "phase", "chaos", "forget"):
            table.add_column(col, justify="left" if col in ("skill", "phase") else "right", no_wrap=True)
        for i, skill in enumerate(r["order"], 1):
            s = r["skills"][skill]
            chance = f"{s['chance']:.2f}" if s["chance"] is not None else "-"
            at = _where(s["emergence"]) if s["emergence"] else f"[dim]{CENSORED_AS[s['status']]}[/]"
            if s["left_censored"]:
                at = "<= " + at
            name = f"{skill} [yellow](in-sample)[/]" if s["in_sample"] else skill
            table.add_row(str(i) if s["emergence"] else "", name, chance, f"{s['best']:.2f}", at,
                          _where(s["saturation"]), s.get("phase") or "-", f"{s['chaoticness']:.2f}",
                          f"{s['forgettability']:.2f}")
        console.print(table)
        censored = f"; not emerged: {', '.join(r['censored'])}" if r["censored"] else ""
        console.print(f"emergence order: {' < '.join(r['emerged']) or '(none)'}{censored}")
        print_frontiers(r["families"], console)
    o = result["ordering"]
    if "kendall" in o and math.isnan(o["kendall"]["mean"]):
        console.print("ordering consistency: undefined (some run has fewer than 2 distinguishable skills: "
                      "nothing, or everything, emerged)")
    elif "kendall" in o:
        k, sp = o["kendall"], o["spearman"]
        emerged = ", ".join(str(v) for v in o["emerged_per_run"].values())
        console.print(f"ordering consistency over {len(o['runs'])} runs, {len(o['skills'])} skills "
                      f"(emerged per run: {emerged}; the rest tie as censored): "
                      f"Kendall tau {k['mean']:.2f} [{k['ci95'][0]:.2f}, {k['ci95'][1]:.2f}] p={k['p_value']:.3f}; "
                      f"Spearman rho {sp['mean']:.2f} [{sp['ci95'][0]:.2f}, {sp['ci95'][1]:.2f}] p={sp['p_value']:.3f}")
    c = result["composites"]
    if c["decided"]:
        console.print(f"composites emerging no earlier than their components: "
                      f"{c['fraction_no_earlier']:.0%} of {c['decided']} decided checks")


#: How a censored skill's status reads in the table.
CENSORED_AS = {"not_learned": "not learned", "below_min_gain": "censored"}


def print_frontiers(families: dict[str, Any], console) -> None:
    """One line per family of levels: each level emerged (+), censored (.) or in-sample (~),
    and the frontier, the hardest level that emerged."""
    if not families:
        return
    table = Table(title="difficulty ladders", title_justify="left", caption="+ emerged, . not, ~ in-sample",
                  caption_justify="left")
    table.add_column("family", no_wrap=True)
    table.add_column("levels, easiest first")
    table.add_column("frontier", no_wrap=True)
    for family, f in families.items():
        marks = []
        for level in f["levels"]:
            mark = "~" if level in f["in_sample"] else "+" if level in f["emerged"] else "."
            marks.append(f"{level}{mark}")
        frontier = f["frontier"] if f["frontier"] is not None else "-"
        if f["frontier"] is not None and not f["monotone"]:
            frontier += " (not monotone)"
        table.add_row(family, "  ".join(marks), frontier)
    console.print(table)
