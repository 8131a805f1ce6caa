"""What the pipeline writes through: the subset of aiokafka's producer it uses, and a fake.

``hub.runtime.kafka_clients.KafkaProducer`` (aiokafka) satisfies :class:`Producer`.
:class:`InMemoryProducer` keeps what was sent in a list, numbers offsets per partition, and
fails on request, so the order of effects and every failure point are tested in milliseconds
(the way FastStream's test broker stands in for a broker).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class RecordMetadata(Protocol):
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


class Producer(Protocol):
    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: Any,
        headers: Any,
    ) -> Awaitable[Any]:
        """Queue a record; the awaitable returned resolves when the broker acknowledged it."""
        ...

    async def send_and_wait(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: Any,
        headers: Any,
    ) -> Any:
        """Send one record and wait for its acknowledgement (its ``RecordMetadata``)."""
        ...


@dataclass(frozen=True)
class Sent:
    """A record the fake acknowledged."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    partition: int
    offset: int

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


#: Decides whether a send fails: gets the topic, returns the exception to raise or None.
FailureRule = Callable[[str], BaseException | None]


@dataclass
class InMemoryProducer:
    """A broker-free producer: records land in :attr:`sent`, in order, with offsets."""

    partitions: int = 3
    sent: list[Sent] = field(default_factory=list)
    _rules: list[FailureRule] = field(default_factory=list)
    _offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    def fail(self, topic_prefix: str, error: BaseException, *, times: int = 1) -> None:
        """The next ``times`` sends to a topic starting with ``topic_prefix`` raise ``error``."""
        left = [times]

        def rule(topic: str) -> BaseException | None:
            if topic.startswith(topic_prefix) and left[0] > 0:
                left[0] -= 1
                return error
            return None

        self._rules.append(rule)

    def on(self, topic_prefix: str) -> list[Sent]:
        return [s for s in self.sent if s.topic.startswith(topic_prefix)]

    def topics(self) -> list[str]:
        """The topic of each record sent, in order: the order of effects."""
        return [s.topic for s in self.sent]

    def _append(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> Sent:
        for rule in self._rules:
            error = rule(topic)
            if error is not None:
                raise error
        # The key picks the partition, so one conversation keeps its order, as on Kafka.
        partition = zlib.crc32(key) % self.partitions if key else 0
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        record = Sent(
            topic,
            key,
            value or b"",
            tuple((k, bytes(v)) for k, v in headers or ()),
            partition,
            offset,
        )
        self.sent.append(record)
        return record

    async def send(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        timestamp: Any = None,
        headers: Any = None,
    ) -> Awaitable[Sent]:
        future: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._append(topic, key, value, headers))
        except Exception as exc:  # a failed acknowledgement, as aiokafka reports it
            future.set_exception(exc)
        return future

    async def send_and_wait(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        timestamp: Any = None,
        headers: Any = None,
    ) -> Sent:
        return self._append(topic, key, value, headers)
