"""The chain of custody of one message, each step re-verified.

For every record of the message (and of its replies and SLA events) two checks:

* the record itself: its hash recomputed from its content and its predecessor's stored hash,
  so an edited row is flagged here too, not only by ``hub audit verify``;
* the message's signature: its signed structure (hub-sig-v1 or v2) rebuilt from the fields
  the record kept, checked with the public key of that key id, which must belong to the sender.
  Keys come from the directory and, for keys since removed from it, from the log's own
  ``key_registered`` records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hub.audit.chain import record_hash
from hub.audit.events import SignedFields
from hub.core.clock import parse_iso
from hub.trust import suites
from hub.trust.keys import verify
from hub.trust.suites import PublicKey, Suite
from hub.wire.documents import parse_documents_fact

#: key id → (owner address, public key), or None when unknown.
KeyLookup = Callable[[str], tuple[str, PublicKey] | None]


@dataclass(frozen=True)
class DocumentCheck:
    """One document of a receipt beside the signed manifest the hub logged as sent."""

    n: int
    sent: tuple[int, str] | None  # (wire size, chunks root) in the manifest
    received: tuple[int, str] | None  # what the receipt names

    @property
    def verdict(self) -> str:
        if self.sent is None:
            return "NOT SENT"  # the receipt names a document the manifest had not
        if self.received is None:
            return "not received"  # the recipient did not read (or could not check) it
        return "matches" if self.sent == self.received else "DIFFERS"

    def to_json(self) -> dict[str, Any]:
        sent, got = self.sent or (None, None), self.received or (None, None)
        return {"n": self.n, "sent_size": sent[0], "sent_root": sent[1],
                "received_size": got[0], "received_root": got[1],
                "verdict": self.verdict}  # fmt: skip


@dataclass(frozen=True)
class Step:
    record: dict[str, Any]
    record_ok: bool
    signature: str  # "valid" | "INVALID" | "unknown key" | "wrong signer" | "" (nothing signed)
    signer: str
    #: For a receipt naming the bytes it signs for: "matches" the bytes the hub logged as
    #: submitted, "DIFFERS" from them, or "" (no digest in the receipt, or no original here).
    receipt_check: str = ""
    #: For a receipt of a message with documents: each document, sent beside received.
    document_checks: tuple[DocumentCheck, ...] = ()

    @property
    def facts(self) -> dict[str, str]:
        return json.loads(self.record.get("facts") or "{}")

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "seq": r["seq"],
            "event_id": r["event_id"],
            "kind": r["kind"],
            "occurred_at": r["occurred_at"],
            "recorded_at": r["recorded_at"],
            "message_id": r["message_id"],
            "conversation_id": r["conversation_id"],
            "family": r["family"],
            "sender": r["sender"],
            "recipient": r["recipient"],
            "routed_to": r["routed_to"],
            "status": r["status"],
            "facts": self.facts,
            "record_intact": self.record_ok,
            "signature": self.signature or None,
            "signed_by": self.signer or None,
            "receipt_matches_sent": (
                None if not self.receipt_check else self.receipt_check == "matches"
            ),
            "documents": [d.to_json() for d in self.document_checks] or None,
        }


#: When a key was revoked (None: never).  A signature made before that instant stays valid.
Revocations = Callable[[str], datetime | None]


def signature_check(
    record: Mapping[str, Any], keys: KeyLookup, revoked: Revocations | None = None
) -> tuple[str, str]:
    """(verdict, signer) for the message a record describes."""
    if not record.get("signed"):
        return "", ""
    signed = SignedFields.from_json(json.loads(record["signed"]))
    owner = keys(signed.signing_key_id)
    if owner is None:
        return "unknown key", signed.signing_key_id
    address, public = owner
    facts = json.loads(record.get("facts") or "{}")
    # An SLA event's copy is signed by the hub operators, not by the creditor it names.
    sender = facts.get("copy_sender") or record.get("sender")
    if address != sender:
        return "wrong signer", address
    recipient = facts.get("copy_recipient") or record.get("recipient") or ""
    try:
        message = signed.structure(
            message_id=record["message_id"] or "",
            family="sla_event" if record["kind"].startswith("sla_") else record["family"] or "",
            sender=sender or "",
            recipient=recipient,
        )
    except ValueError:  # a scheme this hub does not know
        return "INVALID", address
    ok = verify(public, signed.signature, message)
    if not ok:
        return "INVALID", address
    at = revoked(signed.signing_key_id) if revoked is not None else None
    if at is not None and signed.created_at >= at:
        return "signed after the key's revocation", address
    return "valid", address


def build_trail(
    records: list[dict[str, Any]],
    predecessor_hash: Callable[[int], str],
    keys: KeyLookup,
    revoked: Revocations | None = None,
    suite: Suite = suites.INTL,
) -> list[Step]:
    steps = []
    prev_seq: int | None = None
    prev_hash = ""
    for r in records:
        # Consecutive records of the trail need no lookup: the previous one's hash is known.
        expected_prev = prev_hash if prev_seq == r["seq"] - 1 else predecessor_hash(r["seq"])
        intact = (
            r["prev_hash"] == expected_prev and record_hash(r["prev_hash"], r, suite) == r["hash"]
        )
        verdict, signer = signature_check(r, keys, revoked)
        steps.append(Step(r, intact, verdict, signer))
        prev_seq, prev_hash = r["seq"], r["hash"]
    return _check_receipts(steps)


def _labelled(facts: dict[str, str], prefix: str) -> str | None:
    """``<prefix>_digest`` (labelled with its hash), or an older record's ``<prefix>_sha256``
    labelled as such, so a receipt of either age is compared with a submission of either age."""
    if facts.get(f"{prefix}_digest"):
        return facts[f"{prefix}_digest"]
    old = facts.get(f"{prefix}_sha256")
    return f"sha256:{old}" if old else None


def _check_receipts(steps: list[Step]) -> list[Step]:
    """Compare each receipt's digest with the bytes the hub logged as submitted for its original."""
    sent: dict[str, set[str]] = {}
    manifests: dict[str, dict[int, tuple[int, str]]] = {}
    for s in steps:
        digest = _labelled(s.facts, "envelope")
        if s.record["kind"] == "submitted" and digest:
            sent.setdefault(s.record["message_id"] or "", set()).add(digest)
            if s.facts.get("documents"):
                manifests[s.record["message_id"] or ""] = parse_documents_fact(s.facts["documents"])
    out = []
    for s in steps:
        claimed = _labelled(s.facts, "original") if s.record["kind"] == "receipt" else None
        original = s.record.get("conversation_id") or ""
        if claimed and original in sent:
            s = replace(s, receipt_check="matches" if claimed in sent[original] else "DIFFERS")
        if s.record["kind"] == "receipt" and original in manifests:
            manifest = manifests[original]
            got = parse_documents_fact(s.facts.get("documents", ""))
            checks = tuple(
                DocumentCheck(n, manifest.get(n), got.get(n)) for n in sorted({*manifest, *got})
            )
            s = replace(s, document_checks=checks)
        out.append(s)
    return out


