"""Concurrent prepares of one data directory (runs of a sweep launched together) run one at a
time, under ``DATA/.prepare.lock``; a directory another process renamed into place first is kept."""

import fcntl
import json
import multiprocessing
import shutil
import threading
import time

from curricle.config import parse_config
from curricle.prepare import pipeline as prepare_mod
from curricle.prepare.command import prepare_run
from curricle.store.snapshot import read_snapshot

A_DOCS = [f"alpha document number {i} says hello to the world of tokens." for i in range(20)]
B_DOCS = [f"def f{i}(x):\n    return x * {i} + {i * 7}\n" for i in range(20)]
LOCK = ".prepare.lock"  # the name the docs give (pipeline.LOCK_FILE)


def write_corpus(root):
    for name, texts in (("a", A_DOCS), ("b", B_DOCS)):
        lines = [json.dumps({"text": t, "id": f"{name}-{i}"}) for i, t in enumerate(texts)]
        (root / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


def config_data(root, data_dir):
    return {"data_dir": str(root / data_dir),
            "sources": [{"kind": "jsonl", "path": str(root / "a.jsonl"), "domain": "prose"},
                        {"kind": "jsonl", "path": str(root / "b.jsonl"), "domain": "code"}],
            "tokenizer": {"vocab_size": 300}, "prepare": {"heldout_fraction": 0.1}}


def wait_until(done, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.01)


def flock_telling(waiting, real):
    """``fcntl.flock`` that sets ``waiting`` as it goes to wait for a prepare lock."""
    def flock(f, op):
        if not op & fcntl.LOCK_NB and str(getattr(f, "name", "")).endswith(LOCK):
            waiting.set()
        return real(f, op)

    return flock


def _prepare_meeting(data, me, other, results):
    """One child process's prepare, made to meet the other's: before it writes a domain it waits
    until the other has come as far, is waiting for a lock, or has ended. Without a lock both
    have then found the domain's directory missing and both write it, the race of two sweep runs
    (the second rename used to fail: ``Directory not empty``); with it, nothing waits on the
    lock's holder, so the meeting never deadlocks."""
    real_write = prepare_mod._write_domain

    def write_domain(*args, **kw):
        me["arrived"].set()
        wait_until(lambda: any(e.is_set() for e in other.values()), "the other prepare")
        return real_write(*args, **kw)

    fcntl.flock = flock_telling(me["waiting"], fcntl.flock)  # this process's own modules: it ends with the prepare
    prepare_mod._write_domain = write_domain
    try:
        results.put(prepare_run(parse_config(data), progress=False).did_work)
    finally:
        me["ended"].set()


def test_two_processes_preparing_one_data_dir_at_once_both_succeed_one_after_the_other(tmp_path):
    write_corpus(tmp_path)
    prepare_run(parse_config(config_data(tmp_path, "single")), progress=False)
    ctx = multiprocessing.get_context("spawn")
    events = [{k: ctx.Event() for k in ("arrived", "waiting", "ended")} for _ in range(2)]
    results = ctx.Queue()
    data = config_data(tmp_path, "data")
    procs = [ctx.Process(target=_prepare_meeting, args=(data, events[i], events[1 - i], results)) for i in range(2)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=300)
        assert [p.exitcode for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    # One wrote the store, the other waited and found it up to date.
    assert sorted(results.get(timeout=10) for _ in procs) == [False, True]
    assert (tmp_path / "data" / "manifest.json").read_text() == (tmp_path / "single" / "manifest.json").read_text()
    assert read_snapshot(tmp_path / "data")["id"] == read_snapshot(tmp_path / "single")["id"]
    assert not list((tmp_path / "data").rglob("*.tmp"))


def test_a_prepare_writes_nothing_until_the_lock_is_released(tmp_path, monkeypatch, caplog):
    write_corpus(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    waiting = threading.Event()
    real_flock = fcntl.flock
    monkeypatch.setattr(fcntl, "flock", flock_telling(waiting, real_flock))
    reports = []
    thread = threading.Thread(target=lambda: reports.append(
        prepare_run(parse_config(config_data(tmp_path, "data")), progress=False)))
    with caplog.at_level("INFO", logger="curricle.prepare.pipeline"):
        with open(data_dir / LOCK, "a") as held:  # another prepare, as far as this one can tell
            real_flock(held, fcntl.LOCK_EX)
            thread.start()
            wait_until(lambda: waiting.is_set() or not thread.is_alive(), "the prepare to wait or end")
            time.sleep(0.2)  # it stays waiting
            assert thread.is_alive() and [p.name for p in data_dir.iterdir()] == [LOCK]
        thread.join(timeout=120)
    assert reports and reports[0].did_work and (data_dir / "manifest.json").is_file()
    assert "another prepare of" in caplog.text


def test_a_domain_directory_renamed_into_place_first_by_another_process_is_kept(tmp_path, monkeypatch):
    """A process that takes no lock (an older curricle) finishing the same content-addressed
    domain directory while this one writes it: its copy is kept, ours dropped."""
    write_corpus(tmp_path)
    prepare_run(parse_config(config_data(tmp_path, "other")), progress=False)
    real = prepare_mod._write_domain

    def write_domain(domain, spool, pcfg, final, *args, **kw):
        shutil.copytree(tmp_path / "other" / "store" / final.name, final)  # it renames first
        return real(domain, spool, pcfg, final, *args, **kw)

    monkeypatch.setattr(prepare_mod, "_write_domain", write_domain)
    report = prepare_run(parse_config(config_data(tmp_path, "data")), progress=False)
    assert report.did_work
    assert (tmp_path / "data" / "manifest.json").read_text() == (tmp_path / "other" / "manifest.json").read_text()
    assert not list((tmp_path / "data").rglob("*.tmp"))
