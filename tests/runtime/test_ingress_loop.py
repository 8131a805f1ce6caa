"""The router's read loop: commit after the outcomes, never before, and hand over cleanly.

A fake consumer stands in for aiokafka's (``getmany``, ``commit``, the rebalance listener) and a
fake batch pipeline records what it was given, so the order of "routed" and "committed" is
checked exactly, without a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from hub.runtime.ingress.loop import IngressLoop
from hub.runtime.ingress.record import IngressRecord

T0, T1 = TopicPartition("hub.ingress", 0), TopicPartition("hub.ingress", 1)


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    value: bytes = b"x"
    timestamp: int = 0
    headers: tuple = ()


def polled(tp: TopicPartition, *offsets: int) -> dict[TopicPartition, list[Rec]]:
    return {tp: [Rec(tp.topic, tp.partition, o) for o in offsets]}


class FakeConsumer:
    def __init__(self, batches: list[dict[TopicPartition, list[Rec]]], log: list) -> None:
        self.batches = batches
        self.log = log
        self.listener: Any = None
        self.fail_commits = 0
        self.stopped = False
        self.commits: dict[TopicPartition, int] = {}

    async def start(self) -> None: ...

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(0.01)
        return {}

    async def commit(self, offsets: dict) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise CommitFailedError("the group rebalanced")
        self.log.append(("commit", dict(offsets)))

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.commits.get(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.log.append(("seek", tp.partition, offset))

    def assignment(self) -> set:
        return {T0, T1}

    def pause(self, *tps: TopicPartition) -> None:
        self.log.append(("pause", set(tps)))

    def paused(self) -> set:
        return set()

    def resume(self, *tps: TopicPartition) -> None:
        self.log.append(("resume", set(tps)))

    def highwater(self, tp: TopicPartition) -> int:
        return 10


class FakeBatch:
    def __init__(self, log: list, gate: asyncio.Event | None = None) -> None:
        self.log = log
        self.gate = gate

    async def process(self, records: list[IngressRecord]) -> list:
        self.log.append(("routed", [(r.partition, r.offset) for r in records]))
        if self.gate is not None:
            await self.gate.wait()
        return []


def make_loop(
    batches: list, log: list, gate: asyncio.Event | None = None, *, fail_commits: int = 0
) -> IngressLoop:
    consumer = FakeConsumer(batches, log)
    consumer.fail_commits = fail_commits

    def make(listener: Any) -> FakeConsumer:
        consumer.listener = listener
        return consumer

    return IngressLoop(FakeBatch(log, gate), make, max_records=10)  # type: ignore[arg-type]


async def run_until(loop: IngressLoop, done: Any, timeout: float = 5) -> None:
    task = asyncio.create_task(loop.run())
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_a_batch_is_committed_after_all_its_records_were_routed_each_partition_past_its_last() -> (
    None
):
    log: list = []
    loop = make_loop([{**polled(T0, 5, 6, 7), **polled(T1, 2)}, polled(T0, 8)], log)
    asyncio.run(run_until(loop, lambda: len(log) == 4))
    assert log == [
        ("routed", [(0, 5), (0, 6), (0, 7), (1, 2)]),
        ("commit", {T0: 8, T1: 3}),
        ("routed", [(0, 8)]),
        ("commit", {T0: 9}),
    ]
    assert loop.lag() == {("hub.ingress", 0): 1, ("hub.ingress", 1): 7}


def test_a_batch_cancelled_before_its_outcomes_is_not_committed() -> None:
    log: list = []
    gate = asyncio.Event()  # never set: the batch is still being routed when the worker stops
    loop = make_loop([polled(T0, 0, 1)], log, gate)
    asyncio.run(run_until(loop, lambda: len(log) == 1))
    assert log == [("routed", [(0, 0), (0, 1)])]
    assert loop.consumer.stopped


def test_a_commit_refused_after_a_rebalance_is_logged_and_reading_goes_on(caplog: Any) -> None:
    log: list = []
    loop = make_loop([polled(T0, 0), polled(T0, 1)], log, fail_commits=1)
    asyncio.run(run_until(loop, lambda: len(log) == 3))
    assert log == [("routed", [(0, 0)]), ("routed", [(0, 1)]), ("commit", {T0: 2})]
    assert "recognises them as repeats" in caplog.text


def test_partitions_are_handed_over_only_after_the_batch_in_hand_is_committed() -> None:
    log: list = []
    gate = asyncio.Event()
    loop = make_loop([polled(T0, 0, 1)], log, gate)

    async def scenario() -> None:
        task = asyncio.create_task(loop.run())
        while not log:
            await asyncio.sleep(0.001)
        revoking = asyncio.create_task(loop.consumer.listener.on_partitions_revoked({T0}))
        await asyncio.sleep(0.05)
        assert not revoking.done()  # waiting for the batch in hand
        gate.set()
        await revoking
        log.append(("revoked",))
        task.cancel()

    asyncio.run(scenario())
    assert log == [("routed", [(0, 0), (0, 1)]), ("commit", {T0: 2}), ("revoked",)]


def test_a_partition_this_group_never_committed_starts_where_the_earlier_router_left_it() -> None:
    log: list = []

    async def earlier() -> dict[tuple[str, int], int]:
        return {("hub.ingress", 0): 42, ("hub.ingress", 1): 7}

    consumer = FakeConsumer([], log)
    consumer.commits = {T1: 9}  # this group has its own commit on partition 1: that one counts
    loop = IngressLoop(FakeBatch(log), lambda listener: consumer, inherit=earlier)  # type: ignore[arg-type]

    async def scenario() -> None:
        from hub.runtime.ingress.loop import Handover

        handover = Handover(loop)
        handover.consumer = consumer
        await handover.on_partitions_assigned({T0, T1})

    asyncio.run(scenario())
    assert log == [("seek", 0, 42)]
    assert loop.committed == {T0: 42, T1: 9}


class JoiningConsumer(FakeConsumer):
    """start() returns once the group assigned partitions, as aiokafka's does."""

    async def start(self) -> None:
        self.log.append(("joined",))
        await self.listener.on_partitions_assigned({T0, T1})


