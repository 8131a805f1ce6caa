"""Who may do what on the cluster: the ACL set per principal, as data, and Kafka's rule for it.

Each connector (an agency at a region) has its own principal, ``User:<agency>-<region>`` in lower
case (``User:mib-350582``; a valid SCRAM user and Strimzi ``KafkaUser`` name).  It may write
``hub.ingress``, read its own inbox ``hub.inbox.AGENCY.REGION`` and documents topic
``hub.docs.AGENCY.REGION`` and use its own consumer group,
and nothing else: not another agency's inbox, not the audit or dead-letter topics.  The hub's
principal has the rest: every ``hub.`` topic, the groups of its ``app_id`` (router, audit
sink), and the cluster rights to create topics.

:func:`allowed` evaluates a set as Kafka's ``StandardAuthorizer`` does with
``allow.everyone.if.no.acl.found=false``: denied unless an ALLOW matches (a DENY wins), literal
names exact or ``*``, prefixed names by prefix.  Pure: names come from :mod:`hub.wire.topics`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.trust.address import Address
from hub.wire.topics import (
    COSIGNATURES,
    DIRECTORY,
    INGRESS,
    connector_group,
    docs_topic,
    inbox_topic,
)

TOPIC, GROUP, CLUSTER = "topic", "group", "cluster"
LITERAL, PREFIXED = "literal", "prefixed"
CLUSTER_NAME = "kafka-cluster"

#: What each operation lets a principal do; ``All`` covers them all.
OPERATIONS = (
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "DescribeConfigs",
    "AlterConfigs",
    "All",
)


@dataclass(frozen=True, order=True)
class Acl:
    principal: str
    resource_type: str  # topic | group | cluster
    name: str
    pattern: str  # literal | prefixed
    operation: str
    permission: str = "Allow"
    host: str = "*"


def principal_of(address: Address) -> str:
    return f"User:{user_name(address)}"


def user_name(address: Address) -> str:
    return f"{address.agency.lower()}-{address.region}"


def connector_acls(address: Address) -> list[Acl]:
    p = principal_of(address)
    inbox = inbox_topic(address.agency, address.region)
    docs = docs_topic(address.agency, address.region)
    group = connector_group(address.agency, address.region)
    return [
        Acl(p, TOPIC, INGRESS.name, LITERAL, "Write"),
        Acl(p, TOPIC, INGRESS.name, LITERAL, "Describe"),
        Acl(p, TOPIC, inbox, LITERAL, "Read"),
        Acl(p, TOPIC, inbox, LITERAL, "Describe"),
        Acl(p, TOPIC, docs, LITERAL, "Read"),
        Acl(p, TOPIC, docs, LITERAL, "Describe"),
        Acl(p, GROUP, group, LITERAL, "Read"),
        # Cosignatures of the tree heads it checked; every connector reads the directory.
        Acl(p, TOPIC, COSIGNATURES.name, LITERAL, "Write"),
        Acl(p, TOPIC, COSIGNATURES.name, LITERAL, "Describe"),
        Acl(p, TOPIC, DIRECTORY.name, LITERAL, "Read"),
        Acl(p, TOPIC, DIRECTORY.name, LITERAL, "Describe"),
    ]


def hub_acls(app_id: str, principal: str = "User:hub") -> list[Acl]:
    return [
        Acl(principal, TOPIC, "hub.", PREFIXED, "All"),
        Acl(principal, GROUP, app_id, PREFIXED, "All"),  # router workers, audit sink
        Acl(principal, CLUSTER, CLUSTER_NAME, LITERAL, "Create"),
        Acl(principal, CLUSTER, CLUSTER_NAME, LITERAL, "Describe"),
        Acl(principal, CLUSTER, CLUSTER_NAME, LITERAL, "DescribeConfigs"),
    ]


def plan(
    addresses: Iterable[Address], *, app_id: str, hub_principal: str = "User:hub"
) -> list[Acl]:
    """The whole set: the hub's, then each connector's, in a stable order."""
    out = hub_acls(app_id, hub_principal)
    for address in sorted(set(addresses)):
        out += connector_acls(address)
    return out


def _matches(acl: Acl, resource_type: str, name: str) -> bool:
    if acl.resource_type != resource_type:
        return False
    if acl.pattern == PREFIXED:
        return name.startswith(acl.name)
    return acl.name in (name, "*")


def allowed(
    acls: Iterable[Acl], principal: str, operation: str, resource_type: str, name: str
) -> bool:
    """Whether ``principal`` may perform ``operation`` on the resource, as Kafka decides it."""
    # Read, Write, Delete and Alter imply Describe, as in Kafka.
    implied = {operation}
    if operation == "Describe":
        implied |= {"Read", "Write", "Delete", "Alter"}
    relevant = [
        a
        for a in acls
        if a.principal in (principal, "User:*")
        and _matches(a, resource_type, name)
        and (a.operation in implied or a.operation == "All")
    ]
    if any(a.permission == "Deny" for a in relevant):
        return False
    return any(a.permission == "Allow" for a in relevant)
