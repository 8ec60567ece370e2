"""The benchmarks are programs, not part of the package: their tests load them by path."""

from __future__ import annotations

import importlib.util
import sys
from contextlib import contextmanager
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# The programs import their shared scaffolding as ``common`` (run as scripts, their own folder
# is on the path).
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))


@contextmanager
def benchmark_module(file: str, name: str):
    """``benchmarks/<file>`` imported as module ``name`` for the duration (registered in
    ``sys.modules``: dataclasses look their module up by name)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]
