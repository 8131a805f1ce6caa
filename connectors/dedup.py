"""The connector's memory: messages handled, and answers already sent, so at-least-once delivery
and a re-run handler each act once.

A message counts as handled by (message id, sender, content digest), the key the hub
de-duplicates by: another sender's message under a known id is not mistaken for a repeat.
A lifecycle answer (a receipt, say) is remembered per (original, family), so signing for a
message twice sends one receipt rather than a second, conflicting one.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from hub.core.files import private_dir


class HandledIds:
    """Two small SQLite tables in the connector's own file (0600, in a 0700 folder)."""

    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            private_dir(path.parent)
            path.touch(mode=0o600, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS handled_messages (message_id TEXT, sender TEXT,"
            " content_sha256 TEXT, handled_at TEXT,"
            " PRIMARY KEY (message_id, sender, content_sha256))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sent_answers (original_id TEXT, family TEXT,"
            " answer_id TEXT, sent_at TEXT, PRIMARY KEY (original_id, family))"
        )
        self._db.commit()

    def seen(self, message_id: str, sender: str, content_sha256: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM handled_messages WHERE message_id = ? AND sender = ?"
            " AND content_sha256 = ?",
            (message_id, sender, content_sha256),
        ).fetchone()
        return row is not None

    def remember(self, message_id: str, sender: str, content_sha256: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO handled_messages VALUES (?, ?, ?, ?)",
            (message_id, sender, content_sha256, datetime.now(UTC).isoformat()),
        )
        self._db.commit()

    def answer_sent(self, original_id: str, family: str) -> str | None:
        row = self._db.execute(
            "SELECT answer_id FROM sent_answers WHERE original_id = ? AND family = ?",
            (original_id, family),
        ).fetchone()
        return None if row is None else str(row[0])

    def remember_answer(self, original_id: str, family: str, answer_id: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO sent_answers VALUES (?, ?, ?, ?)",
            (original_id, family, answer_id, datetime.now(UTC).isoformat()),
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()
