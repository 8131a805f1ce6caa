"""The ``gm`` suite (国密, the commercial cryptography GB/T 39786 evaluates): SM2 signatures with
SM3 (GB/T 32918.2, GB/T 35276), SM4-GCM for payloads with the content key wrapped by SM2 public-
key encryption (GB/T 32918.4), SM3 digests and trees (GB/T 32905), HMAC-SM3.

The library is tongsuopy, the Python binding of Tongsuo (铜锁, the OpenSSL fork maintained for the
ShangMi algorithms), shaped like pyca/cryptography, which has SM3 and SM4 but no SM2
(docs/security.md says why this one).

Signatures: SM2 over SM3(Z || M), where Z binds the signer's public key and its distinguishing
identifier, the default of GB/T 35276 ``1234567812345678`` (tongsuopy offers no other); the
signature is DER ``SEQUENCE { r INTEGER, s INTEGER }``.  OpenSSL verifies one with
``openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -digest sm3
-pkeyopt distid:1234567812345678 -in MSG -sigfile SIG``.

Payloads: a random 128-bit SM4 key per message seals the payload with SM4-GCM (96-bit random
nonce, the envelope's context as associated data); the key itself travels SM2-encrypted to the
recipient's encryption key (DER ``SEQUENCE { x, y, hash, ciphertext }``, C1C3C2, GB/T 35276).
That is the digital envelope GM/T 0010 describes; SM2 key agreement (GB/T 32918.3) needs both
parties' ephemeral keys and an exchange, which a store-and-forward message does not have.
"""

from __future__ import annotations

import hmac
import os
from typing import Any, cast

from tongsuopy.backends.tongsuo.backend import backend as _backend
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.ciphers.aead import SM4GCM
from tongsuopy.crypto.exceptions import InvalidSignature, InvalidTag

from hub.trust.suites.base import (
    DecryptionFailed,
    Hasher,
    PemFiles,
    Pkcs11Names,
    PrivateKey,
    PublicKey,
    Sealed,
)

#: GB/T 35276's default signer identifier, the one tongsuopy signs with.
DISTID = "1234567812345678"
_KEY_LEN, _NONCE_LEN = 16, 12
_POINT = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


class _SM3:
    """SM3 with hashlib's shape (and what ``hmac`` needs of a digest)."""

    name = "sm3"
    digest_size = 32
    block_size = 64

    def __init__(self, data: bytes = b"", _ctx: Any = None) -> None:
        self._ctx = _ctx if _ctx is not None else hashes.Hash(hashes.SM3())
        if data:
            self._ctx.update(data)

    def update(self, data: bytes, /) -> None:
        self._ctx.update(bytes(data))

    def copy(self) -> _SM3:
        return _SM3(_ctx=self._ctx.copy())

    def digest(self) -> bytes:
        return bytes(self._ctx.copy().finalize())

    def hexdigest(self) -> str:
        return self.digest().hex()


def _pkey_op(pkey: Any, init: Any, op: Any, data: bytes) -> bytes:
    """EVP_PKEY_encrypt/decrypt, which tongsuopy binds but does not wrap."""
    lib, ffi = _backend._lib, _backend._ffi
    ctx = lib.EVP_PKEY_CTX_new(pkey, ffi.NULL)
    if ctx == ffi.NULL:
        raise ValueError("no SM2 context")
    ctx = ffi.gc(ctx, lib.EVP_PKEY_CTX_free)
    if init(ctx) != 1:
        _backend._consume_errors()
        raise ValueError("SM2 refused the key")
    size = ffi.new("size_t *")
    if op(ctx, ffi.NULL, size, data, len(data)) != 1:
        _backend._consume_errors()
        raise ValueError("SM2 refused the input")
    out = ffi.new("unsigned char[]", size[0])
    if op(ctx, out, size, data, len(data)) != 1:
        _backend._consume_errors()
        raise ValueError("SM2 refused the input")
    return bytes(ffi.buffer(out)[: size[0]])


