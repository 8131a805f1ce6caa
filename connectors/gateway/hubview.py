"""The hub's own records of a message, for ``GET /v1/messages/{id}``: its ledger row (台账) and
its audit trail, when this gateway can read the hub's store (a gateway on the hub's host, or
given read access to its databases).  Elsewhere the gateway reports what it saw itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.core.config import Settings
from hub.wire.jsonpayload import to_json

TRAIL_FIELDS = ("seq", "kind", "occurred_at", "sender", "recipient", "status", "hash")


def _readable(url: str) -> bool:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True


def hub_view(settings: Settings) -> Callable[[str], Any]:
    """A lookup of the hub's records; it answers None while this host has no hub store to read.

    The stores are opened at the first lookup that finds them, not when the gateway starts: a
    gateway started beside a hub may start before the audit sink has made its database."""
    store_url, audit_url = settings.effective_store_url, settings.effective_audit_url
    opened: list[Any] = []

    def lookup(message_id: str) -> dict[str, Any] | None:
        if not opened:
            if not (_readable(store_url) and _readable(audit_url)):
                return None
            from hub.audit.store import AuditStore
            from hub.lifecycle.ledger import Ledger
            from hub.storage.engine import make_engine

            opened.extend((Ledger(make_engine(store_url)),
                           AuditStore(audit_url, migrate_schema=False)))  # fmt: skip
        ledger, audit = opened
        entry = ledger.entry(message_id)
        trail = [{k: r.get(k) for k in TRAIL_FIELDS} for r in audit.trail(message_id)]
        return {"ledger": to_json(entry) if entry else None, "audit_trail": trail}

    return lookup
