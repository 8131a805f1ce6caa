"""The SLA board (``hub status``) and the open-obligations gauge, read from the ledger."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    func,
    select,
)

from hub.core.clock import as_utc
from hub.lifecycle.states import State
from hub.lifecycle.tables import ledger, obligations


def open_obligation_counts(engine: Engine) -> list[tuple[str, str, str, int]]:
    """(debtor, family, stage, open count), for the open-obligations gauge."""
    stmt = (
        select(obligations.c.debtor, obligations.c.family, obligations.c.stage, func.count())
        .where(obligations.c.fulfilled_at.is_(None))
        .group_by(obligations.c.debtor, obligations.c.family, obligations.c.stage)
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt).all()]


def board(engine: Engine, now: datetime) -> list[dict[str, Any]]:
    """The SLA board: per (sender, recipient connector, family) of every hand-off."""
    soon = now + timedelta(hours=24)
    out: dict[tuple[str, str, str], dict[str, Any]] = {}

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

    terminal = [State.CLOSED.value, State.RETURNED.value]
    with engine.connect() as conn:
        for r in conn.execute(
            select(
                ledger.c.sender,
                ledger.c.routed_to,
                ledger.c.family,
                ledger.c.state,
                ledger.c.delivered_at,
                ledger.c.received_at,
            )
        ).mappings():
            b = row(r["sender"], r["routed_to"], r["family"])
            b["messages"] += 1
            if r["state"] not in terminal:
                b["open"] += 1
            if r["received_at"] is not None:
                delta = as_utc(r["received_at"]) - as_utc(r["delivered_at"])
                b["_receipts"].append(delta.total_seconds())
        for r in conn.execute(
            select(obligations).where(obligations.c.fulfilled_at.is_(None))
        ).mappings():
            b = row(r["creditor"], r["debtor"], r["family"])
            due = as_utc(r["due_at"])
            assert due is not None
            if due < now:
                b["overdue"] += 1
            elif due <= soon:
                b["due_within_24h"] += 1
            b["warned"] += r["warned_at"] is not None
            b["breached"] += r["breached_at"] is not None
            b["escalated"] += r["escalated_at"] is not None
    for b in out.values():
        receipts = b.pop("_receipts")
        if receipts:
            b["median_time_to_receipt_s"] = statistics.median(receipts)
    return sorted(out.values(), key=lambda b: (b["sender"], b["recipient"], b["family"]))
