"""``schedule``: the static / phased schedule of ``mixture.schedule`` (no adaptation).

Every run has a controller; this one never overrides the schedule, so scheduled and adaptive
runs go through the same path (hook, audit log, checkpointed state).
"""

from __future__ import annotations

from curricle.controllers.base import Controller


class ScheduleController(Controller):
    name = "schedule"

    def propose(self, step, signal, current):
        return None
