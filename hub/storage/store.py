"""The hub's durable store (SQLAlchemy): what was delivered, what was dead-lettered.

The broker may forget (the embedded one keeps everything in memory); this store must not.
Every write is idempotent on its natural key, so a redelivered record changes nothing.
SQLite by default, PostgreSQL in production; both are tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)

from hub.core.clock import as_utc
from hub.storage import audit_facts, chunks, cosignatures, leases, officers, redelivery, tree_heads  # noqa: F401  (tables created with the others)
from hub.storage.engine import (
    add_missing_columns,
    add_missing_indexes,
    insert_ignore,
    insert_many_ignore,
    make_engine,
    metadata,
)
from hub.wire.deadletter import DeadLetter

deliveries = Table(
    "deliveries",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("family", String(64), nullable=False),
    Column("sender", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("routed_to", String(32), nullable=False),
    Column("fallback", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("routed_at", DateTime(timezone=True), nullable=False),
    # Envelope.content_digest: a reused id is a repeat only with the same sender and content.
    Column("content_sha256", String(64)),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("dead_letter_id", String(64), primary_key=True),
    Column("reason", String(32), nullable=False, index=True),
    Column("detail", Text, nullable=False),
    Column("message_id", String(64), index=True),
    Column("family", String(64)),
    Column("sender", String(32)),
    Column("recipient", String(32)),
    Column("source_topic", String(255), nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", Integer, nullable=False),
    Column("replay_of", String(64)),
    Column("dead_lettered_at", DateTime(timezone=True), nullable=False),
    Column("replay_count", Integer, nullable=False, default=0),
    Column("last_replayed_at", DateTime(timezone=True)),
    Column("original", LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class DeliveryRow:
    message_id: str
    conversation_id: str
    family: str
    sender: str
    recipient: str
    routed_to: str
    fallback: bool
    created_at: datetime
    routed_at: datetime
    content_sha256: str | None = None


@dataclass(frozen=True)
class Pruned:
    dead_letters: int
    deliveries: int


class Store:
    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if create:
            metadata.create_all(self.engine)
            add_missing_columns(self.engine, metadata)
            add_missing_indexes(self.engine, metadata)

    def close(self) -> None:
        self.engine.dispose()

    def _insert_ignore(self, table: Table, values: dict[str, Any]) -> bool:
        """Insert unless the primary key exists; True when a row was written."""
        with self.engine.begin() as conn:
            return insert_ignore(conn, table, values)

    # -- deliveries ----------------------------------------------------------------------------
    def was_delivered(self, message_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(deliveries.c.message_id).where(deliveries.c.message_id == message_id)
            ).first()
        return row is not None

    def delivery(self, message_id: str) -> DeliveryRow | None:
        return self.deliveries_by_id([message_id]).get(message_id)

    def deliveries_by_id(self, message_ids: Sequence[str]) -> dict[str, DeliveryRow]:
        """The earlier deliveries of any of ``message_ids`` (one query for a batch)."""
        found: dict[str, DeliveryRow] = {}
        ids = sorted(set(message_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), ID_CHUNK):
                chunk = ids[start : start + ID_CHUNK]
                stmt = select(deliveries).where(deliveries.c.message_id.in_(chunk))
                for r in conn.execute(stmt).mappings():
                    found[r["message_id"]] = _delivery_row(r)
        return found

    def record_delivery(self, row: DeliveryRow) -> bool:
        return self._insert_ignore(deliveries, row.__dict__)

    def deliveries(self, limit: int = 1000) -> list[DeliveryRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries).order_by(deliveries.c.routed_at).limit(limit)
            ).mappings()
            return [_delivery_row(r) for r in rows]

    def count_deliveries(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(deliveries)).scalar_one()

    # -- dead letters --------------------------------------------------------------------------
    def record_dead_letter(self, dl: DeadLetter) -> bool:
        return self._insert_ignore(dead_letters, _dead_letter_values(dl))

    def record_dead_letters(self, conn: Connection, dls: Sequence[DeadLetter]) -> None:
        """A batch's dead letters, inside the caller's transaction (repeats ignored)."""
        insert_many_ignore(conn, dead_letters, [_dead_letter_values(dl) for dl in dls])

    def dead_letters(
        self, *, reason: str | None = None, limit: int = 100, include_replayed: bool = True
    ) -> list[dict[str, Any]]:
        stmt = select(dead_letters).order_by(dead_letters.c.dead_lettered_at.desc()).limit(limit)
        if reason:
            stmt = stmt.where(dead_letters.c.reason == reason)
        if not include_replayed:
            stmt = stmt.where(dead_letters.c.replay_count == 0)
        with self.engine.connect() as conn:
            return [self._dl_row(r) for r in conn.execute(stmt).mappings()]

    def dead_letters_of(self, message_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The dead letters of one message id (a refused original, a refused answer …)."""
        stmt = (
            select(dead_letters)
            .where(dead_letters.c.message_id == message_id)
            .order_by(dead_letters.c.dead_lettered_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [self._dl_row(r) for r in conn.execute(stmt).mappings()]

    def dead_letter(self, dead_letter_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(dead_letters).where(dead_letters.c.dead_letter_id == dead_letter_id)
                )
                .mappings()
                .first()
            )
        return self._dl_row(row) if row else None

    def find_dead_letters(self, prefix: str) -> Sequence[str]:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(dead_letters.c.dead_letter_id).where(
                        dead_letters.c.dead_letter_id.startswith(prefix)
                    )
                )
                .scalars()
                .all()
            )

    def mark_replayed(self, dead_letter_id: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(dead_letters)
                .where(dead_letters.c.dead_letter_id == dead_letter_id)
                .values(replay_count=dead_letters.c.replay_count + 1, last_replayed_at=at)
            )

    def prune(self, *, dead_letters_before: datetime, deliveries_before: datetime) -> Pruned:
        """Delete dead letters and delivery rows older than the given instants.

        Dead letters keep the original bytes of what was refused, so they are kept only for the
        retention period.  Delivery rows are the de-duplication memory: the caller keeps them
        well past the freshness window, after which a repeat would be refused as stale anyway.
        The ledger (the hand-offs themselves) is not touched.
        """
        with self.engine.begin() as conn:
            dl = conn.execute(
                delete(dead_letters).where(
                    dead_letters.c.dead_lettered_at < as_utc(dead_letters_before)
                )
            ).rowcount
            dv = conn.execute(
                delete(deliveries).where(deliveries.c.routed_at < as_utc(deliveries_before))
            ).rowcount
        return Pruned(dead_letters=dl or 0, deliveries=dv or 0)

    def count_dead_letters(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason)
            ).all()
        return {reason: n for reason, n in rows}

    @staticmethod
    def _dl_row(row: Any) -> dict[str, Any]:
        out = dict(row)
        out["original"] = bytes(out["original"])
        out["dead_lettered_at"] = as_utc(out["dead_lettered_at"])
        out["last_replayed_at"] = as_utc(out["last_replayed_at"])
        return out


#: Ids per ``IN (…)`` query: well under SQLite's and PostgreSQL's bound-parameter limits.
ID_CHUNK = 500


def _delivery_row(r: Any) -> DeliveryRow:
    return DeliveryRow(
        **{**r, "created_at": as_utc(r["created_at"]), "routed_at": as_utc(r["routed_at"])}
    )


def _dead_letter_values(dl: DeadLetter) -> dict[str, Any]:
    values = dl.to_record()
    values["replay_count"] = 0
    return values
