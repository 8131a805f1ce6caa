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
from hub.core.errors import ContractError
from hub.trust import e2e
from hub.trust.address import Address
from hub.trust.keys import SigningKey
from hub.trust.suites import PublicKey
from hub.wire import codec
from hub.wire.documents import DocumentRef, manifest_digest
from hub.wire.schemas import SchemaRegistry, SchemaVersion
from hub.wire.signing import (
    SIG_V1,
    SIG_V2,
    SIG_V3,
    SignedStructure,
    encryption_digest,
    scheme_suite,
)

ENVELOPE_STEM = "envelope"
#: Message, correlation and causation ids: 1 to 64 ASCII characters of a small alphabet, so they
#: fit every column, log line and header that carries them, and cannot smuggle control text.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ : - (starting with a letter or digit)"


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
    #: What ``signature`` signs: hub-sig-v2 for everything sealed now; hub-sig-v1 is what an
    #: envelope written before v2 decodes to, verifiable but refused on new ingress.
    signature_scheme: str = SIG_V2
    #: The signed manifest of the documents that travel with the message (hub.wire.documents).
    documents: tuple[DocumentRef, ...] = ()

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
            "signature_scheme": self.signature_scheme,
            "documents": [d.to_record() for d in self.documents],
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
            signature_scheme=r.get("signature_scheme", SIG_V1),
            documents=tuple(DocumentRef.from_record(d) for d in r.get("documents") or ()),
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
            # Only when there are documents: the digest of every message without stays as it was.
            *([self.manifest_sha256() or ""] if self.documents else []),
        ):
            data = part.encode()
            h.update(len(data).to_bytes(4, "big") + data)
        return h.hexdigest()

    def manifest_sha256(self) -> str | None:
        """The manifest digest the signature covers (SHA-256, or SM3 under hub-sig-sm2-v1);
        None for a message without documents."""
        if not self.documents:
            return None
        return manifest_digest(list(self.documents), scheme_suite(self.signature_scheme))

    def payload_digest(self) -> str:
        """The payload's digest the signature covers (SHA-256, or SM3 under hub-sig-sm2-v1)."""
        return scheme_suite(self.signature_scheme).digest(self.payload).hex()

    def e2e_context(self, key_id: str | None = None) -> bytes:
        """The HPKE ``info`` of this envelope's encrypted payload (``hub.trust.e2e.context``);
        with ``key_id``, that of documents sealed to that key beside a payload in clear."""
        return e2e.context(
            message_id=self.message_id,
            family=self.family,
            schema_version=self.schema_version,
            sender=str(self.sender),
            recipient=str(self.recipient),
            key_id=key_id
            if key_id is not None
            else str((self.encryption or {}).get("recipient_key_id", "")),
        )

    def encryption_sha256(self) -> str | None:
        """The digest of the encryption header in its canonical form (SHA-256, or SM3 under
        hub-sig-sm2-v1); None when there is none."""
        return encryption_digest(self.encryption, scheme_suite(self.signature_scheme))

    def signing_bytes(self) -> bytes:
        """The exact bytes the sender signs, by ``signature_scheme`` (README: hub-sig-v2).

        Built from fields, never from the Avro body, so an agency can verify a signature in any
        language without re-encoding, and a later envelope version cannot change it.  Raises
        ``ValueError`` for a scheme this hub does not know.
        """
        fields = SignedStructure(
            scheme=self.signature_scheme,
            message_id=self.message_id,
            family=self.family,
            schema_version=self.schema_version,
            sender=str(self.sender),
            recipient=str(self.recipient),
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
            created_at=self.created_at,
            signing_key_id=self.signing_key_id,
            payload_sha256=self.payload_digest(),
            encryption_sha256=self.encryption_sha256(),
            manifest_sha256=self.manifest_sha256(),
        )
        return fields.to_bytes()


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
    encrypt_to: tuple[str, PublicKey] | None = None,
    documents: tuple[DocumentRef, ...] = (),
) -> tuple[Envelope, bytes]:
    """Encode ``payload``, wrap it in a signed envelope; returns the envelope and its wire bytes.

    With ``encrypt_to`` (the receiving connector's encryption key id and public key) the payload
    travels encrypted in that key's suite, bound to this envelope (``hub.trust.e2e``), and the
    signature covers the encryption header and the ciphertext's digest.
    """
    message_id = message_id or str(uuid.uuid4())
    encoded = codec.encode(payload_schema, payload)
    header = None
    if encrypt_to is not None:
        key_id, public = encrypt_to
        info = e2e.context(
            message_id=message_id,
            family=family,
            schema_version=payload_schema.version,
            sender=str(sender),
            recipient=str(recipient),
            key_id=key_id,
        )
        header, encoded = e2e.encrypt(encoded, public, key_id, info)
    env = Envelope(
        message_id=message_id,
        family=family,
        schema_version=payload_schema.version,
        sender=sender,
        recipient=recipient,
        created_at=created_at or now_utc(),
        payload=encoded,
        signing_key_id=key.key_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        encryption=header,
        documents=documents,
        signature_scheme=signature_scheme(key, documents=bool(documents)),
    )
    problems = env.id_problems()
    if problems:  # a connector never signs what the router would dead-letter as invalid_id
        raise ContractError("; ".join(problems), reason="invalid_id")
    env = replace(env, signature=key.sign(env.signing_bytes()))
    return env, encode_envelope(registry, env)


def signature_scheme(key: SigningKey, *, documents: bool) -> str:
    """What a key of its suite signs a new envelope with."""
    scheme = key.suite.envelope_scheme
    return SIG_V3 if scheme == SIG_V2 and documents else scheme


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
