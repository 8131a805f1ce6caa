"""Publishing SLA events that the ledger recorded: to ``hub.sla-events`` and to the inboxes.

The ledger's ``sla_events`` table is an outbox.  A worker leases an event, publishes it, marks
it published; a worker that dies in between lets the lease expire and another publishes it
again.  Each copy carries the event id as its message id, so a connector that sees it twice
handles it once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from hub.audit.emit import sla_event
from hub.lifecycle.ledger import Ledger
from hub.lifecycle.rows import SlaEventRow
from hub.routing.operators_mail import queue_from_operators
from hub.sla.clock import recipients_of
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.wire import headers
from hub.wire.codec import AvroSerializer
from hub.wire.families import SLA_EVENT
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import SLA_EVENTS

log = logging.getLogger("hub.sla")

EnsureInbox = Callable[[str, str, str], Awaitable[None]]


class SlaPublisher:
    def __init__(
        self,
        registry: SchemaRegistry,
        ledger: Ledger,
        directory: Callable[[], Directory],
        key: Callable[[], SigningKey],
        ensure_inbox: EnsureInbox,
        *,
        lease_s: float = 30.0,
        batch: int = 500,
        audit: Any = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.registry = registry
        self.ledger = ledger
        self.directory = directory
        self.key = key
        self.ensure_inbox = ensure_inbox
        self.lease_s = lease_s
        self.batch = batch
        self.audit = audit  # hub.audit.emit.AuditPublisher, or None
        self.schema = registry.latest(SLA_EVENT)
        self.serialize = AvroSerializer(registry, SLA_EVENT)

    async def publish_pending(self, producer: Any, now: datetime) -> int:
        """Publish what is due and not leased, a batch at a time; returns how many were marked
        published.

        A batch is leased in one transaction, its records all queued before their
        acknowledgements are awaited together, its audit events published together, and then
        it is marked published in one transaction.  Each lease runs from the moment it is taken
        (a long tick must not hand out leases that are already half spent), and only the lease
        holder may mark an event published.  An event with a recipient that has no connector
        yet is left unpublished and tried again when its lease runs out, rather than marked done
        with that copy lost.
        """
        published = 0
        while True:
            due = await asyncio.to_thread(self.ledger.unpublished, now, self.batch)
            owner = uuid.uuid4().hex
            taken = await asyncio.to_thread(
                self.ledger.lease_many,
                [ev.event_id for ev in due],
                self.clock(),
                self.lease_s,
                owner,
            )
            batch = [ev for ev in due if ev.event_id in taken]  # others: another worker has them
            done = await self._publish_batch(producer, batch)
            marked = await asyncio.to_thread(
                self.ledger.mark_published_many, [ev.event_id for ev in done], self.clock(), owner
            )
            for ev in done:
                if ev.event_id not in marked:
                    log.warning("SLA event %s: lease lost while publishing", ev.event_id)
            published += len(marked)
            if len(due) < self.batch or not batch:
                return published

    async def _publish_batch(self, producer: Any, batch: list[SlaEventRow]) -> list[SlaEventRow]:
        """Publish every event of ``batch`` with its copies; returns those fully routed."""
        pending: list[Awaitable[Any]] = []
        done: list[SlaEventRow] = []
        audit = []
        for ev in batch:
            routed, creditor_copy = await self._queue(producer, ev, pending)
            if routed:
                done.append(ev)
            audit.append(sla_event(ev, creditor_copy))
        await asyncio.gather(*pending)
        if self.audit is not None and audit:
            # Published before the events are marked published: a crash in between repeats
            # them, with the same ids.
            await self.audit.publish(producer, audit)
        return done

    async def _queue(
        self, producer: Any, ev: SlaEventRow, pending: list[Awaitable[Any]]
    ) -> tuple[bool, Any]:
        """Queue ``ev`` and its copies; (False when a recipient had no route, the creditor's
        copy or None)."""
        record = ev.to_record()
        pending.append(
            await producer.send(
                SLA_EVENTS.name,
                key=ev.message_id.encode(),
                value=self.serialize(record),
                partition=None,
                timestamp=None,
                headers=[(headers.SLA_KIND, ev.kind.encode())],
            )
        )
        directory = self.directory()
        creditor_copy = None
        missing = False
        for address in recipients_of(ev):
            queued = await queue_from_operators(
                producer,
                self.registry,
                directory,
                self.ensure_inbox,
                family=SLA_EVENT,
                schema=self.schema,
                payload=record,
                recipient=address,
                key=self.key(),
                message_id=ev.event_id,
                record_key=ev.message_id.encode(),
                correlation_id=ev.message_id,
            )
            if queued is None:
                log.error("SLA event %s: no connector for %s yet; will retry", ev.event_id, address)
                missing = True
                continue
            copy, ack = queued
            pending.append(ack)
            if creditor_copy is None or str(address) == ev.creditor:
                creditor_copy = copy
        return not missing, creditor_copy
