"""Every topic the hub uses: names, partition counts and configs live here and nowhere else.

The same names and settings run on the embedded Tansu broker and on Apache Kafka 3.x.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: Replication for production clusters is set by HUB_TOPIC_REPLICATION through ``replication``.
DEFAULT_REPLICATION = 1
WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


#: Connectors publish here; the router consumes it.  Keyed by conversation id (the original
#: message id), so every later message about one hand-off lands on the same partition, in order.
INGRESS = TopicSpec("hub.ingress", 6, {"retention.ms": str(4 * WEEK_MS)})
#: What the router could not deliver, with the reason and the original bytes.
DEAD_LETTER = TopicSpec("hub.dead-letter", 1, {"retention.ms": str(52 * WEEK_MS)})

#: Every SLA warning, breach, escalation and flight-inspection flag, as a plain ``sla_event``
#: Avro record keyed by the original message id (for dashboards and audit); copies go, as signed
#: envelopes, to the inboxes concerned.
SLA_EVENTS = TopicSpec("hub.sla-events", 3, {"retention.ms": str(52 * WEEK_MS)})

#: Every hub event for the transfer log (``audit_event`` Avro, metadata only), keyed by hand-off;
#: the audit sink (``consumers.audit_sink``) chains them into the audit store.
AUDIT = TopicSpec("hub.audit", 3, {"retention.ms": str(52 * WEEK_MS)})

INBOX_PARTITIONS = 3
INBOX_CONFIG = {"retention.ms": str(4 * WEEK_MS)}


def inbox_topic(agency: str, region: str) -> str:
    """One inbox per connector, so a broker ACL can confine each agency to its own topic."""
    return f"hub.inbox.{agency}.{region}"


def inbox_spec(agency: str, region: str) -> TopicSpec:
    return TopicSpec(inbox_topic(agency, region), INBOX_PARTITIONS, INBOX_CONFIG)


def core_topics() -> list[TopicSpec]:
    return [INGRESS, DEAD_LETTER, SLA_EVENTS, AUDIT]


def router_group(app_id: str) -> str:
    return app_id


def audit_sink_group(app_id: str) -> str:
    return f"{app_id}.audit-sink"


def connector_group(agency: str, region: str) -> str:
    return f"hub.connector.{agency}.{region}"


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    security: dict | None = None,
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


def _wait_for_metadata(admin, names: set[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        missing = names - set(admin.list_topics())
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after {timeout_s}s: {sorted(missing)}")
        time.sleep(0.1)
