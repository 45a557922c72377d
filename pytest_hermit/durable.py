"""Files that are whole or absent, and stay written: the one way the package writes its files.

Every file goes to a hidden temporary name in its target directory first,
is fsynced, then moved into place (``rename``, which replaces, or ``link``,
which refuses to), and the directory is fsynced so the move survives a
crash. A reader (another job, the next run) sees the old file or the new
one, never a torn one; a power cut after the write returns leaves the new
one. Baselines, history records, reports and cached ISOs all use it.
A leaf module: it imports nothing of the package.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["create_new", "fsync_dir", "move_into_place", "replace"]

#: errno values of file systems without hard links: :func:`create_new` renames into place instead.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def fsync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable (where the file system can)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _temp(directory: Path, prefix: str, text: str) -> Path:
    """``text`` in a new hidden file of ``directory``, on disk (fsynced), readable by all."""
    fd, name = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (its directory created if needed), replacing what was there, all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp(path.parent, f".{path.name}.", text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def create_new(directory: Path, names: Callable[[], str], text: str, prefix: str = ".new-") -> Path:
    """Write ``text`` to a file of ``directory`` under a name no file has yet; its path.

    ``names()`` proposes a name (drawn again while one exists): ``link``
    refuses to replace, so no file is ever overwritten, even by a concurrent
    writer. On a file system without hard links the file is renamed into
    place after a check that the name is free (the caller's names should be
    unique by chance). OSError when the directory cannot be written; nothing
    is left behind then.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tmp = _temp(directory, prefix, text)
    try:
        while True:
            path = directory / names()
            try:
                os.link(tmp, path)
                break
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                if path.exists():
                    continue
                os.rename(tmp, path)
                break
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(directory)
    return path


def move_into_place(made: Path, path: Path) -> None:
    """Move a file another program wrote (``made``, on ``path``'s file system) to ``path``, durably."""
    fd = os.open(made, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(made, path)
    fsync_dir(path.parent)
