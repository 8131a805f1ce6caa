"""The gateway's own memory, one SQLite file per connector (0600, on the agency's host).

- ``tokens``: the internal callers' API tokens, kept as SHA-256 (a token is shown once).
- ``requests``: one row per ``Idempotency-Key`` of a caller: the body's digest, its state
  (``in_flight`` → ``sealed`` → ``done``), the exact bytes sealed and the answer.  The bytes are
  kept *before* they are published, so a gateway that stops in between publishes the same bytes
  again at start: the hub recognises them as a repeat, never a second message.
- ``inbox``: verified, decoded messages, at-least-once until the caller acknowledges them (or a
  push was taken), with the push's attempts and whether it was parked.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.core.files import private_dir
from hub.trust.suites import identifier

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (name TEXT PRIMARY KEY, sha256 TEXT UNIQUE NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (caller TEXT NOT NULL, idem_key TEXT NOT NULL,
    body_sha256 TEXT NOT NULL, state TEXT NOT NULL, message_id TEXT, family TEXT,
    recipient TEXT, correlation_id TEXT, raw BLOB, record_key BLOB, status INTEGER,
    response TEXT, created_at TEXT NOT NULL, PRIMARY KEY (caller, idem_key));
CREATE INDEX IF NOT EXISTS requests_message ON requests (message_id);
CREATE INDEX IF NOT EXISTS requests_correlation ON requests (correlation_id);
CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL, sender TEXT NOT NULL, content_sha256 TEXT NOT NULL,
    family TEXT NOT NULL, correlation_id TEXT, raw_digest TEXT, body TEXT NOT NULL,
    received_at TEXT NOT NULL, acked_at TEXT, push_attempts INTEGER NOT NULL DEFAULT 0,
    next_push_at TEXT, parked_at TEXT, last_push_error TEXT,
    UNIQUE (message_id, sender, content_sha256));
CREATE INDEX IF NOT EXISTS inbox_correlation ON inbox (correlation_id);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def digest(text: str) -> str:
    return identifier(text.encode())


@dataclass(frozen=True)
class Request:
    caller: str
    idem_key: str
    body_sha256: str
    state: str
    message_id: str | None
    family: str | None
    recipient: str | None
    correlation_id: str | None
    raw: bytes | None
    record_key: bytes | None
    status: int | None
    response: dict[str, Any] | None
    created_at: str


@dataclass(frozen=True)
class Received:
    seq: int
    message_id: str
    sender: str
    family: str
    correlation_id: str | None
    #: The envelope's bytes as received, digested in its suite's hash and labelled (sha256:…).
    raw_digest: str | None
    body: dict[str, Any]  # as `hub inbox --json` prints it
    received_at: str
    acked_at: str | None
    push_attempts: int
    parked_at: str | None


class GatewayStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        path.touch(mode=0o600, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(inbox)")}
        if "raw_digest" not in columns:  # a store from before receipts named their hash
            self._db.execute("ALTER TABLE inbox ADD COLUMN raw_digest TEXT")
            self._db.commit()
        self._lock = threading.RLock()
        #: Woken when a message is stored, for long polls.
        self.arrived = threading.Condition(self._lock)

    # -- tokens -----------------------------------------------------------------------------------
    def new_token(self, name: str) -> str:
        token = "hgw_" + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (name, digest(token), now())
            )
            self._db.commit()
        return token

    def caller_of(self, token: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name FROM tokens WHERE sha256 = ?", (digest(token),)
            ).fetchone()
        return None if row is None else str(row["name"])

    def token_names(self) -> list[str]:
        with self._lock:
            return [r["name"] for r in self._db.execute("SELECT name FROM tokens ORDER BY name")]

    def revoke_token(self, name: str) -> bool:
        with self._lock:
            done = self._db.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount
            self._db.commit()
        return bool(done)

    # -- idempotent requests --------------------------------------------------------------------
    def begin(self, caller: str, idem_key: str, body_sha256: str) -> Request | None:
        """Claim ``idem_key`` for this body; returns the existing request instead when the key
        was used before (the caller decides: same body → its answer, other body → 422)."""
        with self._lock:
            existing = self.request(caller, idem_key)
            if existing is not None:
                return existing
            self._lazily(  # a claim lost with the machine sent nothing
                "INSERT INTO requests (caller, idem_key, body_sha256, state, created_at)"
                " VALUES (?, ?, ?, 'in_flight', ?)",
                (caller, idem_key, body_sha256, now()),
            )
            return None

    def sealed(
        self,
        caller: str,
        idem_key: str,
        *,
        message_id: str,
        family: str,
        recipient: str,
        correlation_id: str | None,
        raw: bytes,
        record_key: bytes,
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE requests SET state = 'sealed', message_id = ?, family = ?, recipient = ?,"
                " correlation_id = ?, raw = ?, record_key = ? WHERE caller = ? AND idem_key = ?",
                (message_id, family, recipient, correlation_id, raw, record_key, caller, idem_key),
            )
            self._db.commit()

    def done(self, caller: str, idem_key: str, status: int, response: dict[str, Any]) -> None:
        with self._lock:
            # Lost with the machine, the request is 'sealed' again: recover() publishes the same
            # bytes, which the hub recognises as a repeat.
            self._lazily(
                "UPDATE requests SET state = 'done', status = ?, response = ?"
                " WHERE caller = ? AND idem_key = ?",
                (status, json.dumps(response), caller, idem_key),
            )

    def _lazily(self, sql: str, args: tuple[Any, ...]) -> None:
        """One write committed without waiting for the disk, for a write whose loss in a power
        cut a restart repairs; the next durable commit makes it durable too (the WAL is one
        file, synced in order).  Every other write waits for the disk (synchronous=FULL, SQLite's
        default).  The level can change only between transactions: the caller holds the lock."""
        if self._db.in_transaction:  # another write of this connection is open: wait with it
            self._db.execute(sql, args)
            self._db.commit()
            return
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.execute(sql, args)
            self._db.commit()
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def abandon(self, caller: str, idem_key: str) -> None:
        """Forget a claim that sent nothing (it failed before sealing): the key may be retried."""
        with self._lock:
            self._db.execute(
                "DELETE FROM requests WHERE caller = ? AND idem_key = ? AND state = 'in_flight'",
                (caller, idem_key),
            )
            self._db.commit()

    def request(self, caller: str, idem_key: str) -> Request | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM requests WHERE caller = ? AND idem_key = ?", (caller, idem_key)
            ).fetchone()
        return None if row is None else _request(row)

    def unfinished(self) -> list[Request]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM requests WHERE state != 'done' ORDER BY created_at"
            ).fetchall()
        return [_request(r) for r in rows]

    def sent_about(self, message_id: str) -> list[Request]:
        """What this gateway sent as ``message_id`` or in answer to it."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM requests WHERE message_id = ? OR correlation_id = ?"
                " ORDER BY created_at",
                (message_id, message_id),
            ).fetchall()
        return [_request(r) for r in rows]

    # -- inbox ------------------------------------------------------------------------------------
    def receive(
        self,
        *,
        message_id: str,
        sender: str,
        content_sha256: str,
        family: str,
        correlation_id: str | None,
        raw_digest: str | None,
        body: dict[str, Any],
    ) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO inbox (message_id, sender, content_sha256, family,"
                " correlation_id, raw_digest, body, received_at, next_push_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    sender,
                    content_sha256,
                    family,
                    correlation_id,
                    raw_digest,
                    json.dumps(body, ensure_ascii=False),
                    now(),
                    now(),
                ),
            )
            self._db.commit()
            if cur.rowcount:
                self.arrived.notify_all()
            return bool(cur.rowcount)

    def pending(self, limit: int, *, after: int = 0) -> list[Received]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM inbox WHERE acked_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [_received(r) for r in rows]

    def received(self, message_id: str) -> Received | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM inbox WHERE message_id = ? ORDER BY seq LIMIT 1", (message_id,)
            ).fetchone()
        return None if row is None else _received(row)

    def answers_to(self, message_id: str) -> list[Received]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM inbox WHERE correlation_id = ? ORDER BY seq", (message_id,)
            ).fetchall()
        return [_received(r) for r in rows]

    def ack(self, message_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE inbox SET acked_at = ? WHERE message_id = ? AND acked_at IS NULL",
                (now(), message_id),
            )
            self._db.commit()
        return bool(cur.rowcount) or self.received(message_id) is not None

    # -- push -----------------------------------------------------------------------------------
    def due_for_push(self, limit: int = 50) -> list[Received]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM inbox WHERE acked_at IS NULL AND parked_at IS NULL"
                " AND next_push_at <= ? ORDER BY seq LIMIT ?",
                (now(), limit),
            ).fetchall()
        return [_received(r) for r in rows]

    def push_failed(self, seq: int, error: str, retry_at: str | None) -> None:
        """Count a failed push; ``retry_at`` None parks the message (it stays for a GET)."""
        with self._lock:
            self._db.execute(
                "UPDATE inbox SET push_attempts = push_attempts + 1, last_push_error = ?,"
                " next_push_at = ?, parked_at = CASE WHEN ? IS NULL THEN ? END WHERE seq = ?",
                (error[:300], retry_at, retry_at, now(), seq),
            )
            self._db.commit()

    def parked(self) -> list[Received]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM inbox WHERE parked_at IS NOT NULL AND acked_at IS NULL ORDER BY seq"
            ).fetchall()
        return [_received(r) for r in rows]

    def unpark(self, message_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE inbox SET parked_at = NULL, push_attempts = 0, next_push_at = ?"
                " WHERE message_id = ? AND parked_at IS NOT NULL",
                (now(), message_id),
            )
            self._db.commit()
        return bool(cur.rowcount)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _request(row: sqlite3.Row) -> Request:
    return Request(
        row["caller"],
        row["idem_key"],
        row["body_sha256"],
        row["state"],
        row["message_id"],
        row["family"],
        row["recipient"],
        row["correlation_id"],
        bytes(row["raw"]) if row["raw"] is not None else None,
        bytes(row["record_key"]) if row["record_key"] is not None else None,
        row["status"],
        json.loads(row["response"]) if row["response"] else None,
        row["created_at"],
    )


def _raw_digest(row: sqlite3.Row) -> str | None:
    """The labelled digest; a row kept before digests were labelled has a SHA-256 only."""
    if row["raw_digest"]:
        return str(row["raw_digest"])
    # sqlite3.Row's `in` looks among the values, not the column names.
    old = row["raw_sha256"] if "raw_sha256" in row.keys() else None  # noqa: SIM118
    return f"sha256:{old}" if old else None


def _received(row: sqlite3.Row) -> Received:
    return Received(
        row["seq"],
        row["message_id"],
        row["sender"],
        row["family"],
        row["correlation_id"],
        _raw_digest(row),
        json.loads(row["body"]),
        row["received_at"],
        row["acked_at"],
        row["push_attempts"],
        row["parked_at"],
    )
