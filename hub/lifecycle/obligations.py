"""The SLA side of the ledger: find due obligations, claim them once, and the event outbox.

``due`` reads the partial indexes; ``fire`` claims a batch and writes its events in one
transaction, so however many workers tick, each event fires once; ``unpublished``, ``lease``
and ``mark_published`` are the outbox the SLA publisher drains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    Engine,
    and_,
    insert,
    or_,
    select,
    update,
)

from hub.core.clock import as_utc
from hub.lifecycle.rows import Obligation, SlaEventRow
from hub.lifecycle.tables import KIND_COLUMNS, obligations, sla_events


class ObligationStore:
    engine: Engine

    def due(self, kind: str, now: datetime, limit: int) -> list[Obligation]:
        """Obligations whose ``kind`` event is due at ``now``, oldest first (index range read)."""
        claimed, instant = KIND_COLUMNS[kind]
        conditions = [
            obligations.c.fulfilled_at.is_(None),
            obligations.c[claimed].is_(None),
            obligations.c[instant] <= as_utc(now),
        ]
        if kind == "ESCALATION":
            conditions.append(obligations.c.breached_at.is_not(None))
        stmt = (
            select(obligations)
            .where(and_(*conditions))
            .order_by(obligations.c[instant])
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Obligation.from_row(r) for r in conn.execute(stmt).mappings()]

    def next_instant(self) -> datetime | None:
        """The earliest instant a warning, breach or escalation still waits for (one index
        entry read per kind, as ``due`` reads them), or None when nothing waits."""
        found = []
        with self.engine.connect() as conn:
            for claimed, instant in KIND_COLUMNS.values():
                column = obligations.c[instant]
                first = conn.execute(
                    select(column)
                    .where(obligations.c.fulfilled_at.is_(None), obligations.c[claimed].is_(None))
                    .order_by(column)
                    .limit(1)
                ).scalar()
                if first is not None:
                    found.append(as_utc(first))
        return min(found, default=None)

    def fire(
        self,
        kind: str,
        now: datetime,
        candidates: Sequence[Obligation],
        make_events: Callable[[Obligation], list[SlaEventRow]],
    ) -> list[SlaEventRow]:
        """Claim ``kind`` on the candidates and record their events, in one transaction.

        The conditional UPDATE is the claim: of two workers (or a worker and its restarted self)
        exactly one gets each obligation back from RETURNING, and only that one writes its
        events.  Returns the events this call recorded.
        """
        if not candidates:
            return []
        claimed, _ = KIND_COLUMNS[kind]
        with self.engine.begin() as conn:
            won = set(
                conn.execute(
                    update(obligations)
                    .where(
                        obligations.c.obligation_id.in_([o.obligation_id for o in candidates]),
                        obligations.c[claimed].is_(None),
                        obligations.c.fulfilled_at.is_(None),
                    )
                    .values({claimed: as_utc(now)})
                    .returning(obligations.c.obligation_id)
                ).scalars()
            )
            events = [ev for ob in candidates if ob.obligation_id in won for ev in make_events(ob)]
            if events:
                conn.execute(insert(sla_events), [ev.to_values() for ev in events])
        return events

    def unpublished(self, now: datetime, limit: int = 100) -> list[SlaEventRow]:
        stmt = (
            select(sla_events)
            .where(
                sla_events.c.published_at.is_(None),
                or_(sla_events.c.lease_until.is_(None), sla_events.c.lease_until < as_utc(now)),
            )
            .order_by(sla_events.c.fired_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [SlaEventRow.from_row(r) for r in conn.execute(stmt).mappings()]

    def lease(self, event_id: str, now: datetime, lease_s: float = 30.0, owner: str = "") -> bool:
        """Take the right to publish one event for ``lease_s`` from ``now`` (pass the current
        time, not a tick's start); one worker at a time gets it, named by ``owner``."""
        return event_id in self.lease_many([event_id], now, lease_s, owner)

    def lease_many(
        self, event_ids: Sequence[str], now: datetime, lease_s: float = 30.0, owner: str = ""
    ) -> set[str]:
        """:meth:`lease` for many events in one transaction; returns the ids taken."""
        if not event_ids:
            return set()
        ids = list(event_ids)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(sla_events)
                .where(
                    sla_events.c.event_id.in_(ids),
                    sla_events.c.published_at.is_(None),
                    or_(
                        sla_events.c.lease_until.is_(None),
                        sla_events.c.lease_until < as_utc(now),
                    ),
                )
                .values(lease_until=as_utc(now + timedelta(seconds=lease_s)), lease_owner=owner)
                .returning(sla_events.c.event_id)
            ).scalars()
            return set(taken)

    def mark_published(self, event_id: str, at: datetime, owner: str = "") -> bool:
        """Mark it published, if ``owner`` still holds the lease; False if another took it over
        (its lease ran out meanwhile), who then publishes (again) and marks it."""
        return event_id in self.mark_published_many([event_id], at, owner)

    def mark_published_many(self, event_ids: Sequence[str], at: datetime, owner: str) -> set[str]:
        """:meth:`mark_published` for many events in one transaction; returns the ids marked."""
        if not event_ids:
            return set()
        ids = list(event_ids)
        with self.engine.begin() as conn:
            marked = conn.execute(
                update(sla_events)
                .where(
                    sla_events.c.event_id.in_(ids),
                    sla_events.c.published_at.is_(None),
                    sla_events.c.lease_owner == owner,
                )
                .values(published_at=as_utc(at))
                .returning(sla_events.c.event_id)
            ).scalars()
            return set(marked)

    def events(self, message_id: str | None = None) -> list[SlaEventRow]:
        stmt = select(sla_events).order_by(sla_events.c.fired_at, sla_events.c.event_id)
        if message_id:
            stmt = stmt.where(sla_events.c.message_id == message_id)
        with self.engine.connect() as conn:
            return [SlaEventRow.from_row(r) for r in conn.execute(stmt).mappings()]
