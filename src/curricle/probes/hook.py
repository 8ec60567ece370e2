"""In-loop probing: score the live model on probe tasks every ``every`` steps.

Configured in the run config under ``train.probe``; ``curricle train`` adds a
:class:`ProbeHook` when the block is present. Under DDP every rank scores the tasks on its
replica (so no rank waits in a collective while rank 0 probes) and rank 0 writes the results;
FSDP runs probe their checkpoints afterwards. Each probe appends one row per
task to ``RUN/probes.jsonl`` (the same schema as ``curricle probe``, with ``checkpoint``
null) and adds ``probe/<task>/<metric>`` scalars to the step's metrics, so they reach
``metrics.jsonl`` and TensorBoard. A resumed run drops rows after its checkpoint's step.
It runs before the controller: every rank publishes the scores in ``TrainState.probes``
(:class:`~curricle.controllers.base.ProbeSignal`, with standard errors and the step), where a
controller that reads probes finds them the same step. A run is probed at its last step, also
one a later hook ends early (``on_stop``: a controller's targets met, a plateau).

Cost: a probe is a few forward passes per item with no gradients, paid once every
``every`` steps; the log line after each probe says how long it took, ``probe/tokens`` how
many tokens the model read for it (they count in the run's ``eval_tokens``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from curricle.controllers.base import ProbeSignal
from curricle.probes.builtin import builtin_tasks
from curricle.probes.config import ProbeHookConfig
from curricle.probes.lm import ProbeLM
from curricle.probes.results import append_rows, read_run_rows, write_rows
from curricle.probes.runner import make_row, score_tasks
from curricle.probes.scorers import SCORERS
from curricle.probes.task import check_unique, load_tasks
from curricle.train.hooks import Hook, TrainState

log = logging.getLogger(__name__)

PROBES_FILE = "probes.jsonl"


def probe_signal(task, score, step: int) -> ProbeSignal:
    """A controller's view of ``task``'s ``score`` at ``step``."""
    scorer = SCORERS[task.output_type]
    disc, cont = scorer.discrete, scorer.continuous_metric(task)
    m = score.metrics
    return ProbeSignal(task=task.name, skill=task.skill, family=task.family, level=task.level,
                       level_index=task.level_index, metric=disc, score=float(m[disc]),
                       stderr=float(m.get(f"{disc}_se", float("nan"))), chance=scorer.chance(task).get(disc),
                       continuous=cont, continuous_score=float(m[cont]),
                       continuous_stderr=float(m.get(f"{cont}_se", float("nan"))), step=step, n=score.n,
                       in_sample=bool(task.in_sample))


class ProbeHook(Hook):
    """Scores the model on the configured tasks every ``every`` steps (every rank; rank 0 writes).

    ``data_dir`` is the run's token store (text probes and generator seeds read it);
    ``tokenizer`` the one the model was trained with (default: the run's).
    """

    def __init__(self, config: ProbeHookConfig, data_dir: Path | str, tokenizer: Any = None):
        self.config = config
        self.data_dir = Path(data_dir)
        self.tokenizer = tokenizer
        self.tasks: list = []
        self.lm = None

    def on_resume(self, state: TrainState, checkpoint: Path) -> None:
        path = state.run_dir / PROBES_FILE
        if state.is_main and path.exists():  # forget probes of steps the checkpoint has not seen
            rows, dropped = read_run_rows(path)  # a run killed mid-append ends in half a line
            if dropped:
                log.warning("%s: dropped a half-written last line (the run was killed while writing it)", path)
            write_rows(path, [r for r in rows if (r.get("step") or 0) <= state.step])

    def on_train_start(self, state: TrainState) -> None:
        tasks = builtin_tasks(self.config.suite, data_dir=self.data_dir) if self.config.suite is not None else []
        for path in self.config.task_files:
            tasks += load_tasks(path, data_dir=self.data_dir)
        self.tasks = check_unique(tasks)
        self.lm = ProbeLM(state.model, self.tokenizer or state.tokenizer, batch_size=self.config.batch_size)
        self.path = state.run_dir / PROBES_FILE
        if state.step == 0 and state.is_main:
            self.path.unlink(missing_ok=True)

    def on_step_end(self, state: TrainState, batch, metrics: dict[str, Any]) -> None:
        if self.tasks and (state.step % self.config.every == 0 or state.step == state.total_steps):
            self._probe(state, metrics)

    def on_stop(self, state: TrainState, batch, metrics: dict[str, Any]) -> None:
        # A later hook (a controller, a plateau) ended the run after this step's probe point: the
        # last step is probed as a run that reaches its length is, unless it was already.
        if self.tasks and state.probes_step != state.step:
            self._probe(state, metrics)

    def _probe(self, state: TrainState, metrics: dict[str, Any]) -> None:
        step = state.step
        t0 = time.perf_counter()
        read = self.lm.tokens_read
        model = state.model
        was_training = model.training
        model.eval()
        try:
            if state.autocast:
                with state.autocast():
                    scored = score_tasks(self.lm, self.tasks)
            else:
                scored = score_tasks(self.lm, self.tasks)
        finally:
            if was_training:
                model.train()
        tokens = (self.lm.tokens_read - read) * state.world_size
        state.eval_tokens += tokens
        state.probes = {task.name: probe_signal(task, scored[task.name][0], step) for task in self.tasks}
        state.probes_step = step
        if not state.is_main:
            return
        metrics["probe/tokens"] = tokens
        rows = []
        for task in self.tasks:
            score, seconds = scored[task.name]
            rows.append(make_row(task, score.metrics, score.n, seconds, run=state.run_dir, checkpoint=None,
                                 step=step, tokens=state.tokens))
            scorer = SCORERS[task.output_type]
            for name in (scorer.discrete, scorer.continuous_metric(task)):
                metrics[f"probe/{task.name}/{name}"] = score.metrics[name]
        append_rows(self.path, rows)
        metrics["probe/seconds"] = time.perf_counter() - t0
        log.info("step %d: probed %d tasks in %.1fs", step, len(self.tasks), metrics["probe/seconds"])
