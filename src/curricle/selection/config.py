"""A selection rule: which checkpoint of a table is the release, stated as constraints and an
objective over the table's columns.

::

    maximize: mean                     # or minimize: COLUMN (exactly one)
    subject_to: {worst: ">= 0.5", probe_drop: "<= 0.05", flags: none}
    tie: tokens                        # among equal objectives, the smallest of this column

A constraint is ``OP NUMBER`` with ``OP`` one of ``>= <= > < ==``, or ``none`` (``== 0``, for
counts such as ``flags``). The shorthands ``best-mean`` and ``last`` name the rules each table
states for them (:mod:`curricle.selection.tables`). Imports only pydantic.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from curricle.config import parse_model, read_yaml

#: The fixed columns of the pipeline's and a pretraining run's checkpoint tables (beside them:
#: each task's, domain's and probe's own; :mod:`curricle.selection.tables`).
PIPELINE_COLUMNS = ("mean", "worst", "length", "tokens", "probe_mean", "probe_change", "probe_drop", "flags", "row")
PRETRAIN_COLUMNS = ("step", "tokens", "on_disk", "loss_mean", "loss_worst", "loss_all", "ece", "probe_mean", "row")
#: The shorthands a ``select:`` accepts in place of a rule.
SHORTHANDS = ("best-mean", "last")
_CONSTRAINT = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def parse_constraint(text: str) -> tuple[str, float]:
    """``(op, bound)`` of ``">= 0.5"``-style text (``none``: ``("==", 0.0)``); ValueError otherwise."""
    if str(text).strip().lower() == "none":
        return "==", 0.0
    m = _CONSTRAINT.match(str(text))
    if m is None:
        raise ValueError(f"'{text}' is not a constraint (write '>= 0.5', '<= 0.05', '> 0', '< 10', '== 0' or 'none')")
    return m.group(1), float(m.group(2))


class SelectRule(BaseModel):
    """Constraints and an objective over a checkpoint table's columns. A checkpoint is feasible
    when it meets every constraint (a constraint on a value the checkpoint lacks, e.g. probes
    that were not scored, is not judged); among feasible ones with the objective, the best
    objective wins, ties going to the smallest ``tie`` column, then to the earlier row. When no
    checkpoint is feasible, the ones that break the fewest constraints are ranked the same way,
    and the choice says so (``feasible: false``)."""

    model_config = ConfigDict(extra="forbid")

    maximize: str | None = None
    """The column to maximize (e.g. ``mean``)."""
    minimize: str | None = None
    """The column to minimize (e.g. ``loss_mean``); exactly one of the two."""
    subject_to: dict[str, str] = {}
    """``{column: constraint}``: ``">= 0.5"``, ``"<= 0.05"``, ``none``..."""
    tie: str | None = None
    """Among checkpoints equal on the objective, the one with the smallest value of this column
    (``tokens``, ``length``, ``step``: the cheaper one)."""

    @field_validator("subject_to", mode="before")
    @classmethod
    def _strings(cls, v):
        if isinstance(v, dict):
            return {k: "none" if c is None else str(c) for k, c in v.items()}
        return v

    @field_validator("subject_to")
    @classmethod
    def _parsed(cls, v: dict[str, str]) -> dict[str, str]:
        for col, text in v.items():
            try:
                parse_constraint(text)
            except ValueError as err:
                raise ValueError(f"{col}: {err}") from None
        return v

    @model_validator(mode="after")
    def _one_objective(self) -> "SelectRule":
        if (self.maximize is None) == (self.minimize is None):
            raise ValueError("give exactly one of maximize: COLUMN or minimize: COLUMN")
        return self

    @property
    def objective(self) -> str:
        return self.maximize if self.maximize is not None else self.minimize  # type: ignore[return-value]

    @property
    def sense(self) -> Literal["max", "min"]:
        return "max" if self.maximize is not None else "min"

    def columns(self) -> list[str]:
        """Every column the rule names, objective first."""
        return list(dict.fromkeys([self.objective, *self.subject_to, *([self.tie] if self.tie else [])]))

    def describe(self) -> str:
        """The rule in words, for tables and reports."""
        text = f"{'highest' if self.sense == 'max' else 'lowest'} {self.objective}"
        if self.subject_to:
            text += " subject to " + ", ".join(f"{c} {t.strip()}" for c, t in self.subject_to.items())
        return text + (f"; ties: smallest {self.tie}" if self.tie else "") + "; ties after that: the earlier row"


def _spec_kind(v) -> str | None:
    """Which of :data:`SelectSpec`'s kinds ``v`` is meant as, so a bad rule's error is its own
    (not that it is no shorthand): ``shorthand`` for text, ``rule`` for a mapping, else None."""
    if isinstance(v, str):
        return "shorthand"
    return "rule" if isinstance(v, (dict, SelectRule)) else None


#: A ``select:``: a shorthand or a rule (text is read as a shorthand, a mapping as a rule).
SelectSpec = Annotated[
    Union[Annotated[Literal["best-mean", "last"], Tag("shorthand")], Annotated[SelectRule, Tag("rule")]],
    Discriminator(_spec_kind, custom_error_type="select_spec",
                  custom_error_message="expected best-mean, last or a rule (a mapping with maximize: or minimize:)")]


class SelectFile(BaseModel):
    """A rule file for ``curricle select RUN --rule FILE``: a rule, or ``{rule: best-mean}``."""

    model_config = ConfigDict(extra="forbid")

    rule: SelectSpec = Field(...)


def load_select_rule(path: Path | str) -> SelectSpec:
    """The rule in ``path``: a mapping that is a rule (``maximize: ...``), a shorthand, or
    ``{rule: SHORTHAND | RULE}``; errors in one line naming the file and the field."""
    data = read_yaml(path, "selection rule")
    if isinstance(data, dict) and "rule" in data:
        if set(data) == {"rule"} and isinstance(data["rule"], dict):
            return parse_model(data["rule"], SelectRule, f"{path}: rule")
        return parse_model(data, SelectFile, str(path)).rule
    if isinstance(data, dict):  # a rule: its own fields' errors, not a union's
        return parse_model(data, SelectRule, str(path))
    return parse_model({"rule": data}, SelectFile, str(path)).rule
