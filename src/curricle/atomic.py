"""Atomic writes: a reader sees the old file (or directory) or the new one, never half of one."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Temporary files and directories are made private (0600 / 0700); what they become gets the
#: mode a plain ``open`` or ``mkdir`` would have given (0666 / 0777 less the umask), so a report
#: or checkpoint can be read by others where the umask allows it.
_MASK = _umask()


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory + rename
    (:func:`file`)."""
    with file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextmanager
def file(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for a writer that takes a file name (safetensors,
    torch.save); on success make it durable and rename it over ``path``. On error the temporary
    file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_MASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)  # the rename itself reaches the disk


@contextmanager
def locked(lock_path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing and left in place, so
    every process locks the same file; its directory too), waiting for a process that holds
    it; ``on_wait``: called before it waits (to say so). Released when the block ends."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


@contextmanager
def directory(final: Path, replace: bool = False, exist_ok: bool = False) -> Iterator[Path]:
    """Yield a temporary directory next to ``final``; on success rename it to ``final``.

    ``final`` must not exist yet (a non-empty one is an error), unless ``replace``: then an
    existing ``final`` is swapped out whole (:func:`swap_in`), or ``exist_ok``: then a
    ``final`` that another process renamed into place first is kept and ours removed. That is
    for content-addressed names alone (named by a fingerprint of what they hold, as prepare's
    tokenizer and domain directories are), where the one there holds what ours does. On error
    the temporary directory is removed and ``final`` is untouched.
    """
    if replace and exist_ok:
        raise ValueError("atomic.directory: replace and exist_ok are exclusive (swap out the one there, or keep it)")
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_MASK)
        if replace:
            swap_in(tmp, final)
        else:
            try:
                os.rename(tmp, final)
            except OSError as err:
                # ENOTEMPTY or EEXIST (by system): a finished directory is there (an empty one is replaced)
                if not (exist_ok and err.errno in (errno.ENOTEMPTY, errno.EEXIST) and final.is_dir()):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(final.parent)


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (a rename into it) durable, where the system
    lets a directory be synced (POSIX; elsewhere nothing)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system that cannot sync a directory
        pass
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Make every file under directory ``path`` durable (before it is renamed into place)."""
    for p in sorted(Path(path).rglob("*")):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())


_RENAME_EXCHANGE = 2  # linux/fs.h
#: :func:`swap_in`'s old directory renamed aside: ``.NAME.<random>.old`` beside ``NAME``.
ASIDE_SUFFIX = ".old"
_ASIDE = re.compile(r"^\.(?P<final>.+)\.[^.]+\.old$")
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or file system cannot, so the caller falls back."""
    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):  # not glibc >= 2.28 (macOS, musl; Windows): no such call
        return False
    if call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    # ENOSYS/EPERM: no such call, or a sandbox refuses it; EINVAL/ENOTSUP: a file system that
    # cannot exchange (NFS, many FUSE ones)
    if err in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_in(tmp: Path, final: Path) -> None:
    """Move the finished directory ``tmp`` to ``final``, replacing a ``final`` that exists.

    Where Linux can, the two are exchanged in one step, so a reader (or a crash) sees the old
    directory or the new one, never neither. Elsewhere (macOS; file systems that cannot
    exchange, such as NFS) the old one is renamed aside first, so a crash between the two
    renames leaves both whole, the old as ``.NAME.*.old``, which :func:`recover_aside` puts back;
    an error there puts it back at once. The old one is removed last (its removal failing
    fails nothing: the swap is done)."""
    tmp, final = Path(tmp), Path(final)
    if not final.exists():
        os.rename(tmp, final)
        return
    if _exchange(tmp, final):
        fsync_dir(final.parent)
        shutil.rmtree(tmp, ignore_errors=True)  # now the old one
        return
    aside = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=ASIDE_SUFFIX))
    os.replace(final, aside)  # onto the empty directory just made
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(aside, final)
        raise
    fsync_dir(final.parent)
    shutil.rmtree(aside, ignore_errors=True)


def recover_aside(final: Path) -> list[Path]:
    """After a crash inside :func:`swap_in`'s rename-aside path: where ``final`` is missing, its
    old directory renamed aside (``.NAME.*.old``) goes back to ``final``; every other one (left
    by a crash after the new one was in place) is removed. Returns what it put back or removed."""
    final = Path(final)
    done = []
    for p in sorted(final.parent.glob(f".{glob.escape(final.name)}.*{ASIDE_SUFFIX}")):
        m = _ASIDE.match(p.name)
        if not p.is_dir() or m is None or m["final"] != final.name:
            continue
        if final.exists():
            shutil.rmtree(p, ignore_errors=True)
        else:
            os.rename(p, final)
        done.append(p)
    return done


def recover_asides(parent: Path) -> list[Path]:
    """:func:`recover_aside` for every directory of ``parent`` that has one aside."""
    parent = Path(parent)
    if not parent.is_dir():
        return []
    names = {m["final"] for p in parent.glob(f".*{ASIDE_SUFFIX}") if (m := _ASIDE.match(p.name))}
    return [p for name in sorted(names) for p in recover_aside(parent / name)]
