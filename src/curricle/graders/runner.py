"""Grading with a timeout: a grader runs in a worker process that is killed when one
completion takes longer than ``timeout_s``; that completion is ``Grade(None, "timeout")``, the
worker is started again, and grading goes on with the next one. An exception is
``Grade(None, "error: <Type>")``, a worker that dies ``Grade(None, "grader process died")``.
Nothing is ever scored 0 for failing to be graded.

The worker is ``python -m curricle.graders.runner`` (it imports curricle's graders and the
user's grader module, not torch; a fresh interpreter, so a caller's script is not re-run), is
started once and reused: a step of RL pays a pipe round trip, not a process start. Starting it
has its own, longer limit (``startup_s``). Messages are length-prefixed pickles over its stdin
and stdout.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
from collections import Counter
from typing import Any, BinaryIO, Sequence

from curricle.graders.base import Grade, build_grader, grade_all


def _send(f: BinaryIO, obj: Any) -> None:
    blob = pickle.dumps(obj)
    f.write(struct.pack("<Q", len(blob)) + blob)
    f.flush()


def _read_exact(f: BinaryIO, n: int) -> bytes:
    """``n`` bytes from an unbuffered pipe (reads may return less); EOFError at its end."""
    out = bytearray()
    while len(out) < n:
        chunk = f.read(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def _recv(f: BinaryIO) -> Any:
    (n,) = struct.unpack("<Q", _read_exact(f, 8))
    return pickle.loads(_read_exact(f, n))


def _serve() -> None:  # the worker: python -m curricle.graders.runner
    stdin, stdout = sys.stdin.buffer.raw, sys.stdout.buffer
    sys.stdout = sys.stderr  # a grader's prints must not corrupt the pipe
    grader = build_grader(_recv(stdin))
    _send(stdout, "ready")
    while True:
        try:
            job = _recv(stdin)
        except EOFError:
            return
        for item, completion in job:
            g, _ = grade_all(grader, [item], [completion])
            _send(stdout, g[0])


class GraderRunner:
    """``grade(items, completions) -> (grades, reasons)`` with ``config``'s grader, in a worker
    process when ``timeout_s`` is set (in this one otherwise)."""

    def __init__(self, config: Any, timeout_s: float | None = 10.0, startup_s: float = 120.0):
        self.config = config
        self.timeout_s = timeout_s
        self.startup_s = startup_s
        self._grader = build_grader(config)  # here too: checks the config (imports a python grader) at once
        self._proc: subprocess.Popen | None = None

    def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        # Unbuffered, so select() on its stdout sees every byte not yet read.
        self._proc = subprocess.Popen([sys.executable, "-m", "curricle.graders.runner"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, env=env, bufsize=0)
        _send(self._proc.stdin, self.config)
        # Starting (imports, a user's module) is not a completion's time: wait for it apart.
        if not self._ready(self.startup_s):
            self._kill()
            raise TimeoutError
        try:
            _recv(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            self._kill()
            raise TimeoutError from None

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def close(self) -> None:
        if self._proc is not None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def _ready(self, timeout: float) -> bool:
        r, _, _ = select.select([self._proc.stdout], [], [], timeout)
        return bool(r)

    def grade(self, items: Sequence[Any], completions: Sequence[str]) -> tuple[list[Grade], Counter]:
        if self.timeout_s is None:
            return grade_all(self._grader, items, completions)
        grades: list[Grade] = []
        todo = list(zip(items, completions, strict=True))
        while todo:
            if self._proc is None or self._proc.poll() is not None:
                try:
                    self._start()
                except TimeoutError:
                    grades += [Grade(None, "grader did not start")] * len(todo)
                    break
            died = False
            try:
                _send(self._proc.stdin, todo)
            except (BrokenPipeError, OSError):
                died = True
            done = 0
            while not died and done < len(todo):
                if not self._ready(self.timeout_s):
                    break
                try:
                    grades.append(_recv(self._proc.stdout))
                except (EOFError, OSError, pickle.UnpicklingError):
                    died = True
                    break
                done += 1
            if done == len(todo):
                break
            # The worker hung (or died) on todo[done]: that one is ungraded; go on after it.
            self._kill()
            grades.append(Grade(None, "grader process died" if died else "timeout"))
            todo = todo[done + 1:]
        reasons = Counter(g.reason or "ungraded" for g in grades if g.score is None)
        return grades, reasons

    def __del__(self):  # pragma: no cover - best effort at interpreter exit
        try:
            self._kill()
        except Exception:
            pass


if __name__ == "__main__":
    _serve()
