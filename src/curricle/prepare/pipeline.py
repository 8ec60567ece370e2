"""Prepare: tokenizer + token store, incremental and atomic (``curricle prepare``).

1. The tokenizer: a byte-level BPE trained on a sample of every source, or a local HF
   tokenizer. Saved under ``tokenizer-<hash>/`` as a transformers fast tokenizer.
2. Per domain: documents are tokenized (HF ``tokenizers``, batched, over worker processes for a
   large corpus: :mod:`curricle.prepare.encode`) and spooled to disk as they are read; then
   split into train / heldout by a hash of the document id (topped up to ``min_heldout_docs``:
   below) and written with per-document difficulty metrics under
   ``store/<domain>-<hash>/``: length, characters, compression ratio, token rarity, the
   sources' ``meta_fields`` (null where a document lacks one) and, with
   ``prepare.reference_model``, each document's mean token loss under that checkpoint
   (``reference_loss``, :mod:`curricle.prepare.reference`).
3. ``snapshot.json`` (the store's snapshot id: a hash of its files, document ids, these
   settings, the tokenizer and the code version, :mod:`curricle.store.snapshot`) is written
   just before ``manifest.json``, which is replaced atomically last: it is the commit point. Directories are named
   by a fingerprint of everything that determines their content (tokenizer, sources' files and
   parameters, these settings), so a rerun with the same inputs does no work, and a killed run
   leaves the previous manifest and its data intact.

Prepares of one data directory run one at a time (two runs of a sweep launched together, each
preparing its config first): each holds an exclusive ``flock`` on ``DATA/.prepare.lock`` for its
whole run, so a second one waits, then finds the store up to date and does no work. Under that
lock the temporary directories a killed prepare left (``.*.tmp``) and the directories no manifest
names are removed: no other prepare can be writing them then. (A curricle older than this one
takes no lock. Where one of those renames a directory into place first, its copy is kept and
ours dropped: the name is a fingerprint of the content, ``atomic.directory(exist_ok=True)``.)

The split is stable across reruns. A document whose hash falls under ``heldout_fraction`` is
held out whatever else the domain holds; the rest are stable across additions only in a domain
above the minimum, where the hash alone holds out at least ``min_heldout_docs`` documents. A
domain below it (with more documents than the minimum) has its lowest-hash documents held out to
make it up, so adding a document can move one of those to train, or, once a domain grows past
``min_heldout_docs`` documents, a train document into held-out. (Which documents current stores
hold out is kept as it is: benchmarks and runs compare against them.)

Memory does not grow with the corpus: tokens go to a spool file per domain as they are
encoded, and the split is written from the spool a block at a time; what is kept per document
is a few numbers and its id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from curricle import atomic
from curricle.errors import CurricleError
from curricle.prepare.config import EXECUTION_FIELDS, PrepareConfig, TokenizerConfig
from curricle.prepare.encode import BatchEncoder
from curricle.prepare.reference import CheckpointScorer, reference_fingerprint
from curricle.sources import build_source
from curricle.sources.base import Source, location
from curricle.sources.config import SourceConfig
from curricle.store.lineage import LINEAGE_FILE
from curricle.store.manifest import (FORMAT_VERSION, MANIFEST_FILE, DomainEntry, GroupEntry, Manifest, SplitCounts,
                                     TokenizerEntry, manifest_text, read_manifest, write_manifest)
from curricle.store.snapshot import (commit_sha256, committed_snapshot, file_cache, read_snapshot, store_snapshot,
                                     write_snapshot)
from curricle.store.tokenizer import load_tokenizer, token_dtype, train_bpe
from curricle.store.writer import DomainSplitWriter

log = logging.getLogger(__name__)

#: The lock file that one prepare of a data directory at a time holds (:func:`prepare`).
LOCK_FILE = ".prepare.lock"


@dataclass
class DomainReport:
    domain: str
    up_to_date: bool
    train_docs: int
    train_tokens: int
    heldout_docs: int
    heldout_tokens: int


@dataclass
class PrepareReport:
    data_dir: Path
    tokenizer_trained: bool
    domains: list[DomainReport] = field(default_factory=list)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per source read (by :func:`source_keys`), how many records it skipped under each reason."""
    missing_fields: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per source read (by :func:`source_keys`), how many documents lacked each of its ``meta_fields``."""
    seconds: float = 0.0

    @property
    def did_work(self) -> bool:
        return self.tokenizer_trained or any(not d.up_to_date for d in self.domains)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40] or "domain"


#: Tokens of a domain's spool read at once while its split is written (bounds the memory).
_BLOCK_TOKENS = 1 << 22


def _heldout_u(domain: str, doc_id: str) -> float:
    h = hashlib.blake2b(f"{domain}\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _progress(enabled: bool):
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        disable=not enabled, transient=True,
    )


def _read_manifest(data_dir: Path) -> Manifest | None:
    """The manifest of an earlier prepare into ``data_dir`` (None: none, or not one of this
    format: everything is written afresh)."""
    try:
        return read_manifest(data_dir)
    except CurricleError:
        return None


def _tokenizer_fingerprint(tcfg: TokenizerConfig, fps: list[Any]) -> str:
    if tcfg.kind == "pretrained":
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(tcfg.path).glob("*") if p.is_file()) \
            if Path(tcfg.path).is_dir() else []
        return _hash({"tokenizer": tcfg.model_dump(mode="json"), "files": files})
    return _hash({"tokenizer": tcfg.model_dump(mode="json"), "sources": fps})


def _groups(sources: list[Source]) -> dict[str, list[int]]:
    """Sources by the domain they write; if any source takes domains from its records, all
    sources form one group (which domains it reaches is known only after reading)."""
    record_domains = any(getattr(s.config, "use_record_domain", False) for s in sources)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(sources):
        groups.setdefault("*" if record_domains else s.config.domain, []).append(i)
    return groups


def source_keys(sources: list[Source]) -> list[str]:
    """Each source's key in the report's ``skipped`` / ``missing_fields`` and the manifest's
    ``sources``: its :meth:`~curricle.sources.base.Source.describe`, unless another source
    describes itself the same (one file read as two domains, with another ``text_field``):
    then ``"<describe> [<domain>]"``, and where that is shared too, ``"... [sources.<i>]"``
    (its place in the config). Stable across reruns of one config, and a source's key names
    its own counts even when a reused group's are copied from the previous manifest."""
    names = [s.describe() for s in sources]
    keys = [n if names.count(n) == 1 else f"{n} [{s.config.domain}]" for n, s in zip(names, sources)]
    return [k if keys.count(k) == 1 else f"{k} [sources.{i}]" for i, k in enumerate(keys)]


