"""Snapshot identity: one id for one version of the data, written where the data is.

A *snapshot* of a data version is a canonical JSON manifest of what determines it, and its id
is the sha256 of that manifest (keys sorted, no spaces)::

    format      SNAPSHOT_FORMAT
    curricle    the code version that wrote the data (curricle.__version__)
    config      what made the data: for ``prepare`` its ``prepare:`` settings (less how the
                work is run); for ``prune`` its settings and the parent store's snapshot id;
                for ``curate`` its settings (less how the work is run); null for a store
                whose maker is unknown (hand-built, or prepared before snapshots existed)
    tokenizer   the sha256 of each file of the store's tokenizer directory, with the store's
                dtype, EOS id and vocabulary size (null for curated text)
    units       per unit (a store's ``<domain>/<split>``, a curate output's ``<domain>``):
                {"files": {name: sha256 of its bytes}, "docs": documents,
                 "doc_ids": sha256 of the sorted document-id set}

Nothing time- or place-dependent is hashed: two ``prepare`` runs of the same config into two
directories give the same id; a changed, added or removed document, a changed tokenizer or a
changed setting gives another. A ``.gz`` file is hashed decompressed (gzip headers carry a
time). Files are read in chunks of :data:`CHUNK` bytes, so memory stays flat however large
the store.

``snapshot.json`` (written atomically before the data's commit point: ``manifest.json`` of a
store, ``funnel.json`` of a curate output) holds::

    {"id": str, "manifest": {...the hashed manifest...}, "created": ISO time,
     "commit": sha256 of the commit file's bytes (stores; null for curate output),
     "cache": {unit: {name: [size, mtime_ns]}}}

``created``, ``commit`` and ``cache`` are outside the hash. ``commit`` ties the file to the
``manifest.json`` it describes (a prepare killed between the two writes leaves a
``snapshot.json`` whose ``commit`` does not match: it is then ignored); ``cache`` lets a
rerun of ``prepare`` skip rehashing files that have not changed (same size and time). A rerun
that changes nothing leaves ``snapshot.json`` byte for byte as it was.

A store without a valid ``snapshot.json`` gets its id computed from its files the same way
(:func:`store_snapshot`, config null), so its id differs from the one ``prepare`` would
write, but is just as stable. Training runs record the snapshot they read (``RUN/run.json``,
:mod:`curricle.runinfo`) and keep it in each checkpoint (the sampler's state), so a resume on
another snapshot is detected (:mod:`curricle.mixture.sampler`).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import pyarrow.parquet as pq

from curricle import __version__, atomic
from curricle.errors import CurricleError

SNAPSHOT_FILE = "snapshot.json"
SNAPSHOT_FORMAT = 1
#: Bytes read at a time while hashing a file.
CHUNK = 1 << 20
#: The files of one store split, in the order they are hashed.
SPLIT_FILES = ("tokens.bin", "index.npy", "meta.parquet")


def canonical(obj: Any) -> bytes:
    """``obj`` as canonical JSON (keys sorted, no spaces, UTF-8): what ids hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes (of its decompressed bytes for a ``.gz`` file), read in
    chunks."""
    path = Path(path)
    h = hashlib.sha256()
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
    except OSError as err:
        raise CurricleError(f"{path}: cannot hash it for the snapshot id ({err})") from None
    return h.hexdigest()


def ids_sha256(ids: Iterable[Any]) -> str:
    """The sha256 of a set of document ids: each id's canonical JSON, sorted, one a line (so
    the order the documents are stored in does not matter, and ``1`` and ``"1"`` differ)."""
    h = hashlib.sha256()
    for line in sorted(canonical(i) for i in ids):
        h.update(line + b"\n")
    return h.hexdigest()


def snapshot_of(files: dict[str, dict[str, Path]], doc_ids: dict[str, list[Any] | None], config: Any,
                tokenizer: Any = None, cache: dict[str, dict[str, Any]] | None = None,
                bar: Any = None) -> dict[str, Any]:
    """The snapshot of a data version: ``files`` per unit (name -> path), the document ids of
    each unit (None: the unit has no ids), the JSON-able ``config`` and ``tokenizer`` that
    made it. Returns ``{"id", "manifest", "cache"}`` (see the module docstring).

    ``cache``: an earlier snapshot's ``{"cache": ..., "manifest": ...}`` pieces as
    ``{unit: {name: [size, mtime_ns, sha256]}}``; a file whose size and time match is not read
    again. ``bar``: a rich ``Progress`` to count the files hashed on (None: none)."""
    cache = cache or {}
    units: dict[str, Any] = {}
    stats: dict[str, dict[str, list[int]]] = {}
    task = bar.add_task("hashing the snapshot", total=sum(map(len, files.values()))) if bar is not None else None
    for unit in sorted(files):
        digests = {}
        for name, path in sorted(files[unit].items()):
            st = Path(path).stat()
            stat = [st.st_size, st.st_mtime_ns]
            known = cache.get(unit, {}).get(name)
            digests[name] = known[2] if known and list(known[:2]) == stat else file_sha256(path)
            stats.setdefault(unit, {})[name] = stat
            if task is not None:
                bar.advance(task)
        ids = doc_ids.get(unit)
        units[unit] = {"files": digests, "docs": None if ids is None else len(ids),
                       "doc_ids": None if ids is None else ids_sha256(ids)}
    if task is not None:
        bar.remove_task(task)
    manifest = {"format": SNAPSHOT_FORMAT, "curricle": __version__, "config": config, "tokenizer": tokenizer,
                "units": units}
    return {"id": hashlib.sha256(canonical(manifest)).hexdigest(), "manifest": manifest, "cache": stats}


def unit_digest(snapshot: dict[str, Any], unit: str) -> str | None:
    """A short hash of one unit of ``snapshot`` (its files, count and id set): equal exactly
    when the unit's data is (None: no such unit)."""
    entry = snapshot["manifest"]["units"].get(unit)
    return None if entry is None else hashlib.sha256(canonical(entry)).hexdigest()[:16]


