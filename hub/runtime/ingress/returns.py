"""A signed return to the sender of a message with documents that was dead-lettered.

The sender's own connector learns, from ``HUB@100000`` and under the operators' signature, which
message was not delivered, why (by document and chunk number) and which dead letter holds it, so
it can send again or ask for a replay: nothing is lost in silence.  Only for the document
reasons, which the router decides after the sender's signature verified, so a forged envelope
never makes the hub write to someone's inbox.  The return's id is derived from the dead letter's
(``ret-<dead letter id>``): a repeat after a crash is the same message, which connectors skip.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hub.routing.operators_mail import EnsureInbox, queue_from_operators
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.wire.deadletter import DeadLetter, Reason
from hub.wire.envelope import Envelope
from hub.wire.families.delivery_refused import NAME
from hub.wire.schemas import SchemaRegistry

log = logging.getLogger("hub.router")

DOCUMENT_REASONS = frozenset(
    {
        Reason.MISSING_CHUNK.value,
        Reason.CORRUPT_CHUNK.value,
        Reason.DOCUMENT_TOO_LARGE.value,
        Reason.INVALID_DOCUMENT.value,
    }
)


def return_id(dl: DeadLetter) -> str:
    return f"ret-{dl.dead_letter_id}"


class ReturnWriter:
    def __init__(
        self,
        producer: Any,
        registry: SchemaRegistry,
        directory: Callable[[], Directory],
        ensure_inbox: EnsureInbox,
        key: Callable[[], SigningKey],
    ) -> None:
        self.producer = producer
        self.registry = registry
        self.directory = directory
        self.ensure_inbox = ensure_inbox
        self.key = key
        self.schema = registry.latest(NAME)

    async def send(self, dl: DeadLetter, env: Envelope | None) -> Awaitable[Any] | None:
        """Queue the return of ``dl`` when it is owed; its pending acknowledgement, or None."""
        if env is None or not env.documents or dl.reason not in DOCUMENT_REASONS:
            return None
        payload = {
            "refused_message_id": env.message_id,
            "refused_family": env.family,
            "reason": dl.reason,
            "detail": dl.detail,
            "dead_letter_id": dl.dead_letter_id,
            "refused_at": dl.dead_lettered_at,
        }
        try:
            key = self.key()
        except Exception as exc:  # the dead letter stands; only the notice cannot be signed
            log.error("cannot sign the return of %s: %s", env.message_id, exc)
            return None
        queued = await queue_from_operators(
            self.producer,
            self.registry,
            self.directory(),
            self.ensure_inbox,
            family=NAME,
            schema=self.schema,
            payload=payload,
            recipient=env.sender,
            key=key,
            message_id=return_id(dl),
            record_key=env.message_id.encode(),
            correlation_id=env.message_id,
        )
        if queued is None:
            log.error("cannot return %s to %s: no connector for it", env.message_id, env.sender)
            return None
        log.info("returned %s to %s (%s)", env.message_id, env.sender, dl.reason)
        return queued[1]
