"""What the benchmark programs share: the progress line, and the last line with its results file.

Every benchmark prints its figures as one JSON object, the last line of its stdout. ``finish``
prints that line and also writes it, with where it came from, to ``benchmarks/results/``, from
which ``render_tables.py`` renders the README's performance table (so a figure older than the
code it measures shows its commit).

**Results files.** ``results/<name>.json`` holds the last ``--quick`` run of
``benchmarks/<name>.py``, ``results/<name>.full.json`` the last full (non-quick) run, so the two
never overwrite each other. A program that runs a named variant of its comparison (e.g.
``train_overhead.py --loss-chunk-tokens none``) passes ``variant`` and writes
``results/<name>.<variant>.json`` (``.<variant>.full.json`` for a full run). A run with other
non-default arguments replaces its mode's file; its ``argv`` says so. Each file is::

    {
      "benchmark": "<name>", "mode": "quick" or "full", "variant": "<variant>" or null,
      "commit": "<git rev-parse HEAD>", plus "+dirty" when src/ or benchmarks/ (results aside)
                has uncommitted changes; null outside a git checkout,
      "date": "<UTC ISO 8601, to the second>",
      "machine": {"cpu": "<model name from /proc/cpuinfo, else platform>", "cores": os.cpu_count(),
                  "torch_threads": torch.get_num_threads() or null, "gpu": "<CUDA device 0's name>" or null,
                  "load": the 1-minute load average when the run ended},
      "wall_s": seconds from ``started`` to the end,
      "argv": the program's arguments (sys.argv[1:]),
      "result": the JSON object printed last
    }

**Cached runs.** A benchmark that keeps its runs under ``--out`` reads a finished one back
rather than training it again, by a hash of its config, not of the code that trained it; a run
an older code trained is read back as if this code had. Such a benchmark's ``result`` has
``cached_runs`` (:func:`cached_provenance`, over every run directory its figures read: the runs
it trained now and those read back, and the shared base, cold start or pretraining)::

    "cached_runs": {"<commit>": n, "<commit>+dirty": n, "<commit>,<commit>": n, "unknown": n,
                    "other_than_head": k}

the runs counted by the commit that trained them (their ``run.json``'s ``code``; a run resumed
under another commit is counted under its commits in order, joined by commas; ``unknown`` where
run.json does not name one), and ``other_than_head``: the runs some stretch of which a commit
other than the current one trained (the current one: the curricle the benchmark imported, its
uncommitted changes aside, which a ``+dirty`` key shows), or unknown code. ``finish`` warns on
stderr when it is above 0: delete those runs (or choose another ``--out``) to have this code
train them.

**Cached products.** A product a benchmark caches that is not a run directory (preference's
pairs and its ``none`` arm's scores, rl_curriculum's base profile, hard_examples' pruned
stores and shared tokenizer, the evaluation caches ``bench-eval-<key>.npz`` of mixing's and
hard_examples' runs, the token stores the benchmarks prepare) is read back by its name alone
as well (a store by prepare's check of its settings). Whoever makes one records the code that
made it (:func:`record_code`: ``<product>.code.json`` beside it, ``{"code": {"version",
"commit", "dirty"}}`` as run.json's ``code``; a store ``curricle prune`` wrote has it in its
``lineage.json``; a prepared store has it when prepare wrote all of it, :func:`record_prepared`),
and a result that reads such products has ``cached_products``
(:func:`cached_products`, over every product its figures read, made now or read back)::

    "cached_products": {"<commit>": n, "<commit>+dirty": n, "unrecorded": n, "other_than_head": k}

counted by the commit that made them (``unrecorded``: no record, or one naming no commit), and
``other_than_head`` as ``cached_runs``'s; ``finish`` warns of those as of the runs: delete them
to have this code make them again.

Files seeded from the project's history before ``finish`` existed carry the same fields, plus
``reconstructed_from`` (figures rebuilt from the README's, not a printed line) or
``recorded_in`` (where the printed line was kept), and ``notes``; their ``machine`` has a
``note`` in place of what was not recorded, and ``load`` as the README's words. A rerun
overwrites them.
"""

from __future__ import annotations

import json
import os
import signal
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from curricle.prepare.pipeline import PrepareReport

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"

_T0 = time.perf_counter()


