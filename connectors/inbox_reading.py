"""Reading an inbox topic with kafka-python: its partitions, and where its end is."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from hub.core.errors import NotFound


def partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    deadline = time.monotonic() + 10
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise NotFound(f"inbox topic {topic} does not exist; is the connector registered?")
        time.sleep(0.2)


def at_end(consumer: KafkaConsumer) -> bool:
    """Whether every assigned partition has been read up to its high watermark, as the last
    fetch response gave it (None until a partition was fetched at least once)."""
    parts = consumer.assignment()
    if not parts:
        return False
    for tp in parts:
        high = consumer.highwater(tp)
        if high is None or consumer.position(tp) < high:
            return False
    return True
