"""Atomic writes: all or nothing, with the modes a plain open or mkdir would give."""

import os

import pytest

from curricle import atomic


def test_write_text_replaces_whole_files_with_the_usual_mode(tmp_path):
    p = tmp_path / "a.txt"
    atomic.write_text(p, "one")
    atomic.write_text(p, "two")
    assert p.read_text() == "two" and os.stat(p).st_mode & 0o777 == 0o666 & ~atomic._MASK
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]  # no temporary file left


def test_directory_appears_whole_or_not_at_all(tmp_path):
    with atomic.directory(tmp_path / "d") as d:
        (d / "x").write_text("x")
    assert (tmp_path / "d" / "x").read_text() == "x"
    assert os.stat(tmp_path / "d").st_mode & 0o777 == 0o777 & ~atomic._MASK
    with pytest.raises(RuntimeError):
        with atomic.directory(tmp_path / "e") as d:
            (d / "x").write_text("x")
            raise RuntimeError("killed half-way")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["d"]


def test_file_replaces_the_target_whole_or_leaves_it_as_it_was(tmp_path):
    p = tmp_path / "w.bin"
    for data in (b"one", b"two"):
        with atomic.file(p) as tmp:
            tmp.write_bytes(data)
    assert p.read_bytes() == b"two" and os.stat(p).st_mode & 0o777 == 0o666 & ~atomic._MASK
    with pytest.raises(RuntimeError):
        with atomic.file(p) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed half-way")
    assert p.read_bytes() == b"two" and [f.name for f in tmp_path.iterdir()] == ["w.bin"]
