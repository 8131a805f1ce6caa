"""Closed-loop loads through a running hub, with kafka-python: signed clues into hub.ingress
read back from the recipient's inbox, and raw records of the same size through a plain topic.

Used by ``bench.audit_sink`` to drive the router while it measures the audit sink.
"""

from __future__ import annotations

import time
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from hub.runtime.admin import ensure_topics
from hub.trust.address import Address
from hub.wire.envelope import seal
from hub.wire.jsonpayload import from_json
from hub.wire.topics import INGRESS, TopicSpec, inbox_topic
from tests.hubproc import load_example


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def drain(
    bootstrap: str, topic: str, n: int, sent_at: dict[bytes, float], key_of, timeout: float
) -> tuple[list[float], float]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_poll_records=1000,
    )
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    latencies: list[float] = []
    last = time.perf_counter()
    deadline = time.monotonic() + timeout
    while len(latencies) < n and time.monotonic() < deadline:
        for records in consumer.poll(200).values():
            now = time.perf_counter()
            for r in records:
                t = sent_at.pop(key_of(r), None)
                if t is not None:
                    latencies.append(now - t)
                    last = now
    consumer.close()
    return latencies, last


def run_raw(bootstrap: str, n: int, size: int, timeout: float) -> dict:
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [TopicSpec(topic, 3)])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    sent_at: dict[bytes, float] = {}
    start = time.perf_counter()
    for i in range(n):
        key = f"{i:08d}".encode()
        sent_at[key] = time.perf_counter()
        producer.send(topic, key=key, value=b"x" * size)
    producer.flush()
    latencies, last = drain(bootstrap, topic, n, sent_at, lambda r: r.key, timeout)
    producer.close()
    return {"n": len(latencies), "seconds": last - start, "lat": latencies}


def clue_sealer(hub):
    """A function sealing n fresh signed clues MIB@350582 → PSB@350582: [(envelope, bytes)]."""
    mib = hub.connector("MIB@350582")
    schema = mib.registry.latest("clue_transfer")
    example = load_example("clue_transfer")
    # The example's requested deadline is long past: every clue would fire four SLA events at
    # once and the benchmark would measure the SLA publisher, not the router.
    example["requested_deadline"] = None
    payload = from_json(schema.raw, example)
    recipient = Address.parse("PSB@350582")

    def make(n: int) -> list:
        return [
            seal(
                mib.registry,
                family="clue_transfer",
                payload_schema=schema,
                payload=payload,
                sender=mib.address,
                recipient=recipient,
                key=mib.key,
            )
            for _ in range(n)
        ]

    return make


def run_hub(bootstrap: str, hub, n: int, timeout: float) -> tuple[dict, int]:
    envelopes = clue_sealer(hub)(n)
    size = len(envelopes[0][1])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    sent_at: dict[bytes, float] = {}
    start = time.perf_counter()
    for env, raw in envelopes:
        key = env.message_id.encode()
        sent_at[key] = time.perf_counter()
        producer.send(INGRESS.name, key=key, value=raw)
    producer.flush()
    latencies, last = drain(
        bootstrap, inbox_topic("PSB", "350582"), n, sent_at, lambda r: r.key, timeout
    )
    producer.close()
    return {"n": len(latencies), "seconds": last - start, "lat": latencies}, size
