"""What the audit sink makes of a record it cannot believe or cannot read: an event that says so.

Nothing is ever dropped: a record without a valid tag is quarantined (only its hash enters the
log), bytes that do not decode are recorded as unreadable.  Shared by the two ways events reach
the sink: records on ``hub.audit`` and the router's fact rows in the store.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from prometheus_client import Counter

from hub.audit import events as ev
from hub.audit.events import AuditEvent, event_id
from hub.trust.suites import identifier
from hub.wire.codec import AvroDeserializer, CodecError
from hub.wire.schemas import SchemaRegistry

log = logging.getLogger("hub.audit.sink")

QUARANTINE = Counter(
    "hub_audit_quarantined_total",
    "Audit records (on hub.audit, or the router's fact rows) kept only as their hash: no valid "
    "tag, or refused by the database",
    ["why"],
)


def quarantined(raw: bytes, where: str, why: str) -> AuditEvent:
    """Stands in for a record that is not to be believed or cannot be stored: its hash only.

    Its id comes from the bytes and where they were read, never from what the record claims,
    so a forged record cannot take a genuine event's id.
    """
    digest = identifier(raw)
    QUARANTINE.labels(why).inc()
    log.error("audit record at %s quarantined (%s), sha256 %s", where, why, digest)
    return AuditEvent(
        event_id(ev.QUARANTINED, digest, where),
        ev.QUARANTINED,
        datetime.now(UTC),
        facts={"source": where, "bytes_sha256": digest, "size": str(len(raw)), "why": why},
    )


def decode_event(
    registry: SchemaRegistry, raw: bytes, where: str, *, authentic: bool = True
) -> AuditEvent:
    """An audit record; bytes that do not decode become an event saying so (never dropped),
    and a record without a valid tag is quarantined."""
    if not authentic:
        return quarantined(raw, where, "no valid tag")
    try:
        return AuditEvent.from_record(AvroDeserializer(registry, "audit_event")(raw))
    except (CodecError, KeyError, TypeError, ValueError) as exc:
        return unreadable(raw, where, exc)


def unreadable(raw: bytes, where: str, exc: Exception) -> AuditEvent:
    """Bytes that do not decode, recorded by their hash and where they were read."""
    digest = identifier(raw)
    log.error("unreadable record at %s (%s); recorded as %s", where, type(exc).__name__,
              ev.UNREADABLE)  # fmt: skip
    return AuditEvent(
        event_id(ev.UNREADABLE, digest, where),
        ev.UNREADABLE,
        datetime.now(UTC),
        facts={"source": where, "bytes_sha256": digest, "size": str(len(raw))},
    )
