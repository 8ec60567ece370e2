"""JSON Lines files: one record ``{"text": ..., "domain"?: ..., "id"?: ...}`` per line.

Plain ``.jsonl``, gzip-compressed ``.jsonl.gz`` and zstd-compressed ``.jsonl.zst`` are read,
streaming. The text, id and domain keys are configurable (``text_field``, ``id_field``,
``domain_field``); ``meta_fields`` keys are carried into the document's ``meta``.
A bad line never stops the read: it is skipped and counted under its reason
(``not-json``, ``not-object``, ``missing-text``, ``empty-text``, ``invalid-utf8``,
``bad-domain``) with its ``path:line``; ``invalid-utf8`` includes a line of valid bytes whose
``\\ud800``-style escape leaves a lone surrogate in its text or a string ``meta_fields``
value (:mod:`curricle.sources.base`). Blank lines are not records and are passed over. A
truncated or corrupt archive is a one-line error naming the file.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any, Iterator

import zstandard

from curricle.errors import CurricleError
from curricle.sources.base import Document, Source
from curricle.sources.config import JsonlConfig
from curricle.sources.files import files_fingerprint, glob_root, match_files, open_binary, relative_name


class JsonlSource(Source):
    """Documents from JSON Lines files, one per record, files in sorted path order."""

    config: JsonlConfig

    def describe(self) -> str:
        return f"jsonl {self.config.path}"

    def fingerprint(self) -> dict[str, Any]:
        files = match_files(self, self.config.path)
        return {**super().fingerprint(), "files": files_fingerprint(files)}

    def _iter(self) -> Iterator[Document]:
        files = match_files(self, self.config.path)
        root = glob_root(self.config.path)
        for path in files:
            yield from self._read_file(path, relative_name(path, root))

    def _read_file(self, path: str, name: str) -> Iterator[Document]:
        cfg = self.config
        try:
            with open_binary(path) as f:
                for lineno, raw in enumerate(f, start=1):
                    where = f"{path}:{lineno}"
                    try:
                        # utf-8-sig drops a byte-order mark, which only the first line can hold.
                        line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                    except UnicodeDecodeError:
                        self.stats.skip("invalid-utf8", where)
                        continue
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError:
                        self.stats.skip("not-json", where)
                        continue
                    if not isinstance(record, dict):
                        self.stats.skip("not-object", where)
                        continue
                    text = record.get(cfg.text_field)
                    if not isinstance(text, str):
                        self.stats.skip("missing-text", where)
                        continue
                    if not text.strip():
                        self.stats.skip("empty-text", where)
                        continue
                    domain = cfg.domain
                    if cfg.use_record_domain and record.get(cfg.domain_field) is not None:
                        domain = record[cfg.domain_field]
                        if not isinstance(domain, str) or not domain:
                            self.stats.skip("bad-domain", where)
                            continue
                    rid = record.get(cfg.id_field)
                    yield Document(
                        id=str(rid) if rid is not None else f"{name}:{lineno}",
                        text=text,
                        domain=domain,
                        meta={"source": path, "line": lineno, **self._fields(record, where)},
                    )
        except (gzip.BadGzipFile, zlib.error, EOFError, zstandard.ZstdError) as e:
            # A truncated or corrupt archive cannot be resynchronised: the rest of the file is lost.
            kind = "zstd" if path.endswith(".zst") else "gzip"
            raise CurricleError(f"source '{self.describe()}': {path}: corrupt {kind} file ({e})") from e

