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


def test_seeds_and_parts_of_a_benchmark_made_of_parts():
    import argparse

    sys.path.insert(0, str(BENCHMARKS))
    from common import add_parts_arguments, parts_variant, seeds_and_parts

    parts = ("a", "b", "c")

    def parse(*argv):
        parser = argparse.ArgumentParser(prog="bench")
        add_parts_arguments(parser, parts, [0, 1, 2], "runs/x")
        args = parser.parse_args(list(argv))
        return seeds_and_parts(parser, args, parts, reserved=(1000, "the pilot")), args

    (seeds, chosen), args = parse()
    assert (seeds, chosen, args.out, args.jobs) == ([0, 1, 2], ["a", "b", "c"], Path("runs/x"), 2)
    assert parts_variant(chosen, parts, seeds, [0, 1, 2]) is None
    (seeds, chosen), _ = parse("--seeds", "3, 4,5,6", "--parts", "c,a")
    assert (seeds, chosen) == ([3, 4, 5, 6], ["c", "a"])
    assert parts_variant(chosen, parts, seeds, [0, 1, 2]) == "c+a.seeds-4"
    assert parts_variant(list(parts), parts, seeds, [0, 1, 2]) == "all.seeds-4"
    for argv, message in [(("--seeds", "0,1"), "--seeds: at least 3 seeds"),
                          (("--seeds", "0,x,2"), "--seeds: expected comma-separated integers, got '0,x,2'"),
                          (("--seeds", "0,1,1000"), "--seeds: seed 1000 is the pilot's own; pick others"),
                          (("--parts", "a,d"), "--parts: unknown part 'd' (known: a, b, c)")]:
        with pytest.raises(SystemExit):
            parse(*argv)
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import argparse, sys
            sys.path.insert(0, {str(BENCHMARKS)!r})
            from common import add_parts_arguments, seeds_and_parts
            p = argparse.ArgumentParser(prog="bench")
            add_parts_arguments(p, ("a", "b", "c"), [0, 1, 2], "runs/x")
            seeds_and_parts(p, p.parse_args({list(argv)!r}), ("a", "b", "c"), reserved=(1000, "the pilot"))
            """)], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == f"bench: error: {message}"
