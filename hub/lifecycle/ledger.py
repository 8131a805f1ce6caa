"""The ledger (台账): every delivered hand-off, its lifecycle state and its open deadlines.

:class:`Ledger` is the one object the router, the SLA clock and the command line talk to; the
tables are in :mod:`hub.lifecycle.tables`, the SLA outbox operations in
:mod:`hub.lifecycle.obligations` and the board query in :mod:`hub.lifecycle.board`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    select,
    update,
)

from hub.core.clock import as_utc
from hub.lifecycle.board import (
    TERMINAL,
    board,
    count_delivered,
    count_finished,
    oldest_unreceived,
    open_obligation_counts,
    overdue,
)
from hub.lifecycle.obligations import ObligationStore
from hub.lifecycle.rows import Obligation, Original
from hub.lifecycle.states import Conversation, State
from hub.lifecycle.tables import (
    STATE_COLUMNS,
    ledger,
    ledger_events,
    obligations,
)
from hub.storage.engine import insert_ignore, insert_many_ignore, transaction
from hub.storage.store import DeliveryRow, deliveries


class Ledger(ObligationStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- originals and replies (called by the router after the inbox acknowledged) -------------
    def record_original(self, original: Original, planned: Iterable[Obligation]) -> bool:
        """Record a delivered original with its obligations, atomically; False if already done."""
        with self.engine.begin() as conn:
            if not insert_ignore(conn, deliveries, original.delivery.__dict__):
                return False
            self._open(conn, [(original, list(planned))])
        return True

    def record_originals(
        self, conn: Connection, originals: Sequence[tuple[Original, Sequence[Obligation]]]
    ) -> None:
        """A batch of new originals with their obligations, inside the caller's transaction.

        The caller has checked that none was delivered before; should another worker have
        recorded one meanwhile, every insert here is a no-op on its key, so nothing doubles.
        """
        insert_many_ignore(conn, deliveries, [o.delivery.__dict__ for o, _ in originals])
        self._open(conn, originals)

    @staticmethod
    def _open(conn: Connection, originals: Sequence[tuple[Original, Sequence[Obligation]]]) -> None:
        entries = []
        owed = []
        for original, planned in originals:
            d = original.delivery
            entries.append(
                {
                    "message_id": d.message_id,
                    "family": d.family,
                    "sender": d.sender,
                    "recipient": d.recipient,
                    "routed_to": d.routed_to,
                    "risk_level": original.risk_level,
                    "state": State.DELIVERED.value,
                    "delivered_at": as_utc(original.delivered_at),
                    "sender_region": d.sender.rpartition("@")[2],
                    "recipient_region": d.routed_to.rpartition("@")[2],
                    "reference": original.reference,
                }
            )
            for ob in planned:
                # A shallow copy: asdict() deep-copies every value, which cost more than the
                # insert itself in a batch.
                values = dict(vars(ob))
                for k, v in values.items():
                    if isinstance(v, datetime):
                        values[k] = as_utc(v)
                owed.append(values)
        new = insert_many_ignore(conn, ledger, entries, returning=ledger.c.message_id)
        # Only rows this transaction inserted count (another worker may have had one).
        count_delivered(
            conn,
            [
                (o.delivery.sender, o.delivery.routed_to, o.delivery.family)
                for o, _ in originals
                if o.delivery.message_id in new
            ],
        )
        insert_many_ignore(conn, obligations, owed)

    def apply_reply(
        self,
        delivery: DeliveryRow,
        *,
        new_state: State,
        at: datetime,
        fulfils: Sequence[str],
        result: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> bool:
        """Apply a delivered reply to its conversation, atomically; False if already applied."""
        conversation_id = delivery.conversation_id
        with transaction(self.engine, conn) as tx:
            if not insert_ignore(
                tx,
                ledger_events,
                {
                    "message_id": delivery.message_id,
                    "conversation_id": conversation_id,
                    "family": delivery.family,
                    "applied_at": as_utc(at),
                },
            ):
                return False
            insert_ignore(tx, deliveries, delivery.__dict__)
            before = tx.execute(
                select(ledger.c.state, ledger.c.sender, ledger.c.routed_to, ledger.c.family).where(
                    ledger.c.message_id == conversation_id
                )
            ).first()
            if before is not None and before.state not in TERMINAL and new_state.value in TERMINAL:
                count_finished(tx, (before.sender, before.routed_to, before.family))
            values: dict[str, Any] = {
                "state": new_state.value,
                "last_event_id": delivery.message_id,
                **(result or {}),
            }
            column = STATE_COLUMNS.get(new_state)
            if column:
                values[column] = as_utc(at)
            tx.execute(update(ledger).where(ledger.c.message_id == conversation_id).values(values))
            if fulfils:
                tx.execute(
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

    def due_at(self, message_id: str, stage: str) -> datetime | None:
        """The deadline of one stage of a conversation (None: that stage owes nothing)."""
        with self.engine.connect() as conn:
            due = conn.execute(
                select(obligations.c.due_at).where(
                    obligations.c.message_id == message_id, obligations.c.stage == stage
                )
            ).scalar()
        return as_utc(due) if due is not None else None

    def obligations_of(self, message_id: str) -> list[Obligation]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(obligations)
                .where(obligations.c.message_id == message_id)
                .order_by(obligations.c.due_at)
            ).mappings()
            return [Obligation.from_row(r) for r in rows]

    # -- reports ---------------------------------------------------------------------------------
    def open_obligation_counts(self) -> list[tuple[str, str, str, int]]:
        """(debtor, family, stage, open count), for the open-obligations gauge."""
        return open_obligation_counts(self.engine)

    def oldest_unreceived(self) -> list[tuple[str, datetime]]:
        """(recipient, delivery of its oldest original not yet signed for), for the gauge."""
        return oldest_unreceived(self.engine)

    def board(self, now: datetime) -> list[dict[str, Any]]:
        """The SLA board: per (sender, recipient connector, family) of every hand-off."""
        return board(self.engine, now)

    def overdue(self, now: datetime, *, limit: int = 50) -> list[dict[str, Any]]:
        """Open obligations past their deadline, the longest overdue first."""
        return overdue(self.engine, now, limit=limit)
