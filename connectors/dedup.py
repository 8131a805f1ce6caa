"""The connector's memory of handled message ids, so at-least-once delivery handles each once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path


class HandledIds:
    """A small SQLite table of message ids whose handler succeeded."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS handled (message_id TEXT PRIMARY KEY, handled_at TEXT)"
        )
        self._db.commit()

    def seen(self, message_id: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM handled WHERE message_id = ?", (message_id,)
        ).fetchone()
        return row is not None

    def remember(self, message_id: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO handled VALUES (?, ?)",
            (message_id, datetime.now(UTC).isoformat()),
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()