def documents_line(step: Step) -> str:
    """Per document, for people: size and digest sent, and what the receipt says of it."""
    if step.document_checks:
        return "; ".join(
            f"document {d.n}: {_size(d.sent or d.received)} {d.verdict}"
            for d in step.document_checks
        )
    docs = parse_documents_fact(step.facts.get("documents", ""))
    return "; ".join(
        f"document {n}: {_size((size, root))}" for n, (size, root) in sorted(docs.items())
    )


def _size(entry: tuple[int, str] | None) -> str:
    if entry is None:
        return "?"
    size, root = entry
    shown = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size:,} B"
    return f"{shown}, root {root[:12]}…"


def story(step: Step) -> str:
    """One line for people: what happened at this step."""
    r, f = step.record, step.facts
    kind = r["kind"]
    if kind == "submitted":
        docs = documents_line(step)
        docs = f" with {docs}" if docs else ""
        return f"{r['sender']} submitted {r['family'] or 'a record'} for {r['recipient']}{docs}"
    if kind == "routed":
        via = f" via {f.get('via')}" if f.get("via") else ""
        fb = " (fallback)" if f.get("fallback") == "true" else ""
        return f"routed to {r['routed_to']}{via}{fb}"
    if kind == "delivered":
        return f"written to {f.get('inbox', r['routed_to'])}"
    if kind == "dead_lettered":
        return f"dead-lettered: {f.get('reason')} ({f.get('detail', '')})"
    if kind in {"receipt", "accepted", "returned", "feedback", "closed"}:
        extra = ""
        if kind == "closed" and f.get("result"):
            extra = f": {f['result']}"
            if f.get("recovered_fen"):
                extra += f", recovered {int(f['recovered_fen']) / 100:.2f} yuan"
        if step.receipt_check:
            extra = (
                ", for the exact bytes sent"
                if step.receipt_check == "matches"
                else ", for bytes that DIFFER from those sent"
            )
        if step.document_checks:
            extra += "; " + documents_line(step)
        return f"{kind} signed by {r['sender']}{extra}"
    if kind.startswith("sla_"):
        due = parse_iso(f["due_at"]).strftime("%Y-%m-%d %H:%M") if f.get("due_at") else "?"
        to = f", to {f['escalated_to']}" if f.get("escalated_to") else ""
        return f"{kind[4:].upper()} on {f.get('stage')} owed by {r['recipient']} (due {due}){to}"
    if kind == "dlq_replayed":
        return f"replayed from the dead letters ({f.get('replay_of', '')[:12]})"
    if kind == "console_look":
        return f"looked at in the console by {f.get('officer')} ({f.get('outcome')})"
    if kind == "duplicate_ignored":
        return "submitted again; already delivered, ignored"
    return kind
