"""Weights & Biases (optional: ``pip install wandb``; offline mode works without network).

One W&B run for the curricle run, however often it was killed: the first start records the W&B
run's id and project in ``RUN/trackers.json``, and ``--resume`` continues that run
(``wandb.init(id=..., resume="must")``, in the recorded project). ``must``, not ``allow``:
curricle made that run, so a resume that cannot find it (another W&B entity, the run deleted, or
started offline and resumed online before ``wandb sync``) fails instead of starting a second
one; and it is the mode wandb is to keep offline too (wandb PR 12110: there ``allow`` raises).
A resume of a run whose first start did not log to W&B starts a W&B run then; a fresh start
(no ``--resume``) always starts a new one. Offline, each start leaves its own directory under
``RUN/wandb``, with the same run id; ``wandb beta sync RUN/wandb`` sends a run's directories in
the order they started (wandb 0.31).

W&B keeps one value a step and drops (with a warning) a step below the last it has. A run killed
after its last checkpoint may have logged steps past it; on resume those keep the values the
killed run logged, and the resumed run writes from W&B's next step on (``run.step``), so online no step
is sent twice. Those values are the uninterrupted run's (a resume trains the same steps again),
wall-clock ones (``tokens_per_s``) aside; ``metrics.jsonl`` and TensorBoard hold the resumed
run's. W&B's rewind (``resume_from="ID?_step=N"``), which would drop them, is in beta: not used.
Offline, ``run.step`` is 0 at a resume (wandb 0.31.0), so those steps are written again into the
new start's directory and W&B drops them at ``sync`` instead, as steps below its last.
"""

from __future__ import annotations

import logging

from curricle.extras import require
from curricle.telemetry.sinks.base import MetricsSink, record_tracker_run, run_name, scalars, tracker_run

log = logging.getLogger(__name__)


class WandbSink(MetricsSink):
    def __init__(self, run_dir, start_step, config):
        super().__init__(run_dir, start_step, config)
        wandb = require("wandb", "telemetry.wandb")
        kept = tracker_run(self.run_dir, "wandb") if start_step else None
        common = dict(name=run_name(self.run_dir, config), dir=str(self.run_dir), mode=config.wandb_mode)
        if kept is None:
            self.run = wandb.init(project=config.project, **common)
            record_tracker_run(self.run_dir, "wandb", {"id": self.run.id, "project": config.project})
            self.next_step = 0
            return
        if kept["project"] != config.project:
            log.warning("telemetry.project is now %s, but this run's W&B run %s is in %s: it continues there",
                        config.project, kept["id"], kept["project"])
        self.run = wandb.init(project=kept["project"], id=kept["id"], resume="must", **common)
        # The first step W&B takes: the steps below it were logged before the kill.
        self.next_step = self.run.step
        if self.next_step > start_step + 1:
            log.info("W&B run %s has steps up to %d from before the kill; this run logs from step %d",
                     kept["id"], self.next_step - 1, self.next_step)

    def write(self, step, metrics):
        if step >= self.next_step:
            self.run.log(scalars(metrics), step=step)

    def close(self):
        self.run.finish()
