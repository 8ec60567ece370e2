"""Torch's CPU threads, and other work competing with them for the cores.

On a CPU, torch runs each operation over ``torch.get_num_threads()`` threads (one per core by
default) that spin-wait for each other at the end of every operation. When another CPU-bound
process holds one of the cores, every operation waits for a thread the scheduler has put aside,
and a small model, whose operations are tiny, slows down by an order of magnitude rather than
by the share of the CPU it lost. Measured on this project's 2-core machine with the demo's
model (300 steps of 16 x 64 tokens, median tokens/s of the training step):

====================================  =====================  =========================
torch threads                         idle machine           one busy loop beside it
====================================  =====================  =========================
2 (torch's default)                   20,200                 840 (24x slower)
2, ``OMP_WAIT_POLICY=PASSIVE``        10,900                 9,200
1                                     9,000-12,000           12,100
====================================  =====================  =========================

So the default is right for a machine the run has to itself, and ``train.threads: 1`` (or
``OMP_NUM_THREADS=1``) is right beside other work on two cores. The thread count is not chosen
behind the user's back: floating-point sums depend on it, so the same seed gives the same
losses only at the same thread count. Instead, :func:`contention` looks, when a run starts,
for other processes running on the CPU, and the trainer says so in one warning and an event.
``CURRICLE_CPU_CHECK=off`` in the environment skips the look (the test suite sets it, so a
busy test machine does not add events to logs whose contents the tests check).
"""

from __future__ import annotations

import os
import statistics
import time


def running_elsewhere(samples: int = 9, interval_s: float = 0.01) -> int:
    """How many other threads were running or ready to run, the median of ``samples`` looks at
    ``/proc/loadavg`` ``interval_s`` apart (its fourth field counts the runnable threads of the
    whole machine, this one included). 0 where there is no ``/proc`` (not Linux)."""
    if os.environ.get("CURRICLE_CPU_CHECK", "").lower() == "off":
        return 0
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as fh:
                runnable = int(fh.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, runnable - 1))  # this thread, reading the file, is one of them
        if i + 1 < samples:
            time.sleep(interval_s)
    return int(statistics.median(counts))


def contention(threads: int, cores: int | None = None, others: int | None = None) -> dict | None:
    """``{threads, cores, others}`` when ``threads`` torch threads plus the other runnable
    threads need more cores than the machine has (the case the module docstring measures);
    None otherwise."""
    cores = cores or os.cpu_count() or 1
    others = running_elsewhere() if others is None else others
    if threads > 1 and threads + others > cores:
        return {"threads": threads, "cores": cores, "others": others}
    return None


def contention_message(found: dict) -> str:
    return (f"{found['others']} other thread(s) are running on this {found['cores']}-core CPU beside torch's "
            f"{found['threads']}: torch's threads spin-wait for each other, and a small model can train 10-25x "
            f"slower than on an idle machine; stop the other work, or set train.threads: "
            f"{max(1, found['cores'] - found['others'])} (or OMP_NUM_THREADS) for this run")
