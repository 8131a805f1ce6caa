"""What the hub tells the audit log, in the order a message travels.

The builders are pure (an envelope, a decision, an instant in; ``AuditEvent``s out), so what
is recorded about each step is tested without a broker.  ``AuditPublisher`` sends them to
``hub.audit`` and waits for the broker's acknowledgement before the router commits its input
offset: an event can be published twice (at-least-once), never lost; its deterministic id
makes the second copy a no-op in the sink.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.audit import events as ev
from hub.audit.events import AuditEvent, SignedFields, SubjectRef, event_id, facts_of
from hub.audit.mac import AuditMac
from hub.core.turns import Turns
from hub.trust.address import Address
from hub.trust.suites import envelope_digest, identifier
from hub.wire import headers
from hub.wire.codec import AvroSerializer
from hub.wire.deadletter import DeadLetter
from hub.wire.documents import documents_fact
from hub.wire.envelope import Envelope
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import AUDIT

AUDIT_STEM = "audit_event"


def source_of(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}@{offset}"


def submitted(
    raw: bytes,
    env: Envelope | None,
    *,
    source: str,
    at: datetime,
    replay_of: str | None = None,
) -> list[AuditEvent]:
    """A record read from ``hub.ingress`` (and, for a replay, the replay itself)."""
    ident = env.message_id if env else "sha256:" + identifier(raw)
    facts = {"source": source, "size": str(len(raw))}
    if env is None:
        facts["bytes_sha256"] = identifier(raw)
    else:
        # What was sent, to compare with what a receipt says was received (the hub delivers
        # these bytes unchanged), in the hash the receipt will use: the envelope's suite's.
        facts["envelope_digest"] = envelope_digest(env.signing_key_id, raw)
        if env.documents:  # the signed manifest, to compare with what a receipt names
            facts["documents"] = documents_fact(
                (d.n, d.size, d.chunks_root.hex()) for d in env.documents
            )
    out = [
        _with(AuditEvent(event_id(ev.SUBMITTED, ident, source), ev.SUBMITTED, at, facts=facts), env)
    ]
    if replay_of:
        out.insert(
            0,
            _with(
                AuditEvent(
                    event_id(ev.DLQ_REPLAYED, replay_of, source),
                    ev.DLQ_REPLAYED,
                    at,
                    facts={"replay_of": replay_of, "source": source},
                ),
                env,
            ),
        )
    return out


def delivered(
    env: Envelope,
    *,
    routed_to: Address,
    via: str,
    fallback: bool,
    decided_at: datetime,
    delivered_at: datetime,
    inbox: str,
    payload: Mapping[str, Any] | None,
    subject_ref: SubjectRef,
) -> list[AuditEvent]:
    """The routing decision and the acknowledged write to the recipient's inbox."""
    original = env.correlation_id is None
    routed = AuditEvent(
        event_id(ev.ROUTED, env.message_id),
        ev.ROUTED,
        decided_at,
        routed_to=str(routed_to),
        facts={"via": via, "fallback": str(fallback).lower()},
    ).with_envelope(env)
    facts = {"inbox": inbox}
    if env.encryption is not None:
        facts["encrypted"] = "true"  # the hub never saw the payload, so it has no facts of it
    elif original:
        facts.update(facts_of(env.family, payload, subject_ref))
    done = AuditEvent(
        event_id(ev.DELIVERED, env.message_id),
        ev.DELIVERED,
        delivered_at,
        routed_to=str(routed_to),
        # A reply's own delivery does not change the state of the hand-off it answers.
        status="DELIVERED" if original else None,
        facts=facts,
    ).with_envelope(env)
    return [routed, done]


def reply_applied(
    env: Envelope,
    *,
    new_state: str,
    payload: Mapping[str, Any] | None,
    at: datetime,
    subject_ref: SubjectRef,
) -> AuditEvent | None:
    """The lifecycle step a reply made (receipt, accepted, returned, feedback, closed)."""
    kind = ev.reply_kind(env.family, payload)
    if kind is None:
        return None
    return AuditEvent(
        event_id(kind, env.message_id),
        kind,
        at,
        status=new_state,
        facts=facts_of(env.family, payload, subject_ref),
    ).with_envelope(env)


