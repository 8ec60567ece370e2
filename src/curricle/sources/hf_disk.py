"""A Hugging Face ``datasets`` dataset written with ``save_to_disk``.

Either a ``Dataset`` or a ``DatasetDict`` (one ``split`` of it is read). The Arrow files are
memory-mapped and read in batches, so a large dataset is not loaded at once. ``datasets`` is
an optional extra, imported only when this source is read. Rows with null or blank text are
skipped (``null-text``, ``empty-text``), rows with a null id when ``id_field`` is set
(``missing-id``), and, as in the Parquet source, rows whose text, id, domain or a string
``meta_fields`` value is not valid UTF-8 (``invalid-utf8``: Arrow does not check the bytes a
file holds); the location is ``path:row`` with rows counted from 0. ``meta_fields``
columns must exist (a one-line error otherwise); their values go into each document's
``meta`` (a non-scalar value is a one-line error naming the field). A dataset that cannot be
loaded (a truncated or corrupt Arrow file, a malformed ``state.json``) is a one-line error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from curricle.errors import CurricleError
from curricle.extras import require
from curricle.sources.base import Document, Source
from curricle.sources.config import HFDiskConfig
from curricle.sources.files import files_fingerprint
from curricle.sources.parquet import column_values

#: Rows per batch pulled from the Arrow table.
BATCH_ROWS = 4096

#: What ``datasets.load_from_disk`` raises for a directory whose files are damaged: a truncated
#: Arrow file (OSError), one that is not Arrow, a ``state.json`` that is not JSON (ValueError),
#: one without its keys (KeyError, TypeError). A missing file is FileNotFoundError, an OSError:
#: catch that first.
UNREADABLE_DATASET = (OSError, ValueError, KeyError, TypeError, pa.ArrowException)


class HFDiskSource(Source):
    """Documents from a saved ``datasets`` dataset, in row order."""

    config: HFDiskConfig

    def describe(self) -> str:
        return f"hf-disk {self.config.path}"

    def _root(self) -> Path:
        root = Path(os.path.expanduser(self.config.path))
        if not root.is_dir():
            raise CurricleError(f"source '{self.describe()}': no such file or directory: {self.config.path}")
        return root

    def fingerprint(self) -> dict[str, Any]:
        files = [str(p) for p in self._root().rglob("*") if p.is_file()]
        return {**super().fingerprint(), "files": files_fingerprint(files)}

    def _load(self) -> Any:
        """The chosen ``Dataset``, its columns checked."""
        datasets = require("datasets", "source hf-disk")
        cfg = self.config
        root = self._root()
        try:
            ds = datasets.load_from_disk(str(root))
        except FileNotFoundError as e:
            raise CurricleError(
                f"source '{self.describe()}': {cfg.path} is not a dataset written by save_to_disk ({e})"
            ) from e
        except UNREADABLE_DATASET as e:
            raise CurricleError(f"source '{self.describe()}': {cfg.path}: a corrupt or truncated dataset ({e})") from e
        if isinstance(ds, datasets.DatasetDict):
            if cfg.split not in ds:
                raise CurricleError(
                    f"source '{self.describe()}': no split '{cfg.split}' "
                    f"(splits: {', '.join(sorted(ds))})"
                )
            ds = ds[cfg.split]
        domain_field = cfg.domain_field if cfg.use_record_domain else None
        for name in (cfg.text_field, cfg.id_field, domain_field, *cfg.record_fields):
            if name is not None and name not in ds.column_names:
                raise CurricleError(
                    f"source '{self.describe()}': no column '{name}' "
                    f"(columns: {', '.join(ds.column_names)})"
                )
        feature = ds.features[cfg.text_field]
        if not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")):
            raise CurricleError(
                f"source '{self.describe()}': column '{cfg.text_field}' is {feature}, "
                f"expected a string column"
            )
        columns = [c for c in (cfg.text_field, cfg.id_field, domain_field) if c]
        columns += [c for c in cfg.record_fields if c not in columns]
        # Arrow batches, whatever format was set before saving (torch, numpy would give tensors), so
        # a value that is not UTF-8 costs its row (column_values), not the batch and what follows.
        return ds.select_columns(columns).with_format("arrow")

    def _iter(self) -> Iterator[Document]:
        cfg = self.config
        ds = self._load()
        row = 0
        for batch in ds.iter(batch_size=BATCH_ROWS):
            texts = column_values(batch[cfg.text_field])
            ids = column_values(batch[cfg.id_field]) if cfg.id_field else None
            domains = column_values(batch[cfg.domain_field]) if cfg.use_record_domain else None
            fields = {f: column_values(batch[f]) for f in cfg.record_fields}
            yield from self._table_docs(texts, ids, row, cfg.path, domains=domains, fields=fields)
            row += len(texts)
