"""Files the hub writes that others must not read: private keys, secrets, stores, state.

Created 0600 in folders created 0700 from the start (never chmod-ed afterwards, so there is no
moment when they are readable), whatever the process umask.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as 0700; an existing folder is tightened to 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists as a 0600 file in a 0700 folder (contents left as they are)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (0600) by write-then-rename: a reader never sees half."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def open_confined(folder: Path, name: str) -> BinaryIO | None:
    """``name`` opened for reading when it is a regular file inside ``folder``; None otherwise.

    Whatever a row or request names is read only through here.  ``name`` is relative to
    ``folder``, or absolute and below it.  The path is walked one component at a time from an
    open handle on ``folder`` with ``O_NOFOLLOW`` (``..``, ``.``, symbolic links, devices and
    FIFOs are refused), and the open file itself is handed on, so nothing can swap the file or
    a folder on its way between the check and the read.  Every refusal is the same None: the
    caller learns nothing about what exists outside the folder.
    """
    if not name or "\x00" in name:
        return None
    try:
        root = folder.resolve(strict=True)
    except OSError:
        return None
    given = Path(name)
    if given.is_absolute():
        if not given.is_relative_to(root):
            return None
        given = given.relative_to(root)
    parts = given.parts
    if not parts or any(p in ("..", ".", "") for p in parts):
        return None
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fds: list[int] = []
    try:
        fds.append(os.open(root, nofollow | os.O_DIRECTORY))
        for part in parts[:-1]:
            fds.append(os.open(part, nofollow | os.O_DIRECTORY, dir_fd=fds[-1]))
        # O_NONBLOCK: a FIFO planted in the folder must not hang the reader before the check.
        fd = os.open(parts[-1], nofollow | os.O_NONBLOCK, dir_fd=fds[-1])
    except OSError:
        return None
    finally:
        for d in fds:
            os.close(d)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")
