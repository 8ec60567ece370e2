"""Skill probes: tasks in YAML, scored on checkpoints (or in the training loop), cached.

- :mod:`~curricle.probes.task`: the task schema and loader; item sources are in
  ``datasets/`` (``DATASETS``), scoring per output type in ``scorers/`` (``SCORERS``);
- :func:`builtin_tasks`: the built-in suite from the synthetic generators' held-out items,
  code syntax, and held-out code/prose text;
- :func:`probe_checkpoints`: a checkpoint series x tasks, cached per (weights, task);
- :func:`check_contamination`: are any probe items in the training data;
- :func:`export_lm_eval`: the tasks as lm-evaluation-harness task files;
- :class:`ProbeHook`: probing inside ``curricle train`` (``train.probe``).
"""

from curricle.probes.builtin import SuiteConfig, builtin_task_names, builtin_tasks
from curricle.probes.contamination import ContaminationReport, check_contamination
from curricle.probes.datasets import DATASETS
from curricle.probes.item import ProbeItem
from curricle.probes.lm import ProbeLM
from curricle.probes.lm_eval_export import export_lm_eval
from curricle.probes.results import SCHEMA, read_rows, write_rows
from curricle.probes.runner import ProbeRun, probe_checkpoints, score_tasks
from curricle.probes.scorers import SCORERS
from curricle.probes.task import ProbeTask, TaskConfig, load_tasks, parse_task, write_tasks

__all__ = [
    "DATASETS", "SCORERS", "SCHEMA", "ContaminationReport", "ProbeItem", "ProbeLM", "ProbeRun", "ProbeTask",
    "SuiteConfig", "TaskConfig", "builtin_task_names", "builtin_tasks", "check_contamination", "export_lm_eval",
    "load_tasks", "parse_task", "probe_checkpoints", "read_rows", "score_tasks", "write_rows", "write_tasks",
]
