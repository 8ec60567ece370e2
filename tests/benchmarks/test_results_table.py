"""The README's performance table is rendered from ``benchmarks/results/``, every benchmark has
a results file with its provenance, and ``common.finish`` writes one (docs are code: a figure
in the table says which commit and machine produced it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.benchmarks.conftest import BENCHMARKS, benchmark_module

README = BENCHMARKS.parent / "README.md"
RESULTS = BENCHMARKS / "results"
# Not benchmarks: the shared helpers, the table's renderer, and rl_real (the real model and tasks
# that `rl_curriculum.py --real` reads; its figures go to rl_curriculum's results files).
PROGRAMS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem not in ("common", "render_tables", "rl_real"))
COMMIT = re.compile(r"[0-9a-f]{40}(\+dirty)?")


@pytest.fixture(scope="module")
def render():
    with benchmark_module("render_tables.py", "bench_render_tables") as module:
        yield module


@pytest.fixture(scope="module")
def common():
    with benchmark_module("common.py", "bench_common") as module:
        yield module


def test_the_readme_table_is_what_the_results_files_render(render):
    readme = README.read_text(encoding="utf-8")
    rendered = render.replace_table(readme, render.render())
    assert rendered == readme, ("README.md's performance table differs from benchmarks/results/: "
                                "run `python benchmarks/render_tables.py` (or see `--check`)")


def test_every_benchmark_program_has_a_results_file_and_rows(render):
    assert PROGRAMS, "no benchmark programs found"
    missing = [p for p in PROGRAMS if not (RESULTS / f"{p}.json").is_file() and not (RESULTS / f"{p}.full.json").is_file()]
    assert missing == [], f"no results file for {missing}"
    assert sorted(render.ROWS) == PROGRAMS, "render_tables.ROWS must have one entry per benchmark program"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_results_files_have_the_required_fields(path, common):
    rec = json.loads(path.read_text(encoding="utf-8"))
    for key in ("benchmark", "mode", "variant", "commit", "date", "machine", "wall_s", "argv", "result"):
        assert key in rec, f"{path.name} lacks {key!r}"
    assert rec["benchmark"] in PROGRAMS
    assert rec["mode"] in ("quick", "full")
    # The file's name is where finish() would have written this run.
    assert path == common.results_path(rec["benchmark"], rec["mode"] == "quick", rec["variant"], RESULTS)
    assert isinstance(rec["commit"], str) and COMMIT.fullmatch(rec["commit"]), rec["commit"]
    assert datetime.fromisoformat(rec["date"]).utcoffset() is not None, "date must carry its time zone (UTC)"
    m = rec["machine"]
    for key in ("cpu", "cores", "torch_threads", "gpu"):
        assert key in m, f"{path.name}: machine lacks {key!r}"
    assert isinstance(m["cores"], int) and m["cores"] > 0
    if m["cpu"] is None:
        assert m.get("note"), f"{path.name}: an unrecorded machine says so in machine.note"
    assert rec["wall_s"] is None or rec["wall_s"] >= 0
    assert isinstance(rec["argv"], list) and all(isinstance(a, str) for a in rec["argv"])
    assert isinstance(rec["result"], dict) and rec["result"]
    # Seeded files say where their figures came from; finish() writes neither key.
    assert not ("reconstructed_from" in rec and "recorded_in" in rec)


def test_finish_prints_the_line_last_and_writes_its_file(common, render, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/demo.py", "--quick", "--seeds", "0,1"])
    result = {"benchmark": "demo", "speedup": 1.25, "nested": {"ok": True}}
    path = common.finish("demo", result, time.perf_counter() - 2.0, quick=True, results_dir=tmp_path)

    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1]) == result
    assert path == tmp_path / "demo.json"
    rec = json.loads(path.read_text(encoding="utf-8"))
    assert rec["benchmark"] == "demo" and rec["mode"] == "quick" and rec["variant"] is None
    assert rec["result"] == result
    assert rec["argv"] == ["--quick", "--seeds", "0,1"]
    assert rec["wall_s"] >= 2.0
    assert rec["commit"] is None or COMMIT.fullmatch(rec["commit"])
    assert datetime.fromisoformat(rec["date"]).utcoffset().total_seconds() == 0
    m = rec["machine"]
    assert m["cpu"] and m["cores"] >= 1 and isinstance(m["load"], float)
    assert m["torch_threads"] >= 1 and ("gpu" in m)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json"], "no temporary file is left behind"
    assert f"{m['cores']} cores" in render.provenance(rec)

    # A full run and a variant get files of their own: nothing overwrites the quick figures.
    full = common.finish("demo", {"speedup": 2.0}, time.perf_counter(), quick=False, results_dir=tmp_path)
    variant = common.finish("demo", {"speedup": 3.0}, time.perf_counter(), quick=True, variant="v", results_dir=tmp_path)
    assert (full.name, variant.name) == ("demo.full.json", "demo.v.json")
    assert json.loads(path.read_text())["result"]["speedup"] == 1.25
    assert json.loads(full.read_text())["mode"] == "full" and json.loads(variant.read_text())["variant"] == "v"


def test_the_commit_is_dirty_only_for_changes_to_src_or_benchmarks(common, tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    for name in ("src/a.py", "benchmarks/b.py", "docs/c.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert common.git_commit(tmp_path) == head
    (tmp_path / "docs/c.md").write_text("changed\n")
    (tmp_path / "benchmarks/results").mkdir()
    (tmp_path / "benchmarks/results/b.json").write_text("{}\n")  # a results file is not a change to the code
    assert common.git_commit(tmp_path) == head
    (tmp_path / "src/a.py").write_text("changed\n")
    assert common.git_commit(tmp_path) == head + "+dirty"
    assert common.git_commit(tmp_path / "docs") == head + "+dirty"  # from any folder of the checkout
    assert common.git_commit(Path("/")) is None


def test_ranges_and_thresholds(render):
    assert render.num([373e6, 389e6], ".0f", 1e-6) == "373-389"
    assert render.num([3.71, 3.74], ".1f") == "3.7"
    assert render.num(0.6123, ".2f") == "0.61"
    assert render.check(1.45, ">= 1.3") is True and render.check(-0.094, ">= -0.02") is False
    assert render.check([2.40, 2.52], "<= 2.0") is False and render.check([1.9, 2.1], "<= 2.0") == "met in some runs"
    assert render.sci(5.499e-08) == "5e-8" and render.short(1.0) == "1.0" and render.short(0.98666) == "0.987"
    assert render.seeds_text([0, 1, 2]) == "0-2" and render.seeds_text([0, 2]) == "0, 2"


def test_check_reports_a_stale_table_and_rendering_fixes_it(render, tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    # Plant a wrong figure in train_memory's row: its first bold figure, whatever the file says.
    row = next(line for line in text.splitlines() if line.startswith("| `train_memory.py --quick`"))
    figure = re.search(r"\*\*[^*]+\*\*", row).group(0)
    stale = text.replace(row, row.replace(figure, "**9.999x**", 1))
    assert stale != text
    readme.write_text(stale, encoding="utf-8")
    assert render.main(["--check", "--readme", str(readme)]) == 1
    diff = capsys.readouterr().out
    assert "-| `train_memory.py --quick`" in diff and "**9.999x**" in diff
    assert render.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text
    assert render.main(["--check", "--readme", str(readme)]) == 0
    readme.write_text(text.replace(render.END, ""), encoding="utf-8")
    with pytest.raises(SystemExit, match="perf-table"):
        render.main(["--check", "--readme", str(readme)])


def test_an_rl_batch_companion_meets_the_speedup_target_only_as_the_headline_does(render):
    def result(speedup, lo, worst, method="gaussian"):
        return {"uniform_worst_rung": 0.5, "methods": {
            "uniform": {"worst_rung": 0.5},
            "oracle-gate": {"speedup": {"mean": 3.0, "ci": [2.0, 4.0]}, "worst_rung": 0.9},
            method: {"speedup": {"mean": speedup, "ci": [lo, 2.0]}, "worst_rung": worst}}}

    assert render.batch_met(result(1.5, 1.01, 0.5))
    assert not render.batch_met(result(1.49, 1.2, 0.6))  # below 1.5
    assert not render.batch_met(result(1.6, 1.0, 0.6))  # its interval not above 1
    assert not render.batch_met(result(1.6, 1.2, 0.49))  # its worst rung below uniform's
    # The oracle (a reference) never meets it, however fast.
    only_oracle = result(1.6, 1.2, 0.6)
    del only_oracle["methods"]["gaussian"]
    assert not render.batch_met(only_oracle)
