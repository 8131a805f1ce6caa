"""``hub topics plan|apply`` and ``hub acls``: what a real Kafka cluster needs for this hub.

Topics come from :mod:`hub.wire.topics` (the core topics and one inbox per connector of the
signed directory); ACLs from :mod:`hub.wire.acls`.  ``hub acls`` prints them as ``kafka-acls.sh``
commands or as Strimzi ``KafkaTopic``/``KafkaUser`` manifests; ops/kafka/README.md walks through
a three-node KRaft cluster with SASL/SCRAM and TLS.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterable
from typing import Any

import yaml

from hub.core.config import Settings
from hub.trust.address import Address
from hub.wire.acls import CLUSTER, PREFIXED, Acl, plan, user_name
from hub.wire.topics import TopicSpec, hub_topics


def _addresses(settings: Settings) -> list[Address]:
    from hub.trust.directory_file import load_directory

    return sorted(load_directory(settings).addresses())


# -- topics --------------------------------------------------------------------------------------
def _existing(settings: Settings, bootstrap: str) -> dict[str, int]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="hub-topics", **settings.kafka_python_security()
    )
    try:
        names = admin.list_topics()
        described = admin.describe_topics(names) if names else []
    finally:
        admin.close()
    # kafka-python names the field "name" (newer) or "topic" (older).
    return {t.get("name") or t["topic"]: len(t.get("partitions") or []) for t in described}


def topic_plan(wanted: Iterable[TopicSpec], existing: dict[str, int] | None) -> list[list[str]]:
    """One row per wanted topic: name, partitions, what is to be done, its configs."""
    rows = []
    for spec in wanted:
        configs = ", ".join(f"{k}={v}" for k, v in sorted(spec.config.items()))
        if existing is None:
            action = "?"  # the cluster was not asked
        elif spec.name not in existing:
            action = "create"
        elif existing[spec.name] != spec.partitions:
            # Never changed here: more partitions would re-key every conversation.
            action = f"differs: has {existing[spec.name]} partitions"
        else:
            action = "exists"
        rows.append([spec.name, str(spec.partitions), action, configs])
    return rows


def cmd_topics_plan(args: argparse.Namespace, settings: Settings) -> int:
    from hub.core.table import render_table
    from hub.runtime.state import resolve_bootstrap

    existing = None if args.offline else _existing(settings, resolve_bootstrap(settings))
    rows = topic_plan(hub_topics(_addresses(settings), settings.docs_retention_ms), existing)
    print(render_table(["topic", "partitions", "action", "configs"], rows))
    print(f"replication factor {settings.topic_replication} (topic_replication)")
    return 0


def cmd_topics_apply(args: argparse.Namespace, settings: Settings) -> int:
    from hub.runtime.admin import ensure_topics
    from hub.runtime.state import resolve_bootstrap

    bootstrap = resolve_bootstrap(settings)
    wanted = hub_topics(_addresses(settings), settings.docs_retention_ms)
    created = ensure_topics(
        bootstrap,
        wanted,
        security=settings.kafka_python_security(),
        replication=settings.topic_replication,
    )
    print(f"{len(created)} topic(s) created, {len(wanted) - len(created)} already there")
    for name in created:
        print(f"  created {name}")
    return 0


# -- ACLs ----------------------------------------------------------------------------------------
def kafka_acls_commands(acls: Iterable[Acl], *, bootstrap: str, command_config: str) -> list[str]:
    out = []
    for acl in acls:
        parts = ["kafka-acls.sh", "--bootstrap-server", bootstrap]
        if command_config:
            parts += ["--command-config", command_config]
        parts += ["--add", "--allow-principal", acl.principal, "--operation", acl.operation]
        if acl.resource_type == CLUSTER:
            parts.append("--cluster")
        else:
            parts += [f"--{acl.resource_type}", acl.name]
            if acl.pattern == PREFIXED:
                parts += ["--resource-pattern-type", "prefixed"]
        out.append(shlex.join(parts))
    return out


def _strimzi_acl(
    resource_type: str, name: str, pattern: str, operations: list[str]
) -> dict[str, Any]:
    resource: dict[str, Any] = {"type": resource_type}
    if resource_type != CLUSTER:
        resource |= {"name": name, "patternType": pattern}
    return {"resource": resource, "operations": operations, "host": "*"}


def strimzi_manifests(
    topics: Iterable[TopicSpec], acls: Iterable[Acl], *, cluster: str, replication: int
) -> list[dict[str, Any]]:
    """``KafkaTopic`` per topic and ``KafkaUser`` (SCRAM-SHA-512, simple authorization) per
    principal, for the Strimzi operator (``kafka.strimzi.io/v1beta2``)."""
    labels = {"strimzi.io/cluster": cluster}
    docs: list[dict[str, Any]] = []
    for spec in topics:
        docs.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                # Resource names are lower-case DNS names; the topic keeps its own name.
                "metadata": {"name": spec.name.lower(), "labels": labels},
                "spec": {
                    "topicName": spec.name,
                    "partitions": spec.partitions,
                    "replicas": replication,
                    "config": dict(spec.config),
                },
            }
        )
    by_user: dict[str, dict[tuple[str, str, str], list[str]]] = {}
    for acl in acls:
        key = (acl.resource_type, acl.name, acl.pattern)
        by_user.setdefault(acl.principal, {}).setdefault(key, []).append(acl.operation)
    for principal, grants in by_user.items():
        rules = [_strimzi_acl(*resource, ops) for resource, ops in grants.items()]
        docs.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaUser",
                "metadata": {"name": principal.removeprefix("User:"), "labels": labels},
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {"type": "simple", "acls": rules},
                },
            }
        )
    return docs


def cmd_acls(args: argparse.Namespace, settings: Settings) -> int:
    addresses = _addresses(settings)
    acls = plan(addresses, app_id=settings.app_id, hub_principal=f"User:{args.hub_user}")
    if args.format == "strimzi":
        docs = strimzi_manifests(
            hub_topics(addresses, settings.docs_retention_ms),
            acls,
            cluster=args.cluster,
            replication=settings.topic_replication,
        )
        print(yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False), end="")
    elif args.format == "users":
        for address in addresses:
            print(f"{user_name(address)}\t{address}")
    else:
        bootstrap = args.bootstrap or settings.kafka_bootstrap or "kafka-1:9093"
        print("#!/bin/sh\n# ACLs for the hub and each connector (hub acls); run once as the admin.")
        print("set -e")
        for line in kafka_acls_commands(
            acls, bootstrap=bootstrap, command_config=args.command_config
        ):
            print(line)
    print(f"{len(acls)} ACLs for {len(addresses) + 1} principals", file=sys.stderr)
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    t = sub.add_parser("topics", help="plan or create the hub's topics on a cluster")
    ts = t.add_subparsers(dest="topics_command", metavar="SUBCOMMAND", required=True)
    p = ts.add_parser(
        "plan",
        formatter_class=fmt,
        help="show the topics the hub needs and what the cluster lacks",
        description="List the core topics and one inbox per connector of the signed directory "
        "(hub/wire/topics.py), with partitions and configs, and what `hub topics apply` would "
        "do on the configured cluster (kafka_bootstrap, or the hub running here).",
    )
    p.add_argument("--offline", action="store_true", help="do not ask the cluster")
    p.set_defaults(func=cmd_topics_plan)
    a = ts.add_parser("apply", help="create the topics the cluster lacks (never alters one)")
    a.set_defaults(func=cmd_topics_apply)

    s = sub.add_parser(
        "acls",
        formatter_class=fmt,
        help="the ACLs of the hub and of every connector, for kafka-acls.sh or Strimzi",
        description="Each connector's principal User:<agency>-<region> may write hub.ingress, "
        "read only its own hub.inbox.AGENCY.REGION and use its own consumer group; the hub's "
        "principal has every hub.* topic, its app_id's topics and groups, and topic creation.",
        epilog="examples:\n  hub acls --bootstrap kafka-1:9093 --command-config admin.properties"
        " > acls.sh\n  hub acls --format strimzi --cluster hub > hub-kafka.yaml\n"
        "  hub acls --format users      (SCRAM user name and connector, one per line)",
    )
    s.add_argument("--format", choices=("kafka-acls", "strimzi", "users"), default="kafka-acls")
    s.add_argument("--bootstrap", default="", help="for kafka-acls.sh (default: kafka_bootstrap)")
    s.add_argument(
        "--command-config", default="admin.properties", help="kafka-acls.sh client config"
    )
    s.add_argument("--cluster", default="hub", help="Strimzi cluster name (strimzi.io/cluster)")
    s.add_argument("--hub-user", default="hub", help="SCRAM user of the hub's processes")
    s.set_defaults(func=cmd_acls)
