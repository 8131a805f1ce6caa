"""What the router kept of document chunks: one row per chunk, never its bytes.

A chunk's bytes go to the recipient's documents topic; this table holds its place there and its
RFC 9162 leaf hash, keyed by where it belongs (message, sender, document, upload, index), so
that when the envelope comes the router can check the signed manifest against them without
reading a byte back.  A repeat of a chunk (same place, same leaf) is recognised; the same place
with other bytes marks the place ``conflicted``, and its document is refused.  Rows go when the
documents topic's retention has removed the bytes (``prune``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    and_,
    delete,
    or_,
    select,
    update,
)

from hub.core import merkle
from hub.core.clock import as_utc
from hub.storage.engine import insert_many_ignore, metadata, transaction
from hub.trust import suites
from hub.wire.chunk_places import Seen, SeenDocument

document_chunks = Table(
    "document_chunks",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("sender", String(32), primary_key=True),
    Column("document", Integer, primary_key=True),
    Column("upload", String(32), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("leaf", LargeBinary, nullable=False),  # merkle.leaf_hash of the chunk's data
    Column("size", Integer, nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", Integer, nullable=False),
    Column("conflicted", Boolean, nullable=False, default=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, index=True),
)

#: Where a chunk belongs: message id, sender, document number, upload id, index.
Slot = tuple[str, str, int, str, int]


@dataclass(frozen=True)
class KeptChunk:
    slot: Slot
    leaf: bytes
    size: int
    topic: str
    partition: int
    offset: int
    recorded_at: datetime


class ChunkStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def leaves(self, slots: Sequence[Slot]) -> dict[Slot, bytes]:
        """The leaf hash already kept for each of these places that has one."""
        if not slots:
            return {}
        c = document_chunks.c
        found: dict[Slot, bytes] = {}
        with self.engine.connect() as conn:
            for part in _parts(list(dict.fromkeys(slots)), 200):
                where = or_(
                    *(
                        and_(
                            c.message_id == m,
                            c.sender == s,
                            c.document == d,
                            c.upload == u,
                            c.idx == i,
                        )
                        for m, s, d, u, i in part
                    )
                )
                stmt = select(c.message_id, c.sender, c.document, c.upload, c.idx, c.leaf)
                for r in conn.execute(stmt.where(where)):
                    found[(r[0], r[1], r[2], r[3], r[4])] = bytes(r[5])
        return found

    def keep(
        self,
        kept: Sequence[KeptChunk],
        conflicts: Iterable[Slot] = (),
        conn: Connection | None = None,
    ) -> None:
        """Record chunks (a repeat of a place changes nothing) and mark places claimed twice."""
        rows = [
            {
                "message_id": k.slot[0],
                "sender": k.slot[1],
                "document": k.slot[2],
                "upload": k.slot[3],
                "idx": k.slot[4],
                "leaf": k.leaf,
                "size": k.size,
                "topic": k.topic,
                "partition": k.partition,
                "offset": k.offset,
                "conflicted": False,
                "recorded_at": as_utc(k.recorded_at),
            }
            for k in kept
        ]
        c = document_chunks.c
        with transaction(self.engine, conn) as tx:
            insert_many_ignore(tx, document_chunks, rows)
            for m, s, d, u, i in conflicts:
                tx.execute(
                    update(document_chunks)
                    .where(
                        c.message_id == m, c.sender == s, c.document == d, c.upload == u, c.idx == i
                    )
                    .values(conflicted=True)
                )

    def seen(self, message_id: str, sender: str, tree: str = "sha256") -> Seen:
        """Per (document, upload): the chunks in a row from index 0, their bytes and root, and
        their places.  Streams the rows: a document's root is built as they come, with the
        hash ``tree`` (the envelope's; a chunk that declared another has a leaf of another hash,
        and the root does not match)."""
        h = (suites.by_hash_name(tree) or suites.INTL).digest
        c = document_chunks.c
        stmt = (
            select(
                c.document,
                c.upload,
                c.idx,
                c.leaf,
                c.size,
                c.topic,
                c.partition,
                c.offset,
                c.conflicted,
            )
            .where(c.message_id == message_id, c.sender == sender)
            .order_by(c.document, c.upload, c.idx)
        )
        out: dict[tuple[int, str], SeenDocument] = {}
        with self.engine.connect() as conn:
            key: tuple[int, str] | None = None
            builder = merkle.RootBuilder(h)
            count = size = 0
            conflicted = False
            topic = ""
            places: list[tuple[int, int]] = []

            def close() -> None:
                if key is not None:
                    out[key] = SeenDocument(
                        count, size, builder.root(), conflicted, topic, tuple(places)
                    )

            for r in conn.execute(stmt):
                here = (int(r[0]), str(r[1]))
                if here != key:
                    close()
                    key, builder, count, size = here, merkle.RootBuilder(h), 0, 0
                    conflicted, topic, places = False, str(r[5]), []
                conflicted = conflicted or bool(r[8])
                if int(r[2]) != count:  # a gap: what follows is not in a row from 0
                    continue
                builder.add(bytes(r[3]))
                count += 1
                size += int(r[4])
                places.append((int(r[6]), int(r[7])))
            close()
        return out

    def prune(self, before: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(document_chunks).where(document_chunks.c.recorded_at < as_utc(before))
            )
            return result.rowcount or 0


def _parts(items: list[Slot], size: int) -> Iterable[list[Slot]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
