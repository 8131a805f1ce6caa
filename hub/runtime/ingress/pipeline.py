"""The front object of the ingress pipeline: one record in, one outcome out.

    decide → deliver to the inbox, or dead-letter → record in the store → audit

Order of effects, which is what at-least-once rests on: the inbox (or dead-letter) write is
acknowledged before the store records it, and the store records it before the audit events are
published; only after :meth:`IngressPipeline.handle` returns may the caller commit the record's
offset.  If a step raises, the steps after it do not run and the exception reaches the caller,
which must not commit: the record is read again and the idempotent steps make the repeat safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from hub.audit.events import AuditEvent
from hub.core.clock import Clock
from hub.routing.router import Decision, Delivered, Rejected
from hub.runtime import metrics
from hub.runtime.ingress.audit import IngressAudit
from hub.runtime.ingress.deadletters import DeadLetterWriter, dead_letter_of
from hub.runtime.ingress.decide import Decider
from hub.runtime.ingress.inbox import InboxWriter
from hub.runtime.ingress.record import IngressRecord
from hub.runtime.ingress.recorder import Recorder, delivery_row

log = logging.getLogger("hub.router")

DELIVERED = "delivered"
DEAD_LETTERED = "dead_lettered"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Outcome:
    """What became of one ingress record."""

    kind: str  # delivered | dead_lettered | duplicate
    message_id: str | None = None
    reason: str | None = None  # for a dead letter
    dead_letter_id: str | None = None
    events: list[AuditEvent] = field(default_factory=list)


class IngressPipeline:
    def __init__(
        self,
        decide: Decider,
        inbox: InboxWriter,
        dead_letters: DeadLetterWriter,
        recorder: Recorder,
        audit: IngressAudit,
        clock: Clock,
    ) -> None:
        self.decide = decide
        self.inbox = inbox
        self.dead_letters = dead_letters
        self.recorder = recorder
        self.audit = audit
        self.clock = clock

    async def handle(self, record: IngressRecord) -> Outcome:
        started = time.perf_counter()
        if record.replay_of:
            metrics.REPLAYS.inc()
        decision: Decision = self.decide(record.value)
        events = self.audit.submitted(record, decision)
        if isinstance(decision, Delivered):
            outcome = await self._deliver(record, decision)
        else:
            outcome = await self._dead_letter(record, decision)
        events += outcome.events
        await self.audit.publish(events)
        metrics.ROUTE_SECONDS.observe(time.perf_counter() - started)
        return Outcome(
            outcome.kind, outcome.message_id, outcome.reason, outcome.dead_letter_id, events
        )

    async def _deliver(self, record: IngressRecord, d: Delivered) -> Outcome:
        env, route = d.envelope, d.route
        decided_at = self.clock()
        if await asyncio.to_thread(self.recorder.was_delivered, env.message_id):
            metrics.DUPLICATES.labels(env.family).inc()
            log.info("duplicate %s %s ignored (already delivered)", env.family, env.message_id)
            earlier = await asyncio.to_thread(self.recorder.earlier_delivery, env.message_id)
            return Outcome(
                DUPLICATE, env.message_id, events=self.audit.duplicate(d, record, earlier)
            )
        written = await self.inbox.write(d, record.value)
        applied_at = await asyncio.to_thread(self.recorder.record_delivery, d, delivery_row(d))
        metrics.ROUTED.labels(env.family, env.sender.agency, env.recipient.agency, route.via).inc()
        log.info(
            "routed %s %s %s → %s%s",
            env.family,
            env.message_id,
            env.sender,
            route.inbox,
            f" (fallback for {env.recipient})" if route.fallback else "",
        )
        return Outcome(
            DELIVERED,
            env.message_id,
            events=self.audit.delivered(d, written, decided_at, applied_at),
        )

    async def _dead_letter(self, record: IngressRecord, r: Rejected) -> Outcome:
        env = r.envelope
        dl = dead_letter_of(record, r)
        await self.dead_letters.write(dl)
        await asyncio.to_thread(self.recorder.record_dead_letter, dl)
        metrics.DEAD_LETTERED.labels(
            dl.reason,
            dl.family or "unknown",
            env.sender.agency if env else "unknown",
            env.recipient.agency if env else "unknown",
        ).inc()
        # The detail names fields and codes, never payload values, so it is safe to log.
        log.warning(
            "dead-lettered %s (%s) from %s: %s [%s]",
            dl.message_id or f"{len(record.value)} bytes at {record.source}",
            dl.reason,
            dl.sender or "unknown sender",
            dl.detail,
            dl.dead_letter_id,
        )
        return Outcome(
            DEAD_LETTERED,
            dl.message_id,
            reason=dl.reason,
            dead_letter_id=dl.dead_letter_id,
            events=[self.audit.dead_lettered(dl, env)],
        )