class Gm(PemFiles):
    _serialization = serialization
    name = "gm"
    signing_prefix = "sm2"
    encryption_prefix = "sm2enc"
    hash_name = "sm3"
    envelope_scheme = "hub-sig-sm2-v1"
    encryption_scheme = "sm2-wrapped-sm4gcm"
    content_key_len = _KEY_LEN
    chunk_cipher = "sm4gcm"
    #: C2SP signed-note signature type: SM2 has none assigned; 0xff is the spec's for others.
    note_type = b"\xff"
    #: No cosignature type is assigned to SM2 either: 0xff followed by this label, so that the
    #: key id differs from the same key's note-signer id (as 0x04 differs from 0x01).
    cosignature_type = b"\xffcosignature/v1"
    #: PKCS#11 defines no SM2 mechanism: certified Chinese modules speak GM/T 0018 (SDF) or
    #: vendor-defined PKCS#11 mechanisms, which hub.trust.hsm does not guess at.
    pkcs11: Pkcs11Names | None = None

    def hasher(self) -> Hasher:
        return _SM3()

    def digest(self, data: bytes) -> bytes:
        return _SM3(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, cast(Any, _SM3)).digest()

    def _id(self, raw: bytes, encryption: bool) -> str:
        prefix = self.encryption_prefix if encryption else self.signing_prefix
        return f"{prefix}:{self.digest(raw).hex()[:16]}"

    def _generate(self, encryption: bool) -> PrivateKey:
        handle = ec.generate_private_key(ec.SM2())
        return PrivateKey(self, self._id(handle.public_key().public_bytes(*_POINT), encryption),
                          handle)  # fmt: skip

    def generate_signing_key(self) -> PrivateKey:
        return self._generate(False)

    def generate_encryption_key(self) -> PrivateKey:
        return self._generate(True)

    def public_of(self, key: PrivateKey) -> PublicKey:
        public = key.handle.public_key()
        raw = public.public_bytes(*_POINT)
        encryption = key.key_id.startswith(self.encryption_prefix + ":")
        return PublicKey(self, self._id(raw, encryption), raw, public)

    def owns_raw_public(self, raw: bytes) -> bool:
        return len(raw) == 65 and raw[0] == 4

    def public_from_raw(self, raw: bytes, *, encryption: bool = False) -> PublicKey:
        if not self.owns_raw_public(raw):
            raise ValueError("an SM2 public key is a 65-byte uncompressed point")
        handle = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), raw)
        return PublicKey(self, self._id(raw, encryption), raw, handle)

    def private_from_handle(self, handle: Any, *, encryption: bool) -> PrivateKey | None:
        if not isinstance(handle, ec.EllipticCurvePrivateKey) or handle.curve.name != "SM2":
            return None
        return PrivateKey(self, self._id(handle.public_key().public_bytes(*_POINT), encryption),
                          handle)  # fmt: skip

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        return bytes(key.handle.sign(data, ec.ECDSA(hashes.SM3())))

    def derive(self, key: PrivateKey, data: bytes) -> bytes:
        # SM2 signatures are randomised: HMAC-SM3 keyed with the private scalar instead.
        scalar = key.handle.private_numbers().private_value.to_bytes(32, "big")
        return self.mac(scalar, b"hub-derive-v1\n" + data)

    def verify(self, key: PublicKey, signature: bytes, data: bytes) -> bool:
        try:
            key.handle.verify(signature, data, ec.ECDSA(hashes.SM3()))
        except (InvalidSignature, ValueError):
            return False
        except Exception:  # a malformed DER signature trips the binding's assertion
            _backend._consume_errors()
            return False
        return True

    def seal(self, plaintext: bytes, to: PublicKey, info: bytes) -> Sealed:
        content_key, nonce = os.urandom(_KEY_LEN), os.urandom(_NONCE_LEN)
        lib = _backend._lib
        wrapped = _pkey_op(to.handle._evp_pkey, lib.EVP_PKEY_encrypt_init, lib.EVP_PKEY_encrypt,
                           content_key)  # fmt: skip
        ciphertext = SM4GCM(content_key).encrypt(nonce, plaintext, info)
        return Sealed(self.encryption_scheme, to.key_id, wrapped, nonce, bytes(ciphertext))

    def open(self, sealed: Sealed, key: PrivateKey, info: bytes) -> bytes:
        lib = _backend._lib
        try:
            content_key = _pkey_op(key.handle._evp_pkey, lib.EVP_PKEY_decrypt_init,
                                   lib.EVP_PKEY_decrypt, sealed.encapsulated)  # fmt: skip
            if len(content_key) != _KEY_LEN or len(sealed.nonce) != _NONCE_LEN:
                raise DecryptionFailed("not an SM4 key and nonce")
            return bytes(SM4GCM(content_key).decrypt(sealed.nonce, sealed.ciphertext, info))
        except (ValueError, InvalidTag) as exc:
            raise DecryptionFailed(type(exc).__name__) from exc

    def pack(self, sealed: Sealed) -> bytes:
        """The wrapped key's length (2 bytes, big-endian), the wrapped key, the nonce, the
        ciphertext."""
        wrapped = sealed.encapsulated
        return len(wrapped).to_bytes(2, "big") + wrapped + sealed.nonce + sealed.ciphertext

    def unpack(self, data: bytes, key_id: str) -> Sealed:
        size = int.from_bytes(data[:2], "big")
        if len(data) < 2 + size + _NONCE_LEN:
            raise DecryptionFailed("shorter than a wrapped key and a nonce")
        rest = data[2 + size :]
        return Sealed(self.encryption_scheme, key_id, data[2 : 2 + size], rest[:_NONCE_LEN],
                      rest[_NONCE_LEN:])  # fmt: skip

    def aead_seal(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return bytes(SM4GCM(key).encrypt(nonce, plaintext, aad))

    def aead_open(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return bytes(SM4GCM(key).decrypt(nonce, ciphertext, aad))
        except (InvalidTag, ValueError) as exc:
            raise DecryptionFailed(type(exc).__name__) from exc


GM = Gm()
