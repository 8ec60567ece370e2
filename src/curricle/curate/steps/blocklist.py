"""``blocklist``: drop documents holding listed words, regex matches, or links to listed domains.

The lists are files, one entry per line (blank lines and lines starting with ``#`` ignored):

- ``words``: words or phrases, matched whole (not inside a longer word: ``ass`` does not match
  ``class``) and case-insensitively; a phrase's spaces match any run of whitespace. Reason
  ``blocklist-word``.
- ``regexes``: Python regular expressions (:mod:`re`), searched as written (add ``(?i)`` for
  case-insensitive). Reason ``blocklist-regex``.
- ``url_domains``: domains; a link in the text (``http://``, ``https://`` or ``www.``) whose
  host is the domain or a subdomain of it matches, case-insensitively. Reason
  ``blocklist-url``.

Every occurrence counts; a document is dropped when the count (over the three lists, in that
order) reaches ``max_hits`` (default 1: the first match), under the reason of the match that
reached it, with the matches in the quarantine detail. Single words (letters, digits, ``_``)
are looked up in a set, one pass over the document's words whatever the list's size (a
regex alternation of 10,000 words ran at about 100 documents/s); phrases and entries with other
characters become one compiled alternation.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterator

from curricle.curate.config import BlocklistConfig
from curricle.curate.document import CurDoc, Drop
from curricle.curate.steps.base import CurationStep
from curricle.errors import CurricleError

#: A link's host: after ``http(s)://`` (and any ``user@``), or a bare ``www.`` host.
WORD = re.compile(r"\w+")
URL_HOST = re.compile(r"(?:\bhttps?://(?:[^\s/@?#]*@)?|(?<![\w.-])(?=www\.))([\w.-]+)", re.IGNORECASE)


def read_list(path: str, where: str) -> list[tuple[int, str]]:
    """``(line number, entry)`` of a list file; a one-line error naming ``where`` and the file
    if it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise CurricleError(f"{where}: no such file: {path}")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CurricleError(f"{where}: {path}: cannot read ({e})") from None
    return [(i, s.strip()) for i, s in enumerate(lines, start=1) if s.strip() and not s.strip().startswith("#")]


def words_pattern(words: list[str]) -> re.Pattern | None:
    """One case-insensitive pattern matching any of ``words`` whole (longest first)."""
    alts = sorted({r"\s+".join(re.escape(part) for part in w.split()) for w in words}, key=lambda a: (-len(a), a))
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.IGNORECASE) if alts else None


class BlocklistStep(CurationStep):
    config: BlocklistConfig

    @classmethod
    def prepare(cls, config: BlocklistConfig, where: str) -> Any:
        hashes = {}
        for field in ("words", "regexes", "url_domains"):
            for path in getattr(config, field):
                entries = read_list(path, f"{where}.{field}")
                if field == "regexes":
                    for line, rx in entries:
                        try:
                            re.compile(rx)
                        except (re.error, OverflowError, RecursionError) as e:  # "a{4294967296}" overflows
                            raise CurricleError(f"{where}.regexes: {path}:{line}: not a regular expression "
                                                f"({e})") from None
                hashes[f"{field}:{path}"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        return hashes

    def setup(self) -> None:
        c = self.config
        entries = {f: [e for path in getattr(c, f) for _, e in read_list(path, f"blocklist.{f}")]
                   for f in ("words", "regexes", "url_domains")}
        single = [w for w in entries["words"] if WORD.fullmatch(w)]
        self._word_set = {w.lower() for w in single}
        self._words = words_pattern([w for w in entries["words"] if not WORD.fullmatch(w)])
        self._regexes = [re.compile(rx) for rx in dict.fromkeys(entries["regexes"])]
        self._domains = {d.lower().strip(".") for d in entries["url_domains"]}

    def _hits(self, text: str) -> Iterator[tuple[str, str]]:
        if self._word_set:
            for m in WORD.finditer(text):
                if m.group(0).lower() in self._word_set:
                    yield "blocklist-word", m.group(0)
        if self._words is not None:
            for m in self._words.finditer(text):
                yield "blocklist-word", m.group(0)
        for rx in self._regexes:
            for m in rx.finditer(text):
                yield "blocklist-regex", m.group(0)
        if self._domains:
            for m in URL_HOST.finditer(text):
                host = m.group(1).lower().strip(".")
                parts = host.split(".")
                if any(".".join(parts[i:]) in self._domains for i in range(len(parts))):
                    yield "blocklist-url", host

    def apply(self, doc: CurDoc) -> Drop | None:
        found: list[str] = []
        for reason, match in self._hits(doc.text):
            found.append(match)
            if len(found) >= self.config.max_hits:
                return Drop(reason, {"match": match, "matches": found})
        return None
