"""Step 2a: write a delivered record's original bytes to the recipient's inbox topic.

The bytes are the sender's, unchanged, so the recipient verifies the sender's signature end to
end.  The record is keyed by conversation id (one hand-off stays on one partition, in order) and
carries where it was routed and whether by fallback.  Waits for the broker's acknowledgement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from hub.routing.router import ChunkAccepted, Delivered
from hub.runtime.ingress.chunks import chunks_header
from hub.runtime.ingress.producer import Producer
from hub.storage.redelivery import Kept
from hub.wire import headers
from hub.wire.topics import inbox_topic

#: Makes sure a connector's inbox and documents topics exist before the first write: (inbox
#: topic, agency, region).
EnsureInbox = Callable[[str, str, str], Awaitable[None]]


class InboxWriter:
    def __init__(self, producer: Producer, ensure_inbox: EnsureInbox) -> None:
        self.producer = producer
        self.ensure_inbox = ensure_inbox

    async def write(self, d: Delivered, raw: bytes) -> Any:
        """The acknowledged record's metadata (partition, offset)."""
        route = d.route
        await self.ensure_inbox(route.topic, route.inbox.agency, route.inbox.region)
        return await publish(self.producer, inbox_record(d, raw))

    async def send_chunk(self, d: ChunkAccepted, raw: bytes) -> Awaitable[Any]:
        """Queue a chunk's copy to its recipient's documents topic, keyed by message id (a
        message's chunks share a partition, in order); resolves to the metadata once
        acknowledged."""
        inbox = d.inbox
        await self.ensure_inbox(inbox_topic(inbox.agency, inbox.region), inbox.agency, inbox.region)
        return await self.producer.send(d.topic, d.chunk.message_id.encode(), raw, None, None, None)

    async def send(self, d: Delivered, raw: bytes) -> Awaitable[Any]:
        """Queue the write; the awaitable resolves to the metadata once acknowledged."""
        route = d.route
        await self.ensure_inbox(route.topic, route.inbox.agency, route.inbox.region)
        record = inbox_record(d, raw)
        return await self.producer.send(
            record.topic, record.record_key, record.value, None, None, record.headers
        )


async def publish(producer: Producer, record: Kept) -> Any:
    """Write one inbox record and wait for the broker's acknowledgement."""
    return await producer.send_and_wait(
        record.topic,
        key=record.record_key,
        value=record.value,
        partition=None,
        timestamp=None,
        headers=record.headers,
    )


def inbox_record(d: Delivered, raw: bytes, epoch: str = "") -> Kept:
    """The inbox record of a delivery, as written and as kept for a redelivery."""
    route = d.route
    return Kept(
        message_id=d.envelope.message_id,
        topic=route.topic,
        record_key=d.envelope.conversation_id.encode(),
        value=raw,
        headers=[
            (headers.ROUTED_TO, str(route.inbox).encode()),
            (headers.VIA, route.via.encode()),
            *([(headers.CHUNKS, places)] if (places := chunks_header(d)) else []),
        ],
        broker_epoch=epoch,
        kept_at=datetime.now(UTC),
    )
