"""Files the hub writes that others must not read: private keys, secrets, stores, state.

Created 0600 in folders created 0700 from the start (never chmod-ed afterwards, so there is no
moment when they are readable), whatever the process umask.
"""

from __future__ import annotations

import os
from pathlib import Path


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
