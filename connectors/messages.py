"""What a connector hands its caller: verified, decoded inbox messages, and references to answer.

:func:`open_record` is the recipient's end-to-end check: the envelope decodes, its signing key
is a key of its sender in the directory, the signature verifies and the payload decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from connectors.documents import ReceivedDocument, descriptors
from hub.core.errors import TrustError
from hub.core.text import shown
from hub.routing.freshness import Freshness
from hub.routing.resolve import resolve
from hub.trust import e2e
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import verify
from hub.trust.regions import ancestors
from hub.trust.suites import PublicKey, envelope_digest
from hub.wire import codec, headers
from hub.wire.documents import DocumentError
from hub.wire.envelope import Envelope, read_envelope
from hub.wire.families import check_payload, family
from hub.wire.jsonpayload import to_json
from hub.wire.schemas import SchemaRegistry


class VerificationError(TrustError):
    """An inbox record that fails end-to-end verification (should never pass the router)."""


class RefusedPayload(VerificationError):
    """An encrypted payload from a verified sender that fails the checks the router could not
    make: the recipient answers it (``Answering.refuse``) so the sender and the ledger know."""

    def __init__(self, message: str, original: OriginalRef) -> None:
        super().__init__(message)
        self.original = original


@dataclass(frozen=True)
class InboxMessage:
    envelope: Envelope
    payload: dict[str, Any]
    topic: str
    partition: int
    offset: int
    via: str  # "direct" or "fallback"
    #: The envelope bytes as they arrived, digested in the envelope's suite and labelled
    #: (``sha256:…``, ``sm3:…``): what a receipt signs for.
    raw_digest: str = ""
    #: Its documents as their descriptors say; each with the path it was saved to once read.
    documents: tuple[ReceivedDocument, ...] = ()
    #: The hub's ``hub-chunks`` header: where the documents' chunks lie (not trusted).
    chunk_places: bytes | None = None

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
            "documents": [d.to_json() for d in self.documents],
        }


@dataclass(frozen=True)
class OriginalRef:
    """The message being answered, when the caller does not hold its InboxMessage."""

    message_id: str
    sender: Address
    #: The original's family, when known (a processing report may be required for it).
    family: str = ""


Answerable = InboxMessage | OriginalRef


def original_ref(original: Answerable) -> OriginalRef:
    if isinstance(original, InboxMessage):
        return OriginalRef(original.message_id, original.envelope.sender, original.family)
    return original


@dataclass(frozen=True)
class RejectedRecord:
    """An inbox record that failed the connector's checks: skipped, reported, never handled."""

    topic: str
    partition: int
    offset: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"rejected": f"{self.topic}/{self.partition}@{self.offset}", "reason": self.reason}

    def to_tuple(self) -> tuple[str, int, int, str]:
        return (self.topic, self.partition, self.offset, self.reason)


def open_record(
    registry: SchemaRegistry,
    directory: Directory,
    record: Any,
    *,
    me: Address | None = None,
    freshness: Freshness | None = None,
    decryption_keys: Sequence[EncryptionKey] = (),
) -> InboxMessage:
    """Verify and decode one inbox record, with the router's own checks; raises
    VerificationError (and nothing else) for a record that fails them.

    The checks: the bytes decode to an envelope with well-formed ids; its key belongs to its
    sender and is not revoked; the signature verifies; the envelope is addressed to ``me`` or,
    delivered by fallback, to a region below it of the same agency; it was created within the
    freshness window of the moment the record reached this inbox (with one window more, for the
    time it may have waited in hub.ingress); the payload decodes — after decryption with one of
    ``decryption_keys`` when it is encrypted, in which case the schema and field checks the
    router could not make are made here.
    """
    try:
        return _open(registry, directory, record, me, freshness, decryption_keys)
    except VerificationError:
        raise
    except Exception as exc:  # whatever the bytes did to a decoder: a rejection, not a crash
        raise VerificationError(f"unreadable record ({type(exc).__name__})") from exc


