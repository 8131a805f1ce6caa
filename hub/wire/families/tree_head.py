"""审计日志树头 tree head: a signed head of the audit log's Merkle tree, from the hub operators.

Each connector keeps the last one it checked and accepts a new one only with a consistency proof
from it (``connectors.witness``): a rewrite of the log by the hub host shows at every agency.
"""

from __future__ import annotations

from hub.wire.envelope import Envelope
from hub.wire.families.base import Family, Payload, Problems, nonblank

NAME = "tree_head"


def check(p: Payload, env: Envelope) -> Problems:
    problems = nonblank(p, "origin", "root_hash", "checkpoint")
    if int(p.get("tree_size", 0)) < 1:
        problems.append("tree_size must be at least 1")
    return problems


FAMILY = Family(
    NAME, "审计日志树头 audit log tree head", check, order=110, business=False, hub_only=True
)
