"""The ``curated`` source kind: the documents ``curricle curate`` kept, one domain at a time.

It reads the files ``funnel.json`` lists for its domain (never a glob: a half-written run
leaves ``funnel.json`` and the files it names untouched), in shard order, ``.jsonl.gz`` or
``.parquet`` as curate wrote them. Ids and metadata are the ones curate kept (the original
sources'); the location of each document in the curated file is added to its ``meta``
(``curated_file``, ``curated_line`` / ``curated_row``). ``meta_fields`` are looked up in
that ``meta`` (where the original source or a curation step put them); a document without one
gets None there, counted in ``missing_fields``. Unset, they are every field curate recorded
for the domain (``funnel.json``'s ``fields``, :mod:`curricle.curate.fields`) that the store
can hold; given, each must be one curate recorded (a funnel written before fields were
recorded is not checked).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq

from curricle.curate.fields import STORE_KINDS, recorded_fields
from curricle.curate.funnel import read_funnel
from curricle.errors import CurricleError
from curricle.sources.base import Document, Source
from curricle.sources.config import RESERVED_META, CuratedConfig
from curricle.sources.files import files_fingerprint


class CuratedSource(Source):
    """Documents of one domain of a curate output."""

    config: CuratedConfig

    def describe(self) -> str:
        return f"curated {self.config.path} [{self.config.domain}]"

    def _funnel(self) -> dict[str, Any]:
        funnel = read_funnel(Path(self.config.path).expanduser())
        if funnel is None:
            raise CurricleError(f"source '{self.describe()}': no funnel.json in {self.config.path}; "
                                f"run `curricle curate` first")
        if self.config.domain not in funnel["domains"]:
            raise CurricleError(f"source '{self.describe()}': the curated output has no domain "
                                f"'{self.config.domain}' (domains: {', '.join(sorted(funnel['domains']))})")
        return funnel

    def meta_fields(self) -> list[str]:
        """The fields carried into ``meta.parquet`` (see the module doc); read from
        ``funnel.json`` once (this is asked for every document)."""
        if getattr(self, "_meta_fields", None) is None:
            self._meta_fields = self._resolve_meta_fields()
        return self._meta_fields

    def _resolve_meta_fields(self) -> list[str]:
        funnel = self._funnel()
        record = recorded_fields(funnel, self.config.domain)
        if self.config.meta_fields is None:
            return [f["name"] for f in record or () if f["kinds"] and set(f["kinds"]) <= STORE_KINDS
                    and f["name"] not in RESERVED_META]
        if record is not None:
            known = sorted({f["name"] for fields in funnel["fields"].values() for f in fields})
            for name in self.config.meta_fields:
                if name not in known:
                    raise CurricleError(f"source '{self.describe()}': meta_fields: curate recorded no field "
                                        f"'{name}' on its documents (recorded: {', '.join(known) or 'none'})")
        return list(self.config.meta_fields)

    def _files(self) -> list[Path]:
        root = Path(self.config.path).expanduser()
        return [root / f for f in self._funnel()["domains"][self.config.domain]["files"]]

    def fingerprint(self) -> dict[str, Any]:
        funnel = self._funnel()
        return {**super().fingerprint(), "curated": funnel["fingerprint"],
                "files": files_fingerprint([str(p) for p in self._files()])}

    def _iter(self) -> Iterator[Document]:
        files = self._files()
        if not files:
            raise CurricleError(f"source '{self.describe()}': curate kept no documents of domain "
                                f"'{self.config.domain}' (see {self.config.path}/funnel.json)")
        for path in files:
            if path.name.endswith(".parquet"):
                yield from self._read_parquet(path)
            else:
                yield from self._read_jsonl(path)

    def _read_jsonl(self, path: Path) -> Iterator[Document]:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                r = json.loads(line)
                meta = {**r.get("meta", {}), "curated_file": str(path), "curated_line": lineno}
                meta.update(self._fields(meta, f"{path}:{lineno}"))
                yield Document(id=r["id"], text=r["text"], domain=self.config.domain, meta=meta)

    def _read_parquet(self, path: Path) -> Iterator[Document]:
        row = 0
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=4096, columns=["id", "text", "meta"]):
                cols = batch.to_pydict()
                for doc_id, text, meta in zip(cols["id"], cols["text"], cols["meta"]):
                    m = {**json.loads(meta), "curated_file": str(path), "curated_row": row}
                    m.update(self._fields(m, f"{path}:{row}"))
                    yield Document(id=doc_id, text=text, domain=self.config.domain, meta=m)
                    row += 1
