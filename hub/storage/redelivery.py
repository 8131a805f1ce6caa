"""What the hub keeps to deliver a message again if the broker loses it before it was read.

The embedded broker keeps everything in memory: restarting ``hub run`` empties every inbox,
while the ledger still says DELIVERED and the SLA clock would go on to breach a recipient for a
message it never saw.  A recreated cluster does the same.  So every delivery keeps its inbox
record (topic, key, bytes, headers) here, stamped with the *epoch* of its topic (a fresh id
per run of an embedded broker, the topic id on a real cluster: a recreated topic or cluster has
a new one).  At start a worker re-publishes every kept record whose topic's epoch changed and
re-stamps it; the connector's de-duplication makes a
second copy harmless.  An original's row goes when its receipt (签收) arrives; what is never
answered goes with the de-duplication memory (``dedup_retention_days``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)

from hub.core.clock import as_utc
from hub.storage.engine import insert_many_ignore, metadata, transaction

redeliverable = Table(
    "redeliverable",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("record_key", LargeBinary, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("headers", Text, nullable=False),  # JSON [[name, latin-1 text], ...]
    Column("broker_epoch", String(128), nullable=False),
    Column("kept_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Kept:
    message_id: str
    topic: str
    record_key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    broker_epoch: str
    kept_at: datetime


class Redeliveries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def keep(self, kept: Kept) -> None:
        self.keep_many([kept])

    def keep_many(self, kept: Sequence[Kept], conn: Connection | None = None) -> None:
        """Keep these records (a batch's, inside its transaction when ``conn`` is given)."""
        rows = [
            {
                "message_id": k.message_id,
                "topic": k.topic,
                "record_key": k.record_key,
                "value": k.value,
                "headers": json.dumps([[name, v.decode("latin-1")] for name, v in k.headers]),
                "broker_epoch": k.broker_epoch,
                "kept_at": as_utc(k.kept_at),
            }
            for k in kept
        ]
        with transaction(self.engine, conn) as tx:
            insert_many_ignore(tx, redeliverable, rows)

    def forget(self, message_id: str, conn: Connection | None = None) -> None:
        """The recipient has it (its receipt arrived): nothing to deliver again."""
        with transaction(self.engine, conn) as tx:
            tx.execute(delete(redeliverable).where(redeliverable.c.message_id == message_id))

    def all(self) -> list[Kept]:
        """Every kept record, oldest first (as many as there are unreceived messages)."""
        stmt = select(redeliverable).order_by(redeliverable.c.kept_at)
        with self.engine.connect() as conn:
            return [
                Kept(
                    r["message_id"],
                    r["topic"],
                    bytes(r["record_key"]),
                    bytes(r["value"]),
                    [(k, v.encode("latin-1")) for k, v in json.loads(r["headers"])],
                    r["broker_epoch"],
                    as_utc(r["kept_at"]),
                )
                for r in conn.execute(stmt).mappings()
            ]

    def restamp(self, message_id: str, old: str, new: str) -> bool:
        """Move a row to the new epoch, unless another worker did first."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(redeliverable)
                    .where(
                        redeliverable.c.message_id == message_id,
                        redeliverable.c.broker_epoch == old,
                    )
                    .values(broker_epoch=new)
                ).rowcount
                == 1
            )

    def prune(self, before: datetime) -> int:
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    delete(redeliverable).where(redeliverable.c.kept_at < as_utc(before))
                ).rowcount
                or 0
            )

    def ids(self) -> set[str]:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(redeliverable.c.message_id)).all()}
