"""The kafka-python consumer the hub's own group readers share (the audit sink, the cosignature
collector): one topic, in a consumer group, from the earliest offset, committed by hand after
what was read is stored, with the deployment's timeouts and security."""

from __future__ import annotations

from typing import Any

from hub.core.config import Settings


def group_consumer(
    settings: Settings, bootstrap: str, *, topic: str, group: str, client_id: str, **extra: Any
) -> Any:
    from kafka import KafkaConsumer

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
    consumer.subscribe([topic])
    return consumer
