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

from __future__ import annotations

from typing import Any

from curricle.registry import load

# Imported on first use (PEP 562): ``curricle.probes.results`` and ``.checkpoints`` are read by
# ``curricle map`` and ``curricle report``, which should not pay for torch and transformers
# (1.3 s, measured) to read a JSON Lines file.
_WHERE = {
    "SuiteConfig": "config", "ProbeConfig": "config", "ProbeHookConfig": "config",
    "builtin_task_names": "builtin", "builtin_tasks": "builtin",
    "ContaminationReport": "contamination", "check_contamination": "contamination",
    "DATASETS": "datasets", "ProbeItem": "item", "ProbeLM": "lm", "export_lm_eval": "lm_eval_export",
    "SCHEMA": "results", "read_rows": "results", "write_rows": "results",
    "ProbeRun": "runner", "probe_checkpoints": "runner", "score_tasks": "runner", "SCORERS": "scorers",
    "ProbeTask": "task", "TaskConfig": "task", "load_tasks": "task", "parse_task": "task", "write_tasks": "task",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'curricle.probes' has no attribute '{name}'")
    value = load(f"curricle.probes.{_WHERE[name]}:{name}")
    globals()[name] = value
    return value


__all__ = [
    "DATASETS", "SCORERS", "SCHEMA", "ContaminationReport", "ProbeConfig", "ProbeHookConfig", "ProbeItem", "ProbeLM",
    "ProbeRun", "ProbeTask",
    "SuiteConfig", "TaskConfig", "builtin_task_names", "builtin_tasks", "check_contamination", "export_lm_eval",
    "load_tasks", "parse_task", "probe_checkpoints", "read_rows", "score_tasks", "write_rows", "write_tasks",
]