def test_a_seat_taken_before_the_loop_is_built_reports_its_assignment_only_to_the_loop() -> None:
    from hub.runtime.ingress.seat import RouterSeat

    log: list = []
    consumer = JoiningConsumer([polled(T0, 0)], log)

    def make(listener: Any) -> FakeConsumer:
        consumer.listener = listener
        return consumer

    async def scenario() -> None:
        seat = RouterSeat(make, None)  # the join starts: no loop, no pipeline yet
        await asyncio.sleep(0.05)
        assert log == [("joined",)]  # the assignment waits for a loop to report to
        loop = IngressLoop(FakeBatch(log), make, max_records=10, seat=seat)  # type: ignore[arg-type]
        reported: list[int] = []

        async def on_joined(n: int) -> None:
            reported.append(n)

        loop.on_joined = on_joined
        await run_until(loop, lambda: ("commit", {T0: 1}) in log)
        assert reported == [2] and loop.partitions == 2
        assert loop.seat is None  # a restarted run joins afresh

    asyncio.run(scenario())
    assert log == [("joined",), ("routed", [(0, 0)]), ("commit", {T0: 1})]


def test_a_seat_no_loop_took_leaves_the_group_when_the_start_fails() -> None:
    from hub.runtime.ingress.seat import RouterSeat

    log: list = []
    consumer = JoiningConsumer([], log)

    def make(listener: Any) -> FakeConsumer:
        consumer.listener = listener
        return consumer

    async def scenario() -> None:
        seat = RouterSeat(make, None)
        await asyncio.sleep(0.05)
        await seat.close()  # e.g. the store did not answer

    asyncio.run(scenario())
    assert consumer.stopped
