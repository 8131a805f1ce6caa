"""Whether something is already running, from a lock the operating system releases.

Each long-running process (``hub run``, ``hub worker``, the audit sink, a gateway, an outbox
relay) holds an exclusive ``flock`` on its own lock file for its whole life.  The kernel drops the
lock the moment the process dies, however it dies — ``kill -9`` included, before anyone reaps it —
so a restart is never refused by a dead process, and a live unrelated process that happens to get
the same PID (a container whose state volume survives a restart) is never taken for the hub.
PIDs written anywhere are for people to read, never for deciding.

The lock file's descriptor is not inherited by children (Python opens files non-inheritable), so
a child left behind — an embedded broker, say — cannot keep a dead parent's lock alive.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from hub.core.errors import HubError


class AlreadyRunning(HubError):
    """Another live process holds the lock."""

    reason = "already_running"


class ProcessLock:
    """An exclusive, non-blocking ``flock`` on ``path`` held until ``release`` (or exit)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None

    def acquire(self, *, wait_s: float = 0.0) -> ProcessLock:
        """Take the lock, waiting up to ``wait_s`` for a holder that is finishing (a predecessor
        stopping its last batch); ``AlreadyRunning`` if it is still held then."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                holder = _read_pid(fd)
                os.close(fd)
                raise AlreadyRunning(
                    f"{self.what} is already running (pid {holder or 'unknown'}, holding "
                    f"{self.path}); stop it first"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock

    def __enter__(self) -> ProcessLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock on ``path`` (this one included)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def service_lock(home: Path, name: str, what: str) -> ProcessLock:
    """The lock of one named service run from ``home`` (``<home>/locks/<name>.lock``)."""
    return ProcessLock(home / "locks" / f"{name}.lock", what)
