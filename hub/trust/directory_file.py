"""The directory as a router or connector holds it: the signed file, re-read when it changes,
and newer versions offered from elsewhere (the ``hub.directory`` topic, ``hub.runtime``'s and the
connectors' followers), each verified against the trust anchor and never older than the one in
hand."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from hub.core.config import Settings
from hub.core.files import write_atomic
from hub.trust.directory import Directory, DirectoryError
from hub.trust.signed import AnchorError, TrustAnchor

log = logging.getLogger("hub.trust.directory")


class DirectoryFile:
    """A directory that re-reads its file when the file changes (checked at most once a second).

    Each version must verify against the trust anchor and must not be older (by serial) than
    the one in hand; a file that fails either is logged and ignored, the previous version kept.
    """

    def __init__(self, path: Path, anchor: TrustAnchor, check_every_s: float = 1.0) -> None:
        self.path = path
        self.anchor = anchor
        self.check_every_s = check_every_s
        self._mtime: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._current = Directory()
        self.refused = 0
        self.refresh(force=True)

    def refresh(
        self, *, force: bool = False, now: float | None = None, throttle: bool = True
    ) -> Directory:
        now = time.monotonic() if now is None else now
        if throttle and not force and now - self._checked < self.check_every_s:
            return self._current
        self._checked = now
        try:
            st = self.path.stat()
            # Writes replace the file, so the inode changes even within one mtime tick.
            mtime = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            mtime = None
        if force or mtime != self._mtime:
            self._mtime = mtime
            try:
                loaded = Directory.load(self.path, self.anchor)
            except DirectoryError as exc:
                self.refused += 1
                log.error("directory %s not loaded, keeping the previous one: %s", self.path, exc)
                return self._current
            self._accept(loaded, str(self.path))
        return self._current

    def _accept(self, loaded: Directory, source: str) -> bool:
        """Take ``loaded`` (verified already) unless it is older than the one in hand."""
        if loaded.serial < self._current.serial:
            self.refused += 1
            log.error(
                "directory %s has serial %d, older than the %d in use: refused (a replayed "
                "directory could bring back revoked keys)",
                source,
                loaded.serial,
                self._current.serial,
            )
            return False
        if loaded.serial != self._current.serial or loaded != self._current:
            if self._current.serial:
                log.info("directory serial %d taken from %s: %d connectors",
                         loaded.serial, source, len(loaded.connectors))  # fmt: skip
            self._current = loaded
            return True
        return False

    def offer(self, document: bytes, source: str) -> bool:
        """A signed directory version from elsewhere (the ``hub.directory`` topic): taken when it
        verifies against the anchor and is newer than the one in hand, and then also written to
        this reader's file, so that a restart starts from it.  True when it was taken."""
        try:
            data = json.loads(document)
            if not isinstance(data, dict):
                raise DirectoryError(f"{source}: not a directory document")
            loaded = Directory.from_json(self.anchor.verify(data, source), source)
        except (AnchorError, DirectoryError, ValueError) as exc:
            self.refused += 1
            log.error("directory from %s refused, keeping serial %d: %s", source,
                      self._current.serial, exc)  # fmt: skip
            return False
        if loaded.serial <= self._current.serial:
            return False  # a topic replays history: an older version there is no attack
        self._accept(loaded, source)
        try:
            write_atomic(self.path, document)
            st = self.path.stat()
            self._mtime = (st.st_mtime_ns, st.st_ino, st.st_size)
        except OSError as exc:  # a read-only copy: the version holds in memory until restart
            log.warning("directory serial %d not written to %s: %s", loaded.serial, self.path, exc)
        return True

    @property
    def current(self) -> Directory:
        return self.refresh()

    def reload_if_changed(self) -> bool:
        """Check the file now, ignoring the throttle; True when a new version was loaded."""
        before = self._current
        self.refresh(throttle=False)
        return self._current is not before


def trust_anchor(settings: Settings) -> TrustAnchor:
    try:
        return TrustAnchor.load(settings.directory_anchor_path)
    except AnchorError as exc:
        raise DirectoryError(str(exc)) from exc


def directory_file(settings: Settings) -> DirectoryFile:
    """The configured directory, verified against the configured trust anchor and followed."""
    return DirectoryFile(settings.directory_path, trust_anchor(settings))


def load_directory(settings: Settings) -> Directory:
    """The configured directory once, verified against the configured trust anchor."""
    return Directory.load(settings.directory_path, trust_anchor(settings))
