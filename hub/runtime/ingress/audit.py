"""Step 4: tell the audit log what happened to the record, before its offset is committed.

Builds the events of each outcome (``hub.audit.emit`` holds the pure builders) as one fact
record (``hub.audit.facts``), which goes into the SQL store: the batch writes it in the very
transaction that records the outcome; the one-record path right after it.  The audit sink
chains the facts into the log.  A crash before the commit repeats the record and with it the
events, under the same deterministic ids, so the log has each once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from hub.audit import emit
from hub.audit.events import AuditEvent, SubjectRef
from hub.audit.facts import fact_of
from hub.audit.mac import AuditMac
from hub.core.clock import Clock
from hub.lifecycle.states import state_after
from hub.routing.router import Decision, Delivered
from hub.runtime.ingress.record import IngressRecord
from hub.runtime.ingress.recorder import Recorder
from hub.storage.audit_facts import Fact
from hub.storage.store import DeliveryRow
from hub.trust.address import Address
from hub.wire.deadletter import DeadLetter
from hub.wire.envelope import Envelope

REPEATED = "unknown (repeated after a redelivery)"


class IngressAudit:
    def __init__(
        self, recorder: Recorder, mac: AuditMac, subject_ref: SubjectRef, clock: Clock
    ) -> None:
        self.recorder = recorder
        self.mac = mac
        self.subject_ref = subject_ref
        self.clock = clock

    def fact(self, events: list[AuditEvent]) -> Fact:
        """The one fact record of an outcome, for the transaction that records it."""
        return fact_of(events, self.mac)

    async def store(self, events: list[AuditEvent]) -> None:
        """Store the events of an outcome already recorded (the one-record path)."""
        if events:
            await asyncio.to_thread(self.recorder.record_facts, [self.fact(events)])

    def submitted(
        self, record: IngressRecord, decision: Decision, at: datetime | None = None
    ) -> list[AuditEvent]:
        """``at``: when the hub took the record up, no later than what it did with it (the
        batch passes the instant it decided, so ``submitted`` never reads later than ``routed``)."""
        return emit.submitted(
            record.value,
            decision.envelope,
            source=record.source,
            at=at or self.clock(),
            replay_of=record.replay_of,
        )

    def delivered(
        self, d: Delivered, written: object, decided_at: datetime, applied_at: datetime | None
    ) -> list[AuditEvent]:
        env, route = d.envelope, d.route
        events = emit.delivered(
            env,
            routed_to=route.inbox,
            via=route.via,
            fallback=route.fallback,
            decided_at=decided_at,
            delivered_at=self.clock(),
            inbox=emit.source_of(
                route.topic, getattr(written, "partition", -1), getattr(written, "offset", -1)
            ),
            payload=d.payload,
            subject_ref=self.subject_ref,
        )
        if d.conversation is not None and d.new_state is not None and applied_at is not None:
            step = self._reply_step(env, d, d.new_state.value, applied_at)
            if step is not None:
                events.append(step)
        return events

    def duplicate(
        self, d: Delivered, record: IngressRecord, earlier: DeliveryRow | None
    ) -> list[AuditEvent]:
        """The repeat itself, and the events of the earlier delivery again.

        The router may have stopped between recording a delivery and publishing its events; a
        redelivered record repeats them, with the same ids, so the log has them once either way.
        """
        env = d.envelope
        events = [emit.duplicate(env, source=record.source, at=self.clock())]
        if earlier is None:
            return events
        events += emit.delivered(
            env,
            routed_to=Address.parse(earlier.routed_to),
            via=REPEATED,
            fallback=earlier.fallback,
            decided_at=earlier.routed_at,
            delivered_at=earlier.routed_at,
            inbox=REPEATED,
            payload=d.payload,
            subject_ref=self.subject_ref,
        )
        if env.correlation_id is not None:
            state = state_after(env.family, d.payload).value
            step = self._reply_step(env, d, state, earlier.routed_at)
            if step is not None:
                events.append(step)
        return events

    def dead_lettered(self, dl: DeadLetter, env: Envelope | None) -> AuditEvent:
        return emit.dead_lettered(dl, env)

    def _reply_step(
        self, env: Envelope, d: Delivered, state: str, at: datetime
    ) -> AuditEvent | None:
        return emit.reply_applied(
            env, new_state=state, payload=d.payload, at=at, subject_ref=self.subject_ref
        )
