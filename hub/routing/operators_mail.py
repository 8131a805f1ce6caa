"""Messages the hub operators (``HUB@100000``) send straight to a connector's inbox: SLA events,
tree heads.  They do not pass through ``hub.ingress``: the hub signs them with the operators'
key and writes them to the inbox the router would pick, with the router's own headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hub.routing.resolve import resolve
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS
from hub.wire import headers
from hub.wire.envelope import Envelope, seal
from hub.wire.schemas import SchemaRegistry, SchemaVersion

EnsureInbox = Callable[[str, str, str], Awaitable[None]]


async def queue_from_operators(
    producer: Any,
    registry: SchemaRegistry,
    directory: Directory,
    ensure_inbox: EnsureInbox,
    *,
    family: str,
    schema: SchemaVersion,
    payload: dict[str, Any],
    recipient: Address,
    key: SigningKey,
    message_id: str,
    record_key: bytes,
    correlation_id: str | None = None,
) -> tuple[Envelope, Awaitable[Any]] | None:
    """Seal and queue one copy; returns it and its pending acknowledgement, or None when the
    recipient has no route yet."""
    route = resolve(directory, recipient)
    if route is None:
        return None
    envelope, raw = seal(
        registry,
        family=family,
        payload_schema=schema,
        payload=payload,
        sender=OPERATORS,
        recipient=recipient,
        key=key,
        correlation_id=correlation_id,
        message_id=message_id,
    )
    await ensure_inbox(route.topic, route.inbox.agency, route.inbox.region)
    ack = await producer.send(
        route.topic,
        key=record_key,
        value=raw,
        partition=None,
        timestamp=None,
        headers=[(headers.ROUTED_TO, str(route.inbox).encode()), (headers.VIA, b"direct")],
    )
    return envelope, ack
