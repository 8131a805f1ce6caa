"""What a cryptographic suite offers the rest of the hub, and the key objects it hands out.

Nothing outside ``hub.trust.suites`` names an algorithm: it asks a :class:`Suite` (by the
deployment's ``crypto_suite``, by a key id's prefix, or by a scheme name) to hash, sign, verify,
authenticate or encrypt.  A key id names its algorithm (``ed25519:…``, ``sm2:…``), so a
signature is always checked with the algorithm its signer's key was made for, and keys of both
suites can sit in one directory during a migration.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol


class Hasher(Protocol):
    """A running hash (hashlib's shape)."""

    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


class PemFiles:
    """PKCS#8 and SubjectPublicKeyInfo PEM for a suite whose library has pyca's
    ``serialization`` module (pyca itself, tongsuopy): ``_serialization`` names it, and
    ``private_from_handle`` says whether a loaded key is one of the suite's."""

    _serialization: Any

    def private_from_handle(self, handle: Any, *, encryption: bool) -> PrivateKey | None:
        raise NotImplementedError

    def private_pem(self, key: PrivateKey) -> bytes:
        s = self._serialization
        return bytes(key.handle.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,
                                              s.NoEncryption()))  # fmt: skip

    def public_pem(self, key: PublicKey) -> bytes:
        s = self._serialization
        return bytes(key.handle.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))

    def load_private_pem(self, pem: bytes, *, encryption: bool) -> PrivateKey | None:
        try:
            handle = self._serialization.load_pem_private_key(pem, password=None)
        except Exception:  # not PEM, or a key of an algorithm this library does not know
            return None
        return self.private_from_handle(handle, encryption=encryption)


@dataclass(frozen=True)
class Pkcs11Names:
    """PKCS#11 constants (python-pkcs11's enum member names) for a suite's signing keys."""

    key_type: str
    curve_oid: str
    keygen_mechanism: str
    sign_mechanism: str


@dataclass(frozen=True)
class PublicKey:
    """A public key of some suite: ``raw`` is its wire form (Ed25519: 32 bytes; SM2: the
    65-byte uncompressed point), ``key_id`` names it, ``suite`` can check its signatures."""

    suite: Suite
    key_id: str
    raw: bytes
    handle: Any  # the library's key object

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def verify(self, signature: bytes, data: bytes) -> bool:
        return self.suite.verify(self, signature, data)


@dataclass(frozen=True)
class PrivateKey:
    """A private key of some suite; ``handle`` is the library's key object."""

    suite: Suite
    key_id: str
    handle: Any

    def public(self) -> PublicKey:
        return self.suite.public_of(self)

    def sign(self, data: bytes) -> bytes:
        return self.suite.sign(self, data)

    def derive(self, data: bytes) -> bytes:
        return self.suite.derive(self, data)

    def pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM."""
        return self.suite.private_pem(self)


class DecryptionFailed(Exception):
    """Raised by ``Suite.open``: altered, or not for this key.  Callers raise their own error."""


@dataclass(frozen=True)
class Sealed:
    """An encrypted payload: the header fields an envelope carries and the ciphertext."""

    scheme: str
    recipient_key_id: str
    encapsulated: bytes  # HPKE's encapsulated key, or the SM2-encrypted content key
    nonce: bytes
    ciphertext: bytes


class Suite(Protocol):
    """One named set of algorithms.  Every method is pure apart from drawing randomness."""

    #: The deployment setting's value: ``intl`` or ``gm``.
    name: str
    #: Prefixes of the key ids this suite makes: signing keys, encryption keys.
    signing_prefix: str
    encryption_prefix: str
    #: What hashes are called in scheme names and digests' labels (``sha256``, ``sm3``).
    hash_name: str
    #: The envelope signature scheme of this suite (the structure is hub-sig-v2's).
    envelope_scheme: str
    #: The payload encryption scheme this suite seals with.
    encryption_scheme: str

    def hasher(self) -> Hasher: ...
    def digest(self, data: bytes) -> bytes: ...
    def mac(self, key: bytes, data: bytes) -> bytes: ...

    def generate_signing_key(self) -> PrivateKey: ...
    def generate_encryption_key(self) -> PrivateKey: ...
    def public_of(self, key: PrivateKey) -> PublicKey: ...
    def public_from_raw(self, raw: bytes, *, encryption: bool = False) -> PublicKey: ...
    def owns_raw_public(self, raw: bytes) -> bool: ...
    def private_from_handle(self, handle: Any, *, encryption: bool) -> PrivateKey | None: ...
    def private_pem(self, key: PrivateKey) -> bytes: ...
    def public_pem(self, key: PublicKey) -> bytes: ...
    def load_private_pem(self, pem: bytes, *, encryption: bool) -> PrivateKey | None: ...

    def sign(self, key: PrivateKey, data: bytes) -> bytes: ...
    def derive(self, key: PrivateKey, data: bytes) -> bytes:
        """A value only the key's holder can compute, the same every time for ``data`` (an
        SM2 signature is randomised, so it cannot serve as one)."""
        ...

    def verify(self, key: PublicKey, signature: bytes, data: bytes) -> bool: ...

    def seal(self, plaintext: bytes, to: PublicKey, info: bytes) -> Sealed: ...
    def open(self, sealed: Sealed, key: PrivateKey, info: bytes) -> bytes: ...
    def pack(self, sealed: Sealed) -> bytes: ...
    def unpack(self, data: bytes, key_id: str) -> Sealed: ...

    #: Documents: each chunk sealed with this AEAD under a key of its own per document.
    content_key_len: int
    note_type: bytes
    #: The key-type byte(s) of a C2SP tlog-cosignature's key id (another than ``note_type``,
    #: so a cosigner's key id never equals the same key's id as a note signer).
    cosignature_type: bytes
    #: How a PKCS#11 module names this suite's signing keys, or None where PKCS#11 has no name.
    pkcs11: Pkcs11Names | None
    chunk_cipher: str

    def aead_seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes: ...
    def aead_open(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes: ...
