"""The cluster's ACL set (hub acls): each agency's principal writes the ingress topic and reads
only its own inbox, whatever other connectors exist; the hub's principal has the rest."""

from __future__ import annotations

import re

from hub.cli.cluster import kafka_acls_commands, strimzi_manifests, topic_plan
from hub.trust.address import Address
from hub.trust.directory import DEV_CONNECTORS
from hub.wire.acls import GROUP, TOPIC, Acl, allowed, plan, principal_of
from hub.wire.topics import (
    AUDIT,
    DEAD_LETTER,
    INGRESS,
    SLA_EVENTS,
    connector_group,
    core_topics,
    docs_topic,
    hub_topics,
    inbox_topic,
)

ADDRESSES = [Address.parse(a) for a in [*DEV_CONNECTORS, "HUB@100000"]]
ACLS = plan(ADDRESSES, app_id="hub-router")
INBOXES = [inbox_topic(a.agency, a.region) for a in ADDRESSES]
DOCS = [docs_topic(a.agency, a.region) for a in ADDRESSES]
HUB_ONLY = [AUDIT.name, DEAD_LETTER.name, SLA_EVENTS.name]


def test_each_principal_can_read_only_its_own_inbox_and_documents() -> None:
    for address in ADDRESSES:
        me = principal_of(address)
        mine = inbox_topic(address.agency, address.region)
        readable = [t for t in INBOXES if allowed(ACLS, me, "Read", TOPIC, t)]
        assert readable == [mine], address
        own_docs = docs_topic(address.agency, address.region)
        readable = [t for t in DOCS if allowed(ACLS, me, "Read", TOPIC, t)]
        assert readable == [own_docs], address
        # Nor a topic of an agency that registers later.
        assert not allowed(ACLS, me, "Read", TOPIC, "hub.inbox.PSB.350583")
        assert not allowed(ACLS, me, "Read", TOPIC, "hub.docs.PSB.350583")


def test_a_principal_writes_only_the_ingress_topic_and_reads_no_hub_topic() -> None:
    for address in ADDRESSES:
        me = principal_of(address)
        for topic in [*INBOXES, *DOCS, *HUB_ONLY]:
            assert not allowed(ACLS, me, "Write", TOPIC, topic), (address, topic)
        for topic in [INGRESS.name, *HUB_ONLY]:
            assert not allowed(ACLS, me, "Read", TOPIC, topic), (address, topic)
        assert allowed(ACLS, me, "Write", TOPIC, INGRESS.name)
        assert allowed(ACLS, me, "Describe", TOPIC, INGRESS.name)


def test_a_principal_joins_only_its_own_consumer_group() -> None:
    for address in ADDRESSES:
        me = principal_of(address)
        groups = [connector_group(a.agency, a.region) for a in ADDRESSES] + ["hub-router.ingress"]
        joinable = [g for g in groups if allowed(ACLS, me, "Read", GROUP, g)]
        assert joinable == [connector_group(address.agency, address.region)]


def test_the_hub_principal_reads_and_writes_every_topic_and_creates_them() -> None:
    for topic in [INGRESS.name, *INBOXES, *HUB_ONLY]:
        for op in ("Read", "Write", "Describe"):
            assert allowed(ACLS, "User:hub", op, TOPIC, topic)
    for group in ("hub-router.ingress", "hub-router.audit-sink", "hub-router"):
        assert allowed(ACLS, "User:hub", "Read", GROUP, group)
    assert allowed(ACLS, "User:hub", "Create", "cluster", "kafka-cluster")
    assert not allowed(ACLS, "User:hub", "Alter", "cluster", "kafka-cluster")
    assert not allowed(ACLS, "User:someone-else", "Read", TOPIC, INGRESS.name)


def test_the_rule_is_kafkas_deny_wins_literal_wildcard_and_prefix() -> None:
    acls = [
        Acl("User:a", TOPIC, "*", "literal", "Read"),
        Acl("User:a", TOPIC, "hub.audit", "literal", "Read", permission="Deny"),
        Acl("User:b", TOPIC, "hub.inbox.", "prefixed", "Read"),
    ]
    assert allowed(acls, "User:a", "Read", TOPIC, "anything")
    assert not allowed(acls, "User:a", "Read", TOPIC, "hub.audit")
    assert allowed(acls, "User:b", "Read", TOPIC, "hub.inbox.MIB.350582")
    assert allowed(acls, "User:b", "Describe", TOPIC, "hub.inbox.MIB.350582")  # Read implies it
    assert not allowed(acls, "User:b", "Read", TOPIC, "hub.ingress")


def test_kafka_acls_commands_say_prefixed_where_the_acl_is() -> None:
    lines = kafka_acls_commands(ACLS, bootstrap="kafka-1:9093", command_config="admin.properties")
    assert len(lines) == len(ACLS)
    assert all(line.startswith("kafka-acls.sh --bootstrap-server kafka-1:9093") for line in lines)
    prefixed = [line for line in lines if "--resource-pattern-type prefixed" in line]
    assert len(prefixed) == 2 and all("User:hub " in line for line in prefixed)
    assert any(line.endswith("--operation Create --cluster") for line in lines)
    assert "--topic hub.inbox.MIB.350582" in "\n".join(lines)


def test_strimzi_manifests_give_every_topic_and_principal_a_valid_resource() -> None:
    topics = hub_topics(ADDRESSES)
    docs = strimzi_manifests(topics, ACLS, cluster="hub", replication=3)
    dns = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
    kinds = [d["kind"] for d in docs]
    assert kinds.count("KafkaTopic") == len(topics)
    assert kinds.count("KafkaUser") == len(ADDRESSES) + 1
    for doc in docs:
        assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert dns.fullmatch(doc["metadata"]["name"]), doc["metadata"]["name"]
        assert doc["metadata"]["labels"] == {"strimzi.io/cluster": "hub"}
    names = [d["spec"]["topicName"] for d in docs if d["kind"] == "KafkaTopic"]
    assert sorted(names) == sorted(t.name for t in topics)
    user = next(d for d in docs if d["metadata"]["name"] == "mib-350582")
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    rules = {
        (r["resource"]["name"], tuple(r["operations"]))
        for r in user["spec"]["authorization"]["acls"]
    }
    assert rules == {
        ("hub.ingress", ("Write", "Describe")),
        ("hub.inbox.MIB.350582", ("Read", "Describe")),
        ("hub.docs.MIB.350582", ("Read", "Describe")),
        ("hub.connector.MIB.350582", ("Read",)),
        ("hub.audit.cosignatures", ("Write", "Describe")),
        ("hub.directory", ("Read", "Describe")),
    }


def test_the_topic_plan_creates_what_is_missing_and_never_repartitions() -> None:
    rows = topic_plan(core_topics(), {"hub.ingress": 6, "hub.audit": 1})
    actions = {r[0]: r[2] for r in rows}
    assert actions == {
        "hub.ingress": "exists",
        "hub.dead-letter": "create",
        "hub.sla-events": "create",
        "hub.audit": "differs: has 1 partitions",
        "hub.audit.cosignatures": "create",
        "hub.directory": "create",
    }
