"""Step 3: record the outcome in the SQL store, which outlives the broker.

A delivered original is recorded with its ledger row and the SLA obligations it opens; a reply
moves its conversation on and fulfils obligations; a dead letter is kept with its bytes.  Each
is one transaction, idempotent by message id (or dead-letter id), so a redelivered record
changes nothing.  Synchronous: the pipeline runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from hub.core.clock import Clock, as_utc
from hub.lifecycle.ledger import Ledger
from hub.lifecycle.rows import Obligation, Original
from hub.lifecycle.states import State, fulfils
from hub.routing.router import Delivered
from hub.runtime import metrics
from hub.runtime.ingress.inbox import inbox_record
from hub.sla.clock import plan_obligations
from hub.sla.policy import SlaPolicy
from hub.sla.workdays import WorkCalendar
from hub.storage.audit_facts import AuditFacts, Fact
from hub.storage.chunks import ChunkStore, KeptChunk, Slot
from hub.storage.engine import insert_many_ignore
from hub.storage.redelivery import Redeliveries
from hub.storage.store import DeliveryRow, Store, deliveries
from hub.wire.deadletter import DeadLetter
from hub.wire.documents import documents_fact
from hub.wire.families import Family, family

#: The epoch of an inbox topic's data (``hub.runtime.admin.TopicEpochs``).
Epochs = Callable[[str], str]


def no_epochs(topic: str) -> str:
    """No broker to ask (tests): every topic in one unchanging epoch."""
    return "static"


def delivery_row(d: Delivered) -> DeliveryRow:
    env = d.envelope
    return DeliveryRow(
        message_id=env.message_id,
        conversation_id=env.conversation_id,
        family=env.family,
        sender=str(env.sender),
        recipient=str(env.recipient),
        routed_to=str(d.route.inbox),
        fallback=d.route.fallback,
        created_at=env.created_at,
        routed_at=datetime.now(UTC),
        content_sha256=env.content_digest(),
    )


class Recorder:
    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        sla_policy: SlaPolicy,
        calendar: WorkCalendar,
        clock: Clock,
        escalation_grace: timedelta,
        epochs: Epochs | None = None,
    ) -> None:
        self.redeliveries = Redeliveries(store.engine)
        self.chunks = ChunkStore(store.engine)
        self.facts = AuditFacts(store.engine)
        self.epochs = epochs or no_epochs
        self.store = store
        self.ledger = ledger
        self.sla_policy = sla_policy
        self.calendar = calendar
        self.clock = clock
        self.escalation_grace = escalation_grace

    def was_delivered(self, message_id: str) -> bool:
        return self.store.was_delivered(message_id)

    def earlier_delivery(self, message_id: str) -> DeliveryRow | None:
        return self.store.delivery(message_id)

    def earlier_deliveries(self, message_ids: Sequence[str]) -> dict[str, DeliveryRow]:
        return self.store.deliveries_by_id(message_ids)

    def first_seen(self, dead_letter_id: str, value: bytes) -> datetime | None:
        """When the hub first dead-lettered exactly these bytes under this id (for replays)."""
        row = self.store.dead_letter(dead_letter_id)
        if row is None or bytes(row["original"]) != value:
            return None
        return as_utc(row["dead_lettered_at"])

    def record_dead_letter(self, dl: DeadLetter) -> None:
        self.store.record_dead_letter(dl)

    def keep_for_redelivery(self, d: Delivered, raw: bytes) -> None:
        """Keep the inbox record until the recipient has it (see ``hub.storage.redelivery``)."""
        self.redeliveries.keep(inbox_record(d, raw, self.epochs(d.route.topic)))

    def chunk_leaves(self, slots: Sequence[Slot]) -> dict[Slot, bytes]:
        """The leaf hash kept for each place that already has a chunk."""
        return self.chunks.leaves(slots)

    def keep_chunks(self, kept: Sequence[KeptChunk], conflicts: Sequence[Slot] = ()) -> None:
        self.chunks.keep(kept, conflicts)

    def record_facts(self, facts: Sequence[Fact]) -> None:
        """Audit facts of an outcome already recorded (the one-record path)."""
        self.facts.write(facts, self.clock())

    def record_batch(
        self,
        delivered: Sequence[tuple[Delivered, bytes]],
        dead: Sequence[DeadLetter],
        chunks: Sequence[KeptChunk] = (),
        conflicts: Sequence[Slot] = (),
        facts: Sequence[Fact] = (),
        now: datetime | None = None,
    ) -> None:
        """A batch's deliveries (with their bytes), dead letters, chunks and audit facts in one
        transaction: the store holds an outcome exactly when it holds its facts.

        The caller guarantees that no two entries concern the same message or conversation and
        that none of ``delivered`` was delivered before (``hub.runtime.ingress.batch``), so the
        originals go in with a few multi-row inserts.  ``now``: the instant the ledger records
        (the caller's, when it built the facts with it: each delivery's instant is then
        :func:`applied_at`).
        """
        now = now or self.clock()
        originals: list[tuple[Original, list[Obligation]]] = []
        observed: list[Delivered] = []
        with self.store.engine.begin() as conn:
            self.store.record_dead_letters(conn, dead)
            self.chunks.keep(chunks, conflicts, conn)
            for d, _ in delivered:
                row = delivery_row(d)
                if d.conversation is None:
                    originals.append(self._original(d, row, now))
                elif self._reply(d, row, now, conn)[1]:
                    observed.append(d)
            self.ledger.record_originals(conn, originals)
            self.redeliveries.keep_many(
                [inbox_record(d, raw, self.epochs(d.route.topic)) for d, raw in delivered], conn
            )
            self.facts.write(facts, now, conn)
        for d in observed:
            self._observe(d, now)

    def record_delivery(self, d: Delivered, row: DeliveryRow) -> datetime | None:
        """The delivery and its ledger effect, in one transaction.

        Returns when the ledger took it: the delivery of an original, or a reply that moved its
        conversation on; None for a reply the ledger had already applied.
        """
        now = self.clock()
        if d.conversation is None:
            self.ledger.record_original(*self._original(d, row, now))
            return now
        with self.store.engine.begin() as conn:
            at, moved = self._reply(d, row, now, conn)
        if moved:
            self._observe(d, now)
        return at

    def _original(
        self, d: Delivered, row: DeliveryRow, now: datetime
    ) -> tuple[Original, list[Obligation]]:
        planned = plan_obligations(
            self.sla_policy,
            self.calendar,
            message_id=row.message_id,
            family=row.family,
            sender=row.sender,
            debtor=row.routed_to,
            payload=d.payload,
            delivered_at=now,
            escalation_grace=self.escalation_grace,
        )
        risk = (d.payload or {}).get("risk_level")
        return Original(row, now, risk, reference_of(d.payload)), list(planned)

    def _reply(
        self, d: Delivered, row: DeliveryRow, now: datetime, conn: Connection
    ) -> tuple[datetime | None, bool]:
        """(what ``record_delivery`` returns, whether the conversation moved on just now)."""
        if d.new_state is None:  # the ledger had applied it; the delivery row was written too
            insert_many_ignore(conn, deliveries, [row.__dict__])
            return None, False
        fam = family(row.family)
        applied = self.ledger.apply_reply(
            row,
            new_state=d.new_state,
            at=now,
            fulfils=fulfils(row.family, d.payload),
            result=ledger_result(fam, d),
            conn=conn,
        )
        if applied:
            # The conversation moved past DELIVERED: its recipient has the original.
            assert d.conversation is not None
            self.redeliveries.forget(d.conversation.message_id, conn)
        # Even when the ledger had it (a redelivery), the audit event is repeated with the same
        # id, in case the first copy never reached the log.
        return now, applied

    def _observe(self, d: Delivered, now: datetime) -> None:
        assert d.conversation is not None
        entry = self.ledger.entry(d.conversation.message_id)
        if entry is None:
            return
        since = (now - entry["delivered_at"]).total_seconds()
        if d.new_state is State.RECEIVED:
            metrics.TIME_TO_RECEIPT.labels(d.conversation.family).observe(since)
            due = self.ledger.due_at(d.conversation.message_id, "receipt")
            if due is not None:
                on_time = "true" if now <= due else "false"
                metrics.RECEIPTS.labels(d.conversation.family, on_time).inc()
        elif d.new_state is State.CLOSED:
            metrics.TIME_TO_CLOSE.labels(d.conversation.family).observe(since)


def applied_at(d: Delivered, now: datetime) -> datetime | None:
    """When the ledger took a delivery recorded at ``now``: an original, or a reply with a
    state to move to (even one the ledger had applied: its event is repeated, same id); None
    for a reply that moves nothing."""
    return now if d.conversation is None or d.new_state is not None else None


def ledger_result(fam: Family | None, d: Delivered) -> dict[str, Any]:
    """The ledger columns a reply fills in, with the processing report it carries, if any."""
    out = fam.ledger_result(d.payload or {}) if fam is not None else {}
    n = (d.payload or {}).get("processing_report")
    report = [x for x in d.envelope.documents if x.n == n] if n is not None else []
    if report:
        out = {**out, "processing_report": documents_fact(
            (x.n, x.size, x.chunks_root.hex()) for x in report)}  # fmt: skip
    return out


#: Payload fields that carry the sender's own reference of a hand-off, in order of preference.
REFERENCES = ("clue_id", "handoff_id", "case_number", "request_id")


def reference_of(payload: dict[str, Any] | None) -> str | None:
    """The hand-off's reference for the console's search (an identifier, never a name)."""
    for name in REFERENCES:
        value = (payload or {}).get(name)
        if isinstance(value, str) and value:
            return value[:64]
    return None
