"""Paths and globs of the file-backed source kinds (jsonl, parquet, text, hf-disk)."""

from __future__ import annotations

import glob
import gzip
import io
import os
from pathlib import Path
from typing import IO, Any

import zstandard

from curricle.errors import CurricleError
from curricle.sources.base import Source

_GLOB_CHARS = frozenset("*?[")


def match_files(source: Source, pattern: str) -> list[str]:
    """The files ``pattern`` (a path or a glob, ``**`` recursive) names, sorted.

    Raises the one-line "no such file or directory" error when it names none.
    """
    pattern = os.path.expanduser(pattern)
    if _GLOB_CHARS.intersection(pattern):
        files = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    else:
        files = [pattern] if os.path.isfile(pattern) else []
    if not files:
        hint = " (a directory: give a glob of its files, e.g. dir/*.jsonl)" if os.path.isdir(pattern) else ""
        raise CurricleError(f"source '{source.describe()}': no such file or directory: {pattern}{hint}")
    return files


def glob_root(pattern: str) -> str:
    """The directory a path or glob is anchored at: its leading part without glob characters.

    Ids are made relative to it, so ``data/a.jsonl`` gives ``a.jsonl`` and
    ``data/**/*.jsonl`` gives ``sub/b.jsonl`` (unique even where base names repeat).
    """
    parts = Path(os.path.expanduser(pattern)).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if _GLOB_CHARS.intersection(part):
            break
        fixed.append(part)
    return os.path.join(*fixed) if fixed else "."


def relative_name(path: str, root: str) -> str:
    """``path`` relative to ``root``, with forward slashes on every platform."""
    return Path(os.path.relpath(path, root)).as_posix()


def files_fingerprint(paths: list[str]) -> list[list[Any]]:
    """``[path, size, mtime_ns]`` of each file, sorted by path: changes when a file does."""
    out = []
    for p in sorted(paths):
        st = os.stat(p)
        out.append([p, st.st_size, st.st_mtime_ns])
    return out


def open_binary(path: str) -> IO[bytes]:
    """``path`` for reading bytes, decompressing ``.gz`` and ``.zst`` as it streams."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".zst"):
        return io.BufferedReader(_ZstdReader(path), buffer_size=1 << 16)
    return open(path, "rb")


class _ZstdReader(io.RawIOBase):
    """A ``.zst`` file's decompressed bytes, frame after frame. A file that ends inside a frame
    (truncated or corrupt) raises ``zstandard.ZstdError`` instead of ending quietly (as
    zstandard's own ``stream_reader`` does)."""

    def __init__(self, path: str):
        self._raw = open(path, "rb")
        self._frame = zstandard.ZstdDecompressor().decompressobj()
        self._fed = False  # the current frame has been given input
        self._out = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if self._fed and not self._frame.eof:
                    raise zstandard.ZstdError(f"{self._raw.name} ends inside a zstd frame")
                return 0
            out = self._frame.decompress(chunk)
            self._fed = True
            while self._frame.eof and self._frame.unused_data:  # the next frame starts in this chunk
                rest = self._frame.unused_data
                self._frame = zstandard.ZstdDecompressor().decompressobj()
                out += self._frame.decompress(rest)
            if self._frame.eof:
                self._frame, self._fed = zstandard.ZstdDecompressor().decompressobj(), False
            self._out = out
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()
