"""Source shards: the unit of parallel work and of resume, and reading one without crashing.

A JSONL or Parquet source is one shard per file, a text directory one shard per
``text_files_per_shard`` files; built-in and ``hf-disk`` sources, and any source with
``max_docs`` (a limit over the whole source), are one shard each. Shards are read with the
sources' own readers (:mod:`curricle.sources`), narrowed to the shard's files, so curated
documents carry the same ids and metadata ``prepare`` would give them.

Reading never raises on bad input. Every record a source skips (a line that is not JSON, a
record without text, invalid UTF-8, an empty document, a binary file) is quarantined by the
``read`` step under the source's reason with its location (and, for a JSONL line, the raw line
itself). A file that cannot be read at all (a Parquet file with the wrong schema or none, a
corrupt gzip stream) is quarantined as one record (``bad-schema``, ``unreadable-file``); what
it yielded before failing is kept. Documents larger than ``max_doc_bytes`` are quarantined as
``too-large``, and text that is not valid Unicode (lone surrogates from ``\\ud800`` escapes)
as ``invalid-unicode``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow.parquet as pq

from curricle.curate.document import CurDoc, Drop, location_of
from curricle.curate.funnel import FunnelCounter
from curricle.curate.quarantine import QuarantineWriter
from curricle.errors import CurricleError
from curricle.sources import build_source
from curricle.sources.base import Source, SourceStats
from curricle.sources.files import glob_root, match_files, open_binary, relative_name
from curricle.sources.jsonl import JsonlSource
from curricle.sources.parquet import ParquetSource
from curricle.sources.text_dir import TextDirSource

log = logging.getLogger(__name__)

READ = "read"
_LINE_LOCATION = re.compile(r"^(.*):(\d+)$")


@dataclass(frozen=True)
class Shard:
    """A piece of one source: ``files`` of it, or the whole source when None."""

    source: int
    """Index of the source in the run config's ``sources``."""
    files: tuple[str, ...] | None = None

    def describe(self, source: Source) -> str:
        if self.files is None:
            return source.describe()
        if len(self.files) == 1:
            return f"{source.describe()} [{self.files[0]}]"
        return f"{source.describe()} [{len(self.files)} files from {self.files[0]}]"


def plan_shards(sources: list[Source], text_files_per_shard: int) -> list[Shard]:
    """The shards of every source, in source order (the corpus order dedup keeps first copies by)."""
    shards: list[Shard] = []
    for i, src in enumerate(sources):
        cfg = src.config
        if cfg.max_docs is not None:
            shards.append(Shard(i))
        elif isinstance(src, (JsonlSource, ParquetSource)):
            shards.extend(Shard(i, (f,)) for f in match_files(src, cfg.path))
        elif isinstance(src, TextDirSource):
            files = [str(p) for _, p in src._files()]
            for k in range(0, len(files), text_files_per_shard):
                shards.append(Shard(i, tuple(files[k : k + text_files_per_shard])))
        else:
            shards.append(Shard(i))
    return shards


class _RecordingStats(SourceStats):
    """SourceStats that also hands every skip to curate (and logs none: the quarantine has them)."""

    def __init__(self, name: str, listener: Callable[[str, str], None]):
        super().__init__(name=name)
        self._listener = listener

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        self._listener(reason, where)


class _JsonlFile(JsonlSource):
    def __init__(self, config: Any, path: str):
        super().__init__(config)
        self._path = path

    def _iter(self) -> Iterator[Any]:
        yield from self._read_file(self._path, relative_name(self._path, glob_root(self.config.path)))


class _ParquetFile(ParquetSource):
    def __init__(self, config: Any, path: str):
        super().__init__(config)
        self._path = path

    def _iter(self) -> Iterator[Any]:
        self._check_schema(pq, self._path)
        yield from self._read_file(pq, self._path, relative_name(self._path, glob_root(self.config.path)))


class _TextFile(TextDirSource):
    def __init__(self, config: Any, path: str):
        super().__init__(config)
        self._path = Path(path)

    def _files(self) -> list[tuple[str, Path]]:
        root = Path(self.config.path).expanduser()
        return [(self._path.relative_to(root).as_posix(), self._path)]


