"""Documents generated from the contract: the fingerprint table and the AsyncAPI 3.0 document.

**Fingerprints.** A record's first ten bytes are ``C3 01`` and the CRC-64-AVRO fingerprint of
the writer schema's Parsing Canonical Form.  Avro libraries disagree on that form for logical
types (Apache avro for Python 1.12 keeps ``{"type":"long"}`` where the specification and
fastavro write ``"long"``, so the CRC differs), so ``schemas/avro/fingerprints.json`` lists every
schema version by the fingerprint this hub writes: a reader in any language looks the writer
schema up there instead of computing one.

**AsyncAPI.** One channel per topic (the inbox channel has ``{agency}`` and ``{region}``
parameters), one message per family with ``schemaFormat:
application/vnd.apache.avro;version=1.9.0`` and the newest ``.avsc``, the policy's flows as each
message's description, examples from ``examples/payloads``, and the fingerprint table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub.wire.families import FAMILIES
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import (
    AUDIT,
    DEAD_LETTER,
    DOCS_PARTITIONS,
    INBOX_PARTITIONS,
    INGRESS,
    SLA_EVENTS,
)

AVRO = "application/vnd.apache.avro;version=1.9.0"
WIRE_NOTE = (
    "Every record is an Avro single-object encoding: C3 01, the 8-byte little-endian CRC-64-AVRO "
    "fingerprint of the writer schema's Parsing Canonical Form (x-fingerprints), the Avro body. "
    "On hub.ingress and the inboxes the record is an Envelope whose payload field holds the "
    "family's payload record, encoded the same way and signed with hub-sig-v2, or hub-sig-v3 "
    "when documents travel (docs/wire-format.md)."
)


def fingerprint_table(registry: SchemaRegistry) -> dict[str, dict[str, Any]]:
    """Lowercase hex of the 8 fingerprint bytes as they appear on the wire → the schema file."""
    return {
        v.fingerprint.hex(): {"file": v.path.name, "name": v.name, "version": v.version}
        for v in sorted(registry, key=lambda v: (v.stem, v.version))
    }


def build(
    registry: SchemaRegistry,
    flows: Iterable[tuple[str, str, str, str]],
    examples: Mapping[str, Any],
    version: str,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document; ``flows`` are the policy's (family, senders, recipients,
    regions) rules."""
    by_family: dict[str, list[str]] = {}
    for family, senders, recipients, regions in flows:
        by_family.setdefault(family, []).append(f"{senders} → {recipients} ({regions})")
    messages: dict[str, Any] = {}
    for name, fam in FAMILIES.items():
        schema = registry.latest(fam.schema_stem)
        message: dict[str, Any] = {
            "name": name,
            "title": fam.title,
            "summary": fam.title,
            "description": "Allowed: " + "; ".join(by_family.get(name, ["sent by the hub"])),
            "contentType": "avro/binary",
            "payload": {"schemaFormat": AVRO, "schema": schema.raw},
            "x-schema-file": schema.path.name,
            "x-fingerprint": schema.fingerprint.hex(),
        }
        if name in examples:
            message["examples"] = [{"name": f"{name}-example", "payload": examples[name]}]
        messages[name] = message
    envelope = registry.latest("envelope")
    messages["envelope"] = {
        "name": "envelope",
        "title": "Signed envelope",
        "contentType": "avro/binary",
        "payload": {"schemaFormat": AVRO, "schema": envelope.raw},
        "x-fingerprint": envelope.fingerprint.hex(),
    }
    for stem in ("dead_letter", "audit_event", "document_chunk"):
        v = registry.latest(stem)
        messages[stem] = {
            "name": stem,
            "contentType": "avro/binary",
            "payload": {"schemaFormat": AVRO, "schema": v.raw},
            "x-fingerprint": v.fingerprint.hex(),
        }
    families = [n for n, f in FAMILIES.items() if not f.hub_only]
    ref = lambda n: {"$ref": f"#/components/messages/{n}"}  # noqa: E731
    channels = {
        "ingress": {
            "address": INGRESS.name,
            "description": f"Connectors publish signed envelopes here ({INGRESS.partitions} "
            "partitions, keyed by conversation id).",
            "messages": {**{n: ref(n) for n in families}, "document_chunk": ref("document_chunk")},
        },
        "inbox": {
            "address": "hub.inbox.{agency}.{region}",
            "description": f"One inbox per connector ({INBOX_PARTITIONS} partitions); an "
            "agency's principal reads only its own.",
            "parameters": {
                "agency": {"description": "agency code, e.g. PSB"},
                "region": {"description": "GB/T 2260 region code, e.g. 350582"},
            },
            "messages": {n: ref(n) for n in FAMILIES},
        },
        "docs": {
            "address": "hub.docs.{agency}.{region}",
            "description": f"One documents topic per connector ({DOCS_PARTITIONS} partitions, "
            "keyed by message id): the chunks the router copied from hub.ingress, read at the "
            "places the hub-chunks header of a delivered inbox record names.",
            "parameters": {
                "agency": {"description": "agency code, e.g. PSB"},
                "region": {"description": "GB/T 2260 region code, e.g. 350582"},
            },
            "messages": {"document_chunk": ref("document_chunk")},
        },
        "deadLetter": {
            "address": DEAD_LETTER.name,
            "messages": {"dead_letter": ref("dead_letter")},
        },
        "slaEvents": {"address": SLA_EVENTS.name, "messages": {"sla_event": ref("sla_event")}},
        "audit": {"address": AUDIT.name, "messages": {"audit_event": ref("audit_event")}},
    }

    def op(action: str, channel: str, names: Iterable[str], summary: str) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{channel}/messages/{n}"} for n in names],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Interagency data-sharing hub for medical-insurance fund supervision",
            "version": version,
            "description": WIRE_NOTE,
        },
        "defaultContentType": "avro/binary",
        "channels": channels,
        "operations": {
            "sendMessage": op("send", "ingress", families, "a connector sends a message"),
            "receiveInbox": op("receive", "inbox", FAMILIES, "a connector reads its inbox"),
            "receiveDocuments": op(
                "receive", "docs", ["document_chunk"], "a connector reads its messages' chunks"
            ),
            "receiveDeadLetters": op("receive", "deadLetter", ["dead_letter"], "operators"),
        },
        "components": {"messages": messages},
        "x-fingerprints": fingerprint_table(registry),
    }