def _group_fingerprint(tokenizer_fp: str, fps: list[Any], config: PrepareConfig) -> str:
    # How the work is run (workers, batch sizes) changes nothing in the store; the reference
    # checkpoint's files do (a new checkpoint in a run directory is a new reference).
    reference = reference_fingerprint(config.reference_model) if config.reference_model is not None else None
    return _hash({"format": FORMAT_VERSION, "tokenizer": tokenizer_fp, "sources": fps,
                  "prepare": config.model_dump(mode="json", exclude=EXECUTION_FIELDS), "reference": reference})


def up_to_date(sources: list[SourceConfig], tokenizer: TokenizerConfig, config: PrepareConfig,
               data_dir: Path) -> bool:
    """Whether ``data_dir`` already holds what :func:`prepare` would write (reads no document:
    the sources' fingerprints are their files' names, sizes and times, or their parameters)."""
    old = _read_manifest(Path(data_dir))
    built = [build_source(s) for s in sources]
    fps = [s.fingerprint() for s in built]
    tok_fp = _tokenizer_fingerprint(tokenizer, fps)
    if old is None or old.tokenizer.fingerprint != tok_fp:
        return False
    for key, members in _groups(built).items():
        prev = old.groups.get(key)
        if not prev or prev.fingerprint != _group_fingerprint(tok_fp, [fps[i] for i in members], config):
            return False
        if not all((Path(data_dir) / old.domains[d].dir).is_dir() for d in prev.domains):
            return False
    return len(old.groups) == len(_groups(built))


