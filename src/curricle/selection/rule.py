"""Choosing a checkpoint by a :class:`~curricle.selection.config.SelectRule` over a table of
rows (``{column: number | None}``), and the Pareto front of two columns.

:func:`choose` refuses a column the table does not have (one line naming it and the known
ones); a row without the objective's value is not a candidate; a constraint on a value a row
lacks is not judged. A value that is not finite (NaN, inf: a failed evaluation) counts as no
value, so the choice does not depend on where such a row stands. When no row meets every
constraint, the rows breaking the fewest are ranked by the objective instead, and the choice
says ``feasible: false``, why, and which constraints each broke (the commands log it as a
warning): a release is still named, and the report shows that it is a compromise rather than
hiding it.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Sequence

from curricle.errors import CurricleError
from curricle.selection.config import SelectRule, parse_constraint

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


def finite_value(row: dict[str, Any], col: str) -> float | None:
    """``row[col]`` as a float; None where the row lacks it or it is not finite."""
    v = row.get(col)
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def check_columns(rule: SelectRule, known: Sequence[str], where: str = "select") -> None:
    """A one-line error for the first column ``rule`` names that is not in ``known``."""
    for col in rule.columns():
        if col not in known:
            raise CurricleError(f"{where}: unknown column '{col}' (known: {', '.join(known)})")


def broken(row: dict[str, Any], rule: SelectRule) -> list[str]:
    """The constraints ``row`` breaks, by column (a value the row lacks, or that is not finite,
    is not judged)."""
    out = []
    for col, text in rule.subject_to.items():
        op, bound = parse_constraint(text)
        v = finite_value(row, col)
        if v is not None and not _OPS[op](v, bound):
            out.append(col)
    return out


def choose(rows: Sequence[dict[str, Any]], rule: SelectRule, known: Sequence[str] | None = None,
           where: str = "select") -> dict[str, Any]:
    """The row ``rule`` chooses: ``{chosen: index | None, rule: words, feasible: bool,
    candidates: [indices meeting every constraint], broken: {index: [columns]}, reason}``.
    ``known``: the table's columns (default: every column any row has)."""
    known = list(known) if known is not None else list(dict.fromkeys(c for r in rows for c in r))
    check_columns(rule, known, where)
    sign = 1.0 if rule.sense == "max" else -1.0
    with_objective = [i for i, r in enumerate(rows) if finite_value(r, rule.objective) is not None]
    breaks = {i: broken(rows[i], rule) for i in with_objective}
    feasible = [i for i in with_objective if not breaks[i]]
    out: dict[str, Any] = {"chosen": None, "rule": rule.describe(), "feasible": bool(feasible),
                           "candidates": feasible, "broken": {i: b for i, b in breaks.items() if b}}
    if not with_objective:
        out["reason"] = f"no checkpoint has a value of {rule.objective}"
        return out
    pool = feasible
    if not pool:
        fewest = min(len(b) for b in breaks.values())
        pool = [i for i in with_objective if len(breaks[i]) == fewest]
        out["reason"] = (f"no checkpoint meets every constraint: chose among those breaking the fewest "
                         f"({fewest}) by {rule.objective}")

    def key(i: int) -> tuple:
        tie = finite_value(rows[i], rule.tie) if rule.tie else None
        return (-sign * finite_value(rows[i], rule.objective), float("inf") if tie is None else tie, i)

    out["chosen"] = min(pool, key=key)
    return out


def pareto_front(rows: Sequence[dict[str, Any]], score: str, cost: str, maximize: bool = True) -> list[int]:
    """Indices of the rows that no other row beats on both ``score`` (higher is better with
    ``maximize``, else lower) and ``cost`` (lower is better), in order of ``cost``; rows lacking
    either value (or with one that is not finite) are left out."""
    vals = [(i, finite_value(r, score), finite_value(r, cost)) for i, r in enumerate(rows)]
    pts = [(i, s * (1 if maximize else -1), c) for i, s, c in vals if s is not None and c is not None]
    front = [i for i, s, c in pts
             if not any((s2 >= s and c2 <= c) and (s2 > s or c2 < c) for _, s2, c2 in pts)]
    return sorted(front, key=lambda i: (float(rows[i][cost]), i))


__all__ = ["finite_value", "check_columns", "broken", "choose", "pareto_front"]


def fronts(rows: Sequence[dict[str, Any]], rule: SelectRule) -> dict[str, list[int]]:
    """The Pareto front of the rule's objective against ``tokens`` and, where rows have it,
    ``length`` (both costs: lower is better)."""
    out = {}
    for cost in ("tokens", "length"):
        if any(r.get(cost) is not None for r in rows):
            out[cost] = pareto_front(rows, rule.objective, cost, maximize=rule.sense == "max")
    return out
