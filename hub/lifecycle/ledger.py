"""The ledger (台账): every delivered hand-off, its lifecycle state and its open deadlines.

Tables live in the same SQLAlchemy metadata (and database) as ``hub.storage.store``:

* ``ledger``: one row per original message: state, the time of each transition, the result.
* ``obligations``: one row per (message, stage) the recipient owes, with due / warn / escalate
  instants.  Partial indexes on each instant, restricted to the rows still waiting for that
  event, are all the SLA timer reads: due work is found by index range, never by a scan.
* ``ledger_events``: the id of every reply applied, so a redelivered reply changes nothing.
* ``sla_events``: every warning, breach, escalation and flight-inspection flag, written in the
  same transaction as the claim on its obligation (so each fires once), and published from
  here under a short lease (an outbox: a crash between claim and publish only delays it).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from hub.core.clock import as_utc
from hub.lifecycle.states import Conversation, State
from hub.storage.store import DeliveryRow, deliveries, insert_ignore, metadata

ledger = Table(
    "ledger",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("family", String(64), nullable=False),
    Column("sender", String(32), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("routed_to", String(32), nullable=False),
    Column("risk_level", String(16)),
    Column("state", String(16), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True)),
    Column("accepted_at", DateTime(timezone=True)),
    Column("returned_at", DateTime(timezone=True)),
    Column("in_progress_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("return_reason", Text),
    Column("result", String(32)),
    Column("recovered_fen", BigInteger),
    Column("penalties_fen", BigInteger),
    Column("sanctions", Text),  # JSON {kind: count}
    Column("result_note", Text),
    Column("last_event_id", String(64)),
)

obligations = Table(
    "obligations",
    metadata,
    Column("obligation_id", String(80), primary_key=True),  # <message_id>:<stage>
    Column("message_id", String(64), nullable=False, index=True),
    Column("stage", String(16), nullable=False),
    Column("debtor", String(32), nullable=False),
    Column("creditor", String(32), nullable=False),
    Column("family", String(64), nullable=False),
    Column("risk_level", String(16)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("warn_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("escalate_at", DateTime(timezone=True), nullable=False),
    Column("warned_at", DateTime(timezone=True)),
    Column("breached_at", DateTime(timezone=True)),
    Column("escalated_at", DateTime(timezone=True)),
    Column("fulfilled_at", DateTime(timezone=True)),
)


def _partial(name: str, column: str, *conditions: str) -> Index:
    where = " AND ".join(("fulfilled_at IS NULL", *conditions))
    return Index(
        name,
        obligations.c[column],
        sqlite_where=text(where),
        postgresql_where=text(where),
    )


# Each index holds only the obligations still waiting for that event, so it stays as small as
# the backlog of due work, and "ORDER BY instant LIMIT n" reads n index entries.
_partial("ix_obligations_warn", "warn_at", "warned_at IS NULL")
_partial("ix_obligations_due", "due_at", "breached_at IS NULL")
_partial("ix_obligations_escalate", "escalate_at", "escalated_at IS NULL")
# The SLA board and the open-obligations gauge read open rows only.
_partial("ix_obligations_open", "debtor")

ledger_events = Table(
    "ledger_events",
    metadata,
    Column("message_id", String(64), primary_key=True),  # the reply's own id
    Column("conversation_id", String(64), nullable=False, index=True),
    Column("family", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

sla_events = Table(
    "sla_events",
    metadata,
    Column("event_id", String(100), primary_key=True),  # <obligation_id>:<kind>
    Column("obligation_id", String(80), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("family", String(64), nullable=False),
    Column("debtor", String(32), nullable=False),
    Column("creditor", String(32), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("escalated_to", Text, nullable=False),  # JSON list of AGENCY@REGION
    Column("risk_level", String(16)),
    Column("published_at", DateTime(timezone=True)),
    Column("lease_until", DateTime(timezone=True)),
)
Index(
    "ix_sla_events_unpublished",
    sla_events.c.fired_at,
    sqlite_where=sla_events.c.published_at.is_(None),
    postgresql_where=sla_events.c.published_at.is_(None),
)

#: Which column of ``obligations`` an event kind claims, and which instant makes it due.
KIND_COLUMNS = {
    "WARNING": ("warned_at", "warn_at"),
    "BREACH": ("breached_at", "due_at"),
    "ESCALATION": ("escalated_at", "escalate_at"),
}
STATE_COLUMNS = {
    State.RECEIVED: "received_at",
    State.ACCEPTED: "accepted_at",
    State.RETURNED: "returned_at",
    State.IN_PROGRESS: "in_progress_at",
    State.CLOSED: "closed_at",
}


@dataclass(frozen=True)
class Obligation:
    obligation_id: str
    message_id: str
    stage: str
    debtor: str
    creditor: str
    family: str
    risk_level: str | None
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    escalate_at: datetime
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    escalated_at: datetime | None = None
    fulfilled_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> Obligation:
        values = dict(row)
        for k, v in values.items():
            if isinstance(v, datetime):
                values[k] = as_utc(v)
        return cls(**values)


@dataclass(frozen=True)
class SlaEventRow:
    event_id: str
    obligation_id: str
    kind: str
    stage: str
    message_id: str
    family: str
    debtor: str
    creditor: str
    due_at: datetime
    fired_at: datetime
    escalated_to: list[str] = field(default_factory=list)
    risk_level: str | None = None

    def to_values(self) -> dict[str, Any]:
        values = asdict(self)
        values["escalated_to"] = json.dumps(self.escalated_to)
        values["due_at"] = as_utc(self.due_at)
        values["fired_at"] = as_utc(self.fired_at)
        return values

    @classmethod
    def from_row(cls, row: Any) -> SlaEventRow:
        values = {k: row[k] for k in cls.__dataclass_fields__}
        values["escalated_to"] = json.loads(values["escalated_to"])
        values["due_at"] = as_utc(values["due_at"])
        values["fired_at"] = as_utc(values["fired_at"])
        return cls(**values)

    def to_record(self) -> dict[str, Any]:
        """The Avro ``sla_event.v1`` record."""
        record = asdict(self)
        record.pop("obligation_id")
        return record


@dataclass(frozen=True)
class Original:
    """What the ledger keeps of an original message when it is delivered."""

    delivery: DeliveryRow
    delivered_at: datetime
    risk_level: str | None = None


class Ledger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- originals and replies (called by the router after the inbox acknowledged) -------------
    def record_original(self, original: Original, planned: Iterable[Obligation]) -> bool:
        """Record a delivered original with its obligations, atomically; False if already done."""
        d = original.delivery
        with self.engine.begin() as conn:
            if not insert_ignore(conn, deliveries, d.__dict__):
                return False
            insert_ignore(
                conn,
                ledger,
                {
                    "message_id": d.message_id,
                    "family": d.family,
                    "sender": d.sender,
                    "recipient": d.recipient,
                    "routed_to": d.routed_to,
                    "risk_level": original.risk_level,
                    "state": State.DELIVERED.value,
                    "delivered_at": as_utc(original.delivered_at),
                },
            )
            for ob in planned:
                values = asdict(ob)
                for k, v in values.items():
                    if isinstance(v, datetime):
                        values[k] = as_utc(v)
                insert_ignore(conn, obligations, values)
        return True

    def apply_reply(
        self,
        delivery: DeliveryRow,
        *,
        new_state: State,
        at: datetime,
        fulfils: Sequence[str],
        result: dict[str, Any] | None = None,
    ) -> bool:
        """Apply a delivered reply to its conversation, atomically; False if already applied."""
        conversation_id = delivery.conversation_id
        with self.engine.begin() as conn:
            if not insert_ignore(
                conn,
                ledger_events,
                {
                    "message_id": delivery.message_id,
                    "conversation_id": conversation_id,
                    "family": delivery.family,
                    "applied_at": as_utc(at),
                },
            ):
                return False
            insert_ignore(conn, deliveries, delivery.__dict__)
            values: dict[str, Any] = {
                "state": new_state.value,
                "last_event_id": delivery.message_id,
                **(result or {}),
            }
            column = STATE_COLUMNS.get(new_state)
            if column:
                values[column] = as_utc(at)
            conn.execute(
                update(ledger).where(ledger.c.message_id == conversation_id).values(values)
            )
            if fulfils:
                conn.execute(
                    update(obligations)
                    .where(
                        obligations.c.message_id == conversation_id,
                        obligations.c.stage.in_(list(fulfils)),
                        obligations.c.fulfilled_at.is_(None),
                    )
                    .values(fulfilled_at=as_utc(at))
                )
        return True

    def conversation(self, message_id: str) -> Conversation | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    select(
                        ledger.c.message_id,
                        ledger.c.family,
                        ledger.c.sender,
                        ledger.c.routed_to,
                        ledger.c.state,
                    ).where(ledger.c.message_id == message_id)
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return Conversation(
            row["message_id"], row["family"], row["sender"], row["routed_to"], State(row["state"])
        )

    def reply_applied(self, reply_id: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    select(ledger_events.c.message_id).where(ledger_events.c.message_id == reply_id)
                ).first()
                is not None
            )

    def entry(self, message_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ledger).where(ledger.c.message_id == message_id)).mappings()
            found = row.first()
        if found is None:
            return None
        out = dict(found)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = as_utc(v)
        return out

    def obligations_of(self, message_id: str) -> list[Obligation]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(obligations)
                .where(obligations.c.message_id == message_id)
                .order_by(obligations.c.due_at)
            ).mappings()
            return [Obligation.from_row(r) for r in rows]

    # -- the SLA timer ---------------------------------------------------------------------------
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

    def lease(self, event_id: str, now: datetime, lease_s: float = 30.0) -> bool:
        """Take the right to publish one event for ``lease_s``; one worker at a time gets it."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    update(sla_events)
                    .where(
                        sla_events.c.event_id == event_id,
                        sla_events.c.published_at.is_(None),
                        or_(
                            sla_events.c.lease_until.is_(None),
                            sla_events.c.lease_until < as_utc(now),
                        ),
                    )
                    .values(lease_until=as_utc(now + timedelta(seconds=lease_s)))
                ).rowcount
                == 1
            )

    def mark_published(self, event_id: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sla_events)
                .where(sla_events.c.event_id == event_id)
                .values(published_at=as_utc(at))
            )

    def events(self, message_id: str | None = None) -> list[SlaEventRow]:
        stmt = select(sla_events).order_by(sla_events.c.fired_at, sla_events.c.event_id)
        if message_id:
            stmt = stmt.where(sla_events.c.message_id == message_id)
        with self.engine.connect() as conn:
            return [SlaEventRow.from_row(r) for r in conn.execute(stmt).mappings()]

    # -- reports ---------------------------------------------------------------------------------
    def open_obligation_counts(self) -> list[tuple[str, str, str, int]]:
        """(debtor, family, stage, open count), for the open-obligations gauge."""
        stmt = (
            select(obligations.c.debtor, obligations.c.family, obligations.c.stage, func.count())
            .where(obligations.c.fulfilled_at.is_(None))
            .group_by(obligations.c.debtor, obligations.c.family, obligations.c.stage)
        )
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt).all()]  # type: ignore[misc]

    def board(self, now: datetime) -> list[dict[str, Any]]:
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
        with self.engine.connect() as conn:
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
                    delta = as_utc(r["received_at"]) - as_utc(r["delivered_at"])  # type: ignore[operator]
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
