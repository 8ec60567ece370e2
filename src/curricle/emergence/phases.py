"""Curriculum phases of a curricle run, from its ``config.yaml``, and where emergences fall.

A phased schedule (``mixture.schedule.kind: phases``) lists phases with ``steps``; phase ``i``
starts after the steps of the phases before it. Step ``s`` (the ``s``-th optimizer step)
belongs to the last phase whose start is below ``s``.
"""

from __future__ import annotations

from typing import Any


def run_phases(config: dict[str, Any] | None) -> list[tuple[int, str]]:
    """``[(start, name)]`` of a run config's phases (empty when it has none)."""
    schedule = ((config or {}).get("mixture") or {}).get("schedule") or {}
    phases = schedule.get("phases") or []
    out, start = [], 0
    for p in phases:
        out.append((start, str(p.get("name", f"phase{len(out)}"))))
        steps = p.get("steps")
        if steps is None:
            break
        start += int(steps)
    return out


def place(step: float | None, phases: list[tuple[int, str]]) -> dict[str, Any]:
    """Which phase ``step`` falls in, how far into it, and its distance to the nearest phase
    boundary (negative: before it)."""
    if step is None or not phases:
        return {"phase": None, "steps_into_phase": None, "nearest_boundary": None, "steps_from_boundary": None}
    current = phases[0]
    for start, name in phases:
        if start < step:
            current = (start, name)
    boundaries = phases[1:]
    out: dict[str, Any] = {"phase": current[1], "steps_into_phase": step - current[0]}
    if boundaries:
        start, name = min(boundaries, key=lambda b: abs(step - b[0]))
        out.update(nearest_boundary=name, steps_from_boundary=step - start)
    else:
        out.update(nearest_boundary=None, steps_from_boundary=None)
    return out


def phase_summary(steps: list[float], phases: list[tuple[int, str]], last_step: int) -> list[dict[str, Any]]:
    """Per phase: emergences in it, and how many a uniform spread over steps would put there
    (its share of the steps up to ``last_step``)."""
    if not phases:
        return []
    out = []
    bounds = [s for s, _ in phases[1:]] + [last_step]
    for (start, name), end in zip(phases, bounds):
        end = min(end, last_step)
        first = start == phases[0][0]
        n = sum(1 for s in steps if (first or start < s) and s <= end)
        share = max(0, end - start) / last_step if last_step > 0 else 0.0
        out.append({"phase": name, "start": start, "end": end, "emerged": n,
                    "expected_if_uniform": round(share * len(steps), 3)})
    return out
