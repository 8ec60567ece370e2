"""``benchmarks/common.py``'s worker initializer: a benchmark killed outright leaves no worker
computing on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_benchmark():
    parent = textwrap.dedent(f"""
        import sys, time
        from concurrent.futures import ProcessPoolExecutor
        sys.path.insert(0, {str(BENCHMARKS)!r})
        from common import die_with_parent
        import os
        if __name__ == "__main__":
            with ProcessPoolExecutor(max_workers=1, initializer=die_with_parent) as pool:
                print(pool.submit(os.getpid).result(), flush=True)
                pool.submit(time.sleep, 60)
                time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    worker = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        # A dead worker not yet reaped by init shows as a zombie: gone for our purposes.
        try:
            if Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
                return
        except OSError:
            return
        time.sleep(0.05)
    pytest.fail(f"worker {worker} outlived its killed parent")
