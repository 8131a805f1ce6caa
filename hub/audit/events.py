"""Audit events: the facts the hub tells the transfer log (on ``hub.audit``, or as fact rows).

Everything here is metadata: addresses, ids, times, reason codes, and, for a message, the
hub-sig-v1 fields besides its payload (the payload's SHA-256 stands in for it), so that its
signature can be re-verified from the log alone.  Payload facts come from an allow-list
(``facts_of``) of enums, ids and sums; names, ID numbers, free text never enter.  A subject's
credit code or ID number appears only as a keyed hash (``subject_ref``), which lets the weekly
report count distinct institutions and persons without holding who they are: an unkeyed hash
of an 18-digit ID number could be reversed by trying every birth date and serial.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.audit.kinds import (
    ACCEPTED as ACCEPTED,
)
from hub.audit.kinds import (
    CLOSED as CLOSED,
)
from hub.audit.kinds import (
    CONSOLE_LOOK as CONSOLE_LOOK,
)
from hub.audit.kinds import (
    DEAD_LETTERED as DEAD_LETTERED,
)
from hub.audit.kinds import (
    DELIVERED as DELIVERED,
)
from hub.audit.kinds import (
    DLQ_REPLAYED as DLQ_REPLAYED,
)
from hub.audit.kinds import (
    DUPLICATE_IGNORED as DUPLICATE_IGNORED,
)
from hub.audit.kinds import (
    FEEDBACK as FEEDBACK,
)
from hub.audit.kinds import (
    KEY_REGISTERED as KEY_REGISTERED,
)
from hub.audit.kinds import (
    KINDS as KINDS,
)
from hub.audit.kinds import (
    QUARANTINED as QUARANTINED,
)
from hub.audit.kinds import (
    RECEIPT as RECEIPT,
)
from hub.audit.kinds import (
    RETURNED as RETURNED,
)
from hub.audit.kinds import (
    ROUTED as ROUTED,
)
from hub.audit.kinds import (
    SLA_KINDS as SLA_KINDS,
)
from hub.audit.kinds import (  # re-exported: callers name them ev.ROUTED and so on
    SUBMITTED as SUBMITTED,
)
from hub.audit.kinds import (
    UNREADABLE as UNREADABLE,
)
from hub.audit.kinds import (
    WEEKLY_REPORT as WEEKLY_REPORT,
)
from hub.core.clock import as_utc, iso_ms, parse_iso
from hub.trust import suites
from hub.trust.suites import identifier
from hub.wire.envelope import Envelope
from hub.wire.families import family as family_of
from hub.wire.signing import SIG_V1, SignedStructure


@dataclass(frozen=True)
class SignedFields:
    """The signed fields not already in the event, enough to re-verify the signature."""

    schema_version: int
    created_at: datetime
    signing_key_id: str
    payload_sha256: str
    signature: bytes
    correlation_id: str | None = None
    causation_id: str | None = None
    scheme: str = SIG_V1
    encryption_sha256: str | None = None
    manifest_sha256: str | None = None  # hub-sig-v3: the documents' manifest

    @classmethod
    def of(cls, env: Envelope) -> SignedFields:
        return cls(
            schema_version=env.schema_version,
            created_at=env.created_at,
            signing_key_id=env.signing_key_id,
            payload_sha256=env.payload_digest(),
            signature=env.signature,
            correlation_id=env.correlation_id,
            causation_id=env.causation_id,
            scheme=env.signature_scheme,
            encryption_sha256=env.encryption_sha256(),
            manifest_sha256=env.manifest_sha256(),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "created_at": self.created_at,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "signing_key_id": self.signing_key_id,
            "payload_sha256": self.payload_sha256,
            "signature": self.signature,
            "scheme": self.scheme,
            "encryption_sha256": self.encryption_sha256,
            "manifest_sha256": self.manifest_sha256,
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> SignedFields:
        return cls(
            schema_version=r["schema_version"],
            created_at=as_utc(r["created_at"]),
            signing_key_id=r["signing_key_id"],
            payload_sha256=r["payload_sha256"],
            signature=bytes(r["signature"]),
            correlation_id=r.get("correlation_id"),
            causation_id=r.get("causation_id"),
            scheme=r.get("scheme") or SIG_V1,
            encryption_sha256=r.get("encryption_sha256"),
            manifest_sha256=r.get("manifest_sha256"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "created_at": iso_ms(self.created_at),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "signing_key_id": self.signing_key_id,
            "payload_sha256": self.payload_sha256,
            "signature": self.signature.hex(),
        }
        # A hub-sig-v1 record keeps exactly the form it was hashed in before v2 existed.
        if self.scheme != SIG_V1:
            out["scheme"] = self.scheme
            out["encryption_sha256"] = self.encryption_sha256
        # Likewise a hub-sig-v2 record keeps the form it had before v3.
        if self.manifest_sha256 is not None:
            out["manifest_sha256"] = self.manifest_sha256
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SignedFields:
        return cls(
            schema_version=int(d["schema_version"]),
            created_at=parse_iso(d["created_at"]),
            signing_key_id=d["signing_key_id"],
            payload_sha256=d["payload_sha256"],
            signature=bytes.fromhex(d["signature"]),
            correlation_id=d.get("correlation_id"),
            causation_id=d.get("causation_id"),
            scheme=d.get("scheme") or SIG_V1,
            encryption_sha256=d.get("encryption_sha256"),
            manifest_sha256=d.get("manifest_sha256"),
        )

    def structure(self, *, message_id: str, family: str, sender: str, recipient: str) -> bytes:
        """The bytes the signature covers, rebuilt from these fields and the event's."""
        return SignedStructure(
            scheme=self.scheme,
            message_id=message_id,
            family=family,
            schema_version=self.schema_version,
            sender=sender,
            recipient=recipient,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            created_at=self.created_at,
            signing_key_id=self.signing_key_id,
            payload_sha256=self.payload_sha256,
            encryption_sha256=self.encryption_sha256,
            manifest_sha256=self.manifest_sha256,
        ).to_bytes()


