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
from hub.routing.resolve import resolve
from hub.sla.clock import recipients_of
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS
from hub.wire import headers
from hub.wire.codec import AvroSerializer
from hub.wire.envelope import seal
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
        self.audit = audit  # hub.audit.emit.AuditPublisher, or None
        self.schema = registry.latest(SLA_EVENT)
        self.serialize = AvroSerializer(registry, SLA_EVENT)

    async def publish_pending(self, producer: Any, now: datetime) -> int:
        """Publish what is due and not leased; returns how many were marked published.

        Each lease runs from the moment it is taken (a long tick must not hand out leases that
        are already half spent), and only the lease holder may mark the event published.  An
        event with a recipient that has no connector yet is left unpublished and tried again
        when its lease runs out, rather than marked done with that copy lost.
        """
        published = 0
        for ev in await asyncio.to_thread(self.ledger.unpublished, now):
            owner = uuid.uuid4().hex
            taken = await asyncio.to_thread(
                self.ledger.lease, ev.event_id, self.clock(), self.lease_s, owner
            )
            if not taken:
                continue  # another worker has it
            if not await self._publish(producer, ev):
                continue
            marked = await asyncio.to_thread(
                self.ledger.mark_published, ev.event_id, self.clock(), owner
            )
            if marked:
                published += 1
            else:
                log.warning("SLA event %s: lease lost while publishing", ev.event_id)
        return published

    async def _publish(self, producer: Any, ev: SlaEventRow) -> bool:
        """Publish ``ev`` and its copies; False when a recipient had no route (retry later)."""
        record = ev.to_record()
        await producer.send_and_wait(
            SLA_EVENTS.name,
            key=ev.message_id.encode(),
            value=self.serialize(record),
            partition=None,
            timestamp=None,
            headers=[(headers.SLA_KIND, ev.kind.encode())],
        )
        directory = self.directory()
        creditor_copy = None
        missing = False
        for address in recipients_of(ev):
            route = resolve(directory, address)
            if route is None:
                log.error("SLA event %s: no connector for %s yet; will retry", ev.event_id, address)
                missing = True
                continue
            copy, raw = seal(
                self.registry,
                family=SLA_EVENT,
                payload_schema=self.schema,
                payload=record,
                sender=OPERATORS,
                recipient=address,
                key=self.key(),
                correlation_id=ev.message_id,
                message_id=ev.event_id,
            )
            await self.ensure_inbox(route.topic, route.inbox.agency, route.inbox.region)
            await producer.send_and_wait(
                route.topic,
                key=ev.message_id.encode(),
                value=raw,
                partition=None,
                timestamp=None,
                headers=[(headers.ROUTED_TO, str(route.inbox).encode()), (headers.VIA, b"direct")],
            )
            if creditor_copy is None or str(address) == ev.creditor:
                creditor_copy = copy
        if self.audit is not None:
            # Published before the event is marked published: a crash in between repeats it,
            # with the same id.
            await self.audit.publish(producer, [sla_event(ev, creditor_copy)])
        return not missing
