"""Torch's CPU threads and the check for other work on the cores (curricle.train.cpu)."""

import json

import torch

from curricle.train import cpu
from curricle.train.command import train_run


def test_contention_is_more_threads_than_free_cores():
    assert cpu.contention(2, cores=2, others=1) == {"threads": 2, "cores": 2, "others": 1}
    assert cpu.contention(2, cores=2, others=0) is None
    assert cpu.contention(1, cores=2, others=3) is None        # one thread waits for nobody
    assert cpu.contention(4, cores=8, others=3) is None
    assert cpu.contention(4, cores=8, others=5) == {"threads": 4, "cores": 8, "others": 5}


def test_the_message_says_how_many_threads_to_use():
    msg = cpu.contention_message({"threads": 2, "cores": 2, "others": 1})
    assert "1 other thread(s) are running on this 2-core CPU beside torch's 2" in msg
    assert msg.endswith("set train.threads: 1 (or OMP_NUM_THREADS) for this run") and "\n" not in msg


def test_running_elsewhere_reads_proc_loadavg(monkeypatch):
    monkeypatch.delenv("CURRICLE_CPU_CHECK", raising=False)  # tests/conftest.py turns it off
    reads = iter(["0.5 0.4 0.3 1/300 42", "0.5 0.4 0.3 3/300 42", "0.5 0.4 0.3 3/300 42"])
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: __import__("io").StringIO(next(reads))
                        if path == "/proc/loadavg" else real_open(path, *a, **k))
    assert cpu.running_elsewhere(samples=3, interval_s=0) == 2  # median of 0, 2, 2 others
    monkeypatch.setenv("CURRICLE_CPU_CHECK", "off")
    assert cpu.running_elsewhere(samples=3, interval_s=0) == 0


def test_threads_are_set_and_a_busy_cpu_is_an_event(tmp_path, make_config, monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr("curricle.train.loop.contention",
                        lambda threads: {"threads": threads, "cores": 2, "others": 1})
    try:
        train_run(make_config(steps=2, threads=1), tmp_path / "run", progress=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert events == [{"step": 0, "event": "cpu-contention", "threads": 1, "cores": 2, "others": 1}]
