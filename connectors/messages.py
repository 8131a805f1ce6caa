"""What a connector hands its caller: verified, decoded inbox messages, and references to answer.

:func:`open_record` is the recipient's end-to-end check: the envelope decodes, its signing key
is a key of its sender in the directory, the signature verifies and the payload decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.core.errors import TrustError
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.keys import verify
from hub.wire import codec, headers
from hub.wire.envelope import Envelope, read_envelope
from hub.wire.jsonpayload import to_json
from hub.wire.schemas import SchemaRegistry


class VerificationError(TrustError):
    """An inbox record that fails end-to-end verification (should never pass the router)."""


@dataclass(frozen=True)
class InboxMessage:
    envelope: Envelope
    payload: dict[str, Any]
    topic: str
    partition: int
    offset: int
    via: str  # "direct" or "fallback"

    @property
    def message_id(self) -> str:
        return self.envelope.message_id

    @property
    def family(self) -> str:
        return self.envelope.family

    def to_json(self) -> dict[str, Any]:
        env = self.envelope
        return {
            "id": env.message_id,
            "family": env.family,
            "schema_version": env.schema_version,
            "sender": str(env.sender),
            "recipient": str(env.recipient),
            "correlation_id": env.correlation_id,
            "causation_id": env.causation_id,
            "created_at": to_json(env.created_at),
            "via": self.via,
            "payload": to_json(self.payload),
        }


@dataclass(frozen=True)
class OriginalRef:
    """The message being answered, when the caller does not hold its InboxMessage."""

    message_id: str
    sender: Address


Answerable = InboxMessage | OriginalRef


def original_ref(original: Answerable) -> OriginalRef:
    if isinstance(original, InboxMessage):
        return OriginalRef(original.message_id, original.envelope.sender)
    return original


def open_record(registry: SchemaRegistry, directory: Directory, record: Any) -> InboxMessage:
    """Verify and decode one inbox record; raises VerificationError."""
    try:
        env = read_envelope(registry, record.value)
    except codec.CodecError as exc:
        raise VerificationError(f"{exc.reason}: {exc.detail}") from exc
    owner = directory.key_owner(env.signing_key_id)
    public = directory.public_key(env.signing_key_id)
    if owner is None or owner[0] != env.sender or public is None:
        raise VerificationError(f"key {env.signing_key_id} is not a key of {env.sender}")
    if not verify(public, env.signature, env.signing_bytes()):
        raise VerificationError(f"signature of {env.message_id} does not verify")
    try:
        _, payload = codec.decode(registry, env.payload)
    except codec.CodecError as exc:
        raise VerificationError(f"payload of {env.message_id}: {exc.detail}") from exc
    via = "direct"
    for k, v in record.headers or ():
        if k == headers.VIA:
            via = v.decode()
    return InboxMessage(env, payload, record.topic, record.partition, record.offset, via)
