"""Quarantine: every dropped document, one JSON line each, in ``quarantine/<step>.jsonl``.

An entry holds the step, the reason, the domain, the document id, the source and the
location in it (``path:line``, ``path:row``, ``path``), the text as the dropping step received
it (or, for records that never became a document, the raw line when there is one), and the
step's detail (the matched n-gram, the kept duplicate, the exception; a value JSON cannot hold
is written as its ``str``).

Beside the step files, ``quarantine/run.json`` (:data:`RUN_FILE`) holds the fingerprint of the
run that wrote them (``{"fingerprint": ...}``): curate swaps the directory in whole before it
commits ``funnel.json``, and counts an output as up to date only when the two fingerprints agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from curricle.curate.document import CurDoc, Drop

#: The quarantine directory's record of the run that wrote it.
RUN_FILE = "run.json"


def dumps(record: dict[str, Any]) -> str:
    """One JSON line; a value JSON has no type for (a step's detail holding a ``numpy.float32``
    or a set) is written as its ``str``, and text holding lone surrogates (from ``\\ud800``
    escapes in the input) with ASCII escapes so the file stays valid UTF-8."""
    line = json.dumps(record, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True, default=str)
    return line


class QuarantineWriter:
    """Appends entries to ``<dir>/<step>.jsonl`` (files opened on first use)."""

    def __init__(self, directory: Path, max_text_chars: int | None = None):
        self.directory = Path(directory)
        self.max_text_chars = max_text_chars
        self._files: dict[str, IO[str]] = {}

    def write(self, step: str, entry: dict[str, Any]) -> None:
        f = self._files.get(step)
        if f is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            f = self._files[step] = open(self.directory / f"{step}.jsonl", "w", encoding="utf-8")
        text = entry.get("text")
        if isinstance(text, str) and self.max_text_chars is not None and len(text) > self.max_text_chars:
            entry = {**entry, "text": text[: self.max_text_chars], "text_truncated_from": len(text)}
        f.write(dumps(entry) + "\n")

    def drop(self, step: str, doc: CurDoc, verdict: Drop, text: str | None = None) -> None:
        """Quarantine ``doc`` as dropped by ``step`` (``text``: its text as the step got it)."""
        self.write(step, {
            "step": step, "reason": verdict.reason, "domain": doc.domain, "id": doc.id,
            "source": doc.source, "location": doc.location,
            "text": doc.text if text is None else text, "detail": verdict.detail,
        })

    def record(self, step: str, reason: str, domain: str, source: str, location: str,
               raw: str | None = None, detail: dict[str, Any] | None = None) -> None:
        """Quarantine a record that never became a document (bad line, bad file)."""
        self.write(step, {"step": step, "reason": reason, "domain": domain, "id": None, "source": source,
                          "location": location, "text": raw, "detail": detail})

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


def quarantine_fingerprint(directory: Path) -> str | None:
    """The fingerprint of the run that wrote the quarantine ``directory`` (None: no readable
    :data:`RUN_FILE`, as in a quarantine written before it existed or half-written)."""
    try:
        data = json.loads((Path(directory) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data.get("fingerprint") if isinstance(data, dict) else None
