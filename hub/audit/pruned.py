"""What was pruned from the live audit log (``hub.audit.prune``): the last pruned record, and
the chain hash kept for each."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from hub.audit.chain import GENESIS
from hub.audit.schema import audit_pruned
from hub.audit.store import AuditStore


def pruned_start(store: AuditStore) -> tuple[int, str]:
    """(seq, hash) of the last pruned record; (0, GENESIS) when nothing was pruned."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(audit_pruned.c.seq, audit_pruned.c.hash)
            .order_by(audit_pruned.c.seq.desc())
            .limit(1)
        ).first()
    return (int(row.seq), str(row.hash)) if row else (0, GENESIS)


def pruned_hash(store: AuditStore) -> Callable[[int], str | None]:
    def of(seq: int) -> str | None:
        with store.engine.connect() as conn:
            return conn.execute(
                select(audit_pruned.c.hash).where(audit_pruned.c.seq == seq)
            ).scalar_one_or_none()

    return of
