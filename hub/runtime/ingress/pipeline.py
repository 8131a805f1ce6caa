"""The front object of the ingress pipeline: one record in, one outcome out.

    decide → deliver to the inbox, or dead-letter → record in the store → audit

:meth:`IngressPipeline.process` is what the ingress loop calls: every record leaves it with
exactly one outcome (delivered, dead-lettered, or a repeat of the same sender's same content).
A transient failure (broker or database unavailable) is retried with backoff for as long as it
lasts, without committing; any other failure dead-letters the record as ``router_error`` (its
whole bytes, or only their head and SHA-256 when the broker will not take the whole).  If even
that cannot be written, it keeps trying with backoff (the partition pauses, the log says why):
no exception leaves ``process``, so no offset is committed past a record without an outcome.

Order of effects, which is what at-least-once rests on: the inbox (or dead-letter) write is
acknowledged before the store records it, and the store records it before it stores the audit
facts of the outcome (one row, ``hub.storage.audit_facts``; the batched path writes them in the
outcome's own transaction); only after :meth:`IngressPipeline.handle` returns may the caller
commit the record's offset.  If a step raises, the steps after it do not run and the exception
reaches the caller, which must not commit: the record is read again and the idempotent steps
make the repeat safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from hub.audit.events import AuditEvent
from hub.core.clock import Clock
from hub.routing.router import ChunkAccepted, Decision, Delivered, Rejected
from hub.runtime import metrics
from hub.runtime.failures import is_transient
from hub.runtime.ingress import chunks, tally
from hub.runtime.ingress.audit import IngressAudit
from hub.runtime.ingress.deadletters import DeadLetterWriter, dead_letter_of
from hub.runtime.ingress.decide import Decider
from hub.runtime.ingress.inbox import InboxWriter
from hub.runtime.ingress.record import IngressRecord
from hub.runtime.ingress.recorder import Recorder, delivery_row
from hub.runtime.ingress.returns import ReturnWriter
from hub.storage.store import DeliveryRow
from hub.trust.address import Address
from hub.wire import headers
from hub.wire.deadletter import Reason

log = logging.getLogger("hub.router")

DELIVERED = "delivered"
DEAD_LETTERED = "dead_lettered"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Outcome:
    """What became of one ingress record."""

    kind: str  # delivered | dead_lettered | duplicate | chunk_kept
    message_id: str | None = None
    reason: str | None = None  # for a dead letter
    dead_letter_id: str | None = None
    events: list[AuditEvent] = field(default_factory=list)


Sleep = Callable[[float], Awaitable[None]]


class IngressPipeline:
    def __init__(
        self,
        decide: Decider,
        inbox: InboxWriter,
        dead_letters: DeadLetterWriter,
        recorder: Recorder,
        audit: IngressAudit,
        clock: Clock,
        *,
        max_record_bytes: int = 900_000,
        backoff: tuple[float, float] = (0.2, 10.0),
        sleep: Sleep = asyncio.sleep,
        returns: ReturnWriter | None = None,
    ) -> None:
        self.decide = decide
        self.inbox = inbox
        self.dead_letters = dead_letters
        self.recorder = recorder
        self.audit = audit
        self.clock = clock
        self.max_record_bytes = max_record_bytes
        self.backoff = backoff
        self.sleep = sleep
        #: Signed returns to the senders of messages with documents that were dead-lettered.
        self.returns = returns

    async def process(self, record: IngressRecord) -> Outcome:
        """One outcome for ``record``, whatever fails on the way (see the module doc)."""
        delay = self.backoff[0]
        failure: Exception | None = None
        reduced = False
        while True:
            try:
                if failure is None:
                    return await self.handle(record)
                return await self._unprocessable(record, failure, head_only=reduced)
            except Exception as exc:
                if is_transient(exc):
                    metrics.TRANSIENT_FAILURES.labels(type(exc).__name__).inc()
                    log.warning(
                        "%s on %s: waiting %.1f s and trying again (nothing committed)",
                        type(exc).__name__,
                        record.source,
                        delay,
                    )
                    await self.sleep(delay)
                    delay = min(delay * 2, self.backoff[1])
                    continue
                if failure is None:
                    log.error(
                        "%s while handling %s; dead-lettering it as %s",
                        type(exc).__name__,
                        record.source,
                        Reason.ROUTER_ERROR.value,
                        exc_info=exc,
                    )
                    failure = exc
                    continue
                if not reduced:
                    log.error(
                        "the dead letter of %s was refused whole; keeping its head", record.source
                    )
                    reduced = True
                    continue
                # Not even the head of it can be written: never let the record go without an
                # outcome (a loop might commit past a step that raised).  Pause, say so loudly,
                # and try again; the partition waits until an operator sees why.
                metrics.TRANSIENT_FAILURES.labels(type(exc).__name__).inc()
                log.error(
                    "%s: cannot dead-letter %s either; retrying in %.1f s (partition paused)",
                    type(exc).__name__,
                    record.source,
                    delay,
                )
                await self.sleep(delay)
                delay = min(delay * 2, self.backoff[1])

    async def handle(self, record: IngressRecord) -> Outcome:
        """Steps 1-4 once; a failure raises (``process`` decides what then)."""
        started = time.perf_counter()
        decision, head_only = await self.decide_record(record)
        if isinstance(decision, ChunkAccepted):
            outcome = await self._keep_chunk(record, decision)
            await self.audit.store(outcome.events)
            metrics.ROUTE_SECONDS.observe(time.perf_counter() - started)
            return outcome
        events = self.audit.submitted(record, decision)
        if isinstance(decision, Delivered):
            outcome = await self._deliver(record, decision)
        else:
            outcome = await self._dead_letter(record, decision, head_only=head_only)
        events += outcome.events
        await self.audit.store(events)
        metrics.ROUTE_SECONDS.observe(time.perf_counter() - started)
        return Outcome(
            outcome.kind, outcome.message_id, outcome.reason, outcome.dead_letter_id, events
        )

    async def decide_record(self, record: IngressRecord) -> tuple[Decision, bool]:
        """The decision for ``record``, and whether only its head can be kept (too large)."""
        if record.replay_of:
            metrics.REPLAYS.inc()
        if record.odd_replay_header:
            log.warning("ignoring a malformed %s header on %s", headers.REPLAY_OF, record.source)
        if len(record.value) > self.max_record_bytes:
            too_large = Rejected(
                Reason.TOO_LARGE,
                f"record of {len(record.value)} bytes exceeds the limit of "
                f"{self.max_record_bytes} (max_record_bytes)",
            )
            return too_large, True
        return self.decide(record.value, await self._received_at(record)), False

    async def _received_at(self, record: IngressRecord) -> datetime:
        """The instant freshness is judged against: when the record reached the broker.

        A record read late (the hub was down) is judged by its broker timestamp, not by now;
        a replayed dead letter by when the hub first saw those bytes, so a replay can neither
        rescue a stale message nor turn a fresh one stale.
        """
        now = self.clock()
        if record.replay_of:
            first = await asyncio.to_thread(
                self.recorder.first_seen, record.replay_of, record.value
            )
            if first is not None:
                return first
        stamp = record.timestamp
        return min(stamp, now) if stamp is not None else now

    async def _deliver(self, record: IngressRecord, d: Delivered) -> Outcome:
        env = d.envelope
        decided_at = self.clock()
        earlier = await asyncio.to_thread(self.recorder.earlier_delivery, env.message_id)
        if earlier is not None:
            if not same_message(earlier, env.sender, env.content_digest()):
                other = "another sender" if earlier.sender != str(env.sender) else "other content"
                conflict = Rejected(
                    Reason.ID_CONFLICT,
                    f"message id already delivered from {other}; a new message needs a new id",
                    env,
                )
                return await self._dead_letter(record, conflict)
            tally.duplicate(env)
            return Outcome(
                DUPLICATE, env.message_id, events=self.audit.duplicate(d, record, earlier)
            )
        written = await self.inbox.write(d, record.value)
        applied_at = await asyncio.to_thread(self.recorder.record_delivery, d, delivery_row(d))
        await asyncio.to_thread(self.recorder.keep_for_redelivery, d, record.value)
        tally.delivered(d)
        return Outcome(
            DELIVERED,
            env.message_id,
            events=self.audit.delivered(d, written, decided_at, applied_at),
        )

    async def _keep_chunk(self, record: IngressRecord, d: ChunkAccepted) -> Outcome:
        slot = d.chunk.slot
        earlier = (await asyncio.to_thread(self.recorder.chunk_leaves, [slot])).get(slot)
        if earlier == chunks.leaf_of(d):
            chunks.count(DUPLICATE)
            return Outcome(DUPLICATE)
        if earlier is not None:
            outcome = await self._dead_letter(record, chunks.conflict(d))
            await asyncio.to_thread(self.recorder.keep_chunks, [], [slot])
            return Outcome(
                outcome.kind,
                reason=outcome.reason,
                dead_letter_id=outcome.dead_letter_id,
                events=self.audit.submitted(record, d) + outcome.events,
            )
        ack = await (await self.inbox.send_chunk(d, record.value))
        await asyncio.to_thread(self.recorder.keep_chunks, [chunks.kept(d, ack, self.clock())], [])
        chunks.count(chunks.CHUNK_KEPT)
        return Outcome(chunks.CHUNK_KEPT)

    async def _unprocessable(
        self, record: IngressRecord, failure: Exception, *, head_only: bool
    ) -> Outcome:
        try:  # the envelope, if there is one, names the message in the dead letter
            env = self.decide(record.value).envelope
        except Exception:
            env = None
        rejected = Rejected(
            Reason.ROUTER_ERROR,
            f"{type(failure).__name__} while handling the record; replay it after the fix",
            env,
        )
        outcome = await self._dead_letter(record, rejected, head_only=head_only)
        await self.audit.store(self.audit.submitted(record, rejected) + outcome.events)
        return outcome

    async def _dead_letter(
        self, record: IngressRecord, r: Rejected, *, head_only: bool = False
    ) -> Outcome:
        env = r.envelope
        dl = dead_letter_of(record, r, head_only=head_only)
        await self.dead_letters.write(dl)
        returned = await self.returns.send(dl, env) if self.returns else None
        if returned is not None:
            await returned
        await asyncio.to_thread(self.recorder.record_dead_letter, dl)
        tally.dead_lettered(dl, env, record)
        return Outcome(
            DEAD_LETTERED,
            dl.message_id,
            reason=dl.reason,
            dead_letter_id=dl.dead_letter_id,
            events=[self.audit.dead_lettered(dl, env)],
        )


def same_message(earlier: DeliveryRow, sender: Address, digest: str) -> bool:
    """A repeat is the same sender's same content; rows from before digests count by sender."""
    if earlier.sender != str(sender):
        return False
    return earlier.content_sha256 is None or earlier.content_sha256 == digest