def say(msg: str) -> None:
    """A progress line on stderr, with the seconds since the program started (imported this)."""
    print(f"[{time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def die_with_parent() -> None:
    """A worker process's initializer: the kernel kills it when the benchmark's main process
    dies (Linux's ``PR_SET_PDEATHSIG``), so a killed benchmark leaves no worker computing on.
    Elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def results_path(name: str, quick: bool, variant: str | None = None, results_dir: Path | None = None) -> Path:
    """Where a run's figures go: ``<name>[.<variant>][.full].json`` under ``results_dir``."""
    stem = name + (f".{variant}" if variant else "") + ("" if quick else ".full")
    return (results_dir or RESULTS) / f"{stem}.json"


def git_commit(root: Path = ROOT) -> str | None:
    """HEAD, with ``+dirty`` when src/ or benchmarks/ differ from it (the results files aside:
    writing one must not make the next run look dirty)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--", ":(top)src", ":(top)benchmarks",
                                 ":(top,exclude)benchmarks/results"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def code_label(code: Any) -> str | None:
    """A code record (:func:`curricle.runinfo.code_record`'s dict) as ``<commit>``, with ``+dirty``
    where the package's files differed from it; None when it names no commit."""
    if not isinstance(code, dict) or not code.get("commit"):
        return None
    return code["commit"] + ("+dirty" if code.get("dirty") else "")


def trained_by(run_dir: Path | str) -> list[str] | None:
    """The commits that trained ``run_dir``, in order: its start, then each resume
    (:func:`code_label`); None when run.json is missing or unreadable, or any stretch's commit
    is not on record."""
    from curricle.errors import CurricleError
    from curricle.runinfo import read_run_info

    try:
        info = read_run_info(run_dir)
        codes = [info.get("code"), *(r.get("code") for r in info.get("resumes") or [])] if info else [None]
    except (CurricleError, AttributeError):
        return None
    labels = [code_label(c) for c in codes]
    if None in labels:
        return None
    return [x for i, x in enumerate(labels) if i == 0 or x != labels[i - 1]]


def _head(head: str | None) -> str | None:
    """``head``, or the commit of the curricle this process imported."""
    if head is None:
        from curricle.runinfo import code_record

        head = code_record()["commit"]
    return head


def _by_commit(labels: Iterable[list[str] | None], head: str | None, none_key: str) -> dict[str, int]:
    """Counts of ``labels`` (each a list of commits, joined by commas; ``none_key`` for None), and
    ``other_than_head``: those with a commit other than ``head`` (its ``+dirty`` aside) or None
    (all of them, when ``head`` is None)."""
    counts: dict[str, int] = {}
    other = 0
    for commits in labels:
        key = ",".join(commits) if commits else none_key
        counts[key] = counts.get(key, 0) + 1
        other += not commits or head is None or any(c.removesuffix("+dirty") != head for c in commits)
    return {**dict(sorted(counts.items())), "other_than_head": other}


def cached_provenance(run_dirs: Iterable[Path | str], head: str | None = None) -> dict[str, int]:
    """How many of ``run_dirs`` (each once) each commit trained (:func:`trained_by`, joined by
    commas; ``unknown``), and ``other_than_head``: the runs a commit other than ``head`` trained
    some of, or unknown code (every run, when ``head`` is unknown). ``head``: the commit of the
    curricle this process imported, unless given; a run of that commit with uncommitted changes
    counts as its (the record cannot tell two such trees apart; its key says ``+dirty``)."""
    return _by_commit((trained_by(run) for run in dict.fromkeys(Path(d) for d in run_dirs)), _head(head), "unknown")


#: A cached product's code record is ``<product>.code.json`` beside it (:func:`record_code`).
CODE_SUFFIX = ".code.json"


def code_path(product: Path | str) -> Path:
    """Where the code record of ``product`` (a file or a directory) is: beside it."""
    product = Path(product)
    return product.with_name(product.name + CODE_SUFFIX)


def record_code(product: Path | str) -> Path:
    """Record beside ``product``, once it is complete, the code of this process that made it:
    ``{"code": code_record()}`` (:func:`curricle.runinfo.code_record`), written whole or not at
    all. Returns the record's path."""
    from curricle import atomic
    from curricle.runinfo import code_record

    path = code_path(product)
    atomic.write_json(path, {"code": code_record()})
    return path


def record_prepared(report: PrepareReport) -> Path:
    """The directory of the store prepare made or reused (``report``: its report), with the code
    of this process recorded beside it (:func:`record_code`) when prepare wrote every domain of
    it now. A store it reused, whole or in part, keeps the record it had (none: it counts as
    ``unrecorded``): what prepare did not write now, another code may have."""
    if report.domains and not any(d.up_to_date for d in report.domains):
        record_code(report.data_dir)
    return Path(report.data_dir)


def made_by(product: Path | str) -> str | None:
    """The commit that made ``product`` (:func:`code_label`): its :func:`record_code` record or,
    for a store ``curricle prune`` wrote, its ``lineage.json``'s ``code``; None when neither is
    there and readable or names a commit."""
    from curricle.errors import CurricleError
    from curricle.store.lineage import read_lineage

    path = code_path(product)
    try:
        if path.is_file():
            return code_label(json.loads(path.read_text(encoding="utf-8")).get("code"))
        lineage = read_lineage(product) if Path(product).is_dir() else None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, CurricleError):
        return None
    return code_label(lineage.get("code")) if isinstance(lineage, dict) else None


def cached_products(products: Iterable[Path | str], head: str | None = None) -> dict[str, int]:
    """How many of ``products`` (each once) each commit made (:func:`made_by`; ``unrecorded``),
    and ``other_than_head``: those a commit other than ``head`` made, or unrecorded code (all,
    when ``head`` is unknown); ``head`` as :func:`cached_provenance`'s."""
    return _by_commit(([c] if (c := made_by(p)) else None for p in dict.fromkeys(Path(p) for p in products)),
                      _head(head), "unrecorded")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The machine a run's figures came from (torch is asked only if it imports)."""
    threads = gpu = None
    try:
        import torch

        threads = torch.get_num_threads()
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "torch_threads": threads, "gpu": gpu,
            "load": round(os.getloadavg()[0], 2)}


