"""``benchmarks/rl_curriculum.py --real`` (``benchmarks/rl_real.py``): its scheduler of runs
under a time budget, and the whole path end to end on a tiny GGUF model standing in for
SmolLM2's (the preset's package faked as ``tests/model`` fakes it), in this process and in a
pool of worker processes, with the fields its results file carries."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.benchmarks.conftest import benchmark_module

pytest.importorskip("gguf")
pytest.importorskip("trl")


@pytest.fixture(scope="module")
def bench():
    # Under its own name: a pool worker unpickles rl_curriculum.run_method by importing it.
    with benchmark_module("rl_curriculum.py", "rl_curriculum") as module:
        yield module


@pytest.fixture(scope="module")
def real(bench):
    import rl_real

    return rl_real


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_jobs_run_in_order_until_the_budget_would_be_passed(real):
    clock, ran = Clock(), []

    def job(name, seconds):
        ran.append(name)
        clock.t += seconds
        return name.upper()

    jobs = [(n, (n, s)) for n, s in [("a", 10), ("b", 30), ("c", 10), ("d", 10), ("e", 10)]]
    # c would start at 40 s, and the longest job so far (b, 30 s) says it would end at 70 > 60.
    done, failed, skipped = real.run_jobs(jobs, job, 1, deadline=60.0, clock=clock)
    assert ran == ["a", "b"] and done == {"a": "A", "b": "B"} and not failed and skipped == ["c", "d", "e"]
    clock.t, ran[:] = 0.0, []
    done, failed, skipped = real.run_jobs(jobs, job, 1, deadline=None, clock=clock)
    assert ran == ["a", "b", "c", "d", "e"] and not skipped and clock.t == 70


def test_a_job_that_raises_is_reported_and_the_others_go_on(real, capsys):
    def job(name):
        if name == "b":
            raise RuntimeError("CUDA out of memory")
        return name

    done, failed, skipped = real.run_jobs([(k, (k,)) for k in "abc"], job, 1)
    assert done == {"a": "a", "c": "c"} and failed == {"b": "RuntimeError: CUDA out of memory"} and not skipped
    assert "b failed:" in capsys.readouterr().err


def test_jobs_a_broken_pool_refuses_fail_one_by_one(real, capsys):
    from concurrent.futures.process import BrokenProcessPool

    class Broken:
        def submit(self, fn, *args):
            raise BrokenProcessPool("a child process terminated abruptly")

    done, failed, skipped = real.run_jobs([(k, (k,)) for k in "ab"], str, 2, executor=Broken())
    assert not done and not skipped and set(failed) == {"a", "b"}
    assert failed["a"] == "BrokenProcessPool: a child process terminated abruptly"


def test_a_pool_runs_at_most_workers_at_a_time_and_stops_at_the_budget(real):
    lock, now, most = threading.Lock(), [0], [0]

    def job(seconds):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(seconds)
        with lock:
            now[0] -= 1
        return seconds

    with ThreadPoolExecutor(max_workers=4) as pool:
        done, _, skipped = real.run_jobs([(i, (0.05,)) for i in range(6)], job, 2, executor=pool)
    assert len(done) == 6 and not skipped and most[0] == 2
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        # The first two start together; each takes 0.3 s, so no third can end within 0.4 s.
        done, _, skipped = real.run_jobs([(i, (0.3,)) for i in range(5)], job, 2, deadline=start + 0.4, executor=pool)
    assert sorted(done) == [0, 1] and skipped == [2, 3, 4]


def test_the_real_sizes_fit_their_budget(bench, real):
    """The sizes the GPU run has, written down: 3 seeds x 6 methods, 3,840 rollouts a run,
    evaluated 5 times on 8 samples of each test item (what its time estimate is made of)."""
    sizes = real.SIZES["real"]
    cfg = real.real_config("lilo", 0, [{"name": "t"}], sizes, False, bench)
    assert cfg["grpo"]["rollouts"] == 3840 and cfg["eval"]["every_rollouts"] == 960
    assert cfg["train"]["use_cpu"] is False and cfg["model"] == {"preset": real.PRESET}
    assert len(sizes["seeds"]) * len(real.REAL_METHODS) == 18
    smoke = real.real_config("uniform", 0, [{"name": "t"}], real.SIZES["smoke"], True, bench)
    assert smoke["train"]["use_cpu"] is True and smoke["grpo"]["rollouts"] == 16


@pytest.fixture
def tiny_smollm2(tmp_path, monkeypatch):
    """The preset's package, faked with a tiny GGUF long enough for the chat prompts; curricle's
    cache and the results files in ``tmp_path``."""
    import common

    from curricle.model.config import PRETRAINED
    from tests.model.conftest import write_tiny_gguf

    packaged = PRETRAINED["smollm2-135m-instruct"]
    root = tmp_path / "site"
    (root / packaged.package).mkdir(parents=True)
    write_tiny_gguf(root / packaged.package / packaged.file, context=512)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("CURRICLE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")
    return tmp_path


def read_result(tmp_path) -> dict:
    return json.loads((tmp_path / "results" / "rl_curriculum.real-smoke.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_the_real_smoke_runs_end_to_end(bench, tiny_smollm2, workers):
    bench.main(["--real", "--smoke", "--out", str(tiny_smollm2 / "runs"), "--workers", str(workers)])
    rec = read_result(tiny_smollm2)
    r = rec["result"]
    assert rec["variant"] == "real-smoke" and r["mode"] == "real-smoke" and r["seeds"] == [0] == r["seeds_planned"]
    assert r["device"] == "cpu" and r["tf32"] is False and r["workers"] == workers
    assert r["methods_planned"] == ["uniform", "greso"] == list(r["methods"]) and r["rollout_budget"] == 16
    assert r["test_items"] == {"add-1": 4, "add-2c0": 4, "add-2c1": 4, "add-3": 4, "add-4": 4}
    assert r["samples_per_item"] == 2 and r["evaluations"] == 2 and r["lr"] == 1e-6
    assert "failed_runs" not in r and "runs_not_started" not in r and r["runs_from_cache"] == 0
    assert {"speedup", "final_pass1", "wall_s"} <= set(r["methods"]["greso"])


@pytest.mark.slow
def test_a_real_run_out_of_time_writes_what_it_has(bench, tiny_smollm2):
    with pytest.raises(SystemExit) as stop:  # a budget of 0 s lets no run start
        bench.main(["--real", "--smoke", "--out", str(tiny_smollm2 / "runs"), "--seeds", "0,1", "--time-budget", "0"])
    assert stop.value.code == 1
    r = read_result(tiny_smollm2)["result"]
    assert r["seeds_planned"] == [0, 1] and r["seeds"] == [] and r["time_budget_s"] == 0
    assert r["runs_not_started"] == ["uniform/seed0", "greso/seed0", "uniform/seed1", "greso/seed1"]
    assert r["error"] == "no seed finished every method: no figures"


def test_gpu_without_a_cuda_device_is_refused(bench, tiny_smollm2):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is there")
    with pytest.raises(SystemExit, match="--gpu: torch sees no CUDA device"):
        bench.main(["--real", "--smoke", "--gpu", "--out", str(tiny_smollm2 / "runs")])


@pytest.mark.slow
def test_the_real_smoke_runs_on_the_gpu(bench, tiny_smollm2):
    """The CUDA path (TF32, two runs sharing the GPU), where there is one: the device check's first call."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    bench.main(["--real", "--smoke", "--gpu", "--out", str(tiny_smollm2 / "runs"), "--workers", "2"])
    r = read_result(tiny_smollm2)["result"]
    assert r["device"] == "cuda" and r["tf32"] is True and r["seeds"] == [0] and "failed_runs" not in r
