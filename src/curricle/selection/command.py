"""``curricle select RUN [--rule FILE]``: choose a run's release checkpoint by a stated rule.

``RUN`` is a pretraining run (its checkpoint table: held-out loss per domain, probes, tokens)
or a pipeline (``DIR/pipeline.json``'s table across stages). The rule
(:class:`~curricle.selection.config.SelectRule`, default ``best-mean``) is applied to the
table's rows (:mod:`curricle.selection.tables`); the table is printed with the chosen row
marked, and ``RUN/selection.json`` holds the rule, the choice (row, step or stage, checkpoint
path), whether it met every constraint, which constraints each row broke, the Pareto front of
the objective against tokens (and completion length, where the table has it), and the rows.
``curricle report RUN`` then marks the same choice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from curricle import atomic
from curricle.errors import CurricleError
from curricle.report.data import collect_run
from curricle.report.kind import run_kind
from curricle.selection.config import SelectRule, SelectSpec, load_select_rule
from curricle.selection.rule import choose, fronts
from curricle.selection.tables import pipeline_rows, pipeline_rule, pretrain_rows, pretrain_rule, stage_flags

log = logging.getLogger(__name__)

#: The choice's file, under the run.
SELECTION = "selection.json"


def read_pipeline(run: Path) -> dict[str, Any]:
    """``RUN/pipeline.json``; one line when it is missing (a pipeline writes it when it ends)
    or not a JSON object."""
    path = run / "pipeline.json"
    if not path.is_file():
        raise CurricleError(f"{path}: no such file: the pipeline has not finished (it writes its checkpoint table "
                            f"at the end), so there is nothing to choose from yet")
    try:
        pl = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CurricleError(f"{path}: cannot read the pipeline's table ({err})") from None
    if not isinstance(pl, dict):
        raise CurricleError(f"{path}: cannot read the pipeline's table (not a JSON object)")
    return pl


def select_run(run: Path | str, spec: SelectSpec | None = None) -> dict[str, Any]:
    """Choose ``run``'s checkpoint by ``spec`` (None: ``best-mean``) and write ``RUN/selection.json``."""
    run = Path(run)
    if not run.is_dir():
        raise CurricleError(f"{run}: no such run directory")
    kind = run_kind(run)
    if kind == "pipeline":
        pl = read_pipeline(run)
        table = pl.get("table", [])
        rule = pipeline_rule(spec or "best-mean", pl.get("max_probe_drop", 0.05))
        rows, known = pipeline_rows(table, stage_flags(run, [r["stage"] for r in table]))
        label = lambda i: {"stage": table[i]["stage"], "checkpoint": table[i]["checkpoint"]}  # noqa: E731
    elif kind == "pretrain":
        table = collect_run(run)["checkpoints"]
        rule = pretrain_rule(spec)
        rows, known = pretrain_rows(table)
        label = lambda i: {"step": table[i]["step"], "checkpoint": table[i].get("path")}  # noqa: E731
    else:
        raise CurricleError(f"{run}: a {kind} run; curricle select chooses among a pretraining run's or a "
                            f"pipeline's checkpoints")
    if not rows:
        raise CurricleError(f"{run}: no checkpoint, evaluation or probe yet: nothing to choose from")
    choice = choose(rows, rule, known, where=f"{run}: select")
    if not choice["feasible"] and choice.get("reason"):
        log.warning("%s: %s", run, choice["reason"])
    out = {"kind": kind, "rule": choice["rule"], "spec": rule.model_dump(exclude_none=True),
           "shorthand": spec if isinstance(spec, str) else ("best-mean" if spec is None else None),
           "chosen": None if choice["chosen"] is None else {"row": choice["chosen"], **label(choice["chosen"])},
           "feasible": choice["feasible"], "reason": choice.get("reason"),
           "broken": {str(k): v for k, v in choice["broken"].items()}, "pareto": fronts(rows, rule),
           "columns": known, "rows": rows}
    atomic.write_text(run / SELECTION, json.dumps(out, indent=1) + "\n")
    return out


def print_selection(result: dict[str, Any], console: Console) -> None:
    rows = result["rows"]
    spec = SelectRule.model_validate(result["spec"])
    cols = [c for c in dict.fromkeys(["step", "row", *spec.columns(), "tokens"]) if any(c in r for r in rows)]
    chosen = (result["chosen"] or {}).get("row")
    table = Table(title=f"checkpoints of a {result['kind']} run (*: chosen; x: constraints broken)")
    table.add_column("")
    for c in cols:
        table.add_column(c, justify="right")
    for i, r in enumerate(rows):
        f = lambda v: "-" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:.4g}")  # noqa: E731
        broke = result["broken"].get(str(i))
        mark = "*" if i == chosen else ("x " + ",".join(broke) if broke else "")
        table.add_row(mark, *[f(r.get(c)) for c in cols])
    console.print(table)
    console.print(f"rule: {result['rule']}", soft_wrap=True)
    if result["chosen"] is None:
        console.print(f"[yellow]no checkpoint chosen: {result['reason']}[/]")
    else:
        what = {k: v for k, v in result["chosen"].items() if k != "row"}
        compromise = "" if result["feasible"] else f" [yellow]({result['reason']})[/]"
        console.print(f"chosen: {json.dumps(what)}{compromise}", soft_wrap=True)


def select_command(run: Path, rule: Path | None = None, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    result = select_run(run, load_select_rule(rule) if rule is not None else None)
    print_selection(result, console)
    console.print(f"selection: {Path(run) / SELECTION}")
    return result
