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


def broker_epoch(bootstrap: str, *, security: dict[str, Any] | None = None) -> str:
    """The identity of the broker's data: its cluster id (a recreated cluster gets a new one).

    The embedded broker is given a fresh epoch by the runner instead, since each start of it
    begins empty.  See ``hub.storage.redelivery``.
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="hub-admin", **(security or {}))
    try:
        cluster = admin.describe_cluster()
        return f"cluster:{cluster.get('cluster_id') or 'unknown'}"
    except Exception as exc:  # an old broker without DescribeCluster: metadata has the id too
        log.warning("cluster id not available (%s); redelivery after a loss is off", exc)
        return "cluster:unknown"
    finally:
        admin.close()
