"""Built-in code: the ``.py`` files of the running interpreter's standard library.

Needs no download and is the same on every run with the same Python: files are listed in
sorted relative-path order, test suites (``test/``, ``tests/``, ``idle_test/``, ``test_*.py``),
``site-packages``, the build ``config-*`` directory and the generated, machine-specific
``_sysconfigdata_*.py`` left out. Files over
``max_file_bytes`` are skipped as ``too-large``, empty ones as ``empty-text``, ones that do
not decode as ``undecodable``.
"""

from __future__ import annotations

import fnmatch
import os
import platform
import sysconfig
import tokenize
from pathlib import Path
from typing import Any, Iterator

from curricle.errors import CurricleError
from curricle.sources.base import Document, Source
from curricle.sources.config import PythonCodeConfig

#: Directory names never descended into: test suites and third-party packages.
EXCLUDED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})


def stdlib_root() -> Path:
    """The directory of the running interpreter's pure-Python standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_py_files(include: list[str] | None = None) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` of the standard library's non-test ``.py`` files,
    sorted by relative path; only those matching one of ``include`` (fnmatch) if given."""
    root = stdlib_root()
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Pruning in place keeps os.walk out of the excluded trees entirely.
        at_top = dirpath == str(root)
        dirnames[:] = [
            d for d in dirnames if d not in EXCLUDED_DIRS and not (at_top and d.startswith("config-"))
        ]
        for fn in filenames:
            if not fn.endswith(".py") or fn.startswith(("test_", "_sysconfigdata_")):
                continue
            path = Path(dirpath, fn)
            rel = path.relative_to(root).as_posix()
            if include is None or any(fnmatch.fnmatchcase(rel, pat) for pat in include):
                out.append((rel, path))
    out.sort()
    return out


def read_python_source(data: bytes) -> str:
    """Decode Python source bytes by their coding cookie (PEP 263), UTF-8 by default.

    Raises ``SyntaxError`` / ``UnicodeDecodeError`` / ``LookupError`` when it cannot.
    """
    encoding, _ = tokenize.detect_encoding(iter(data.splitlines(keepends=True)).__next__)
    return data.decode(encoding)


class PythonCodeSource(Source):
    """Documents that are the standard library's source files; id: the relative path."""

    config: PythonCodeConfig

    def describe(self) -> str:
        if self.config.include:
            return f"python-code stdlib {','.join(self.config.include)}"
        return "python-code stdlib"

    def fingerprint(self) -> dict[str, Any]:
        # The content is whatever this interpreter ships: a different Python, different data.
        return {**super().fingerprint(), "python": platform.python_version()}

    def _iter(self) -> Iterator[Document]:
        files = stdlib_py_files(self.config.include)
        if not files:
            raise CurricleError(
                f"source '{self.describe()}': no such file or directory: {stdlib_root()}/"
                f"{','.join(self.config.include or ['**/*.py'])}"
            )
        for rel, path in files:
            where = str(path)
            if path.stat().st_size > self.config.max_file_bytes:
                self.stats.skip("too-large", where)
                continue
            try:
                text = read_python_source(path.read_bytes())
            except (SyntaxError, UnicodeDecodeError, LookupError):
                self.stats.skip("undecodable", where)
                continue
            if not text.strip():
                self.stats.skip("empty-text", where)
                continue
            yield Document(id=rel, text=text, domain=self.config.domain, meta={"source": where})
