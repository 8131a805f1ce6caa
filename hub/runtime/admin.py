"""Creating the hub's topics on a broker (kafka-python's admin client).

The names, partition counts and configs are :mod:`hub.wire.topics`; this module only applies them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from hub.wire.topics import DEFAULT_REPLICATION, TopicSpec

log = logging.getLogger("hub.wire.topics")


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
    from kafka.errors import TopicAlreadyExistsError

    specs = list(specs)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="hub-admin", **(security or {}))
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        created: list[str] = []
        for spec in missing:
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, replication, topic_configs=spec.config)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another process won the race; that is fine
        if created:
            log.info("created topics: %s", ", ".join(created))
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
            raise TimeoutError(f"topics not visible after {timeout_s}s: {sorted(missing)}")
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
