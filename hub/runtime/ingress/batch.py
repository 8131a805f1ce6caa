"""The batched ingress path: many records in, one outcome each, at a fraction of the round trips.

    decide every record → queue every inbox and dead-letter write → await all acknowledgements
    → record the batch and its audit facts in one transaction → return

The outcomes, the events and the order of effects are those of
:meth:`IngressPipeline.handle <hub.runtime.ingress.pipeline.IngressPipeline.handle>`, applied to
a *segment* of the batch at once instead of one record: each record's write is acknowledged
before the store records it, and the store records it together with its audit facts (one row
per record, ``hub.storage.audit_facts``), which the audit sink chains into the log.

**Segments.**  A record is decided against what the store knows; so a record that concerns a
message or conversation an earlier record of the same batch touched (a receipt right behind its
original, a repeat of an id) closes the segment before it: the segment is completed, then the
record is decided again, against the store that now holds its predecessor.  Within a segment no
two records concern the same id, which is what lets the store take the segment in a few
multi-row inserts.  Order per conversation holds: a conversation's records share a partition,
are read in offset order and queued to the producer in that order (aiokafka keeps one request in
flight per partition, so a retry cannot reorder them).

**Failures.**  A transient failure (broker or database unavailable) repeats the whole segment
after a backoff, for as long as it lasts; every step is idempotent, so a repeat completes what
the first attempt left half done (a recipient may get a second copy of an inbox record, which
its connector recognises).  Any other failure hands the segment's records, one at a time, to
:meth:`IngressPipeline.process`, which dead-letters the one at fault as ``router_error``.  Either
way :meth:`BatchPipeline.process` returns only when every record has its outcome, and the caller
commits the batch's offsets only after that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.audit.events import AuditEvent
from hub.core.turns import Turns
from hub.routing.router import ChunkAccepted, Decision, Delivered, Rejected
from hub.runtime import metrics
from hub.runtime.failures import is_transient
from hub.runtime.ingress import chunks, tally
from hub.runtime.ingress.deadletters import dead_letter_of
from hub.runtime.ingress.pipeline import (
    DEAD_LETTERED,
    DELIVERED,
    DUPLICATE,
    IngressPipeline,
    Outcome,
    same_message,
)
from hub.runtime.ingress.record import IngressRecord
from hub.runtime.ingress.recorder import applied_at
from hub.storage.store import DeliveryRow
from hub.wire.deadletter import DeadLetter, Reason

log = logging.getLogger("hub.router")


@dataclass
class _Item:
    """One record of a segment, from its decision to its outcome."""

    record: IngressRecord
    decision: Decision
    head_only: bool = False
    earlier: DeliveryRow | None = None  # a repeat: the delivery it repeats
    dead_letter: DeadLetter | None = None
    ack: Any = None  # the inbox write's metadata (partition, offset)
    chunk_repeat: bool = False  # a chunk whose place holds these very bytes
    chunk_conflict: bool = False  # a chunk whose place holds other bytes


def _concerns(decision: Decision) -> set[str]:
    """The ids whose store rows the decision depended on: a rejection too (a reply refused as
    ``unknown_conversation`` may answer an original just ahead of it in the segment; a message
    refused as ``missing_chunk`` may have its chunks just ahead of it)."""
    if isinstance(decision, ChunkAccepted):
        return {chunks.slot_key(decision)}
    env = decision.envelope
    if env is None:
        return set()
    ids = {env.message_id, env.conversation_id}
    if env.correlation_id:
        ids.add(env.correlation_id)
    if env.documents:
        ids.add(chunks.message_key(env.message_id, str(env.sender)))
    return ids


def _changes(decision: Decision) -> set[str]:
    """The ids whose store rows completing the decision writes (a dead letter changes none)."""
    if isinstance(decision, ChunkAccepted):
        c = decision.chunk
        return {chunks.slot_key(decision), chunks.message_key(c.message_id, c.sender)}
    return _concerns(decision) if isinstance(decision, Delivered) else set()


class BatchPipeline:
    """Completes batches with the collaborators of one :class:`IngressPipeline`."""

    def __init__(self, single: IngressPipeline) -> None:
        self.single = single

    async def process(self, records: Sequence[IngressRecord]) -> list[Outcome]:
        """One outcome per record, in order, whatever fails on the way (see the module doc)."""
        outcomes: list[Outcome] = []
        segment: list[_Item] = []
        touched: set[str] = set()
        turns = Turns()  # the group's heartbeats run between records (hub.core.turns)
        for record in records:
            await turns.take()
            try:
                item = await self._decide(record)
                if _concerns(item.decision) & touched:
                    outcomes += await self._complete(segment)
                    segment, touched = [], set()
                    item = await self._decide(record)
            except Exception:
                # Deciding needed the store (a replay's first sighting) and it failed: finish
                # what is pending, then let the single path retry or dead-letter this record.
                outcomes += await self._complete(segment)
                segment, touched = [], set()
                outcomes.append(await self.single.process(record))
                continue
            segment.append(item)
            touched |= _changes(item.decision)
        outcomes += await self._complete(segment)
        return outcomes

    async def _decide(self, record: IngressRecord) -> _Item:
        decision, head_only = await self.single.decide_record(record)
        return _Item(record, decision, head_only)

    async def _complete(self, segment: list[_Item]) -> list[Outcome]:
        if not segment:
            return []
        low, high = self.single.backoff
        delay = low
        while True:
            try:
                return await self._effects(segment)
            except Exception as exc:
                if not is_transient(exc):
                    log.error(
                        "%s while completing a batch of %d; handling them one by one",
                        type(exc).__name__,
                        len(segment),
                        exc_info=exc,
                    )
                    return [await self.single.process(item.record) for item in segment]
                metrics.TRANSIENT_FAILURES.labels(type(exc).__name__).inc()
                log.warning(
                    "%s while completing a batch of %d from %s: waiting %.1f s and repeating it "
                    "(nothing committed)",
                    type(exc).__name__,
                    len(segment),
                    segment[0].record.source,
                    delay,
                )
                await self.single.sleep(delay)
                delay = min(delay * 2, high)

    async def _effects(self, segment: list[_Item]) -> list[Outcome]:
        p = self.single
        started = time.perf_counter()
        decided_at = p.clock()
        for item in segment:  # a fresh attempt starts from the decisions alone
            item.earlier = item.dead_letter = item.ack = None
            item.chunk_repeat = item.chunk_conflict = False
        await self._find_repeats(segment)
        await self._find_chunk_repeats(segment)
        # An id conflict found by _find_repeats is a Delivered decision turned dead letter: it
        # must not be recorded (nor kept for redelivery) as a delivery.
        deliveries = [
            (i, i.decision)
            for i in segment
            if isinstance(i.decision, Delivered) and i.earlier is None and i.dead_letter is None
        ]
        for item in segment:
            if isinstance(item.decision, Rejected):
                item.dead_letter = dead_letter_of(
                    item.record, item.decision, head_only=item.head_only
                )
        # 1. every write queued, then every acknowledgement awaited
        pending: list[tuple[_Item, Awaitable[Any]]] = []
        returns: list[Awaitable[Any]] = []
        for item in segment:
            if item.dead_letter is not None:
                pending.append((item, await p.dead_letters.send(item.dead_letter)))
                returned = (
                    await p.returns.send(item.dead_letter, item.decision.envelope)
                    if p.returns
                    else None
                )
                if returned is not None:
                    returns.append(returned)
            elif item.earlier is None and isinstance(item.decision, Delivered):
                pending.append((item, await p.inbox.send(item.decision, item.record.value)))
            elif isinstance(item.decision, ChunkAccepted) and not item.chunk_repeat:
                pending.append((item, await p.inbox.send_chunk(item.decision, item.record.value)))
        acks = await asyncio.gather(*(f for _, f in pending))
        await asyncio.gather(*returns)
        for (item, _), ack in zip(pending, acks, strict=True):
            item.ack = ack
        # 2. the outcomes and their audit facts, all in one transaction
        now = p.clock()
        applied = {id(i): applied_at(d, now) for i, d in deliveries}
        outcomes = [self._outcome(i, decided_at, applied.get(id(i))) for i in segment]
        kept = [
            chunks.kept(i.decision, i.ack, decided_at)
            for i in segment
            if isinstance(i.decision, ChunkAccepted) and i.dead_letter is None and i.ack is not None
        ]
        conflicts = [
            i.decision.chunk.slot
            for i in segment
            if isinstance(i.decision, ChunkAccepted) and i.chunk_conflict
        ]
        await asyncio.to_thread(
            p.recorder.record_batch,
            [(d, i.record.value) for i, d in deliveries],
            [i.dead_letter for i in segment if i.dead_letter is not None],
            kept,
            conflicts,
            [p.audit.fact(o.events) for o in outcomes if o.events],
            now,
        )
        for item, outcome in zip(segment, outcomes, strict=True):
            _tally(item, outcome)
        elapsed = time.perf_counter() - started
        metrics.BATCH_RECORDS.observe(len(segment))
        metrics.BATCH_SECONDS.observe(elapsed)
        for _ in segment:
            metrics.ROUTE_SECONDS.observe(elapsed / len(segment))
        kinds = [o.kind for o in outcomes]
        log.info(
            "batch from %s: %d delivered, %d dead-lettered, %d repeats, %d chunks kept in %.0f ms",
            segment[0].record.source,
            kinds.count(DELIVERED),
            kinds.count(DEAD_LETTERED),
            kinds.count(DUPLICATE),
            kinds.count(chunks.CHUNK_KEPT),
            elapsed * 1000,
        )
        return outcomes

    async def _find_repeats(self, segment: list[_Item]) -> None:
        """Mark repeats of earlier deliveries; an id taken by another sender or other content
        becomes an ``id_conflict`` dead letter (as on the single path)."""
        ids = [i.decision.envelope.message_id for i in segment if isinstance(i.decision, Delivered)]
        if not ids:
            return
        earlier = await asyncio.to_thread(self.single.recorder.earlier_deliveries, ids)
        for item in segment:
            d = item.decision
            if not isinstance(d, Delivered) or d.envelope.message_id not in earlier:
                continue
            row = earlier[d.envelope.message_id]
            env = d.envelope
            if same_message(row, env.sender, env.content_digest()):
                item.earlier = row
                continue
            other = "another sender" if row.sender != str(env.sender) else "other content"
            item.dead_letter = dead_letter_of(
                item.record,
                Rejected(
                    Reason.ID_CONFLICT,
                    f"message id already delivered from {other}; a new message needs a new id",
                    env,
                ),
            )

    async def _find_chunk_repeats(self, segment: list[_Item]) -> None:
        """Mark chunks whose place holds these bytes (repeats) or other bytes (conflicts, which
        become ``invalid_chunk`` dead letters)."""
        slots = [i.decision.chunk.slot for i in segment if isinstance(i.decision, ChunkAccepted)]
        if not slots:
            return
        leaves = await asyncio.to_thread(self.single.recorder.chunk_leaves, slots)
        for item in segment:
            d = item.decision
            if not isinstance(d, ChunkAccepted) or d.chunk.slot not in leaves:
                continue
            if leaves[d.chunk.slot] == chunks.leaf_of(d):
                item.chunk_repeat = True
            else:
                item.chunk_conflict = True
                item.dead_letter = dead_letter_of(item.record, chunks.conflict(d))

    def _outcome(self, item: _Item, decided_at: Any, applied: Any) -> Outcome:
        audit = self.single.audit
        d = item.decision
        if isinstance(d, ChunkAccepted) and item.dead_letter is None:
            return Outcome(DUPLICATE if item.chunk_repeat else chunks.CHUNK_KEPT)
        events: list[AuditEvent] = audit.submitted(item.record, d, decided_at)
        if item.dead_letter is not None:
            dl = item.dead_letter
            events.append(audit.dead_lettered(dl, d.envelope))
            return Outcome(DEAD_LETTERED, dl.message_id, dl.reason, dl.dead_letter_id, events)
        assert isinstance(d, Delivered)
        if item.earlier is not None:
            events += audit.duplicate(d, item.record, item.earlier)
            return Outcome(DUPLICATE, d.envelope.message_id, events=events)
        events += audit.delivered(d, item.ack, decided_at, applied)
        return Outcome(DELIVERED, d.envelope.message_id, events=events)


def _tally(item: _Item, outcome: Outcome) -> None:
    """Count and log an outcome once its transaction committed (a repeat attempt counts none)."""
    d = item.decision
    if isinstance(d, ChunkAccepted) and item.dead_letter is None:
        chunks.count(outcome.kind)
    elif item.dead_letter is not None:
        tally.dead_lettered(item.dead_letter, d.envelope, item.record)
    elif isinstance(d, Delivered) and item.earlier is not None:
        tally.duplicate(d.envelope, level=logging.DEBUG)
    elif isinstance(d, Delivered):
        tally.delivered(d, level=logging.DEBUG)
