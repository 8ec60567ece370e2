"""The forgetting matrix and the continual-learning statistics read from it.

``R[i, j]`` is the held-out score of task ``j`` after stage ``i`` (its discrete metric at the
evaluation that ended the stage; the last row at the end of training); ``b[j]`` is the score
of the model before any fine-tuning. A task is *learned at* the first stage that trains it.
With ``T`` the last stage (Lopez-Paz & Ranzato 2017; Chaudhry et al. 2018):

- ``ACC = mean_j R[T, j]`` over the trained tasks;
- ``BWT = mean_{j learned before T} (R[T, j] - R[l(j), j])``: how much later stages changed
  what earlier ones taught (negative: forgetting);
- ``FWT = mean_{j learned after stage 0} (R[l(j) - 1, j] - b[j])``: what earlier stages
  taught a task before it was trained;
- forgetting of task ``j``: ``max_{l(j) <= k < T} R[k, j] - R[T, j]``, and its mean over the
  tasks learned before ``T``.

Tasks no stage trains (pretraining probes, held-out skills) get ``R[T, j] - b[j]``, the
change fine-tuning made to them (``change_from_baseline``). Statistics that have no term
(one stage: no BWT) are None.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def learned_at(stage_tasks: Sequence[Sequence[str]], tasks: Sequence[str]) -> dict[str, int | None]:
    """The first stage that trains each task (None: none does)."""
    out: dict[str, int | None] = {t: None for t in tasks}
    for i, names in enumerate(stage_tasks):
        for t in names:
            if t in out and out[t] is None:
                out[t] = i
    return out


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def transfer_stats(R: np.ndarray, baseline: np.ndarray | None, tasks: Sequence[str],
                   learned: dict[str, int | None]) -> dict[str, Any]:
    """ACC, BWT, FWT and forgetting of a ``(stages, tasks)`` score matrix (see the module doc)."""
    R = np.asarray(R, dtype=np.float64)
    T = R.shape[0] - 1
    trained = [j for j, t in enumerate(tasks) if learned.get(t) is not None]
    earlier = [j for j in trained if learned[tasks[j]] < T]
    bwt = [R[T, j] - R[learned[tasks[j]], j] for j in earlier]
    forgetting = {tasks[j]: float(R[learned[tasks[j]]:T, j].max() - R[T, j]) for j in earlier}
    fwt = []
    if baseline is not None:
        fwt = [R[learned[tasks[j]] - 1, j] - baseline[j] for j in trained if learned[tasks[j]] > 0]
    out: dict[str, Any] = {
        "acc": _mean([R[T, j] for j in trained]),
        "bwt": _mean(bwt),
        "fwt": _mean(fwt) if baseline is not None else None,
        "forgetting": forgetting,
        "mean_forgetting": _mean(list(forgetting.values())),
    }
    if baseline is not None:
        out["change_from_baseline"] = {t: float(R[T, j] - baseline[j]) for j, t in enumerate(tasks)
                                       if learned.get(t) is None}
    return out


def forgetting_report(stage_names: Sequence[str], stage_tasks: Sequence[Sequence[str]], tasks: Sequence[str],
                      rows: Sequence[dict[str, float]], baseline: dict[str, float] | None,
                      steps: Sequence[int] = ()) -> dict[str, Any]:
    """The matrix of ``rows`` (one ``{task: score}`` per finished stage, in order) with its
    statistics, as written to ``RUN/forgetting.json``."""
    R = np.array([[row.get(t, np.nan) for t in tasks] for row in rows], dtype=np.float64)
    base = np.array([baseline.get(t, np.nan) for t in tasks]) if baseline is not None else None
    learned = learned_at(stage_tasks[: len(rows)], tasks)
    out: dict[str, Any] = {
        "tasks": list(tasks), "stages": list(stage_names[: len(rows)]), "steps": list(steps),
        "R": R.tolist(), "baseline": base.tolist() if base is not None else None,
        "learned_at": learned,
    }
    if len(rows):
        out.update(transfer_stats(R, base, tasks, learned))
    return out
