"""The SLA board (``hub status``) and the open-obligations gauge, read from the ledger.

Nothing here reads the whole ledger: the number of hand-offs and of finished ones per (sender,
connector, family) are counters kept in ``board_totals`` by the transactions that change the
ledger (:func:`count_delivered`, :func:`count_finished`); open obligations come from their
partial index; the median time to receipt covers the receipts of the last
``RECEIPT_WINDOW``, found by the index on ``received_at``.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, inspect, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from hub.core.clock import as_utc
from hub.lifecycle.states import State
from hub.lifecycle.tables import board_totals, ledger, obligations

log = logging.getLogger("hub.lifecycle")

TERMINAL = frozenset({State.CLOSED.value, State.RETURNED.value})
RECEIPT_WINDOW = timedelta(days=30)

Key = tuple[str, str, str]  # sender, routed_to, family


def count_delivered(conn: Connection, keys: Iterable[Key]) -> None:
    """Add newly recorded originals to the totals (inside the transaction that recorded them)."""
    _add(conn, Counter(keys), "messages")


def count_finished(conn: Connection, key: Key) -> None:
    """A hand-off reached a terminal state (inside the transaction that moved it)."""
    _add(conn, Counter([key]), "closed")


def _add(conn: Connection, counts: Counter[Key], column: str) -> None:
    if not counts:
        return
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {"sender": s, "routed_to": r, "family": f, "messages": 0, "closed": 0, column: n}
        for (s, r, f), n in counts.items()
    ]
    stmt = insert(board_totals)
    stmt = stmt.on_conflict_do_update(
        index_elements=["sender", "routed_to", "family"],
        set_={column: board_totals.c[column] + stmt.excluded[column]},
    )
    conn.execute(stmt, rows)


def backfill_totals(engine: Engine) -> None:
    """Count a ledger written before ``board_totals`` existed, once, and index receipt times.

    Runs when the totals are empty and the ledger is not (the first start after an upgrade).
    """
    with engine.begin() as conn:
        if inspect(conn).has_table(ledger.name):
            for index in ledger.indexes:
                index.create(conn, checkfirst=True)
        if conn.execute(select(board_totals.c.sender).limit(1)).first() is not None:
            return
        if conn.execute(select(ledger.c.message_id).limit(1)).first() is None:
            return
        finished = func.sum(case((ledger.c.state.in_(list(TERMINAL)), 1), else_=0))
        grouped = select(
            ledger.c.sender,
            ledger.c.routed_to,
            ledger.c.family,
            func.count(),
            func.coalesce(finished, literal(0)),
        ).group_by(ledger.c.sender, ledger.c.routed_to, ledger.c.family)
        rows = [
            {"sender": s, "routed_to": r, "family": f, "messages": n, "closed": c}
            for s, r, f, n, c in conn.execute(grouped).all()
        ]
        conn.execute(board_totals.insert(), rows)
        log.info("board totals counted from %d ledger groups", len(rows))


def open_obligation_counts(engine: Engine) -> list[tuple[str, str, str, int]]:
    """(debtor, family, stage, open count), for the open-obligations gauge."""
    stmt = (
        select(obligations.c.debtor, obligations.c.family, obligations.c.stage, func.count())
        .where(obligations.c.fulfilled_at.is_(None))
        .group_by(obligations.c.debtor, obligations.c.family, obligations.c.stage)
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt).all()]


def oldest_unreceived(engine: Engine) -> list[tuple[str, datetime]]:
    """(recipient connector, delivery of its oldest original not yet signed for)."""
    stmt = (
        select(obligations.c.debtor, func.min(obligations.c.started_at))
        .where(obligations.c.fulfilled_at.is_(None), obligations.c.stage == "receipt")
        .group_by(obligations.c.debtor)
    )
    with engine.connect() as conn:
        return [(debtor, as_utc(at)) for debtor, at in conn.execute(stmt).all()]


def board(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """The SLA board: per (sender, recipient connector, family) of every hand-off."""
    soon = now + timedelta(hours=24)
    out: dict[Key, dict[str, Any]] = {}

    def row(sender: str, debtor: str, family: str) -> dict[str, Any]:
        return out.setdefault(
            (sender, debtor, family),
            {
                "sender": sender,
                "recipient": debtor,
                "family": family,
                "messages": 0,
                "open": 0,
                "due_within_24h": 0,
                "overdue": 0,
                "warned": 0,
                "breached": 0,
                "escalated": 0,
                "median_time_to_receipt_s": None,
                "_receipts": [],
            },
        )

    with engine.connect() as conn:
        for r in conn.execute(select(board_totals)).mappings():
            b = row(r["sender"], r["routed_to"], r["family"])
            b["messages"] = r["messages"]
            b["open"] = r["messages"] - r["closed"]
        recent = select(
            ledger.c.sender,
            ledger.c.routed_to,
            ledger.c.family,
            ledger.c.delivered_at,
            ledger.c.received_at,
        ).where(ledger.c.received_at >= as_utc(now - RECEIPT_WINDOW))
        for r in conn.execute(recent).mappings():
            delta = as_utc(r["received_at"]) - as_utc(r["delivered_at"])
            row(r["sender"], r["routed_to"], r["family"])["_receipts"].append(delta.total_seconds())
        # Counted by the database, one row per group: the open obligations never come to
        # Python one by one (at 10⁶ of them that took minutes and gigabytes).
        o = obligations.c
        due, instant = o.due_at, as_utc(now)
        counts = (
            select(
                o.creditor,
                o.debtor,
                o.family,
                func.sum(case((due < instant, 1), else_=0)).label("overdue"),
                func.sum(case((and_(due >= instant, due <= as_utc(soon)), 1), else_=0)).label(
                    "due_within_24h"
                ),
                func.count(o.warned_at).label("warned"),
                func.count(o.breached_at).label("breached"),
                func.count(o.escalated_at).label("escalated"),
            )
            .where(o.fulfilled_at.is_(None))
            .group_by(o.creditor, o.debtor, o.family)
        )
        for r in conn.execute(counts).mappings():
            b = row(r["creditor"], r["debtor"], r["family"])
            for name in ("overdue", "due_within_24h", "warned", "breached", "escalated"):
                b[name] = int(r[name] or 0)
    for b in out.values():
        receipts = b.pop("_receipts")
        if receipts:
            b["median_time_to_receipt_s"] = statistics.median(receipts)
    return sorted(out.values(), key=lambda b: (b["sender"], b["recipient"], b["family"]))


def most_urgent(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` board rows that most need someone: overdue, then due within 24 h, then
    breached, then open hand-offs (a national board has 10⁵ groups; nobody reads them all)."""
    return sorted(
        rows,
        key=lambda b: (-b["overdue"], -b["due_within_24h"], -b["breached"], -b["open"]),
    )[:limit]


def overdue(engine: Engine, now: datetime, *, limit: int = 50) -> list[dict[str, Any]]:
    """Open obligations past their deadline, the longest overdue first (no payload field)."""
    stmt = (
        select(
            obligations.c.message_id,
            obligations.c.family,
            obligations.c.stage,
            obligations.c.debtor,
            obligations.c.creditor,
            obligations.c.risk_level,
            obligations.c.due_at,
            obligations.c.breached_at,
            obligations.c.escalated_at,
        )
        .where(obligations.c.fulfilled_at.is_(None), obligations.c.due_at < as_utc(now))
        .order_by(obligations.c.due_at, obligations.c.message_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        r["due_at"] = as_utc(r["due_at"])
        r["escalated"] = r.pop("escalated_at") is not None
        r["breached"] = r.pop("breached_at") is not None
    return rows
