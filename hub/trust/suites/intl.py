"""The ``intl`` suite: Ed25519 signatures, HPKE (RFC 9180: DHKEM(X25519, HKDF-SHA256),
HKDF-SHA256, AES-128-GCM) for payloads, SHA-256 digests and trees, HMAC-SHA256; all from
``cryptography`` (pyca)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from hub.trust.suites.base import (
    DecryptionFailed,
    Hasher,
    PemFiles,
    Pkcs11Names,
    PrivateKey,
    PublicKey,
    Sealed,
)

_HPKE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
_ENC_LEN = 32  # an X25519 encapsulated key
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Intl(PemFiles):
    _serialization = serialization
    name = "intl"
    signing_prefix = "ed25519"
    encryption_prefix = "x25519"
    hash_name = "sha256"
    envelope_scheme = "hub-sig-v2"
    encryption_scheme = "hpke-base-x25519-sha256-aes128gcm"
    content_key_len = 32
    chunk_cipher = "aes256gcm"
    #: C2SP signed-note signature type: Ed25519 has 0x01.
    note_type = b"\x01"
    #: C2SP tlog-cosignature/v1: Ed25519 cosignatures have 0x04.
    cosignature_type = b"\x04"
    #: PKCS#11 v3.0 names for keys of this suite in a hardware module (hub.trust.hsm): key
    #: type, curve OID, key-pair generation and signature mechanisms.
    pkcs11: Pkcs11Names | None = Pkcs11Names(
        "EC_EDWARDS", "1.3.101.112", "EC_EDWARDS_KEY_PAIR_GEN", "EDDSA"
    )

    def hasher(self) -> Hasher:
        return hashlib.sha256()

    def digest(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, hashlib.sha256).digest()

    def _id(self, raw: bytes, encryption: bool) -> str:
        prefix = self.encryption_prefix if encryption else self.signing_prefix
        return f"{prefix}:{hashlib.sha256(raw).hexdigest()[:16]}"

    def generate_signing_key(self) -> PrivateKey:
        handle = Ed25519PrivateKey.generate()
        return PrivateKey(self, self._id(handle.public_key().public_bytes(*_RAW), False), handle)

    def generate_encryption_key(self) -> PrivateKey:
        handle = X25519PrivateKey.generate()
        return PrivateKey(self, self._id(handle.public_key().public_bytes(*_RAW), True), handle)

    def public_of(self, key: PrivateKey) -> PublicKey:
        public = key.handle.public_key()
        raw = public.public_bytes(*_RAW)
        encryption = isinstance(key.handle, X25519PrivateKey)
        return PublicKey(self, self._id(raw, encryption), raw, public)

    def owns_raw_public(self, raw: bytes) -> bool:
        return len(raw) == 32

    def public_from_raw(self, raw: bytes, *, encryption: bool = False) -> PublicKey:
        kind = X25519PublicKey if encryption else Ed25519PublicKey
        return PublicKey(self, self._id(raw, encryption), raw, kind.from_public_bytes(raw))

    def private_from_handle(self, handle: Any, *, encryption: bool) -> PrivateKey | None:
        kind = X25519PrivateKey if encryption else Ed25519PrivateKey
        if not isinstance(handle, kind):
            return None
        return PrivateKey(self, self._id(handle.public_key().public_bytes(*_RAW), encryption),
                          handle)  # fmt: skip

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        return bytes(key.handle.sign(data))

    def derive(self, key: PrivateKey, data: bytes) -> bytes:
        # An Ed25519 signature is deterministic (RFC 8032): its digest is the value.
        return hashlib.sha256(self.sign(key, data)).digest()

    def verify(self, key: PublicKey, signature: bytes, data: bytes) -> bool:
        try:
            key.handle.verify(signature, data)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def seal(self, plaintext: bytes, to: PublicKey, info: bytes) -> Sealed:
        sealed = _HPKE.encrypt(plaintext, to.handle, info=info)
        return Sealed(self.encryption_scheme, to.key_id, sealed[:_ENC_LEN], b"",
                      sealed[_ENC_LEN:])  # fmt: skip

    def open(self, sealed: Sealed, key: PrivateKey, info: bytes) -> bytes:
        try:
            return bytes(_HPKE.decrypt(sealed.encapsulated + sealed.ciphertext, key.handle,
                                       info=info))  # fmt: skip
        except Exception as exc:  # InvalidTag and friends: altered, or not for this key
            raise DecryptionFailed(str(type(exc).__name__)) from exc

    def pack(self, sealed: Sealed) -> bytes:
        """RFC 9180's single-shot form: the encapsulated key, then the ciphertext."""
        return sealed.encapsulated + sealed.ciphertext

    def unpack(self, data: bytes, key_id: str) -> Sealed:
        if len(data) < _ENC_LEN:
            raise DecryptionFailed("shorter than an encapsulated key")
        return Sealed(self.encryption_scheme, key_id, data[:_ENC_LEN], b"", data[_ENC_LEN:])

    def aead_seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return AESGCM(key).encrypt(nonce, plaintext, aad)

    def aead_open(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, aad)
        except Exception as exc:  # InvalidTag
            raise DecryptionFailed(type(exc).__name__) from exc


INTL = Intl()
