"""Searching the 台账 within an officer's scope: filters to one indexed query, a page at a time.

Scope: an officer of region R sees a hand-off when its sender's or its recipient's region lies
in R or under it (350500: the city and its counties; 350000: the province; 100000: all).
Regions are compared as ranges of codes (``3505xx`` = [350500, 350600)).  Identifiers, family
and state have an index each; regions have none, and a page is read off the time index.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, exists, or_, select

from hub.core.clock import BEIJING, as_utc
from hub.lifecycle.tables import ledger, obligations
from hub.trust.regions import prefix

PAGE = 50


@dataclass(frozen=True)
class Filters:
    message_id: str = ""
    reference: str = ""  # a clue id, hand-off id or case number
    agency: str = ""
    region: str = ""
    family: str = ""
    state: str = ""
    since: str = ""  # YYYY-MM-DD, Beijing time, inclusive
    until: str = ""  # YYYY-MM-DD, inclusive
    overdue: bool = False
    page: int = 1

    @classmethod
    def of(cls, query: dict[str, str]) -> Filters:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v.strip() for k, v in query.items() if k in known}
        values["overdue"] = query.get("overdue", "") in ("1", "on", "true")
        try:
            values["page"] = max(1, min(int(query.get("page", "1") or 1), 10_000))
        except ValueError:
            values["page"] = 1
        return cls(**values)

    def as_facts(self) -> dict[str, str]:
        """The filters given, as the audit log keeps a search (identifiers and codes only)."""
        out = {f.name: str(getattr(self, f.name)) for f in fields(self)
               if getattr(self, f.name) and f.name != "page"}  # fmt: skip
        return out


def region_range(region: str) -> tuple[str, str] | None:
    """[lo, hi) of the codes in ``region`` and under it; None for the whole country."""
    p = prefix(region)
    if not p:
        return None
    width = 6 - len(p)
    return p + "0" * width, str(int(p) + 1).zfill(len(p)) + "0" * width


def in_scope(scope: str, *regions: str | None) -> bool:
    span = region_range(scope)
    return span is None or any(r is not None and span[0] <= r < span[1] for r in regions)


def _within(span: tuple[str, str]) -> ColumnElement[bool]:
    # No index serves this (hub.lifecycle.tables): a region matches a share of the 台账, and
    # reading the time index backwards until a page is full beats collecting every match from
    # two region indexes and sorting them (0.9–1.5 s at 10^6 on SQLite, docs/performance.md).
    lo, hi = span
    sender, recipient = ledger.c.sender_region, ledger.c.recipient_region
    return or_(and_(sender >= lo, sender < hi), and_(recipient >= lo, recipient < hi))


def _day(text: str, *, end: bool = False) -> datetime | None:
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return None
    at = datetime(d.year, d.month, d.day, tzinfo=BEIJING) + timedelta(days=1 if end else 0)
    return as_utc(at)


def search(
    engine: Engine, f: Filters, *, scope: str, now: datetime, page_size: int = PAGE
) -> tuple[list[dict[str, Any]], bool]:
    """(a page of hand-offs, newest first; whether there is another page)."""
    conditions: list[ColumnElement[bool]] = []
    if (span := region_range(scope)) is not None:
        conditions.append(_within(span))
    if f.message_id:
        conditions.append(ledger.c.message_id == f.message_id)
    if f.reference:
        conditions.append(or_(ledger.c.reference == f.reference,
                              ledger.c.case_number == f.reference))  # fmt: skip
    if f.agency and "@" in f.agency:  # one connector, as the results show it: PSB@350582
        address = f.agency.upper()
        conditions.append(or_(ledger.c.sender == address, ledger.c.routed_to == address))
    elif f.agency:
        agency = f.agency.upper()
        conditions.append(or_(ledger.c.sender.like(f"{agency}@%"),
                              ledger.c.routed_to.like(f"{agency}@%")))  # fmt: skip
    if f.region and (span := region_range(f.region)) is not None:
        conditions.append(_within(span))
    if f.family:
        conditions.append(ledger.c.family == f.family)
    if f.state:
        conditions.append(ledger.c.state == f.state.upper())
    if f.since and (at := _day(f.since)) is not None:
        conditions.append(ledger.c.delivered_at >= at)
    if f.until and (at := _day(f.until, end=True)) is not None:
        conditions.append(ledger.c.delivered_at < at)
    if f.overdue:
        conditions.append(
            exists().where(
                obligations.c.message_id == ledger.c.message_id,
                obligations.c.fulfilled_at.is_(None),
                obligations.c.due_at < as_utc(now),
            )
        )
    query = (
        select(ledger)
        .where(*conditions)
        .order_by(ledger.c.delivered_at.desc(), ledger.c.message_id)
        .limit(page_size + 1)
        .offset((f.page - 1) * page_size)
    )
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        page = rows[:page_size]
        late = _overdue_among(conn, [r["message_id"] for r in page], now)
    for r in page:
        r["overdue"] = r["message_id"] in late  # the page highlights these rows
    return page, len(rows) > page_size


def _overdue_among(conn: Any, message_ids: list[str], now: datetime) -> set[str]:
    """Which of one page's hand-offs owe something past its deadline (one query a page)."""
    if not message_ids:
        return set()
    found = conn.execute(
        select(obligations.c.message_id).where(
            obligations.c.message_id.in_(message_ids),
            obligations.c.fulfilled_at.is_(None),
            obligations.c.due_at < as_utc(now),
        )
    )
    return {r[0] for r in found}
