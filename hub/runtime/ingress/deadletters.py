"""Step 2b: write what cannot be delivered to ``hub.dead-letter``, with its reason.

The dead letter keeps the original bytes (so ``hub dlq replay`` can re-submit them) and where
they were read; its id is stable across redeliveries of the same record.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from hub.routing.router import Rejected
from hub.runtime.ingress.producer import Producer
from hub.runtime.ingress.record import IngressRecord
from hub.trust.suites import identifier
from hub.wire import headers
from hub.wire.codec import AvroSerializer
from hub.wire.deadletter import KEPT_HEAD, DeadLetter, bounded, dead_letter_id
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import DEAD_LETTER


def dead_letter_of(record: IngressRecord, r: Rejected, *, head_only: bool = False) -> DeadLetter:
    """The dead letter of ``record``; ``head_only`` keeps its first bytes instead of all of it
    (an oversized record, or one whose whole copy the broker refused), named by its SHA-256."""
    env = r.envelope
    detail = r.detail
    if head_only:
        digest = identifier(record.value)
        detail = (
            f"{detail}; original {len(record.value)} bytes, sha256 {digest}, first {KEPT_HEAD} kept"
        )
    return DeadLetter(
        dead_letter_id=dead_letter_id(
            record.value, record.topic, record.partition, record.offset, record.timestamp_ms
        ),
        reason=r.reason.value,
        detail=bounded(detail),
        original=record.value[:KEPT_HEAD] if head_only else record.value,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        dead_lettered_at=datetime.now(UTC),
        message_id=env.message_id if env else None,
        family=env.family if env else None,
        sender=str(env.sender) if env else None,
        recipient=str(env.recipient) if env else None,
        replay_of=record.replay_of,
    )


class DeadLetterWriter:
    def __init__(self, producer: Producer, registry: SchemaRegistry) -> None:
        self.producer = producer
        self.serialize = AvroSerializer(registry, "dead_letter")

    async def write(self, dl: DeadLetter) -> None:
        await self.producer.send_and_wait(DEAD_LETTER.name, *self._record(dl))

    async def send(self, dl: DeadLetter) -> Awaitable[Any]:
        """Queue the write; the awaitable resolves once the broker acknowledged it."""
        return await self.producer.send(DEAD_LETTER.name, *self._record(dl))

    def _record(self, dl: DeadLetter) -> tuple[bytes, bytes, None, None, list[tuple[str, bytes]]]:
        """key, value, partition, timestamp, headers"""
        return (
            dl.dead_letter_id.encode(),
            self.serialize(dl.to_record()),
            None,
            None,
            [(headers.REASON, dl.reason.encode())],
        )
