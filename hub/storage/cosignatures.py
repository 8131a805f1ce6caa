"""The agencies' cosignatures of published tree heads (``hub.audit.cosignatures``), one per head
and key: a cosigner sending the same cosignature again changes nothing, and nobody can write a
row under another agency's key (the collector keeps only what verifies against that key)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Engine, String, Table, Text, func, select

from hub.storage.engine import insert_ignore, metadata

tree_head_cosignatures = Table(
    "tree_head_cosignatures",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("key_id", String(120), primary_key=True),
    Column("cosigner", String(40), nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("cosigned_at", DateTime(timezone=True), nullable=False),  # the cosigner's time
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("line", Text, nullable=False),  # the note signature line
)

_c = tree_head_cosignatures.c


class CosignatureRows:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self, tree_size: int, key_id: str, cosigner: str, root_hash: str, timestamp: int, line: str
    ) -> bool:
        with self.engine.begin() as conn:
            return insert_ignore(
                conn,
                tree_head_cosignatures,
                {
                    "tree_size": tree_size,
                    "key_id": key_id,
                    "cosigner": cosigner,
                    "root_hash": root_hash,
                    "cosigned_at": datetime.fromtimestamp(timestamp, UTC),
                    "received_at": datetime.now(UTC),
                    "line": line,
                },
            )

    def of_head(self, tree_size: int) -> list[tuple[str, str, str]]:
        """(cosigner, key id, line) of every cosignature of the head of ``tree_size``."""
        stmt = (
            select(_c.cosigner, _c.key_id, _c.line)
            .where(_c.tree_size == tree_size)
            .order_by(_c.cosigner, _c.key_id)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1], r[2]) for r in conn.execute(stmt)]

    def latest_cosigned(self, cosigners: int = 1) -> int | None:
        """The size of the largest head at least ``cosigners`` agencies cosigned (as the rows
        say: the caller verifies them)."""
        stmt = (
            select(_c.tree_size)
            .group_by(_c.tree_size)
            .having(func.count(func.distinct(_c.cosigner)) >= cosigners)
            .order_by(_c.tree_size.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def cosigned_sizes(self, first: int, last: int) -> list[int]:
        """The sizes of the heads in [first, last] anyone cosigned."""
        stmt = (
            select(_c.tree_size)
            .where(_c.tree_size >= first, _c.tree_size <= last)
            .group_by(_c.tree_size)
            .order_by(_c.tree_size)
        )
        with self.engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(stmt)]