def _open(
    registry: SchemaRegistry,
    directory: Directory,
    record: Any,
    me: Address | None,
    freshness: Freshness | None,
    decryption_keys: Sequence[EncryptionKey],
) -> InboxMessage:
    try:
        env = read_envelope(registry, record.value)
    except codec.CodecError as exc:
        raise VerificationError(f"{exc.reason}: {exc.detail}") from exc
    problems = env.id_problems()
    if problems:
        raise VerificationError("invalid_id: " + "; ".join(problems))
    owner = directory.key_owner(env.signing_key_id)
    public = directory.public_key(env.signing_key_id)
    if owner is None or owner[0] != env.sender or public is None:
        raise VerificationError(f"key {shown(env.signing_key_id)} is not a key of {env.sender}")
    if owner[1].status == "revoked":
        raise VerificationError(f"key {env.signing_key_id} of {env.sender} is revoked")
    try:
        signed = env.signing_bytes()
    except ValueError as exc:  # an unknown scheme, or hub-sig-v1 over an encryption header
        raise VerificationError(f"signature of {env.message_id}: {exc}") from exc
    if not verify(public, env.signature, signed):
        raise VerificationError(f"signature of {env.message_id} does not verify")
    if me is not None and not _for_me(env.recipient, me):
        raise VerificationError(f"{env.message_id} is addressed to {env.recipient}, not {me}")
    arrived = getattr(record, "timestamp", None)
    if freshness is not None and isinstance(arrived, int) and arrived > 0:
        at = datetime.fromtimestamp(arrived / 1000, UTC)
        late = replace(freshness, max_age=freshness.max_age * 2).problem(env.created_at, at)
        if late is not None:
            raise VerificationError(f"{late[0].value}: {late[1]}")
    body = env.payload
    if env.encryption is not None:
        body = _decrypt(env, decryption_keys)
    try:
        writer, payload = codec.decode(registry, body)
    except codec.CodecError as exc:
        raise VerificationError(f"payload of {env.message_id}: {exc.detail}") from exc
    if env.encryption is not None:
        # The router could not look inside: the schema and field checks happen here.
        fam = family(env.family)
        ref = OriginalRef(env.message_id, env.sender)
        if fam is None or writer.stem != fam.schema_stem or writer.version != env.schema_version:
            raise RefusedPayload(
                f"schema_mismatch: {env.family} v{env.schema_version} carries {writer.label}", ref
            )
        problems = check_payload(fam, payload, env)
        if problems:
            raise RefusedPayload("invalid_payload: " + "; ".join(problems), ref)
    via = "direct"
    places: bytes | None = None
    for k, v in record.headers or ():
        if k == headers.VIA and bytes(v) == b"fallback":
            via = "fallback"
        elif k == headers.CHUNKS:
            places = bytes(v)
    try:
        documents = descriptors(env, decryption_keys)
    except DocumentError as exc:
        raise VerificationError(f"{exc.reason}: {exc}") from exc
    return InboxMessage(
        env,
        payload,
        record.topic,
        record.partition,
        record.offset,
        via,
        envelope_digest(env.signing_key_id, bytes(record.value or b"")),
        documents,
        places,
    )


def encryption_target(directory: Directory, recipient: Address) -> tuple[str, PublicKey]:
    """The key a payload for ``recipient`` is encrypted to: that of the connector the hub will
    deliver it to (on a fallback, the supervising level's), found as the router finds it."""
    route = resolve(directory, recipient)
    if route is None:
        raise ValueError(f"no connector for {recipient} nor at any level above it")
    entry = directory.connectors[route.inbox].encryption_key()
    if entry is None:
        raise ValueError(f"{route.inbox} has no encryption key in the directory")
    return entry.key_id, e2e.load_encryption_public(entry.public_key)


def _decrypt(env: Envelope, keys: Sequence[EncryptionKey]) -> bytes:
    wanted = str((env.encryption or {}).get("recipient_key_id", ""))
    key = next((k for k in keys if k.key_id == wanted), None)
    if key is None:
        raise VerificationError(
            f"{env.message_id} is encrypted for key {shown(wanted, 40)}, which this connector "
            "does not hold"
        )
    try:
        return e2e.decrypt(env.encryption or {}, env.payload, key, env.e2e_context())
    except e2e.DecryptionError as exc:
        raise VerificationError(f"{env.message_id}: {exc}") from exc


def _for_me(recipient: Address, me: Address) -> bool:
    if recipient == me:
        return True
    return recipient.agency == me.agency and me.region in ancestors(recipient.region)
