"""End-to-end payload encryption to the receiving connector: HPKE (RFC 9180), base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, from ``cryptography``.

The sender encrypts the encoded payload to the receiving connector's X25519 key (registered in
the directory with its own key id); the envelope's ``encryption`` header names the scheme, that
key id and the encapsulated key, and the sender's hub-sig-v2 signature covers the header and the
ciphertext's digest.  So the hub verifies the sender without reading the payload, and only the
holder of the private key reads it.  The HPKE ``info`` binds the ciphertext to its envelope (ids,
family, parties, key id): lifted into another envelope it does not decrypt.

Private keys are PKCS#8 PEM files in the connector's key folder (0600), like signing keys; a
rotated key's private half is kept so older messages stay readable.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from hub.core.errors import TrustError
from hub.trust.keys import load_private, save_private

SCHEME = "hpke-base-x25519-sha256-aes128gcm"
SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
ENC_LEN = 32  # an X25519 encapsulated key


class DecryptionError(TrustError):
    """A payload this connector cannot open: not for one of its keys, or altered."""


def encryption_key_id(public_raw: bytes) -> str:
    return "x25519:" + hashlib.sha256(public_raw).hexdigest()[:16]


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class EncryptionKey:
    """A connector's X25519 key pair for receiving encrypted payloads."""

    key_id: str
    private: X25519PrivateKey

    @classmethod
    def generate(cls) -> EncryptionKey:
        private = X25519PrivateKey.generate()
        return cls(encryption_key_id(_raw(private.public_key())), private)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(_raw(self.private.public_key())).decode()

    def save(self, path: Path) -> None:
        save_private(path, self.private)

    @classmethod
    def load(cls, path: Path) -> EncryptionKey:
        private = load_private(path)
        if not isinstance(private, X25519PrivateKey):
            raise ValueError(f"{path} is not an X25519 private key")
        return cls(encryption_key_id(_raw(private.public_key())), private)


def load_encryption_public(b64: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(base64.b64decode(b64))


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
    """The HPKE ``info``: what the ciphertext is bound to, length-prefixed."""
    return length_prefixed(
        "hub-e2e-v1", message_id, family, str(schema_version), sender, recipient, key_id
    )


def encrypt(
    plaintext: bytes, public: X25519PublicKey, key_id: str, info: bytes
) -> tuple[dict[str, Any], bytes]:
    """(the envelope's encryption header, the ciphertext that becomes its payload)."""
    sealed = SUITE.encrypt(plaintext, public, info=info)
    header = {
        "scheme": SCHEME,
        "recipient_key_id": key_id,
        "ephemeral_public_key": sealed[:ENC_LEN],
        "nonce": b"",  # HPKE derives the nonce from the key schedule
    }
    return header, sealed[ENC_LEN:]


def decrypt(header: dict[str, Any], ciphertext: bytes, key: EncryptionKey, info: bytes) -> bytes:
    if header.get("scheme") != SCHEME:
        raise DecryptionError(f"unknown encryption scheme {str(header.get('scheme'))[:40]!r}")
    if header.get("recipient_key_id") != key.key_id:
        raise DecryptionError(f"encrypted for {header.get('recipient_key_id')}, not {key.key_id}")
    enc = bytes(header.get("ephemeral_public_key") or b"")
    try:
        return SUITE.decrypt(enc + ciphertext, key.private, info=info)
    except Exception as exc:  # InvalidTag and friends: altered, or not for this key
        raise DecryptionError("the payload does not decrypt with this key") from exc


# -- documents ------------------------------------------------------------------------------
# A document travels as chunks, each sealed with AES-256-GCM under a key of its own (random, one
# per document).  The key reaches the receiving connector inside the document's descriptor,
# sealed with the same HPKE suite and key as the payload; so only the payload's reader reads the
# documents.  Each chunk's nonce is its index (unique under a key used for one document only)
# and its associated data names the message, the parties, the document and the chunk's place:
# a chunk moved, swapped or replayed into another message does not open.

DOCUMENT_SCHEME = "hpke-wrapped-aes256gcm-chunks"
DOCUMENT_KEY_LEN = 32
CHUNK_TAG_LEN = 16


def new_document_key() -> bytes:
    import os

    return os.urandom(DOCUMENT_KEY_LEN)


def document_info(payload_info: bytes, n: int) -> bytes:
    """The HPKE ``info`` of document ``n``'s descriptor: the payload's, and which document."""
    return payload_info + length_prefixed("hub-e2e-document-v1", str(n))


def seal_descriptor(descriptor: bytes, public: X25519PublicKey, info: bytes) -> bytes:
    """A document's descriptor (name, media type, size, digest, key) sealed for the recipient:
    the encapsulated key followed by the ciphertext."""
    return SUITE.encrypt(descriptor, public, info=info)


def open_descriptor(sealed: bytes, key: EncryptionKey, info: bytes) -> bytes:
    try:
        return SUITE.decrypt(sealed, key.private, info=info)
    except Exception as exc:
        raise DecryptionError("a document descriptor does not decrypt with this key") from exc


def chunk_aad(
    message_id: str, sender: str, recipient: str, n: int, index: int, count: int
) -> bytes:
    return length_prefixed(
        "hub-chunk-v1", message_id, sender, recipient, str(n), str(index), str(count)
    )


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def seal_chunk(key: bytes, index: int, plaintext: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key).encrypt(_nonce(index), plaintext, aad)


def open_chunk(key: bytes, index: int, ciphertext: bytes, aad: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(_nonce(index), ciphertext, aad)
    except Exception as exc:
        raise DecryptionError(
            f"chunk {index} does not decrypt: altered, moved or replayed"
        ) from exc
