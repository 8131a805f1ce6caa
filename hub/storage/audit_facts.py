"""The router's audit facts, waiting in the SQL store to be chained into the transfer log.

One row per ingress record: the audit events of its outcome, encoded and tagged by
``hub.audit.facts``, written in the same transaction as the outcome itself (the delivery, its
ledger row and obligations, or the dead letter).  So the store never holds an outcome whose
facts are missing, nor facts of an outcome it does not hold.  The audit sink reads the rows
in bulk, appends their events to the log (idempotent on event id) and only then deletes them;
a crash between the two repeats the append, which skips what it already has.

Invariant: a row is deleted only after every event in it is in the audit log (or quarantined
there, when its tag does not verify).  The table is a queue, not a record: it stays as small
as the sink's lag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    func,
    select,
)

from hub.storage.engine import metadata, transaction

audit_facts = Table(
    "audit_facts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("written_at", DateTime(timezone=True), nullable=False),
    Column("events", LargeBinary, nullable=False),  # hub.audit.facts.encode
    Column("tag", String(128), nullable=False),  # hub.audit.mac: the writer holds the key
    sqlite_autoincrement=True,  # ids never reused: a quarantined row's id names it for good
)


@dataclass(frozen=True)
class Fact:
    """One row: the encoded events of one ingress record's outcome, and their tag."""

    events: bytes
    tag: bytes


@dataclass(frozen=True)
class StoredFact:
    id: int
    events: bytes
    tag: bytes


class AuditFacts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, facts: Sequence[Fact], at: datetime, conn: Connection | None = None) -> None:
        """Add ``facts``; inside the caller's transaction when ``conn`` is given."""
        if not facts:
            return
        rows = [{"written_at": at, "events": f.events, "tag": f.tag.decode("ascii")} for f in facts]
        with transaction(self.engine, conn) as c:
            c.execute(audit_facts.insert(), rows)

    def oldest(self, limit: int) -> list[StoredFact]:
        """Up to ``limit`` rows, oldest first (a later transaction's rows come later)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_facts.c.id, audit_facts.c.events, audit_facts.c.tag)
                .order_by(audit_facts.c.id)
                .limit(limit)
            ).all()
        return [StoredFact(r.id, bytes(r.events), r.tag.encode("ascii")) for r in rows]

    def forget(self, ids: Sequence[int]) -> None:
        """Delete rows whose events the audit log now has."""
        with self.engine.begin() as conn:
            for i in range(0, len(ids), 500):
                conn.execute(delete(audit_facts).where(audit_facts.c.id.in_(ids[i : i + 500])))

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_facts)).scalar_one())