def read_snapshot(data_dir: Path | str) -> dict[str, Any] | None:
    """``data_dir/snapshot.json`` (None: there is none); an unreadable one is a one-line
    error naming it."""
    path = Path(data_dir) / SNAPSHOT_FILE
    if not path.is_file():
        return None
    try:
        snap = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CurricleError(f"{path}: not a snapshot curricle can read ({err})") from None
    if not isinstance(snap, dict) or not isinstance(snap.get("id"), str) or not isinstance(snap.get("manifest"), dict):
        raise CurricleError(f"{path}: not a snapshot curricle can read (no 'id' and 'manifest')")
    return snap


def write_snapshot(data_dir: Path | str, snapshot: dict[str, Any], commit: str | None = None) -> Path:
    """Write ``data_dir/snapshot.json`` atomically, unless the one there already has this id
    and ``commit`` (then it stays byte for byte as it was)."""
    path = Path(data_dir) / SNAPSHOT_FILE
    try:
        old = read_snapshot(data_dir)
    except CurricleError:
        old = None
    if old is not None and old.get("id") == snapshot["id"] and old.get("commit") == commit:
        return path
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    atomic.write_json(path, {"id": snapshot["id"], "manifest": snapshot["manifest"], "created": created,
                             "commit": commit, "cache": snapshot.get("cache", {})})
    return path


def file_cache(snapshot: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The ``cache`` argument of :func:`snapshot_of` from an earlier ``snapshot.json``."""
    if not snapshot:
        return {}
    units = snapshot.get("manifest", {}).get("units", {})
    out: dict[str, dict[str, Any]] = {}
    for unit, stats in (snapshot.get("cache") or {}).items():
        digests = units.get(unit, {}).get("files", {})
        out[unit] = {name: [*stat, digests[name]] for name, stat in stats.items() if name in digests}
    return out


# -- token stores --------------------------------------------------------------------------


def commit_sha256(text: str) -> str:
    """The sha256 of a commit file's text (what ``snapshot.json``'s ``commit`` holds)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def store_snapshot(data_dir: Path | str, manifest: Any, config: Any = None, cache: dict | None = None,
                   bar: Any = None) -> dict[str, Any]:
    """The snapshot of the token store in ``data_dir`` whose manifest is ``manifest`` (a
    :class:`~curricle.store.manifest.Manifest`): per ``<domain>/<split>`` its three files and
    the ``doc_id`` column of ``meta.parquet`` (None where it has no such column)."""
    data_dir = Path(data_dir)
    files: dict[str, dict[str, Path]] = {}
    ids: dict[str, list[Any] | None] = {}
    for domain, entry in sorted(manifest.domains.items()):
        for split in ("train", "heldout"):
            unit = f"{domain}/{split}"
            folder = data_dir / entry.dir / split
            files[unit] = {name: folder / name for name in SPLIT_FILES}
            try:
                schema = pq.read_schema(folder / "meta.parquet")
            except OSError as err:
                raise CurricleError(f"{folder / 'meta.parquet'}: cannot read it for the snapshot id ({err})") from None
            ids[unit] = (pq.read_table(folder / "meta.parquet", columns=["doc_id"]).column(0).to_pylist()
                         if "doc_id" in schema.names else None)
    tok_dir = data_dir / manifest.tokenizer.dir
    tok_files = {p.name: file_sha256(p) for p in sorted(tok_dir.iterdir()) if p.is_file()} if tok_dir.is_dir() else None
    tokenizer = {"files": tok_files, "dtype": manifest.dtype, "eos_id": manifest.eos_id,
                 "vocab_size": manifest.vocab_size}
    return snapshot_of(files, ids, config, tokenizer, cache=cache, bar=bar)


def committed_snapshot(data_dir: Path | str, commit_file: str) -> dict[str, Any] | None:
    """The ``snapshot.json`` of ``data_dir`` if it describes the committed ``commit_file``
    (its ``commit`` is that file's sha256), else None."""
    snap = read_snapshot(data_dir)
    path = Path(data_dir) / commit_file
    if snap is None or not path.is_file():
        return None
    return snap if snap.get("commit") == commit_sha256(path.read_text(encoding="utf-8")) else None


__all__ = ["SNAPSHOT_FILE", "SNAPSHOT_FORMAT", "canonical", "commit_sha256", "committed_snapshot", "file_cache",
           "file_sha256", "ids_sha256", "read_snapshot", "snapshot_of", "store_snapshot", "unit_digest",
           "write_snapshot"]
