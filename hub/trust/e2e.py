"""End-to-end payload encryption to the receiving connector, in the suite of the receiving
connector's encryption key (``hub.trust.suites``): ``intl`` seals with HPKE (RFC 9180, base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM), ``gm`` with SM4-GCM under a content key
SM2-encrypted to the recipient.

The sender encrypts the encoded payload to the receiving connector's encryption key (registered
in the directory with its own key id); the envelope's ``encryption`` header names the scheme,
that key id, the encapsulated (or wrapped) key and the nonce, and the sender's signature covers
the header and the ciphertext's digest.  So the hub verifies the sender without reading the
payload, and only the holder of the private key reads it.  The ``info`` (associated data) binds
the ciphertext to its envelope (ids, family, parties, key id): lifted into another envelope it
does not decrypt.

Private keys are PKCS#8 PEM files in the connector's key folder (0600), like signing keys; a
rotated key's private half is kept so older messages stay readable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from hub.core.errors import TrustError
from hub.trust import suites
from hub.trust.keys import HeldKey, load_public
from hub.trust.suites import DecryptionFailed, PublicKey, Sealed

#: The payload encryption schemes this hub carries, one per suite.
SCHEMES = frozenset(s.encryption_scheme for s in suites.SUITES.values())
#: Both suites' chunk ciphers are GCM with a 16-byte tag.
CHUNK_TAG_LEN = 16


class DecryptionError(TrustError):
    """A payload this connector cannot open: not for one of its keys, or altered."""


def encryption_key_id(public_raw: bytes) -> str:
    return suites.public_from_raw(public_raw, encryption=True).key_id


@dataclass(frozen=True)
class EncryptionKey(HeldKey):
    """A connector's key pair for receiving encrypted payloads."""

    encryption: ClassVar[bool] = True


def load_encryption_public(b64: str) -> PublicKey:
    return load_public(b64, encryption=True)


def length_prefixed(*parts: str) -> bytes:
    """Each part as a 4-byte big-endian length and its UTF-8 bytes: no text can move from one
    part into another (the shape of hub-sig-v2's fields, docs/wire-format.md)."""
    out = bytearray()
    for part in parts:
        data = part.encode()
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def context(
    *,
    message_id: str,
    family: str,
    schema_version: int,
    sender: str,
    recipient: str,
    key_id: str,
) -> bytes:
    """The ``info``: what the ciphertext is bound to, length-prefixed."""
    return length_prefixed(
        "hub-e2e-v1", message_id, family, str(schema_version), sender, recipient, key_id
    )


def encrypt(
    plaintext: bytes, public: PublicKey, key_id: str, info: bytes
) -> tuple[dict[str, Any], bytes]:
    """(the envelope's encryption header, the ciphertext that becomes its payload)."""
    sealed = public.suite.seal(plaintext, public, info)
    header = {
        "scheme": sealed.scheme,
        "recipient_key_id": key_id,
        "ephemeral_public_key": sealed.encapsulated,
        "nonce": sealed.nonce,  # HPKE derives its nonce from the key schedule: empty there
    }
    return header, sealed.ciphertext


def decrypt(header: dict[str, Any], ciphertext: bytes, key: EncryptionKey, info: bytes) -> bytes:
    scheme = str(header.get("scheme"))
    if scheme != key.suite.encryption_scheme:
        raise DecryptionError(f"encryption scheme {scheme[:40]!r} is not this key's")
    if header.get("recipient_key_id") != key.key_id:
        raise DecryptionError(f"encrypted for {header.get('recipient_key_id')}, not {key.key_id}")
    sealed = Sealed(scheme, key.key_id, bytes(header.get("ephemeral_public_key") or b""),
                    bytes(header.get("nonce") or b""), ciphertext)  # fmt: skip
    try:
        return key.suite.open(sealed, key.private, info)
    except DecryptionFailed as exc:
        raise DecryptionError("the payload does not decrypt with this key") from exc


# -- documents ------------------------------------------------------------------------------
# A document travels as chunks, each sealed with the suite's AEAD (AES-256-GCM, SM4-GCM) under a key
# of its own (random, one per document).  The key reaches the receiving connector inside the
# document's descriptor, sealed to the receiving connector's key always, whether or not the payload
# is (beside a clear payload the ``info`` names the key the sender sealed to, which the envelope
# does not): only the recipient reads the documents, never the hub.  Each chunk's nonce is its index
# (unique under a key used for one document only) and its associated data names the message, the
# parties, the document and the chunk's place: a chunk moved, swapped or replayed into another
# message does not open.


def new_document_key(suite: suites.Suite) -> bytes:
    return os.urandom(suite.content_key_len)


def document_info(payload_info: bytes, n: int) -> bytes:
    """The ``info`` of document ``n``'s descriptor: the payload's, and which document."""
    return payload_info + length_prefixed("hub-e2e-document-v1", str(n))


def seal_descriptor(descriptor: bytes, public: PublicKey, info: bytes) -> bytes:
    """A document's descriptor (name, media type, size, digest, key) sealed for the recipient,
    in the suite's packed form."""
    return public.suite.pack(public.suite.seal(descriptor, public, info))


def open_descriptor(sealed: bytes, key: EncryptionKey, info: bytes) -> bytes:
    try:
        return key.suite.open(key.suite.unpack(sealed, key.key_id), key.private, info)
    except DecryptionFailed as exc:
        raise DecryptionError("a document descriptor does not decrypt with this key") from exc


def chunk_aad(
    message_id: str, sender: str, recipient: str, n: int, index: int, count: int
) -> bytes:
    return length_prefixed(
        "hub-chunk-v1", message_id, sender, recipient, str(n), str(index), str(count)
    )


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def seal_chunk(suite: suites.Suite, key: bytes, index: int, plaintext: bytes, aad: bytes) -> bytes:
    return suite.aead_seal(key, _nonce(index), plaintext, aad)


def open_chunk(suite: suites.Suite, key: bytes, index: int, ciphertext: bytes, aad: bytes) -> bytes:
    try:
        return suite.aead_open(key, _nonce(index), ciphertext, aad)
    except DecryptionFailed as exc:
        raise DecryptionError(
            f"chunk {index} does not decrypt: altered, moved or replayed"
        ) from exc
