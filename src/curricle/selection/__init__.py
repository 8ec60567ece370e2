"""Checkpoint choice on stated criteria: a selection rule (constraints and an objective over a
checkpoint table's columns) and where it is used.

- :mod:`curricle.selection.config`: the rule (:class:`SelectRule`) and its shorthands;
- :mod:`curricle.selection.rule`: choosing a row of a table by a rule, and the Pareto front;
- :mod:`curricle.selection.tables`: the pretraining and pipeline checkpoint tables as rows of
  named columns;
- :mod:`curricle.selection.command`: ``curricle select RUN --rule FILE``.
"""