def add_parts_arguments(parser, parts: tuple[str, ...], default_seeds: list[int], out: str) -> None:
    """``--seeds``, ``--parts``, ``--out`` and ``--jobs`` of a benchmark made of parts run over
    paired seeds (read back with :func:`seeds_and_parts`)."""
    parser.add_argument("--seeds", default=",".join(map(str, default_seeds)),
                        help=f"comma-separated run seeds (at least 3; default {','.join(map(str, default_seeds))})")
    parser.add_argument("--parts", default=",".join(parts), help=f"comma-separated parts (default: {','.join(parts)})")
    parser.add_argument("--out", type=Path, default=Path(out), help="where the runs go")
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once, one torch thread each")


def seeds_and_parts(parser, args, parts: tuple[str, ...], reserved: tuple[int, str] | None = None
                    ) -> tuple[list[int], list[str]]:
    """The seeds (at least 3; not ``reserved``'s seed, which its own run uses: ``(seed, whose)``)
    and parts of :func:`add_parts_arguments`; a usage error naming the option otherwise."""
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if len(seeds) < 3:
        parser.error("--seeds: at least 3 seeds")
    if reserved is not None and reserved[0] in seeds:
        parser.error(f"--seeds: seed {reserved[0]} is {reserved[1]}'s own; pick others")
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    if bad := [p for p in chosen if p not in parts]:
        parser.error(f"--parts: unknown part '{bad[0]}' (known: {', '.join(parts)})")
    return seeds, chosen


def parts_variant(parts: list[str], all_parts: tuple[str, ...], seeds: list[int], default_seeds: list[int]) -> str | None:
    """The results file's variant of a run of some parts, or at other seeds (None: the default)."""
    variant = "+".join(parts) if parts != list(all_parts) else None
    if seeds != default_seeds:
        variant = f"{variant or 'all'}.seeds-{len(seeds)}"
    return variant


def finish(name: str, result: dict[str, Any], started: float, *, quick: bool, variant: str | None = None,
           results_dir: Path | None = None) -> Path:
    """Print ``result`` as the last stdout line, then write it with its provenance to its
    results file (see the module docstring); ``started`` is the run's ``time.perf_counter()``
    at its start; a ``cached_runs`` record (:func:`cached_provenance`) with runs of other code,
    or a ``cached_products`` one (:func:`cached_products`) with products of other code, is
    warned of on stderr, one line each. Returns the file's path."""
    wall = time.perf_counter() - started
    print(json.dumps(result), flush=True)
    for field, what, made, redo in (("cached_runs", "runs", "were trained (in part)", "retrain"),
                                    ("cached_products", "cached products", "were made", "make them again")):
        cached = result.get(field) or {}
        if cached.get("other_than_head", 0) > 0:
            n = sum(v for k, v in cached.items() if k != "other_than_head")
            print(f"warning: {cached['other_than_head']} of the {n} {what} this result read {made} by another commit "
                  f"than this code's or by code not on record; their figures may not be this code's (delete them "
                  f"under --out to {redo}): {json.dumps(cached)}", file=sys.stderr, flush=True)
    record = {"benchmark": name, "mode": "quick" if quick else "full", "variant": variant, "commit": git_commit(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "wall_s": round(wall, 1), "argv": sys.argv[1:], "result": result}
    path = results_path(name, quick, variant, results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole or not at all: a half-written file would break the table's rendering.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(record, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
