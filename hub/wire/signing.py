"""The bytes an envelope's signature covers, by scheme (README: hub-sig-v2), built from fields
so that anyone can rebuild them without Avro, and the audit log can from metadata alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.trust import suites

SIG_V1 = "hub-sig-v1"
SIG_V2 = "hub-sig-v2"
#: hub-sig-v2 and the digest of the documents' manifest: what a message with documents is signed
#: with (one without keeps hub-sig-v2, so every verifier written for v2 still reads it).
SIG_V3 = "hub-sig-v3"
#: hub-sig-v2's structure, with or without documents, signed with SM2 over SM3 digests (the gm
#: suite's scheme): the digest fields hold SM3, not SHA-256.
SIG_SM2 = suites.GM.envelope_scheme
SCHEMES = frozenset({SIG_V1, SIG_V2, SIG_V3, SIG_SM2})


def scheme_suite(scheme: str) -> suites.Suite:
    """The suite whose hash makes a signed structure's digests: SM3 under hub-sig-sm2-v1,
    SHA-256 under the hub-sig-v* schemes."""
    return suites.GM if scheme == SIG_SM2 else suites.INTL


@dataclass(frozen=True)
class SignedStructure:
    """Every field a signature covers, the payload only as its digest, so a signature can be
    re-verified from metadata alone (the audit log does)."""

    scheme: str
    message_id: str
    family: str
    schema_version: int
    sender: str
    recipient: str
    correlation_id: str | None
    causation_id: str | None
    created_at: datetime
    signing_key_id: str
    payload_sha256: str
    encryption_sha256: str | None = None
    manifest_sha256: str | None = None

    def to_bytes(self) -> bytes:
        if self.scheme in (SIG_V2, SIG_V3) and (self.manifest_sha256 is not None) != (
            self.scheme == SIG_V3
        ):
            raise ValueError("documents are signed with hub-sig-v3, and only they")
        if self.scheme in (SIG_V2, SIG_V3, SIG_SM2):
            return self._v2()
        if self.scheme == SIG_V1:
            if self.encryption_sha256 is not None or self.manifest_sha256 is not None:
                raise ValueError("hub-sig-v1 cannot sign an encrypted envelope or documents")
            return signing_string(
                message_id=self.message_id,
                family=self.family,
                schema_version=self.schema_version,
                sender=self.sender,
                recipient=self.recipient,
                correlation_id=self.correlation_id,
                causation_id=self.causation_id,
                created_at=self.created_at,
                signing_key_id=self.signing_key_id,
                payload_sha256=self.payload_sha256,
            )
        raise ValueError(f"unknown signature scheme {self.scheme[:40]!r}")

    def _v2(self) -> bytes:
        """hub-sig-v2: each field as a 4-byte big-endian length and its UTF-8 bytes; an optional
        field as one byte 0 (absent) or 1 followed by the field.  No text can move from one field
        into another under the same signature, and an absent id differs from an empty one.
        hub-sig-v3 is the same with its own name first and the manifest digest last;
        hub-sig-sm2-v1 the same with its name first and the manifest digest last as an optional
        field, every digest SM3."""
        out = bytearray()

        def put(text: str) -> None:
            data = text.encode()
            out.extend(len(data).to_bytes(4, "big"))
            out.extend(data)

        def put_optional(text: str | None) -> None:
            if text is None:
                out.append(0)
            else:
                out.append(1)
                put(text)

        put(self.scheme)
        put(self.message_id)
        put(self.family)
        put(str(self.schema_version))
        put(self.sender)
        put(self.recipient)
        put_optional(self.correlation_id)
        put_optional(self.causation_id)
        put(str(int(self.created_at.timestamp() * 1000)))
        put(self.signing_key_id)
        put(self.payload_sha256)
        put_optional(self.encryption_sha256)
        if self.scheme == SIG_V3:
            put(self.manifest_sha256 or "")
        elif self.scheme == SIG_SM2:
            put_optional(self.manifest_sha256)
        return bytes(out)


def encryption_digest(
    header: dict[str, Any] | None, suite: suites.Suite = suites.INTL
) -> str | None:
    """Hex digest by ``suite``'s hash of an encryption header: its four fields length-prefixed
    in schema order."""
    if header is None:
        return None
    h = suite.hasher()
    for name in ("scheme", "recipient_key_id", "ephemeral_public_key", "nonce"):
        value = header.get(name)
        data = value if isinstance(value, bytes) else str(value or "").encode()
        h.update(len(data).to_bytes(4, "big") + data)
    return h.hexdigest()


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
    """hub-sig-v1 from its fields (envelopes written before hub-sig-v2): newline-joined, which is
    unambiguous only because ids are restricted to a newline-free alphabet."""
    millis = int(created_at.timestamp() * 1000)
    lines = [
        SIG_V1.encode(),
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
