"""One fact record per ingress record: its audit events, as the router stores them.

The router writes the events of an outcome into the SQL store in the transaction that records
the outcome (``hub.storage.audit_facts``); the audit sink chains them into the log in bulk.
The encoding is JSON of the fields the log keeps, in the forms it keeps them (instants to the
millisecond, the signed fields as ``SignedFields.to_json``), so decoding gives back exactly the
events the log would have had from ``hub.audit`` — and the record hashes are the same.

Every row is tagged with the audit MAC (``hub.audit.mac``), as records on ``hub.audit`` are:
a row whose tag does not verify is quarantined by the sink, never believed, so the right to
insert into the table is not the right to put a fact into the log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hub.audit.events import AuditEvent, SignedFields
from hub.audit.mac import AuditMac
from hub.core.clock import iso_ms, parse_iso
from hub.storage.audit_facts import Fact

_FIELDS = ("message_id", "conversation_id", "family", "sender", "recipient", "routed_to", "status")


def _to_json(e: AuditEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"event_id": e.event_id, "kind": e.kind, "at": iso_ms(e.occurred_at)}
    for name in _FIELDS:
        value = getattr(e, name)
        if value is not None:
            out[name] = value
    if e.signed is not None:
        out["signed"] = e.signed.to_json()
    if e.facts:
        out["facts"] = e.facts
    return out


def _from_json(d: dict[str, Any]) -> AuditEvent:
    signed = d.get("signed")
    return AuditEvent(
        event_id=d["event_id"],
        kind=d["kind"],
        occurred_at=parse_iso(d["at"]),
        signed=SignedFields.from_json(signed) if signed is not None else None,
        facts={str(k): str(v) for k, v in (d.get("facts") or {}).items()},
        **{name: d.get(name) for name in _FIELDS},
    )


def encode(events: Sequence[AuditEvent]) -> bytes:
    return json.dumps(
        [_to_json(e) for e in events], ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def decode(raw: bytes) -> list[AuditEvent]:
    """The events of one row; raises ``ValueError`` (or ``KeyError``/``TypeError``) on bytes
    that are not such a row."""
    items = json.loads(raw)
    if not isinstance(items, list):
        raise ValueError("an audit fact row holds a list of events")
    return [_from_json(d) for d in items]


def fact_of(events: Sequence[AuditEvent], mac: AuditMac) -> Fact:
    raw = encode(events)
    return Fact(raw, mac.tag(raw))