@dataclass(frozen=True)
class AuditEvent:
    event_id: str
    kind: str
    occurred_at: datetime
    message_id: str | None = None
    conversation_id: str | None = None
    family: str | None = None
    sender: str | None = None
    recipient: str | None = None
    routed_to: str | None = None
    status: str | None = None
    signed: SignedFields | None = None
    facts: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "occurred_at": self.occurred_at,
            "message_id": self.message_id,
            "conversation_id": self.conversation_id,
            "family": self.family,
            "sender": self.sender,
            "recipient": self.recipient,
            "routed_to": self.routed_to,
            "status": self.status,
            "signed": self.signed.to_record() if self.signed else None,
            "facts": dict(self.facts),
        }

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> AuditEvent:
        return cls(
            event_id=r["event_id"],
            kind=r["kind"],
            occurred_at=as_utc(r["occurred_at"]),
            message_id=r.get("message_id"),
            conversation_id=r.get("conversation_id"),
            family=r.get("family"),
            sender=r.get("sender"),
            recipient=r.get("recipient"),
            routed_to=r.get("routed_to"),
            status=r.get("status"),
            signed=SignedFields.from_record(r["signed"]) if r.get("signed") else None,
            facts={str(k): str(v) for k, v in (r.get("facts") or {}).items()},
        )

    def with_envelope(self, env: Envelope) -> AuditEvent:
        """This event carrying the message's identity and signed fields."""
        return replace(
            self,
            message_id=env.message_id,
            conversation_id=env.conversation_id,
            family=env.family,
            sender=str(env.sender),
            recipient=str(env.recipient),
            signed=SignedFields.of(env),
        )


def event_id(kind: str, *parts: object) -> str:
    """A stable id: the same fact seen twice (a redelivered record) gets the same id."""
    text = "\n".join([kind, *("" if p is None else str(p) for p in parts)])
    return f"{kind}:{identifier(text.encode())[:32]}"


# -- payload facts: an allow-list, never free text ---------------------------------------------


class SubjectRef:
    """Keyed hash of a subject's identifying code: HMAC with the hub's audit secret and the
    deployment suite's hash (SHA-256, or SM3 under gm)."""

    def __init__(self, secret: bytes, suite: str = suites.DEFAULT) -> None:
        self._secret = secret
        self._suite = suites.by_name(suite)

    def __call__(self, *parts: str | None) -> str:
        text = "|".join(p.strip().upper() for p in parts if p)
        return self._suite.mac(self._secret, text.encode()).hex()[:32]

    @classmethod
    def from_file(cls, path: Path, suite: str = suites.DEFAULT) -> SubjectRef:
        """The secret in ``path`` (created, 0600, on first use)."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        return cls(bytes.fromhex(path.read_text().strip()), suite)


def facts_of(
    family: str, payload: Mapping[str, Any] | None, subject_ref: SubjectRef
) -> dict[str, str]:
    """The non-personal facts of a payload that compliance and the weekly report need.

    Each family names its own allow-list (``Family.facts`` in ``hub.wire.families``).
    """
    fam = family_of(family)
    return fam.facts(payload or {}, subject_ref) if fam is not None else {}


def reply_kind(family: str, payload: Mapping[str, Any] | None) -> str | None:
    """The lifecycle event kind a reply is logged as (acceptance splits by its decision)."""
    fam = family_of(family)
    if fam is None or fam.audit_kind is None:
        return None
    return fam.audit_kind(payload or {})
