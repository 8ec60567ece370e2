"""The source contract: a source yields documents ``{id, text, domain, meta}``.

Every document a source cannot use is skipped under a reason and counted in
:class:`SourceStats`; the first few locations (``file:line``) per reason are kept so a log
line can point at them. A source with ``meta_fields`` puts each record's value of those fields
in the document's ``meta`` under the field's name (None where the record lacks it, counted per
field in ``SourceStats.missing``). A document's licence is ``meta["license"]``: the record's
``license_field`` where it holds one, else the source's ``license`` (absent when neither). Fatal problems (a missing path, a source with no documents at all)
raise :class:`~curricle.errors.CurricleError` with one line naming the source.

A document whose text, id, domain or a string ``meta_fields`` value is not valid Unicode (a
lone surrogate, which a JSON ``\\ud800`` escape decodes to and no tokenizer or Arrow column
takes) is skipped as ``invalid-utf8``, whatever its kind, by :meth:`Source.__iter__`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from curricle.errors import CurricleError
from curricle.sources.config import SourceConfig

log = logging.getLogger(__name__)

#: How many example locations to keep per skip reason.
MAX_EXAMPLES_PER_REASON = 5


@dataclass(frozen=True)
class Document:
    """One document. ``id`` is unique within its source and stable across reruns."""

    id: str
    text: str
    domain: str
    meta: dict[str, Any] = field(default_factory=dict)


def location(doc: Document) -> str:
    """A document's location for a log line or an error: ``path:line``, ``path:row`` (of the
    curated file, else of the source's) or its id."""
    meta = doc.meta
    for path_key, at_key in (("curated_file", "curated_line"), ("curated_file", "curated_row"),
                             ("source", "line"), ("source", "row")):
        if path_key in meta and at_key in meta:
            return f"{meta[path_key]}:{meta[at_key]}"
    return f"document '{doc.id}'"


def valid_unicode(values: Iterable[Any]) -> bool:
    """Whether every string among ``values`` encodes as UTF-8 (holds no lone surrogate)."""
    try:
        for value in values:
            if isinstance(value, str) and not value.isascii():
                value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class SourceStats:
    """What a source read, and what it skipped, by reason."""

    name: str
    read: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    missing: Counter = field(default_factory=Counter)
    """Per ``meta_fields`` entry, how many documents lacked it (or held null)."""

    def skip(self, reason: str, where: str) -> None:
        """Count one skipped record under ``reason``; ``where`` is e.g. ``path:line``."""
        self.skipped[reason] += 1
        ex = self.examples.setdefault(reason, [])
        # The first few per reason are warnings; the rest only counted (an expected filter,
        # e.g. short docstrings, would otherwise flood the log).
        level = logging.WARNING if len(ex) < MAX_EXAMPLES_PER_REASON else logging.DEBUG
        if len(ex) < MAX_EXAMPLES_PER_REASON:
            ex.append(where)
        log.log(level, "%s: %s, skipped", where, reason.replace("-", " "))

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "read": self.read,
            "skipped": dict(sorted(self.skipped.items())),
            "examples": self.examples,
            **({"missing_fields": dict(sorted(self.missing.items()))} if self.missing else {}),
        }


class Source:
    """Base class: subclasses implement :meth:`_iter` (their config is registered with them in
    :data:`curricle.sources.config.SOURCES`).

    :meth:`__iter__` counts what is read, honours ``max_docs`` and raises when a source
    produced nothing, so every kind behaves the same.
    """

    def __init__(self, config: SourceConfig):
        self.config = config
        self.stats = SourceStats(name=self.describe())

    def describe(self) -> str:
        """A short human name for logs and errors, e.g. ``jsonl data/*.jsonl``."""
        return self.config.kind

    def _iter(self) -> Iterator[Document]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _table_docs(self, texts: list, ids: list | None, row: int, path: str, id_prefix: str = "",
                    domains: list | None = None, fields: dict[str, list] | None = None) -> Iterator[Document]:
        """Documents of one batch of a table's rows (a text column and, optionally, id and
        domain columns, and the ``meta_fields`` columns in ``fields``), the first being row
        ``row`` of ``path``. Null or blank text, null ids and domains that are not a non-empty
        string are skipped and counted with ``path:row``; without ids a document's id is
        ``id_prefix + row``; a null domain is ``domain``."""
        for i, text in enumerate(texts):
            at = row + i
            domain = domains[i] if domains is not None and domains[i] is not None else self.config.domain
            if text is None:
                self.stats.skip("null-text", f"{path}:{at}")
            elif not text.strip():
                self.stats.skip("empty-text", f"{path}:{at}")
            elif ids is not None and ids[i] is None:
                self.stats.skip("missing-id", f"{path}:{at}")
            elif not isinstance(domain, str) or not domain:
                self.stats.skip("bad-domain", f"{path}:{at}")
            else:
                values = self._fields({k: v[i] for k, v in fields.items()}, f"{path}:{at}") if fields else {}
                yield Document(id=str(ids[i]) if ids is not None else f"{id_prefix}{at}", text=text,
                               domain=domain, meta={"source": path, "row": at, **values})

    def _fields(self, record: Any, where: str) -> dict[str, Any]:
        """The ``meta_fields`` of one record (a mapping, or anything with ``.get``) for its
        document's ``meta``: None where it lacks one (counted in ``stats.missing``). A value
        that is not a number, string or bool is a one-line error naming the field and
        ``where`` (``path:line``)."""
        out: dict[str, Any] = {}
        for name in self.meta_fields():
            value = record.get(name)
            if value is None:
                self.stats.missing[name] += 1
            elif not isinstance(value, (bool, int, float, str)):
                raise CurricleError(f"source '{self.describe()}': {where}: meta field '{name}' is a "
                                    f"{type(value).__name__}; expected a number, string or bool")
            out[name] = value
        license_field = getattr(self.config, "license_field", None)
        if license_field is not None:
            value = record.get(license_field)
            if value is not None and not isinstance(value, str):
                raise CurricleError(f"source '{self.describe()}': {where}: license field '{license_field}' is a "
                                    f"{type(value).__name__}; expected a string")
            if value is not None and value.strip():
                out["license"] = value.strip()
        return out

    def add_license(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` with the source's ``license`` where the record named none (in place).
        :meth:`__iter__` applies it; so does curate, which reads ``_iter`` file by file."""
        if self.config.license is not None and meta.get("license") is None:
            meta["license"] = self.config.license
        return meta

    def meta_fields(self) -> list[str]:
        """The fields this source puts in each document's ``meta`` (its ``meta_fields``)."""
        return list(getattr(self.config, "meta_fields", None) or ())

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this source's content, for incremental prepare.

        File-backed sources add file names, sizes and mtimes; built-in sources their
        parameters (they are deterministic).
        """
        return self.config.model_dump(mode="json")

    def __iter__(self) -> Iterator[Document]:
        self.stats = SourceStats(name=self.describe())
        n = 0
        limit = self.config.max_docs
        fields = self.meta_fields()
        for doc in self._iter():
            if not valid_unicode([doc.text, doc.id, doc.domain, *(doc.meta.get(f) for f in fields)]):
                self.stats.skip("invalid-utf8", location(doc))
                continue
            n += 1
            self.stats.read += 1
            self.add_license(doc.meta)
            yield doc
            if limit is not None and n >= limit:
                return  # stop before reading (and counting) anything past the limit
        if n == 0:
            raise CurricleError(
                f"source '{self.describe()}' (domain '{self.config.domain}') yielded no "
                f"documents ({self.stats.total_skipped} skipped: "
                f"{dict(self.stats.skipped) or 'none'})"
            )
