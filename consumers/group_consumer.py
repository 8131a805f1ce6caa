"""The kafka-python consumer the hub's own group readers share (the audit sink, the cosignature
collector): one topic, in a consumer group, from the earliest offset, committed by hand after
what was read is stored, with the deployment's timeouts and security.  Given the ``instance``
whose lock the process holds, it first removes the member a killed predecessor left in the group
and records its own after each join (``hub.runtime.membership``), so a restart rejoins at once."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.core.config import Settings


def group_consumer(
    settings: Settings,
    bootstrap: str,
    *,
    topic: str,
    group: str,
    client_id: str,
    instance: str | None = None,
    **extra: Any,
) -> Any:
    from kafka import KafkaConsumer

    from hub.runtime.membership import GroupMembership, subscribe_remembering

    membership = GroupMembership(settings, bootstrap, group, instance) if instance else None
    if membership is not None:
        asyncio.run(membership.evict_predecessor())
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
        fetch_max_wait_ms=settings.audit_fetch_max_wait_ms,
        **extra,
        **settings.kafka_python_security(),
    )

    subscribe_remembering(consumer, [topic], membership)
    return consumer