def _file_readers(source: Source, shard: Shard) -> list[tuple[str, Source, bool]]:
    """``(location, reader, is_file)`` for each part of the shard, read one by one so a bad
    file costs only itself."""
    cfg = source.config
    if shard.files is None:
        return [(source.describe(), build_source(cfg), False)]
    cls = {JsonlSource: _JsonlFile, ParquetSource: _ParquetFile, TextDirSource: _TextFile}[type(source)]
    return [(f, cls(cfg, f), True) for f in shard.files]


def _file_failure_reason(source: Source, location: str, error: BaseException) -> str:
    if isinstance(source, ParquetSource) and isinstance(error, CurricleError):
        try:
            pq.read_schema(location)
        except Exception:
            return "unreadable-file"
        return "bad-schema"
    return "unreadable-file"


def _raw_lines(path: str, wanted: set[int], max_chars: int | None) -> dict[int, str]:
    """The raw bytes of the wanted (1-based) lines of a JSONL file, decoded for display."""
    out: dict[int, str] = {}
    try:
        with open_binary(path) as f:
            last = max(wanted)
            for lineno, raw in enumerate(f, start=1):
                if lineno in wanted:
                    raw = raw.rstrip(b"\r\n")
                    if max_chars is not None:
                        raw = raw[: max_chars * 4]
                    out[lineno] = raw.decode("utf-8", errors="backslashreplace")
                if lineno >= last:
                    break
    except Exception:  # the skip is recorded either way; the raw line is a courtesy
        pass
    return out


def read_shard(sources: list[Source], shard: Shard, funnel: FunnelCounter, quarantine: QuarantineWriter,
               max_doc_bytes: int | None) -> Iterator[CurDoc]:
    """The documents of ``shard``; every record that does not become one is counted and
    quarantined by the ``read`` step."""
    source = sources[shard.source]
    domain = source.config.domain
    desc = source.describe()
    for location, reader, is_file in _file_readers(source, shard):
        skips: list[tuple[str, str]] = []
        reader.stats = _RecordingStats(desc, lambda reason, where: skips.append((reason, where)))
        try:
            docs = reader._iter()
            if reader.config.max_docs is not None:
                docs = islice(docs, reader.config.max_docs)
            for d in docs:
                meta = reader.add_license(dict(d.meta))
                doc = CurDoc(id=d.id, text=d.text, domain=d.domain, meta=meta, source=desc,
                             location=location_of(desc, d.id, d.meta))
                verdict = _check_text(doc.text, max_doc_bytes)
                if verdict is None:
                    funnel.row(doc.domain, READ).keep(doc.tokens, doc.tokens)
                    yield doc
                else:
                    tokens = doc.tokens
                    funnel.row(doc.domain, READ).drop(verdict.reason, tokens)
                    quarantine.drop(READ, doc, verdict)
        except Exception as e:  # bad input: one record for what could not be read
            reason = _file_failure_reason(source, location, e) if is_file else "source-error"
            funnel.row(domain, READ).drop(reason, 0)
            quarantine.record(READ, reason, domain, desc, location, detail={"error": f"{type(e).__name__}: {e}"})
            log.warning("%s: %s (%s), quarantined", location, reason.replace("-", " "), e)
        finally:
            _quarantine_skips(source, domain, desc, skips, funnel, quarantine)


def _quarantine_skips(source: Source, domain: str, desc: str, skips: list[tuple[str, str]],
                      funnel: FunnelCounter, quarantine: QuarantineWriter) -> None:
    raw: dict[str, dict[int, str]] = {}
    if isinstance(source, JsonlSource) and skips:
        wanted: dict[str, set[int]] = {}
        for _, where in skips:
            m = _LINE_LOCATION.match(where)
            if m:
                wanted.setdefault(m.group(1), set()).add(int(m.group(2)))
        raw = {p: _raw_lines(p, lines, quarantine.max_text_chars) for p, lines in wanted.items()}
    for reason, where in skips:
        funnel.row(domain, READ).drop(reason, 0)
        text = None
        m = _LINE_LOCATION.match(where)
        if m and m.group(1) in raw:
            text = raw[m.group(1)].get(int(m.group(2)))
        quarantine.record(READ, reason, domain, desc, where, raw=text)


def _check_text(text: str, max_doc_bytes: int | None) -> Drop | None:
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        return Drop("invalid-unicode", {"error": str(e)})
    if max_doc_bytes is not None and size > max_doc_bytes:
        return Drop("too-large", {"bytes": size, "max_doc_bytes": max_doc_bytes})
    return None
