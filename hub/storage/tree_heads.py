"""The tree heads the hub has published to the agencies, so each new one can prove it extends
them, and so one that was signed but not yet sent everywhere is sent again after a crash.

A head is written (with the exact payload it carries) before it is published and marked
published after every copy was acknowledged: a worker that dies in between publishes the same
payload again, under the same message id, and connectors recognise it.

Signing heads is a job that runs once across the hub's processes: a head is recorded only with
the fence of the ``tree-heads`` lease, checked in the same transaction and kept in the row
(``hub.storage.leases``), so a publisher that stalled and lost its lease records nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Engine, String, Table, Text, select, update

from hub.core.clock import as_utc
from hub.storage.engine import insert_ignore, metadata
from hub.storage.leases import JobLeases, Lease

tree_heads = Table(
    "tree_heads",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # the TreeHead record as JSON (hub.wire.jsonpayload)
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    #: The fence of the tree-heads lease the head was recorded under (None before leases).
    Column("fence", BigInteger),
)


@dataclass(frozen=True)
class PublishedHead:
    tree_size: int
    root_hash: str
    payload: dict[str, Any]
    signed_at: datetime
    published_at: datetime | None


class TreeHeads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, head: PublishedHead, lease: Lease | None = None) -> bool:
        """Keep ``head`` before it is sent; with ``lease``, only while its fence is the job's
        (:class:`~hub.storage.leases.LeaseLost` otherwise, and nothing is written)."""
        with self.engine.begin() as conn:
            if lease is not None:
                JobLeases(self.engine).check(conn, lease)
            return insert_ignore(
                conn,
                tree_heads,
                {
                    "tree_size": head.tree_size,
                    "root_hash": head.root_hash,
                    "payload": json.dumps(head.payload, ensure_ascii=False),
                    "signed_at": as_utc(head.signed_at),
                    "published_at": None,
                    "fence": lease.fence if lease is not None else None,
                },
            )

    def mark_published(self, tree_size: int, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(tree_heads)
                .where(tree_heads.c.tree_size == tree_size, tree_heads.c.published_at.is_(None))
                .values(published_at=as_utc(at))
            )

    def latest(self) -> PublishedHead | None:
        rows = self._select(select(tree_heads).order_by(tree_heads.c.tree_size.desc()).limit(1))
        return rows[0] if rows else None

    def at(self, tree_size: int) -> PublishedHead | None:
        rows = self._select(select(tree_heads).where(tree_heads.c.tree_size == tree_size))
        return rows[0] if rows else None

    def recent_published(self, count: int) -> list[PublishedHead]:
        """The ``count`` largest published heads, newest first."""
        stmt = (
            select(tree_heads)
            .where(tree_heads.c.published_at.is_not(None))
            .order_by(tree_heads.c.tree_size.desc())
            .limit(count)
        )
        return self._select(stmt)

    def unpublished(self) -> list[PublishedHead]:
        stmt = (
            select(tree_heads)
            .where(tree_heads.c.published_at.is_(None))
            .order_by(tree_heads.c.tree_size)
        )
        return self._select(stmt)

    def _select(self, stmt: Any) -> list[PublishedHead]:
        with self.engine.connect() as conn:
            return [
                PublishedHead(
                    int(r["tree_size"]),
                    r["root_hash"],
                    json.loads(r["payload"]),
                    as_utc(r["signed_at"]),
                    as_utc(r["published_at"]) if r["published_at"] is not None else None,
                )
                for r in conn.execute(stmt).mappings()
            ]
