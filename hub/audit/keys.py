"""Which keys the audit commands trust: operators' keys for checkpoints, any connector's for
messages (from the directory, else from the log's own ``key_registered`` records, so a key
rotated out of the directory still verifies the messages it signed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hub.audit.store import AuditStore
from hub.audit.trail import KeyLookup
from hub.core.clock import parse_iso
from hub.core.errors import UsageError
from hub.trust.directory import Directory
from hub.trust.keys import load_public
from hub.trust.operators import OPERATORS


def operator_entries(directory: Directory) -> list[Any]:
    """The hub operators' keys in the directory (``KeyEntry``): who signs checkpoints."""
    conn = directory.connectors.get(OPERATORS)
    return list(conn.keys) if conn else []


def checkpoint_keys(directory: Directory, extra: list[str]) -> Callable[[str], Any]:
    """Keys trusted to sign checkpoints: the hub operators' keys in the directory, and --key."""
    trusted = {e.key_id: load_public(e.public_key) for e in operator_entries(directory)}
    for item in extra:
        key_id, sep, b64 = item.partition("=")
        if not sep:
            raise UsageError(f"--key must be KEY_ID=BASE64, not {item!r}")
        trusted[key_id] = load_public(b64)
    return trusted.get


def message_keys(directory: Directory, store: AuditStore) -> KeyLookup:
    """Any connector's key: the directory first, then keys the log itself recorded."""
    logged: dict[str, tuple[str, str]] = {}
    for r in store.search(kinds=["key_registered"], limit=1_000_000):
        facts = json.loads(r["facts"])
        logged[facts["key_id"]] = (r["sender"], facts["public_key"])

    def lookup(key_id: str) -> tuple[str, Any] | None:
        owner = directory.key_owner(key_id)
        if owner is not None:
            return str(owner[0]), directory.public_key(key_id)
        if key_id in logged:
            address, b64 = logged[key_id]
            return address, load_public(b64)
        return None

    return lookup


def revocations(directory: Directory) -> Callable[[str], datetime | None]:
    """When each revoked key of the directory was revoked (``hub keys revoke``)."""
    at: dict[str, datetime] = {}
    for conn in directory.connectors.values():
        for k in conn.keys:
            if k.status == "revoked" and k.revoked_at:
                at[k.key_id] = parse_iso(k.revoked_at)
    return at.get