def duplicate(env: Envelope, *, source: str, at: datetime) -> AuditEvent:
    return AuditEvent(
        event_id(ev.DUPLICATE_IGNORED, env.message_id, source),
        ev.DUPLICATE_IGNORED,
        at,
        facts={"source": source},
    ).with_envelope(env)


def dead_lettered(dl: DeadLetter, env: Envelope | None) -> AuditEvent:
    # The detail names fields and codes, never payload values (hub.wire.families), so it may stay.
    event = AuditEvent(
        event_id(ev.DEAD_LETTERED, dl.dead_letter_id),
        ev.DEAD_LETTERED,
        dl.dead_lettered_at,
        facts={
            "reason": dl.reason,
            "detail": dl.detail,
            "dead_letter_id": dl.dead_letter_id,
            "source": source_of(dl.source_topic, dl.source_partition, dl.source_offset),
            **({"replay_of": dl.replay_of} if dl.replay_of else {}),
        },
    )
    event = _with(event, env)
    if env is not None and env.correlation_id is None:
        # A dead-lettered reply leaves its hand-off where it was; an original ends here.
        event = replace(event, status="DEAD_LETTERED")
    return event


def sla_event(row: Any, copy: Envelope | None) -> AuditEvent:
    """An SLA warning, breach, escalation or flight-inspection flag (``ledger.SlaEventRow``)."""
    kind = ev.SLA_KINDS.get(row.kind, "sla_" + row.kind.lower())
    return AuditEvent(
        event_id(kind, row.event_id),
        kind,
        row.fired_at,
        message_id=row.event_id,
        conversation_id=row.message_id,
        family=row.family,
        sender=row.creditor,
        recipient=row.debtor,
        signed=SignedFields.of(copy) if copy is not None else None,
        facts={
            "stage": row.stage,
            "due_at": ev.iso_ms(row.due_at),
            "escalated_to": ",".join(row.escalated_to),
            **({"risk_level": row.risk_level} if row.risk_level else {}),
            **(
                {"copy_sender": str(copy.sender), "copy_recipient": str(copy.recipient)}
                if copy is not None
                else {}
            ),
        },
    )


def key_registered(
    address: str, key_id: str, public_key: str, created_at: str, at: datetime
) -> AuditEvent:
    return AuditEvent(
        event_id(ev.KEY_REGISTERED, key_id),
        ev.KEY_REGISTERED,
        at,
        sender=address,
        facts={"key_id": key_id, "public_key": public_key, "created_at": created_at},
    )


def _with(event: AuditEvent, env: Envelope | None) -> AuditEvent:
    return event.with_envelope(env) if env is not None else event


#: The full name of the ``signed`` record in ``audit_event.avsc``.
SIGNED_FIELDS = "medfund.hub.SignedFields"


class AuditPublisher:
    """Sends audit events to ``hub.audit`` through an aiokafka producer."""

    def __init__(self, registry: SchemaRegistry, mac: AuditMac) -> None:
        self.serialize = AvroSerializer(registry, AUDIT_STEM)
        self.mac = mac

    def encode(self, event: AuditEvent) -> bytes:
        record = event.to_record()
        if record["signed"] is not None:
            # Name the union's branch: fastavro otherwise checks the record against each branch,
            # which was half the cost of encoding an event.
            record["signed"] = (SIGNED_FIELDS, record["signed"])
        return self.serialize(record)

    async def publish(self, producer: Any, events: Iterable[AuditEvent]) -> None:
        pending = []
        turns = Turns()  # a batch's events are many: heartbeats run between them
        for event in events:
            await turns.take()
            # Keyed by hand-off, so one hand-off's events stay in order on one partition.
            key = (event.conversation_id or event.message_id or event.event_id).encode()
            value = self.encode(event)
            pending.append(
                await producer.send(
                    AUDIT.name,
                    key=key,
                    value=value,
                    partition=None,
                    timestamp=None,
                    headers=[
                        (headers.AUDIT_KIND, event.kind.encode()),
                        (headers.AUDIT_MAC, self.mac.tag(value)),
                    ],
                )
            )
        if pending:
            await asyncio.gather(*pending)
