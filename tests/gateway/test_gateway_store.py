"""The gateway's own store across an upgrade: an inbox kept before receipts labelled their hash
(a ``raw_sha256`` column) opens, gains ``raw_digest``, and signs for its old messages with
``sha256:`` digests, while new messages keep the digest in their own suite's hash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from connectors.gateway.store import GatewayStore

OLD_INBOX = """
CREATE TABLE inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL, sender TEXT NOT NULL, content_sha256 TEXT NOT NULL,
    family TEXT NOT NULL, correlation_id TEXT, raw_sha256 TEXT, body TEXT NOT NULL,
    received_at TEXT NOT NULL, acked_at TEXT, push_attempts INTEGER NOT NULL DEFAULT 0,
    next_push_at TEXT, parked_at TEXT, last_push_error TEXT,
    UNIQUE (message_id, sender, content_sha256));
"""


def test_an_inbox_kept_before_labelled_digests_opens_and_reads_them_as_sha256(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.db"
    old = sqlite3.connect(str(path))
    old.executescript(OLD_INBOX)
    old.execute(
        "INSERT INTO inbox (message_id, sender, content_sha256, family, raw_sha256, body,"
        " received_at) VALUES ('m-old', 'MIB@350582', 'c', 'clue_transfer', ?, '{}', 't')",
        ("ab" * 32,),
    )
    old.commit()
    old.close()

    store = GatewayStore(path)
    before = store.received("m-old")
    assert before is not None and before.raw_digest == "sha256:" + "ab" * 32
    store.receive(message_id="m-new", sender="MIB@350582", content_sha256="d",
                  family="clue_transfer", correlation_id=None, raw_digest="sm3:" + "cd" * 32,
                  body={})  # fmt: skip
    after = store.received("m-new")
    assert after is not None and after.raw_digest == "sm3:" + "cd" * 32
    GatewayStore(path)  # opening again changes nothing
    assert store.received("m-old") == before


def test_a_new_store_has_the_labelled_column_only(tmp_path: Path) -> None:
    GatewayStore(tmp_path / "gateway.db")
    db = sqlite3.connect(str(tmp_path / "gateway.db"))
    columns = {r[1] for r in db.execute("PRAGMA table_info(inbox)")}
    assert "raw_digest" in columns and "raw_sha256" not in columns


def test_only_the_claim_and_the_done_mark_skip_the_wait_for_the_disk(tmp_path: Path) -> None:
    """A claim that sent nothing and a done mark whose loss recover() repairs commit without an
    fsync; the sealed bytes, published next, and everything else wait for the disk."""
    store = GatewayStore(tmp_path / "gateway.db")
    levels: list[str] = []
    store._db.set_trace_callback(lambda sql: levels.append(sql) if "synchronous" in sql else None)
    assert store.begin("default", "k1", "b" * 64) is None
    store.sealed("default", "k1", message_id="m1", family="clue_transfer",
                 recipient="PSB@350582", correlation_id=None, raw=b"x",
                 record_key=b"m1")  # fmt: skip
    store.done("default", "k1", 202, {"id": "m1"})
    assert levels == ["PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"] * 2
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
    request = store.request("default", "k1")
    assert request is not None and request.state == "done"
