"""Ed25519 signing keys of connectors: generation, ids, PEM files, verification."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def key_id_for(public_raw: bytes) -> str:
    """A key's id names the key itself, so a rotated key can never be mistaken for the old one."""
    return "ed25519:" + hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        return cls(key_id_for(public_raw(private.public_key())), private)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(public_raw(self.private.public_key())).decode()

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def save(self, path: Path) -> None:
        save_private(path, self.private)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        private = load_private(path)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key_id_for(public_raw(private.public_key())), private)


def save_private(path: Path, private: Any) -> None:
    """A private key as unencrypted PKCS#8 PEM, 0600, in a folder made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Create with 0600 from the start rather than chmod afterwards: no window where it is
    # readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def load_private(path: Path) -> Any:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def load_public(b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64))


def verify(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True
