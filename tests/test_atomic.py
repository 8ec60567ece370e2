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


def test_directory_with_replace_swaps_an_existing_one_whole(tmp_path):
    final = tmp_path / "step_5"
    with atomic.directory(final) as d:
        (d / "old").write_text("old")
    with pytest.raises(OSError):  # without replace, an existing non-empty one is an error
        with atomic.directory(final) as d:
            (d / "new").write_text("new")
    with pytest.raises(RuntimeError):  # a write that fails leaves the old one as it was
        with atomic.directory(final, replace=True) as d:
            (d / "half").write_text("half")
            raise RuntimeError("killed half-way")
    assert [f.name for f in final.iterdir()] == ["old"]
    with atomic.directory(final, replace=True) as d:
        (d / "new").write_text("new")
    assert [f.name for f in final.iterdir()] == ["new"]
    assert [f.name for f in tmp_path.iterdir()] == ["step_5"]  # neither the old one nor a temporary left


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "rename-aside"])
def test_swap_in_never_loses_the_old_directory_before_the_new_one_is_there(tmp_path, monkeypatch, exchange):
    final, tmp = tmp_path / "final", tmp_path / "final.tmp"
    final.mkdir()
    (final / "w").write_text("old")
    tmp.mkdir()
    (tmp / "w").write_text("new")
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    renamed = []
    real_rename = os.rename

    def rename(a, b):  # a crash at the last rename: what is on disk then?
        renamed.append((a, b))
        if exchange is False and os.fspath(a) == os.fspath(tmp):
            raise KeyboardInterrupt
        return real_rename(a, b)

    monkeypatch.setattr(atomic.os, "rename", rename)
    if exchange:
        atomic.swap_in(tmp, final)
        assert (final / "w").read_text() == "new" and sorted(f.name for f in tmp_path.iterdir()) == ["final"]
        assert renamed == []  # one exchange, no rename
    else:
        with pytest.raises(KeyboardInterrupt):
            atomic.swap_in(tmp, final)
        aside = [f for f in tmp_path.iterdir() if f.name.endswith(".old")]
        assert len(aside) == 1 and (aside[0] / "w").read_text() == "old" and (tmp / "w").read_text() == "new"


def test_swap_in_to_a_new_name_is_a_rename(tmp_path):
    tmp = tmp_path / "x.tmp"
    tmp.mkdir()
    atomic.swap_in(tmp, tmp_path / "x")
    assert [f.name for f in tmp_path.iterdir()] == ["x"]
