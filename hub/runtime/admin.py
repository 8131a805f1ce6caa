"""Creating the hub's topics on a broker (kafka-python's admin client).

The names, partition counts and configs are :mod:`hub.wire.topics`; this module only applies them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from hub.core.errors import BrokerUnavailable
from hub.wire.topics import DEFAULT_REPLICATION, TopicSpec

log = logging.getLogger("hub.wire.topics")

#: Topics created per CreateTopics request.
CREATE_BATCH = 500
#: Kafka's TOPIC_ALREADY_EXISTS.
TOPIC_ALREADY_EXISTS = 36


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    security: dict[str, Any] | None = None,
    replication: int = DEFAULT_REPLICATION,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    Idempotent: an existing topic is left as it is (its partition count is never changed here,
    since that would re-key every partition).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    specs = list(specs)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="hub-admin", **(security or {}))
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        # In batches: one request per topic cost ~8 ms each with its metadata round trips, and a
        # national directory has 50,000 topics (bench/national.py).
        for start in range(0, len(missing), CREATE_BATCH):
            batch = missing[start : start + CREATE_BATCH]
            news = [NewTopic(s.name, s.partitions, replication, topic_configs=s.config)
                    for s in batch]  # fmt: skip
            answer = admin.create_topics(news, raise_errors=False)
            for topic in answer.get("topics", []):
                code = topic.get("error_code", 0)
                if code == 0:
                    created.append(topic["name"])
                elif code != TOPIC_ALREADY_EXISTS:  # another process won the race: that is fine
                    raise BrokerUnavailable(
                        f"the broker refused to create topic {topic.get('name')}: error {code} "
                        f"({topic.get('error_message') or 'no message'})"
                    )
        if created:
            shown = ", ".join(created[:12]) + (f" and {len(created) - 12} more"
                                               if len(created) > 12 else "")  # fmt: skip
            log.info("created %d topics: %s", len(created), shown)
        _wait_for_metadata(admin, {s.name for s in specs}, timeout_s)
        return created
    finally:
        admin.close()


def _wait_for_metadata(admin: Any, names: set[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        missing = names - set(admin.list_topics())
        if not missing:
            return
        if time.monotonic() > deadline:
            names_shown = ", ".join(sorted(missing)[:12])
            raise TimeoutError(f"{len(missing)} topics not visible after {timeout_s}s: "
                               f"{names_shown}{' …' if len(missing) > 12 else ''}")  # fmt: skip
        time.sleep(0.1)


class TopicEpochs:
    """The identity of an inbox topic's data, for ``hub.storage.redelivery``.

    A record kept for redelivery is stamped with the epoch of its topic; when the epoch differs
    at the next start, the broker no longer has what was written and the record is published
    again.  An embedded broker starts empty every time, so all its topics share one epoch, new
    for each run.  On a real cluster the epoch is the topic's id (Kafka >= 2.8): a topic deleted
    and created again, or a new cluster, has a new one.
    """

    def __init__(
        self, bootstrap: str, *, embedded_run: str = "", security: dict[str, Any] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.embedded_run = embedded_run
        self.security = security or {}
        self._ids: dict[str, str] = {}

    def __call__(self, topic: str) -> str:
        if self.embedded_run:
            return self.embedded_run
        if topic not in self._ids:
            self._ids[topic] = "topic:" + self._topic_id(topic)
        return self._ids[topic]

    def _topic_id(self, topic: str) -> str:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id="hub-admin", **self.security
        )
        try:
            [described] = admin.describe_topics([topic])
            return str(described.get("topic_id") or "unknown")
        finally:
            admin.close()
