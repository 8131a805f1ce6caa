"""The envelope: who sends what to whom, signed by the sender, carried as Avro.

``seal`` builds and signs one; ``read_envelope`` turns bytes back into an :class:`Envelope`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from hub.core.clock import now_utc
from hub.trust.address import Address
from hub.trust.keys import SigningKey
from hub.wire import codec
from hub.wire.schemas import SchemaRegistry, SchemaVersion

ENVELOPE_STEM = "envelope"
#: Message, correlation and causation ids: 1 to 64 ASCII characters of a small alphabet, so they
#: fit every column, log line and header that carries them, and cannot smuggle control text.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ : - (starting with a letter or digit)"
SIGNATURE_SCHEME = b"hub-sig-v1"


@dataclass(frozen=True)
class Envelope:
    message_id: str
    family: str
    schema_version: int
    sender: Address
    recipient: Address
    created_at: datetime
    payload: bytes
    signing_key_id: str = ""
    signature: bytes = b""
    correlation_id: str | None = None
    causation_id: str | None = None
    encryption: dict[str, Any] | None = None

    @property
    def conversation_id(self) -> str:
        """The hand-off this message belongs to: its own id, or the one it answers."""
        return self.correlation_id or self.message_id

    def to_record(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "family": self.family,
            "schema_version": self.schema_version,
            "sender": self.sender.to_record(),
            "recipient": self.recipient.to_record(),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "created_at": self.created_at,
            "payload": self.payload,
            "encryption": self.encryption,
            "signing_key_id": self.signing_key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Envelope:
        return cls(
            message_id=r["message_id"],
            family=r["family"],
            schema_version=r["schema_version"],
            sender=Address(**r["sender"]),
            recipient=Address(**r["recipient"]),
            created_at=r["created_at"],
            payload=r["payload"],
            signing_key_id=r["signing_key_id"],
            signature=r["signature"],
            correlation_id=r.get("correlation_id"),
            causation_id=r.get("causation_id"),
            encryption=r.get("encryption"),
        )

    def id_problems(self) -> list[str]:
        """Ids off the id alphabet, named without echoing them (they are unauthenticated)."""
        out = []
        for name in ("message_id", "correlation_id", "causation_id"):
            value = getattr(self, name)
            if value is None and name != "message_id":
                continue
            if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
                size = len(value) if isinstance(value, str) else 0
                out.append(f"{name} must be {ID_RULE}; it has {size} characters")
        return out

    def content_digest(self) -> str:
        """What makes two submissions the same message: all the sender decided, not when it signed.

        SHA-256 over the length-prefixed id, family, schema version, parties, correlation,
        causation and payload digest.  A connector retrying a send with the same id re-signs at a
        new instant, so ``created_at`` and the signature stay out; anything else that differs makes
        a reused id a conflict, not a repeat.
        """
        h = hashlib.sha256()
        for part in (
            "hub-content-v1",
            self.message_id,
            self.family,
            str(self.schema_version),
            str(self.sender),
            str(self.recipient),
            self.correlation_id or "",
            self.causation_id or "",
            hashlib.sha256(self.payload).hexdigest(),
        ):
            data = part.encode()
            h.update(len(data).to_bytes(4, "big") + data)
        return h.hexdigest()

    def signing_bytes(self) -> bytes:
        """The exact bytes the sender signs (documented in the README as hub-sig-v1).

        A line-oriented text form rather than the Avro body, so an agency can verify a signature
        in any language without re-encoding, and a later envelope version cannot change it.
        """
        return signing_string(
            message_id=self.message_id,
            family=self.family,
            schema_version=self.schema_version,
            sender=str(self.sender),
            recipient=str(self.recipient),
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            created_at=self.created_at,
            signing_key_id=self.signing_key_id,
            payload_sha256=hashlib.sha256(self.payload).hexdigest(),
        )


def signing_string(
    *,
    message_id: str,
    family: str,
    schema_version: int,
    sender: str,
    recipient: str,
    correlation_id: str | None,
    causation_id: str | None,
    created_at: datetime,
    signing_key_id: str,
    payload_sha256: str,
) -> bytes:
    """hub-sig-v1 from its fields; the payload enters only as its SHA-256, so a signature can be
    re-verified from metadata alone (the audit log does)."""
    millis = int(created_at.timestamp() * 1000)
    lines = [
        SIGNATURE_SCHEME,
        message_id.encode(),
        family.encode(),
        str(schema_version).encode(),
        sender.encode(),
        recipient.encode(),
        (correlation_id or "").encode(),
        (causation_id or "").encode(),
        str(millis).encode(),
        signing_key_id.encode(),
        payload_sha256.encode(),
    ]
    return b"\n".join(lines)


def envelope_schema(registry: SchemaRegistry) -> SchemaVersion:
    return registry.latest(ENVELOPE_STEM)


def seal(
    registry: SchemaRegistry,
    *,
    family: str,
    payload_schema: SchemaVersion,
    payload: dict[str, Any],
    sender: Address,
    recipient: Address,
    key: SigningKey,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    message_id: str | None = None,
    created_at: datetime | None = None,
) -> tuple[Envelope, bytes]:
    """Encode ``payload``, wrap it in a signed envelope; returns the envelope and its wire bytes."""
    env = Envelope(
        message_id=message_id or str(uuid.uuid4()),
        family=family,
        schema_version=payload_schema.version,
        sender=sender,
        recipient=recipient,
        created_at=created_at or now_utc(),
        payload=codec.encode(payload_schema, payload),
        signing_key_id=key.key_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    env = replace(env, signature=key.sign(env.signing_bytes()))
    return env, encode_envelope(registry, env)


def encode_envelope(registry: SchemaRegistry, env: Envelope) -> bytes:
    return codec.encode(envelope_schema(registry), env.to_record())


def read_envelope(registry: SchemaRegistry, data: bytes) -> Envelope:
    """Decode wire bytes into an Envelope; raises ``codec.CodecError`` with a reason code."""
    writer = codec.writer_of(registry, data)
    if writer.stem != ENVELOPE_STEM:
        raise codec.CodecError(
            "not_an_envelope", f"bytes are a {writer.label} record, not an envelope"
        )
    _, record = codec.decode(registry, data, envelope_schema(registry))
    return Envelope.from_record(record)
