"""The hub's own records of a message, for ``GET /v1/messages/{id}``: its ledger row (台账), its
audit trail and the compliance officers' looks at it (``GET /v1/messages/{id}/looks``), when
this gateway can read the hub's store (a gateway on the hub's host, or
given read access to its databases).  Elsewhere the gateway reports what it saw itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.audit.events import CONSOLE_LOOK
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
        records = audit.trail(message_id)
        trail = [{k: r.get(k) for k in TRAIL_FIELDS} for r in records]
        return {"ledger": to_json(entry) if entry else None, "audit_trail": trail,
                "looks": looks_of(records)}  # fmt: skip

    return lookup


def looks_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The compliance officers' looks at a hand-off, as its agencies may see them: when, at what
    (the hand-off's page, its proofs, its timestamp) and whether it was shown.  Not who: the
    officer's account stays in the audit log for officers and supervisors; an agency learns that
    and when its hand-off was audited, which it is entitled to know."""
    out = []
    for r in records:
        if r.get("kind") != CONSOLE_LOOK:
            continue
        facts = r.get("facts") or {}
        if isinstance(facts, str):
            facts = json.loads(facts)
        out.append({"seq": r.get("seq"), "at": r.get("occurred_at"), "what": facts.get("what"),
                    "outcome": facts.get("outcome")})  # fmt: skip
    return out
