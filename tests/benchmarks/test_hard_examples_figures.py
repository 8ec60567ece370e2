"""The arithmetic behind ``benchmarks/hard_examples.py``'s estimated pruning ceiling (loaded by
path: the benchmark is a program)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.benchmarks.conftest import benchmark_module


@pytest.fixture(scope="module")
def bench():
    with benchmark_module("hard_examples.py", "bench_hard_examples") as module:
        yield module


def test_the_composite_bound_takes_an_arms_prose_and_the_full_datas_boilerplate(bench):
    # 6 scored documents, 3 prose and 3 boilerplate. Prose loses 1 + 2 / sqrt(b) at b x T of the
    # full data, boilerplate 0.5 at every budget: the view's mean is an exact power law in b.
    prose = np.array([True, False, True, False, True, False])
    es = {"web": {"test": np.ones(6, dtype=bool)}}
    seeds = [0, 1]

    def docs(b: float, boiler: float = 0.5) -> dict[str, np.ndarray]:
        return {"web": np.where(prose, 1 + 2 / np.sqrt(b), boiler)}

    losses = {(f"uniform@{b}", s): docs(b) for b in bench.BUDGETS for s in seeds}
    # "prose-at-2": prose as the full data at 2T, boilerplate lost (9.0); "at-0.7": the full data at 0.7T.
    losses.update({("prose-at-2", s): docs(2.0, boiler=9.0) for s in seeds})
    losses.update({("at-0.7", s): docs(0.7) for s in seeds})
    out = bench.composite_bound(losses, es, seeds, ["at-0.7", "prose-at-2"], prose)
    # The best composite is prose-at-2's prose with the full data's boilerplate: the full data at 2T.
    assert out["source"] == "prose-at-2"
    assert out["speedup"] == pytest.approx(2.0, abs=0.005)  # (the fitted power law's precision)
    assert out["ci"][0] <= out["speedup"] <= out["ci"][1]
    # The arms' own losses are not changed by it.
    assert losses[("prose-at-2", 0)]["web"][1] == 9.0
