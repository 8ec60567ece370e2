"""Parquet files: one document per row of a string column.

Files are streamed in record batches, so a file larger than memory is fine. Every matched
file's schema is checked before the first document: a missing or non-string text column
(or a missing id column) is a user error naming the file and the field, not a skip. Rows
whose text is null or blank are skipped (``null-text``, ``empty-text``), as are rows whose
id is null when ``id_field`` is set (``missing-id``) and rows whose text, id, domain or a string
``meta_fields`` value is not valid UTF-8 (``invalid-utf8``: Arrow does not check the bytes a
file holds); the location is ``path:row`` with
rows counted from 0 within the file. ``meta_fields`` columns must exist in every file and
hold numbers, strings or bools (else a one-line error naming the column and the file); their
values go into each document's ``meta``, null ones counted in ``missing_fields``.
"""

from __future__ import annotations

from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curricle.errors import CurricleError
from curricle.sources.base import Document, Source
from curricle.sources.config import ParquetConfig
from curricle.sources.files import files_fingerprint, glob_root, match_files, relative_name

#: Rows per record batch: bounds memory, whatever the file's row-group size.
BATCH_ROWS = 4096


def scalar_column(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` can be a ``meta_fields`` column (numbers, strings, bools)."""
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)
            or pa.types.is_large_string(t) or pa.types.is_null(t))


#: The binary type whose values are a string type's bytes, unchecked.
_BYTES = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary(), pa.string_view(): pa.binary_view()}


def column_values(column: pa.Array) -> list:
    """A column's values as Python objects. A string that is not valid UTF-8 is decoded with
    ``surrogateescape``: its lone surrogates get its row skipped as ``invalid-utf8``
    (:meth:`~curricle.sources.base.Source.__iter__`) instead of failing the whole batch."""
    try:
        return column.to_pylist()
    except UnicodeDecodeError:
        if column.type not in _BYTES:
            raise
        raw = column.cast(_BYTES[column.type]).to_pylist()
        return [None if v is None else v.decode("utf-8", "surrogateescape") for v in raw]


class ParquetSource(Source):
    """Documents from Parquet files, files in sorted path order, rows in file order."""

    config: ParquetConfig

    def describe(self) -> str:
        return f"parquet {self.config.path}"

    def fingerprint(self) -> dict[str, Any]:
        files = match_files(self, self.config.path)
        return {**super().fingerprint(), "files": files_fingerprint(files)}

    def _iter(self) -> Iterator[Document]:
        cfg = self.config
        files = match_files(self, cfg.path)
        root = glob_root(cfg.path)
        # Check every file's schema (footer only) first, so a bad schema in the last file
        # fails before anything downstream has consumed the first.
        for path in files:
            self._check_schema(pq, path)
        for path in files:
            yield from self._read_file(pq, path, relative_name(path, root))

    def _read_file(self, pq: Any, path: str, name: str) -> Iterator[Document]:
        cfg = self.config
        domain_field = cfg.domain_field if cfg.use_record_domain else None
        columns = [c for c in (cfg.text_field, cfg.id_field, domain_field) if c]
        columns += [c for c in cfg.record_fields if c not in columns]
        row = 0
        # One file open at a time: a glob may match more shards than the fd limit.
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                texts = column_values(batch.column(cfg.text_field))
                ids = column_values(batch.column(cfg.id_field)) if cfg.id_field else None
                domains = column_values(batch.column(domain_field)) if domain_field else None
                fields = {f: column_values(batch.column(f)) for f in cfg.record_fields}
                yield from self._table_docs(texts, ids, row, path, id_prefix=f"{name}:", domains=domains,
                                            fields=fields)
                row += len(texts)

    def _check_schema(self, pq: Any, path: str) -> None:
        cfg = self.config
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as e:
            raise CurricleError(f"source '{self.describe()}': {path}: not a Parquet file ({e})") from e
        for field_name in (cfg.text_field, cfg.id_field, cfg.domain_field if cfg.use_record_domain else None,
                           *cfg.record_fields):
            if field_name is not None and field_name not in schema.names:
                raise CurricleError(
                    f"source '{self.describe()}': {path} has no column '{field_name}' "
                    f"(columns: {', '.join(schema.names)})"
                )
        for field_name in cfg.meta_fields:
            mtype = schema.field(field_name).type
            if not scalar_column(mtype):
                raise CurricleError(f"source '{self.describe()}': {path}: meta field '{field_name}' is a {mtype} "
                                    f"column; expected numbers, strings or bools")
        ftype = schema.field(cfg.text_field).type
        is_text = pa.types.is_string(ftype) or pa.types.is_large_string(ftype) or pa.types.is_string_view(ftype)
        if not is_text:
            raise CurricleError(
                f"source '{self.describe()}': {path}: column '{cfg.text_field}' is {ftype}, "
                f"expected a string column"
            )
