"""A directory of text files: each file is one document, its id the path relative to the
directory.

A file is skipped as ``binary`` when its first 8 KB hold a NUL byte, ``invalid-utf8`` when it
does not decode, and ``empty-text`` when it holds only whitespace; the location is the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from curricle.errors import CurricleError
from curricle.sources.base import Document, Source
from curricle.sources.config import TextDirConfig
from curricle.sources.files import files_fingerprint

#: How much of a file's head is searched for a NUL byte to call it binary.
BINARY_SNIFF_BYTES = 8192


class TextDirSource(Source):
    """Documents from the files of a directory, in sorted relative-path order."""

    config: TextDirConfig

    def describe(self) -> str:
        return f"text {Path(self.config.path, self.config.glob).as_posix()}"

    def _files(self) -> list[tuple[str, Path]]:
        """``(relative posix path, path)`` of each matched file, sorted by relative path."""
        root = Path(os.path.expanduser(self.config.path))
        if not root.is_dir():
            raise CurricleError(f"source '{self.describe()}': no such file or directory: {self.config.path}")
        files = sorted(
            (p.relative_to(root).as_posix(), p) for p in root.glob(self.config.glob) if p.is_file()
        )
        if not files:
            raise CurricleError(
                f"source '{self.describe()}': no such file or directory: "
                f"{Path(self.config.path, self.config.glob).as_posix()}"
            )
        return files

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "files": files_fingerprint([str(p) for _, p in self._files()])}

    def _iter(self) -> Iterator[Document]:
        for rel, path in self._files():
            where = str(path)
            data = path.read_bytes()
            if b"\x00" in data[:BINARY_SNIFF_BYTES]:
                self.stats.skip("binary", where)
                continue
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                self.stats.skip("invalid-utf8", where)
                continue
            if not text.strip():
                self.stats.skip("empty-text", where)
                continue
            yield Document(id=rel, text=text, domain=self.config.domain, meta={"source": where})
