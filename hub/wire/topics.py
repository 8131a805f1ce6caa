"""Every topic the hub uses: names, partition counts and configs live here and nowhere else.

The same names and settings run on the embedded Tansu broker and on Apache Kafka 3.x.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hub.trust.address import Address

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
#: The broker stamps each record when it arrives (LogAppendTime): freshness is judged against that
#: instant, which a client must not be able to back-date.  (Tansu accepts and ignores it.)
INGRESS = TopicSpec(
    "hub.ingress",
    6,
    {"retention.ms": str(4 * WEEK_MS), "message.timestamp.type": "LogAppendTime"},
)
#: What the router could not deliver, with the reason and the original bytes.
DEAD_LETTER = TopicSpec("hub.dead-letter", 1, {"retention.ms": str(52 * WEEK_MS)})

#: Every SLA warning, breach, escalation and flight-inspection flag, as a plain ``sla_event``
#: Avro record keyed by the original message id (for dashboards and audit); copies go, as signed
#: envelopes, to the inboxes concerned.
SLA_EVENTS = TopicSpec("hub.sla-events", 3, {"retention.ms": str(52 * WEEK_MS)})

#: Hub events for the transfer log (``audit_event`` Avro, metadata only), keyed by hand-off: the
#: SLA publisher's, the console's, the key records (the router's go as fact rows in its store
#: transaction, ``hub.storage.audit_facts``); the audit sink (``consumers.audit_sink``) chains
#: both into the audit store.
AUDIT = TopicSpec("hub.audit", 3, {"retention.ms": str(52 * WEEK_MS)})

#: Connectors' cosignatures of the tree heads they checked (``hub.audit.cosignatures``), small
#: JSON records keyed by the cosigner; the audit sink's collector keeps those that verify.
COSIGNATURES = TopicSpec("hub.audit.cosignatures", 1, {"retention.ms": str(4 * WEEK_MS)})

#: Every signed directory version the operators published (``hub directory publish``), keyed
#: by one constant so that compaction keeps the latest; routers, connectors and gateways follow
#: it and take a newer serial that verifies against their trust anchor.
#: A national directory (~25,000 connectors, bench/national.py) is ~15 MB of JSON, 2 MB gzipped:
#: over Kafka's default 1 MB for one record, so the topic takes up to this much (compressed, as
#: the broker checks it) and its producer and readers are sized to match.
DIRECTORY_MAX_BYTES = 64 * 1024 * 1024
DIRECTORY = TopicSpec(
    "hub.directory",
    1,
    {"cleanup.policy": "compact", "max.message.bytes": str(DIRECTORY_MAX_BYTES)},
)
DIRECTORY_KEY = b"directory"

INBOX_PARTITIONS = 3
INBOX_CONFIG = {"retention.ms": str(4 * WEEK_MS)}


def inbox_topic(agency: str, region: str) -> str:
    """One inbox per connector, so a broker ACL can confine each agency to its own topic."""
    return f"hub.inbox.{agency}.{region}"


def inbox_spec(agency: str, region: str) -> TopicSpec:
    return TopicSpec(inbox_topic(agency, region), INBOX_PARTITIONS, INBOX_CONFIG)


#: Each connector's documents topic: the chunks of the documents addressed to it, copied there
#: by the router from hub.ingress and named to the connector only in the envelope delivered to
#: its inbox (header ``hub-chunks``).  Keyed by message id; retention is ``docs_retention_ms``.
DOCS_PARTITIONS = 3
DOCS_RETENTION_MS = 4 * WEEK_MS


def docs_topic(agency: str, region: str) -> str:
    """Beside the inbox, under the same ACL pattern: one agency reads only its own."""
    return f"hub.docs.{agency}.{region}"


def docs_spec(agency: str, region: str, retention_ms: int = DOCS_RETENTION_MS) -> TopicSpec:
    return TopicSpec(
        docs_topic(agency, region), DOCS_PARTITIONS, {"retention.ms": str(retention_ms)}
    )


def connector_topics(
    agency: str, region: str, docs_retention_ms: int = DOCS_RETENTION_MS
) -> list[TopicSpec]:
    """The topics one connector reads: its inbox and its documents."""
    return [inbox_spec(agency, region), docs_spec(agency, region, docs_retention_ms)]


def core_topics() -> list[TopicSpec]:
    return [INGRESS, DEAD_LETTER, SLA_EVENTS, AUDIT, COSIGNATURES, DIRECTORY]


def hub_topics(
    connectors: Iterable[Address], docs_retention_ms: int = DOCS_RETENTION_MS
) -> list[TopicSpec]:
    """Every topic a hub with these connectors needs: the core ones, an inbox and a documents
    topic each."""
    return core_topics() + [
        spec for a in connectors for spec in connector_topics(a.agency, a.region, docs_retention_ms)
    ]


def router_group(app_id: str) -> str:
    """The router workers' group on ``hub.ingress``; workers with one app id share it."""
    return f"{app_id}.ingress"


def audit_sink_group(app_id: str) -> str:
    return f"{app_id}.audit-sink"


def cosignature_group(app_id: str) -> str:
    return f"{app_id}.cosignatures"


def connector_group(agency: str, region: str) -> str:
    return f"hub.connector.{agency}.{region}"