def _prepare_tokenizer(tcfg: TokenizerConfig, data_dir: Path, sources: list[Source], fps: list[Any],
                       old: Manifest | None, progress) -> tuple[TokenizerEntry, Any, bool]:
    fp = _tokenizer_fingerprint(tcfg, fps)
    tok_dir = data_dir / f"tokenizer-{fp[:16]}"
    if old is not None and old.tokenizer.fingerprint == fp and tok_dir.is_dir():
        return old.tokenizer, load_tokenizer(tok_dir), False

    if tcfg.kind == "pretrained":
        tok = load_tokenizer(tcfg.path)
    else:
        def sample():
            task = progress.add_task("sampling text for the tokenizer", total=None)
            for src in sources:
                for i, doc in enumerate(src):
                    if i >= tcfg.sample_docs_per_source:
                        break
                    progress.advance(task)
                    yield doc.text
            progress.remove_task(task)

        t0 = time.perf_counter()
        tok = train_bpe(sample(), tcfg.vocab_size, tcfg.min_frequency)
        log.info("trained a byte-level BPE of %d tokens in %.1fs", len(tok), time.perf_counter() - t0)
    if not tok_dir.exists():
        with atomic.directory(tok_dir, exist_ok=True) as tmp:
            tok.save_pretrained(str(tmp))
    entry = TokenizerEntry(dir=tok_dir.name, fingerprint=fp, kind=tcfg.kind, vocab_size=len(tok),
                           eos_id=int(tok.eos_token_id))
    return entry, load_tokenizer(tok_dir), True


