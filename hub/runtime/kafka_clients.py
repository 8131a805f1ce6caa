"""The router's own aiokafka clients: the ingress consumer and a producer shaped as
:class:`hub.runtime.ingress.producer.Producer`.

Non-idempotent producer on purpose: aiokafka's idempotent producer fails on the embedded Tansu
broker, and the hub is designed for at-least-once with de-duplication anyway.  ``acks=all``:
a write counts only once every in-sync replica has it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener

from hub.core.config import Settings
from hub.runtime.kafka_security import aiokafka_security
from hub.wire.topics import INGRESS, router_group


class KafkaProducer:
    """An ``AIOKafkaProducer`` with the argument order of the ``Producer`` protocol."""

    def __init__(self, bootstrap: str, settings: Settings, *, client_id: str = "hub-router"):
        self.bootstrap = bootstrap
        self.settings = settings
        self.client_id = client_id
        self.client: Any = None

    async def start(self) -> None:
        """Made here, not in ``__init__``: aiokafka binds its clients to the running loop."""
        settings = self.settings
        self.client = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=False,
            # Records queued while a request is in flight ride in the next one; a batch of the
            # router fills these without waiting for linger.
            linger_ms=2,
            max_batch_size=256 * 1024,
            max_request_size=max(1_048_576, settings.max_record_bytes + 65_536),
            **aiokafka_security(settings),
        )
        await self.client.start()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()
            self.client = None

    async def send(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        timestamp: Any = None,
        headers: Any = None,
    ) -> Awaitable[Any]:
        return await self.client.send(
            topic, value, key=key, partition=partition, headers=list(headers or [])
        )

    async def send_and_wait(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        timestamp: Any = None,
        headers: Any = None,
    ) -> Any:
        return await (await self.send(topic, key, value, partition, timestamp, headers))


def ingress_consumer(
    bootstrap: str, settings: Settings, listener: ConsumerRebalanceListener
) -> AIOKafkaConsumer:
    """A member of the router workers' group on ``hub.ingress``; offsets committed by hand."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=router_group(settings.app_id),
        client_id=f"{settings.app_id}-ingress",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        max_partition_fetch_bytes=max(1_048_576, settings.max_record_bytes + 65_536),
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
        **aiokafka_security(settings),
    )
    consumer.subscribe([INGRESS.name], listener=listener)
    return consumer


async def group_offsets(
    bootstrap: str, settings: Settings, group: str
) -> dict[tuple[str, int], int]:
    """The offsets ``group`` committed on ``hub.ingress`` (empty if it never did).

    kafka-python's admin client, in a thread: aiokafka's cannot decode the embedded broker's
    OffsetFetch answer.
    """
    return await asyncio.to_thread(_group_offsets, bootstrap, settings, group)


def _group_offsets(bootstrap: str, settings: Settings, group: str) -> dict[tuple[str, int], int]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="hub-admin", **settings.kafka_python_security()
    )
    try:
        found = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {
        (tp.topic, tp.partition): meta.offset
        for tp, meta in found.items()
        if tp.topic == INGRESS.name and meta.offset >= 0
    }
