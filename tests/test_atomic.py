"""Atomic writes: all or nothing, with the modes a plain open or mkdir would give."""

import os
import shutil

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
    else:  # an error at the last rename puts the old one back at once
        with pytest.raises(KeyboardInterrupt):
            atomic.swap_in(tmp, final)
        assert (final / "w").read_text() == "old" and (tmp / "w").read_text() == "new"
        assert sorted(f.name for f in tmp_path.iterdir()) == ["final", "final.tmp"]
        assert [os.path.basename(b) for _, b in renamed] == ["final", "final"]  # tmp's try, then the old one back


def test_directory_with_exist_ok_keeps_a_finished_one_renamed_first_and_drops_ours(tmp_path):
    final = tmp_path / "skill-0123abcd"  # content-addressed: a fingerprint of what it holds
    with atomic.directory(final, exist_ok=True) as d:
        (d / "w").write_text("theirs")
        shutil.copytree(d, final)  # another process, writing the same content, renamed first
    assert [f.name for f in final.iterdir()] == ["w"] and (final / "w").read_text() == "theirs"
    assert [f.name for f in tmp_path.iterdir()] == ["skill-0123abcd"]  # ours is gone
    with atomic.directory(tmp_path / "fresh", exist_ok=True) as d:  # none there: renamed as without
        (d / "w").write_text("w")
    assert (tmp_path / "fresh" / "w").read_text() == "w"


def test_directory_with_exist_ok_still_fails_where_no_directory_is_there(tmp_path):
    final = tmp_path / "taken"
    final.write_text("a file, not a finished directory")
    with pytest.raises(NotADirectoryError):
        with atomic.directory(final, exist_ok=True) as d:
            (d / "w").write_text("w")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["taken"]
    with pytest.raises(ValueError, match="exclusive"):
        with atomic.directory(tmp_path / "x", replace=True, exist_ok=True):
            pass


def test_directory_with_replace_keeps_the_old_one_when_the_swap_fails(tmp_path, monkeypatch):
    final = tmp_path / "step_5"
    with atomic.directory(final) as d:
        (d / "w").write_text("old")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def rename(a, b):
        if os.path.basename(a).endswith(".tmp"):
            raise OSError("disk full")
        return real_rename(a, b)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(OSError, match="disk full"):
        with atomic.directory(final, replace=True) as d:
            (d / "w").write_text("new")
    assert (final / "w").read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["step_5"]


def crashed_between_renames(tmp_path, new_in_place):
    """What a process killed inside swap_in's rename-aside path leaves: the old one aside, the
    new one still temporary (or already in place)."""
    final = tmp_path / "step_5"
    aside = tmp_path / ".step_5.k2x9_q.old"
    aside.mkdir()
    (aside / "w").write_text("old")
    new = final if new_in_place else tmp_path / ".step_5.a81z.tmp"
    new.mkdir()
    (new / "w").write_text("new")
    (tmp_path / ".step_50.zz.old").mkdir()  # another name's: never touched
    return final, aside


def test_recover_aside_puts_the_old_directory_back_where_the_swap_did_not_finish(tmp_path):
    final, aside = crashed_between_renames(tmp_path, new_in_place=False)
    assert atomic.recover_aside(final) == [aside]
    assert (final / "w").read_text() == "old" and not aside.exists()
    assert atomic.recover_aside(final) == []  # nothing left to do


def test_recover_aside_removes_the_old_directory_where_the_new_one_is_in_place(tmp_path):
    final, aside = crashed_between_renames(tmp_path, new_in_place=True)
    assert atomic.recover_aside(final) == [aside]
    assert (final / "w").read_text() == "new" and not aside.exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == [".step_50.zz.old", "step_5"]


def test_recover_asides_finishes_every_swap_in_a_directory(tmp_path):
    final, aside = crashed_between_renames(tmp_path, new_in_place=False)
    (tmp_path / "step_9").mkdir()
    (tmp_path / ".step_9.zz1.old").mkdir()  # step_9 is in place: its aside goes
    assert atomic.recover_asides(tmp_path) == [aside, tmp_path / ".step_50.zz.old", tmp_path / ".step_9.zz1.old"]
    assert (final / "w").read_text() == "old" and (tmp_path / "step_50").is_dir()  # step_50's aside put back
    assert atomic.recover_asides(tmp_path / "missing") == []


def test_fsync_tree_syncs_every_file_and_fsync_dir_the_directory(tmp_path, monkeypatch):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/f", "a/b/g"):
        (tmp_path / name).write_text("x")
    synced = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    atomic.fsync_tree(tmp_path)
    assert synced == [str(tmp_path / "a" / "b" / "g"), str(tmp_path / "a" / "f")]  # files only, in path order
    synced.clear()
    atomic.fsync_dir(tmp_path)
    atomic.fsync_dir(tmp_path / "missing")  # nothing there: nothing synced, no error
    assert synced == [str(tmp_path)]


def test_swap_in_to_a_new_name_is_a_rename(tmp_path):
    tmp = tmp_path / "x.tmp"
    tmp.mkdir()
    atomic.swap_in(tmp, tmp_path / "x")
    assert [f.name for f in tmp_path.iterdir()] == ["x"]