def _kind(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"


class _Spool:
    """One domain's encoded documents in the order they were read: tokens appended to a file,
    and per document its id, source, length, characters, compression ratio and the values of
    its source's ``meta_fields`` (None where it has none)."""

    def __init__(self, path: Path, dtype: np.dtype, domain: str):
        self.path = path
        self.dtype = dtype
        self.domain = domain
        self._f = open(path, "wb")
        self.offsets = [0]
        self.doc_ids: list[str] = []
        self.sources: list[str] = []
        self.n_chars: list[int] = []
        self.compression: list[float] = []
        self.fields: dict[str, list[Any]] = {}
        self._kinds: dict[str, tuple[str, str]] = {}  # field -> (kind, where it was first seen)
        self._floats: set[str] = set()

    def add(self, doc_id: str, source: str, ids: np.ndarray, n_chars: int, compression: float,
            fields: dict[str, Any] | None = None, doc: Any = None) -> None:
        n = len(self.doc_ids)
        for name, value in (fields or {}).items():
            if value is not None:
                kind, first = self._kinds.setdefault(name, (_kind(value), location(doc)))
                if _kind(value) != kind:
                    raise CurricleError(f"meta field '{name}' is a {_kind(value)} at {location(doc)} but a {kind} at "
                                        f"{first} (domain '{self.domain}'); one field holds one kind of value")
                if isinstance(value, float):
                    self._floats.add(name)
            self.fields.setdefault(name, [None] * n).append(value)
        for column in self.fields.values():
            if len(column) == n:  # a field this document's source does not carry
                column.append(None)
        self._f.write(ids.tobytes())
        self.offsets.append(self.offsets[-1] + len(ids))
        self.doc_ids.append(doc_id)
        self.sources.append(source)
        self.n_chars.append(n_chars)
        self.compression.append(compression)

    def field_types(self) -> dict[str, Any]:
        """The Arrow type of each field's column: the same in both splits, whichever values
        each holds (a field only ever null is float64)."""
        out = {}
        for name in self.fields:
            kind = self._kinds.get(name, ("number", ""))[0]
            out[name] = {"bool": pa.bool_(), "string": pa.string()}.get(kind) or \
                (pa.float64() if name in self._floats or name not in self._kinds else pa.int64())
        return out

    def close(self) -> None:
        self._f.close()



def _write_domain(domain: str, spool: _Spool, pcfg: PrepareConfig, final: Path, eos_id: int,
                  vocab_size: int, reference: Any = None, bar: Any = None) -> dict[str, SplitCounts]:
    """Split the spooled documents into train/heldout and write them under ``final``
    (``reference``: a :class:`~curricle.prepare.reference.CheckpointScorer` whose mean token
    loss per document becomes ``reference_loss``)."""
    spool.close()
    n = len(spool.doc_ids)
    u = np.array([_heldout_u(domain, d) for d in spool.doc_ids])
    heldout = u < pcfg.heldout_fraction
    # Topped up with the lowest-hash documents: which ones depends on the domain's other
    # documents, so these (only these) may change split when documents are added.
    if heldout.sum() < pcfg.min_heldout_docs and n > pcfg.min_heldout_docs:
        heldout[np.argsort(u, kind="stable")[: pcfg.min_heldout_docs]] = True
    # Token rarity: mean surprisal of a document's tokens under the domain's train unigram
    # counts (all documents' if none is train).
    counted = ~heldout if (~heldout).any() else np.ones(n, dtype=bool)
    counts = np.zeros(vocab_size, dtype=np.int64)
    offsets = spool.offsets
    for block, docs in _spool_blocks(spool, counted):  # a block may hold unselected documents too
        base = offsets[docs[0]]
        piece = np.concatenate([block[offsets[d] - base : offsets[d + 1] - base] for d in docs])
        counts += np.bincount(piece.astype(np.int64), minlength=vocab_size)
    counts = counts.astype(np.float64)
    surprisal = -np.log((counts + 1.0) / (counts.sum() + vocab_size))
    ref_loss = _reference_losses(spool, reference, bar) if reference is not None else None
    types = spool.field_types()
    if ref_loss is not None:
        types["reference_loss"] = pa.float64()
    stats: dict[str, SplitCounts] = {}
    with atomic.directory(final, exist_ok=True) as tmp:
        for split, mask in (("train", ~heldout), ("heldout", heldout)):
            w = DomainSplitWriter(tmp / split, spool.dtype, eos_id, types=types)
            for block, docs in _spool_blocks(spool, mask):
                base = offsets[docs[0]]
                for d in docs:
                    ids = block[offsets[d] - base : offsets[d + 1] - base]
                    rarity = float(surprisal[ids].mean()) if len(ids) else 0.0
                    row = {"doc_id": spool.doc_ids[d], "source": spool.sources[d], "n_tokens": int(len(ids)),
                           "n_chars": spool.n_chars[d], "compression_ratio": spool.compression[d],
                           "mean_token_rarity": rarity}
                    if ref_loss is not None:
                        row["reference_loss"] = float(ref_loss[d])
                    row.update({name: column[d] for name, column in spool.fields.items()})
                    w.add(ids, row)
            stats[split] = SplitCounts(**w.close())
    spool.path.unlink(missing_ok=True)
    return stats


def _reference_losses(spool: _Spool, reference: Any, bar: Any) -> np.ndarray:
    """Every spooled document's mean token loss under the reference checkpoint, in batches of
    ``reference.batch_docs`` (a progress bar counts documents)."""
    n = len(spool.doc_ids)
    out = np.full(n, np.nan)
    task = bar.add_task(f"reference loss [{spool.domain}]", total=n) if bar is not None else None
    batch: list[tuple[int, np.ndarray]] = []

    def flush():
        out[[d for d, _ in batch]] = reference.mean_losses([ids for _, ids in batch])
        if task is not None:
            bar.advance(task, len(batch))
        batch.clear()

    offsets = spool.offsets
    for block, docs in _spool_blocks(spool, np.ones(n, dtype=bool)):
        base = offsets[docs[0]]
        for d in docs:
            batch.append((d, block[offsets[d] - base : offsets[d + 1] - base].copy()))
            if len(batch) >= reference.batch_docs:
                flush()
    if batch:
        flush()
    if task is not None:
        bar.remove_task(task)
    return out


def _spool_blocks(spool: _Spool, mask: np.ndarray) -> Iterator[tuple[np.ndarray, list[int]]]:
    """The selected documents of ``spool``, in order, as ``(tokens, documents)``: a block of
    consecutive documents read at once (at most ``_BLOCK_TOKENS`` tokens, unless one document
    is longer), holding the selected ones, which are the ``documents`` listed; ``tokens``
    starts at the first of them. Memory stays one block, whatever the domain's size."""
    offsets = spool.offsets
    itemsize = np.dtype(spool.dtype).itemsize
    selected = np.flatnonzero(mask).tolist()
    with open(spool.path, "rb") as f:
        i = 0
        while i < len(selected):
            j = i + 1
            while j < len(selected) and offsets[selected[j] + 1] - offsets[selected[i]] <= _BLOCK_TOKENS:
                j += 1
            docs = selected[i:j]
            start, end = offsets[docs[0]], offsets[docs[-1] + 1]
            f.seek(start * itemsize)
            yield np.fromfile(f, dtype=spool.dtype, count=end - start), docs
            i = j


def _batches(src: Source, size: int) -> Iterator[tuple[list, list[str]]]:
    """``(documents, their texts)`` of ``src``, ``size`` at a time."""
    docs: list = []
    for doc in src:
        docs.append(doc)
        if len(docs) >= size:
            yield docs, [d.text for d in docs]
            docs = []
    if docs:
        yield docs, [d.text for d in docs]


def _stats_from_dir(path: Path) -> dict[str, SplitCounts]:
    out = {}
    for split in ("train", "heldout"):
        index = np.load(path / split / "index.npy")
        out[split] = SplitCounts(docs=len(index) - 1, tokens=int(index[-1]))
    return out


def _write_snapshot(data_dir: Path, manifest: Manifest, config: PrepareConfig, bar: Any) -> None:
    """``snapshot.json`` for the store ``manifest`` is about to commit. Files an earlier
    snapshot hashed are not read again if their size and time are unchanged; a pruned store
    (up to date, or prepare would have refused it) keeps the snapshot ``prune`` gave it."""
    commit = commit_sha256(manifest_text(manifest))
    pruned = (data_dir / LINEAGE_FILE).is_file()
    if pruned:
        snap = committed_snapshot(data_dir, MANIFEST_FILE)
        if snap is not None:
            write_snapshot(data_dir, snap, commit)
            return
    try:
        old = read_snapshot(data_dir)
    except CurricleError:
        old = None
    settings = None if pruned else {"prepare": config.model_dump(mode="json", exclude=EXECUTION_FIELDS)}
    snap = store_snapshot(data_dir, manifest, settings, cache=file_cache(old), bar=bar)
    write_snapshot(data_dir, snap, commit)


def prepare(sources: list[SourceConfig], tokenizer: TokenizerConfig, config: PrepareConfig, data_dir: Path,
            progress: bool = True) -> PrepareReport:
    """Build (or bring up to date) the tokenizer and token store of ``data_dir`` from the
    documents of ``sources``. Concurrent prepares of one ``data_dir`` run one at a time
    (:data:`LOCK_FILE`): a second one waits for the first, then does only what is left."""
    data_dir = Path(data_dir)
    with atomic.locked(data_dir / LOCK_FILE,
                       lambda: log.info("another prepare of %s is running; waiting for it to finish", data_dir)):
        return _prepare(sources, tokenizer, config, data_dir, progress)


def _prepare(sources: list[SourceConfig], tokenizer: TokenizerConfig, config: PrepareConfig, data_dir: Path,
             progress: bool) -> PrepareReport:
    """:func:`prepare`, under its lock."""
    t0 = time.perf_counter()
    old = _read_manifest(data_dir)
    sources = [build_source(s) for s in sources]
    fps = [s.fingerprint() for s in sources]
    report = PrepareReport(data_dir=data_dir, tokenizer_trained=False)
    if (data_dir / LINEAGE_FILE).is_file() and not up_to_date([s.config for s in sources], tokenizer, config, data_dir):
        # A pruned store's domains are not what these sources would write: rewriting them
        # would quietly undo the pruning (and delete its directories).
        raise CurricleError(f"{data_dir} is a pruned store ({LINEAGE_FILE}) and its sources or settings changed; "
                            f"prepare its parent store and prune again, or point data_dir elsewhere")
    scorer = None  # the reference checkpoint, loaded when a first domain needs it

    with _progress(progress) as bar:
        tok_entry, tok, trained = _prepare_tokenizer(tokenizer, data_dir, sources, fps, old, bar)
        report.tokenizer_trained = trained
        vocab_size, eos_id = int(tok_entry.vocab_size), int(tok_entry.eos_id)
        dtype = token_dtype(vocab_size)
        tok_dir = data_dir / tok_entry.dir

        groups = _groups(sources)
        keys = source_keys(sources)

        manifest = Manifest(dtype=dtype.name, eos_id=eos_id, vocab_size=vocab_size, tokenizer=tok_entry)
        for key, members in groups.items():
            gfp = _group_fingerprint(tok_entry.fingerprint, [fps[i] for i in members], config)
            prev = old.groups.get(key) if old is not None else None
            if prev and prev.fingerprint == gfp and all(
                (data_dir / old.domains[d].dir).is_dir() for d in prev.domains
            ):
                manifest.groups[key] = prev
                for d in prev.domains:
                    manifest.domains[d] = old.domains[d]
                for i in members:
                    manifest.sources[keys[i]] = old.sources.get(keys[i], {})
                continue

            # Read and encode every document of the group, spooling each domain to disk.
            # (the spool directory goes when the group is written, or if anything fails)
            with tempfile.TemporaryDirectory(dir=data_dir, prefix=".spool-", suffix=".tmp") as spool_tmp:
                spool_dir = Path(spool_tmp)
                spools: dict[str, _Spool] = {}
                with BatchEncoder(str(tok_dir / "tokenizer.json"), dtype, workers=config.workers) as encoder:
                    for i in members:
                        src = sources[i]
                        name = src.describe()
                        fields = src.meta_fields()
                        task = bar.add_task(f"reading {name}", total=src.config.max_docs)
                        for docs, enc in encoder.map(_batches(src, config.encode_batch_docs)):
                            ends = np.cumsum(enc.lengths)
                            for k, doc in enumerate(docs):
                                spool = spools.get(doc.domain)
                                if spool is None:
                                    spool = spools[doc.domain] = _Spool(spool_dir / f"{len(spools)}.bin", dtype,
                                                                        doc.domain)
                                spool.add(doc.id, name, enc.ids[ends[k] - enc.lengths[k] : ends[k]], enc.n_chars[k],
                                          enc.compression[k], {f: doc.meta.get(f) for f in fields}, doc)
                            bar.advance(task, len(docs))
                        bar.remove_task(task)
                        manifest.sources[keys[i]] = src.stats.to_dict()
                        report.skipped[keys[i]] = dict(src.stats.skipped)
                        report.missing_fields[keys[i]] = dict(src.stats.missing)
                by_domain = spools

                for domain in sorted(by_domain):
                    final = data_dir / "store" / f"{_slug(domain)}-{_hash([gfp, domain])[:16]}"
                    if final.is_dir():  # complete from an earlier run whose manifest never landed
                        by_domain[domain].close()
                        stats = _stats_from_dir(final)
                    else:
                        if config.reference_model is not None and scorer is None:
                            scorer = CheckpointScorer(config.reference_model, vocab_size, tok_dir,
                                                      batch_docs=config.reference_batch_docs,
                                                      max_tokens=config.reference_max_tokens)
                        stats = _write_domain(domain, by_domain[domain], config, final, eos_id, vocab_size,
                                              reference=scorer, bar=bar)
                    manifest.domains[domain] = DomainEntry(dir=str(final.relative_to(data_dir)), group=key,
                                                           train=stats["train"], heldout=stats["heldout"])
                manifest.groups[key] = GroupEntry(fingerprint=gfp, domains=sorted(by_domain))

        _write_snapshot(data_dir, manifest, config, bar)
        write_manifest(data_dir, manifest)

    # Reports, and garbage: directories no manifest names any more, and the temporary ones of a
    # killed prepare (under the lock no other prepare is writing one).
    for d, entry in sorted(manifest.domains.items()):
        before = old.groups.get(entry.group) if old is not None else None
        fresh = before is not None and before.fingerprint == manifest.groups[entry.group].fingerprint
        report.domains.append(DomainReport(
            domain=d, up_to_date=fresh and not trained,
            train_docs=entry.train.docs, train_tokens=entry.train.tokens,
            heldout_docs=entry.heldout.docs, heldout_tokens=entry.heldout.tokens,
        ))
    keep = {manifest.tokenizer.dir} | {Path(e.dir).name for e in manifest.domains.values()}
    for p in list(data_dir.glob("tokenizer-*")) + list((data_dir / "store").glob("*")) + list(data_dir.glob(".*.tmp")):
        if p.is_dir() and p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


