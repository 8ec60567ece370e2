"""``benchmarks/common.py``: its worker initializer (a benchmark killed outright leaves no worker
computing on), its parts and seeds, the count of the runs a result read by the commit that
trained them and of the cached products (not runs) by the commit that made them (with
``finish``'s warning of other code's), and the code record of the token stores they prepare."""

from __future__ import annotations

import json
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


HEAD, OTHER = "a" * 40, "b" * 40


def code(commit: str | None, dirty: bool | None = False) -> dict:
    return {"version": "0.1.0", "commit": commit, "dirty": dirty}


def run_dir(root: Path, name: str, info: dict | None) -> Path:
    """A run directory with ``info`` as its run.json (None: no run.json)."""
    d = root / name
    d.mkdir()
    if info is not None:
        (d / "run.json").write_text(json.dumps({"kind": "rl", "schema": 1, "config_hash": "x",
                                                "curricle_version": "0.1.0", **info}))
    return d


def test_cached_provenance_counts_the_runs_by_the_commit_that_trained_them(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    from common import cached_provenance

    by_head = run_dir(tmp_path, "head", {"code": code(HEAD)})
    by_other = run_dir(tmp_path, "other", {"code": code(OTHER)})
    before_code = run_dir(tmp_path, "before-code", {})  # written before run.json recorded its code
    assert cached_provenance([by_head, by_other, before_code], head=HEAD) == {
        HEAD: 1, OTHER: 1, "unknown": 1, "other_than_head": 2}
    # Each directory once; no run.json, unreadable, or a null commit: unknown; no HEAD: every run is other.
    no_file = run_dir(tmp_path, "no-file", None)
    broken = run_dir(tmp_path, "broken", None)
    (broken / "run.json").write_text('{"kind": "rl", "sch')
    not_git = run_dir(tmp_path, "not-git", {"code": code(None, None)})
    assert cached_provenance([by_head, str(by_head), no_file, broken, not_git], head=HEAD) == {
        HEAD: 1, "unknown": 3, "other_than_head": 3}
    assert cached_provenance([by_head], head=None) == {HEAD: 1, "other_than_head": 1}
    assert cached_provenance([], head=HEAD) == {"other_than_head": 0}


def test_cached_provenance_of_dirty_and_resumed_runs(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    from common import cached_provenance

    dirty = run_dir(tmp_path, "dirty", {"code": code(HEAD, True)})
    resumed_here = run_dir(tmp_path, "resumed-here", {"code": code(HEAD), "resumes": [
        {"checkpoint": "step_10", "config_changed": [], "code": code(HEAD)}]})
    across = run_dir(tmp_path, "across", {"code": code(OTHER), "resumes": [
        {"checkpoint": "step_10", "config_changed": [], "code": code(HEAD)},
        {"checkpoint": "step_20", "config_changed": [], "code": code(HEAD)}]})
    resumed_by_old = run_dir(tmp_path, "resumed-by-old", {"code": code(HEAD), "resumes": [
        {"checkpoint": "step_10", "config_changed": []}]})  # a curricle that did not record its code
    assert cached_provenance([dirty, resumed_here, across, resumed_by_old], head=HEAD) == {
        HEAD: 1, f"{HEAD}+dirty": 1, f"{OTHER},{HEAD}": 1, "unknown": 1, "other_than_head": 2}


def test_cached_provenance_compares_with_the_code_this_process_imported(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    from common import cached_provenance

    from pydantic import BaseModel

    from curricle.runinfo import code_record, write_run_info

    class Config(BaseModel):
        seed: int = 0

    write_run_info(tmp_path / "run", "rl", Config())
    now = code_record()
    label = f"{now['commit']}{'+dirty' if now['dirty'] else ''}" if now["commit"] else "unknown"
    assert cached_provenance([tmp_path / "run"]) == {label: 1, "other_than_head": 0 if now["commit"] else 1}


def test_finish_warns_of_runs_other_code_trained(tmp_path, capsys):
    sys.path.insert(0, str(BENCHMARKS))
    from common import finish

    finish("demo", {"cached_runs": {HEAD: 3, "other_than_head": 0}}, time.perf_counter(), quick=True,
           results_dir=tmp_path)
    assert "warning" not in capsys.readouterr().err
    cached = {HEAD: 3, OTHER: 1, "unknown": 1, "other_than_head": 2}
    path = finish("demo", {"figure": 1.0, "cached_runs": cached}, time.perf_counter(), quick=True,
                  results_dir=tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: 2 of the 5 runs this result read were trained (in part) by "
                                               "another commit than this code's or by code not on record")
    assert json.dumps(cached) in err[0]
    assert json.loads(path.read_text())["result"]["cached_runs"] == cached


def product(root: Path, name: str, record: str | dict | None) -> Path:
    """A cached product file with ``record`` beside it as its code record (a dict: ``{"code":
    record}``; a string: the record file's text; None: no record)."""
    path = root / name
    path.write_text("{}")
    if record is not None:
        text = record if isinstance(record, str) else json.dumps({"code": record})
        (root / f"{name}.code.json").write_text(text)
    return path


def test_record_code_writes_this_process_code_beside_the_product(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    from common import cached_products, made_by, record_code

    from curricle.runinfo import code_record

    pairs = tmp_path / "summary.json"
    pairs.write_text("{}")
    assert record_code(pairs) == tmp_path / "summary.json.code.json"
    assert json.loads((tmp_path / "summary.json.code.json").read_text()) == {"code": code_record()}
    store = tmp_path / "store"  # a directory's record is beside it too
    store.mkdir()
    assert record_code(store) == tmp_path / "store.code.json"
    now = code_record()
    label = f"{now['commit']}{'+dirty' if now['dirty'] else ''}" if now["commit"] else None
    assert made_by(pairs) == made_by(store) == label
    assert cached_products([pairs, store]) == ({label: 2, "other_than_head": 0} if label else
                                               {"unrecorded": 2, "other_than_head": 2})


def test_cached_products_count_by_the_commit_that_made_them(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    from common import cached_products, made_by

    by_head = product(tmp_path, "head.json", code(HEAD))
    dirty = product(tmp_path, "dirty.npz", code(HEAD, True))
    by_other = product(tmp_path, "other.json", code(OTHER))
    bare = product(tmp_path, "bare.json", None)  # made before products recorded their code
    assert (made_by(by_head), made_by(dirty), made_by(by_other), made_by(bare)) == (HEAD, f"{HEAD}+dirty", OTHER, None)
    assert cached_products([by_head, dirty, by_other, bare], head=HEAD) == {
        HEAD: 1, f"{HEAD}+dirty": 1, OTHER: 1, "unrecorded": 1, "other_than_head": 2}
    # A record that is unreadable, names no commit or is not a code record: unrecorded, as is a missing product.
    odd = [product(tmp_path, "broken.json", '{"co'), product(tmp_path, "not-git.json", code(None, None)),
           product(tmp_path, "no-code.json", "{}"), product(tmp_path, "a-list.json", "[1]"), tmp_path / "gone.json"]
    assert [made_by(p) for p in odd] == [None] * 5
    assert cached_products([by_head, str(by_head), *odd], head=HEAD) == {HEAD: 1, "unrecorded": 5,
                                                                          "other_than_head": 5}
    # A store `curricle prune` wrote has its code in its lineage.json; one pruned before that has none.
    for name, lineage in (("pruned-other", {"by": "random", "code": code(OTHER)}), ("pruned-old", {"by": "random"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "lineage.json").write_text(json.dumps(lineage))
    assert cached_products([tmp_path / "pruned-other", tmp_path / "pruned-old", by_head], head=HEAD) == {
        HEAD: 1, OTHER: 1, "unrecorded": 1, "other_than_head": 2}
    assert cached_products([by_head], head=None) == {HEAD: 1, "other_than_head": 1}
    assert cached_products([], head=HEAD) == {"other_than_head": 0}


def test_a_prepared_store_records_the_code_that_wrote_all_of_it(tmp_path):
    """``record_prepared`` records this process's code beside a store prepare wrote whole now; a
    store it reused, whole or in part, keeps the record it had, or counts as unrecorded."""
    sys.path.insert(0, str(BENCHMARKS))
    from common import cached_products, code_path, record_prepared

    from curricle.config import parse_config
    from curricle.prepare.command import prepare_run
    from curricle.runinfo import code_record
    from curricle.store import TokenStore

    def write_docs(domain: str, n: int) -> None:
        (tmp_path / f"{domain}.jsonl").write_text("".join(
            json.dumps({"id": f"{domain}-{i}", "text": f"{domain} document number {i} says hello."}) + "\n"
            for i in range(n)))

    def prepare(name: str, tokenizer: dict, heldout: float = 0.1) -> list[bool]:
        """Prepare store ``name`` (its record by ``record_prepared``); which domains were reused."""
        sources = [{"kind": "jsonl", "path": str(tmp_path / f"{d}.jsonl"), "domain": d} for d in ("code", "prose")]
        report = prepare_run(parse_config({"data_dir": str(tmp_path / name), "sources": sources, "tokenizer": tokenizer,
                                           "prepare": {"heldout_fraction": heldout}}), progress=False)
        assert record_prepared(report) == tmp_path / name
        return [d.up_to_date for d in report.domains]

    now = code_record()
    head = now["commit"] or "unknown code"
    label = f"{now['commit']}{'+dirty' if now['dirty'] else ''}" if now["commit"] else None
    mine = {label: 1, "other_than_head": 0} if label else {"unrecorded": 1, "other_than_head": 1}
    write_docs("code", 30)
    write_docs("prose", 40)

    assert prepare("first", {"vocab_size": 300}) == [False, False]  # built: recorded beside it
    assert code_path(tmp_path / "first") == tmp_path / "first.code.json"
    assert json.loads((tmp_path / "first.code.json").read_text()) == {"code": now}
    assert cached_products([tmp_path / "first"], head=head) == mine
    # A store on the first one's tokenizer (a file prepare does not make), so that one domain can be written alone.
    shared = {"kind": "pretrained", "path": str(TokenStore(tmp_path / "first").tokenizer_dir)}
    store = tmp_path / "store"
    assert prepare("store", shared) == [False, False]
    assert cached_products([store], head=head) == mine
    code_path(store).write_text(json.dumps({"code": code(OTHER)}))  # as another code left it
    assert prepare("store", shared) == [True, True]  # reused: its record stays
    assert cached_products([store], head=head) == {OTHER: 1, "other_than_head": 1}
    write_docs("prose", 41)  # one domain written now, the other reused: another code's still
    assert prepare("store", shared) == [True, False]
    assert cached_products([store], head=head) == {OTHER: 1, "other_than_head": 1}
    code_path(store).unlink()  # as a code before stores were recorded left it
    assert prepare("store", shared) == [True, True]
    assert not code_path(store).exists()
    assert cached_products([store], head=head) == {"unrecorded": 1, "other_than_head": 1}
    assert prepare("store", shared, heldout=0.2) == [False, False]  # rebuilt whole: this code's
    assert cached_products([store], head=head) == mine


def test_finish_warns_of_products_other_code_made(tmp_path, capsys):
    sys.path.insert(0, str(BENCHMARKS))
    from common import finish

    finish("demo", {"cached_products": {HEAD: 3, "other_than_head": 0}}, time.perf_counter(), quick=True,
           results_dir=tmp_path)
    assert "warning" not in capsys.readouterr().err
    products = {HEAD: 1, OTHER: 1, "unrecorded": 1, "other_than_head": 2}
    path = finish("demo", {"cached_runs": {HEAD: 2, "other_than_head": 0}, "cached_products": products},
                  time.perf_counter(), quick=True, results_dir=tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == (
        "warning: 2 of the 3 cached products this result read were made by another commit than this code's or by "
        "code not on record; their figures may not be this code's (delete them under --out to make them again): "
        + json.dumps(products))
    assert json.loads(path.read_text())["result"]["cached_products"] == products
    # Runs and products of other code: a line each.
    finish("demo", {"cached_runs": {OTHER: 1, "other_than_head": 1}, "cached_products": products},
           time.perf_counter(), quick=True, results_dir=tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" this result")[0] for line in err] == ["warning: 1 of the 1 runs",
                                                                "warning: 2 of the 3 cached products"]
