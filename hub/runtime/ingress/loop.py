"""A router worker's read loop on ``hub.ingress``: fetch a batch, give every record its outcome,
then commit — never the other way round.

Workers with the same ``app_id`` form one consumer group and share the ingress partitions; a
partition is read by one worker at a time, in offset order, which keeps each conversation's
order.  Offsets are committed by hand, after :meth:`BatchPipeline.process` returned, so a crash
or a kill anywhere before repeats the batch (the pipeline recognises what it had done).  When the
group rebalances, a worker finishes and commits the batch in hand before it lets its partitions
go; if it could not (it was too slow and the group moved on), the commit fails, the new owner
reads the batch again, and the repeats are recognised there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from hub.runtime.ingress.record import IngressRecord
from hub.runtime.membership import GroupMembership

if TYPE_CHECKING:  # the pipeline's imports are most of a start; the seat takes none of them
    from hub.runtime.ingress.batch import BatchPipeline

log = logging.getLogger("hub.router")


class Startable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Seat(Protocol):
    """A join started before the loop was built (``hub.runtime.ingress.seat.RouterSeat``)."""

    async def take(self, loop: IngressLoop) -> Any: ...


#: Builds the consumer, subscribed with the given listener (``hub.runtime.kafka_clients``).
ConsumerFactory = Callable[[ConsumerRebalanceListener], Any]
#: The offsets a group that read ``hub.ingress`` before this one committed: (topic, partition) →
#: next offset.
Inherited = Callable[[], Awaitable[dict[tuple[str, int], int]]]


class Handover(ConsumerRebalanceListener):
    """The ingress consumer's rebalance listener.  It may be made before its loop (a seat taken
    early, ``hub.runtime.ingress.seat``): an assignment then waits until the loop is bound."""

    def __init__(self, loop: IngressLoop | None = None) -> None:
        self.consumer: Any = None
        self._loop = loop
        self._bound = asyncio.Event()
        if loop is not None:
            self._bound.set()

    def bind(self, loop: IngressLoop) -> None:
        self._loop = loop
        self._bound.set()

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        loop = self._loop
        if loop is None:  # before the first assignment: nothing was read
            return
        # Waits for the batch in hand to be completed and committed.
        async with loop.lock:
            loop.joined = False  # a rebalance: not routing until partitions come back
            if revoked:
                log.info("handing over %s", _names(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("reading %s", _names(assigned) or "no ingress partition (other workers have them)")
        await self._bound.wait()
        loop, consumer = self._loop, self.consumer
        assert loop is not None
        loop.consumer = consumer  # a seat's consumer reaches its loop here, before run() has it
        if loop.membership is not None:  # first: what a successor removes if this one dies
            loop.membership.record(getattr(consumer._coordinator, "member_id", ""))
        fresh = []
        for tp in assigned:
            done = await consumer.committed(tp)
            if done is None:
                fresh.append(tp)
            loop.committed[tp] = done or 0
        if fresh and loop.inherit is not None:
            await loop.take_over(fresh)
        loop.joined = True
        loop.partitions = len(assigned)
        if loop.on_joined is not None:
            try:
                await loop.on_joined(len(assigned))
            except Exception:  # only a log line depends on it: never the assignment
                log.exception("readiness check after the join failed")


def _names(tps: Any) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}" for tp in sorted(tps))


class IngressLoop:
    def __init__(
        self,
        batch: BatchPipeline,
        make_consumer: ConsumerFactory,
        *,
        max_records: int = 500,
        inherit: Inherited | None = None,
        membership: GroupMembership | None = None,
        seat: Seat | None = None,
    ) -> None:
        self.batch = batch
        #: The group join ``hub run`` started before this loop was built; taken by the first run.
        self.seat = seat
        #: This process instance's member of the ingress group, recorded after each join and
        #: removed by the next process of the instance after a crash (hub.runtime.membership).
        self.membership = membership
        #: Where a partition this group never committed starts: where the hub's earlier router
        #: (a Faust agent, in the group ``app_id``) had got to, so an upgrade re-reads nothing.
        self.inherit = inherit
        self.make_consumer = make_consumer
        self.max_records = max_records
        self.lock = asyncio.Lock()
        self.consumer: Any = None
        #: The next offset to read per partition, as committed (for the lag metric).
        self.committed: dict[Any, int] = {}
        #: In the ingress group with partitions assigned (none, when other workers have them
        #: all): what readiness asks (``hub.runtime.health``).
        self.joined = False
        self.partitions = 0
        self.on_joined: Callable[[int], Awaitable[None]] | None = None
        #: Why new ingress is refused (``hub.runtime.timestamp_gate``), or None.  While it is
        #: set the partitions are paused: records wait in hub.ingress, the group membership and
        #: every committed outcome stay as they are.
        self.refusing: str | None = None

    async def run(self) -> None:
        """Read and route until cancelled; the batch in hand at cancellation is not committed."""
        self.joined = False
        seat, self.seat = self.seat, None
        if seat is not None:
            self.consumer = await seat.take(self)
        else:
            if self.membership is not None:
                await self.membership.evict_predecessor()
            handover = Handover(self)
            self.consumer = handover.consumer = self.make_consumer(handover)
            await self.consumer.start()
        try:
            while True:
                self._gate()
                polled = await self.consumer.getmany(timeout_ms=1000, max_records=self.max_records)
                if polled and self.refusing is not None:
                    self._put_back(polled)  # fetched as the gate closed: read again later
                elif polled:
                    async with self.lock:
                        await self._route(polled)
        finally:
            self.joined = False
            await self.consumer.stop()  # leaves the group: no member for a successor to remove
            if self.membership is not None:
                self.membership.forget()

    def _gate(self) -> None:
        assigned = self.consumer.assignment()
        if self.refusing is not None:
            self.consumer.pause(*assigned)
        elif self.consumer.paused():
            self.consumer.resume(*self.consumer.paused())

    def _put_back(self, polled: dict[Any, list[Any]]) -> None:
        """Records fetched but not routed: the consumer reads each partition again from its
        first one once it resumes.  Nothing was committed past them, so nothing is skipped."""
        for tp, records in polled.items():
            if records:
                self.consumer.seek(tp, records[0].offset)
        self._gate()

    async def run_restarting(self, producer: Startable, pause: float = 5.0) -> None:
        """:meth:`run` with ``producer`` started, for as long as the worker runs; started again
        after ``pause`` if a client fails (nothing was committed past what has an outcome)."""
        while True:
            try:
                await producer.start()
                try:
                    await self.run()
                finally:
                    await producer.stop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the ingress loop stopped; starting it again in %.0f s", pause)
                await asyncio.sleep(pause)

    async def _route(self, polled: dict[Any, list[Any]]) -> None:
        records = [IngressRecord.from_consumer_record(r) for rs in polled.values() for r in rs]
        await self.batch.process(records)
        offsets = {tp: rs[-1].offset + 1 for tp, rs in polled.items() if rs}
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            log.warning(
                "could not commit %d routed records (%s): the group moved their partitions on; "
                "the next reader recognises them as repeats",
                len(records),
                type(exc).__name__,
            )
            return
        self.committed.update(offsets)

    async def take_over(self, partitions: list[Any]) -> None:
        """Start ``partitions`` where the earlier group left them, if it read them."""
        assert self.inherit is not None
        try:
            earlier = await self.inherit()
        except Exception as exc:  # no such group, broker too old: read from the beginning
            log.warning("could not read the earlier router group's offsets (%s)", exc)
            return
        for tp in partitions:
            offset = earlier.get((tp.topic, tp.partition))
            if offset is not None and offset > 0:
                self.consumer.seek(tp, offset)
                self.committed[tp] = offset
                log.info("%s/%d starts at %d, where the earlier router left it", *tp, offset)

    def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet routed per assigned partition, by the high watermark of the last fetch
        (Tansu's ListOffsets "latest" is wrong; fetch responses are not)."""
        consumer = self.consumer
        if consumer is None:
            return {}
        out: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            done = self.committed.get(tp)
            if done is not None:
                out[(tp.topic, tp.partition)] = max(0, high - done)
        return out
