"""Signing keys of connectors and of the operators: generation, ids, PEM files, verification.

Every algorithm question goes to ``hub.trust.suites``: a key is made under the deployment's
suite (``intl``: Ed25519, ``gm``: SM2), its id names its algorithm (``ed25519:…``, ``sm2:…``),
and a public key read from the directory is checked with the algorithm of its own suite, so a
directory can hold keys of both during a migration.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

from hub.trust import suites
from hub.trust.suites import PrivateKey, PublicKey


def key_id_for(public_raw: bytes) -> str:
    """A key's id names the key itself, so a rotated key can never be mistaken for the old one."""
    return suites.public_from_raw(public_raw).key_id


def public_raw(public: PublicKey) -> bytes:
    return public.raw


@dataclass(frozen=True)
class HeldKey:
    """A private key this host holds, of some suite: a signing key, or (``EncryptionKey``) a
    key for receiving encrypted payloads."""

    key_id: str
    private: PrivateKey

    #: Whether keys of this kind are encryption keys (their ids have the suite's other prefix).
    encryption: ClassVar[bool] = False

    @classmethod
    def generate(cls, suite: str = suites.DEFAULT) -> Self:
        made = suites.by_name(suite)
        private = made.generate_encryption_key() if cls.encryption else made.generate_signing_key()
        return cls(private.key_id, private)

    @classmethod
    def load(cls, path: Path) -> Self:
        try:
            private = suites.load_private_pem(path.read_bytes(), encryption=cls.encryption)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        return cls(private.key_id, private)

    @property
    def suite(self) -> suites.Suite:
        return self.private.suite

    @property
    def public(self) -> PublicKey:
        return self.private.public()

    @property
    def public_b64(self) -> str:
        return self.public.b64

    def save(self, path: Path) -> None:
        save_private(path, self.private)


@dataclass(frozen=True)
class SigningKey(HeldKey):
    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def derive(self, data: bytes) -> bytes:
        """Stable for ``data``, unpredictable without this key (``Suite.derive``)."""
        return self.private.derive(data)


def save_private(path: Path, private: PrivateKey) -> None:
    """A private key as unencrypted PKCS#8 PEM, 0600, in a folder made if missing."""
    write_private(path, private.pem())


def write_private(path: Path, data: bytes) -> None:
    """``data`` in a file only its owner reads (0600), in a folder made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Create with 0600 from the start rather than chmod afterwards: no window where it is
    # readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def load_public(b64: str, *, encryption: bool = False) -> PublicKey:
    """A public key from the directory's base64 wire form, in the suite its length names."""
    return suites.public_from_raw(base64.b64decode(b64), encryption=encryption)


def verify(public: PublicKey, signature: bytes, data: bytes) -> bool:
    return public.verify(signature, data)
