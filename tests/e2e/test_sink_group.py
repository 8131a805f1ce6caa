"""A sink stopped while its first join is pending does not jam its group on the embedded broker.

Tansu assigns nothing to any later member of a group whose member left (LeaveGroup) during its
first join; the drill saw a hub killed right after start leave the next sink appending nothing.
``close_consumer`` leaves only a group it got partitions in, otherwise lets the session expire.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from consumers.audit_sink import close_consumer
from hub.runtime.broker import EmbeddedBroker

pytestmark = pytest.mark.broker


def member(bootstrap: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id="sink", enable_auto_commit=False,
        auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1000,
        fetch_max_wait_ms=100,
    )  # fmt: skip
    consumer.subscribe(["audit"])
    return consumer


def read_for(consumer: KafkaConsumer, seconds: float) -> int:
    got, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline and not got:
        got += sum(len(v) for v in consumer.poll(200).values())
    return got


def test_a_member_stopped_before_its_first_assignment_leaves_the_group_usable() -> None:
    with EmbeddedBroker() as broker:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("audit", 3, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for _ in range(10):
            producer.send("audit", b"event")
        producer.close()
        first = member(broker.bootstrap)
        assert read_for(first, 1.0) == 0 and not first.assignment()  # still joining
        close_consumer(first)
        second = member(broker.bootstrap)
        try:
            assert read_for(second, 40) == 10  # after the first one's session expired
        finally:
            close_consumer(second)
