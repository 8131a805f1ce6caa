"""``hub families``, ``hub policy``, ``hub config``: what this hub carries, how it is set up."""

from __future__ import annotations

import argparse
from typing import Any

from hub.cli.output import table
from hub.core.config import Settings, describe


def cmd_families(args: argparse.Namespace, settings: Settings) -> int:
    from hub.wire.families import FAMILIES
    from hub.wire.schemas import SchemaRegistry

    registry = SchemaRegistry.load(settings.schemas_path)
    rows = []
    for fam in FAMILIES.values():
        versions = registry.versions(fam.schema_stem)
        rows.append(
            [
                fam.name,
                fam.title,
                ", ".join(f"v{v.version}" for v in versions),
                versions[-1].fingerprint.hex(),
            ]
        )
    print(table(rows, ["FAMILY", "TITLE", "VERSIONS", "CURRENT FINGERPRINT"]))
    return 0


def cmd_policy(args: argparse.Namespace, settings: Settings) -> int:
    from hub.routing.policy import load_policy
    from hub.wire.families import FAMILIES

    policy = load_policy(settings.policy_path, set(FAMILIES))
    print(f"# {settings.policy_path}")
    print(table([list(r) for r in policy.allowed_pairs()], ["FAMILY", "FROM", "TO", "REGIONS"]))
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    for key, value in describe(settings).items():
        print(f"{key:<24} {value}")
    return 0


def add_parsers(sub: Any, fmt: Any) -> None:
    s = sub.add_parser(
        "families",
        help="list message families and schema versions",
        description="List the message families with their Avro schema versions.",
    )
    s.set_defaults(func=cmd_families)
    s = sub.add_parser(
        "policy",
        help="show the routing policy",
        description="Show which agency may send which family to whom.",
    )
    s.set_defaults(func=cmd_policy)
    s = sub.add_parser(
        "config",
        help="show the effective settings",
        description="Print every setting with its effective value.",
    )
    s.set_defaults(func=cmd_config)
