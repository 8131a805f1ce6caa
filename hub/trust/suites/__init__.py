"""The cryptographic suites, the one place algorithms are named (``base`` says what a suite
offers; ``intl`` and ``gm`` are the two).  Everything else finds its suite here: by the
deployment's ``crypto_suite``, by a key id's prefix, by a scheme's name, or by a public key's
wire form."""

from __future__ import annotations

import hashlib

from hub.trust.suites.base import DecryptionFailed, Hasher, PrivateKey, PublicKey, Sealed, Suite
from hub.trust.suites.gm import DISTID as GM_DISTID
from hub.trust.suites.gm import GM
from hub.trust.suites.intl import INTL

__all__ = [
    "DEFAULT",
    "GM",
    "GM_DISTID",
    "INTL",
    "SUITES",
    "DecryptionFailed",
    "Hasher",
    "PrivateKey",
    "PublicKey",
    "Sealed",
    "Suite",
    "by_hash_name",
    "by_key_id",
    "by_name",
    "by_scheme",
    "envelope_digest",
    "identifier",
    "labelled_digest",
    "load_private_pem",
    "note_key_hash",
    "public_from_raw",
]

SUITES: dict[str, Suite] = {"intl": INTL, "gm": GM}
DEFAULT = "intl"


def by_name(name: str) -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise ValueError(
            f"unknown crypto suite {name[:20]!r}: one of {', '.join(sorted(SUITES))}"
        ) from None


def by_key_id(key_id: str) -> Suite:
    """The suite whose keys are named ``<prefix>:…``; ValueError for another prefix."""
    prefix = key_id.partition(":")[0]
    for suite in SUITES.values():
        if prefix in (suite.signing_prefix, suite.encryption_prefix):
            return suite
    raise ValueError(f"a key id names no known algorithm ({prefix[:20]!r})")


def by_hash_name(name: str) -> Suite | None:
    """The suite whose hash is called ``name`` (``sha256``, ``sm3``), if one is."""
    for suite in SUITES.values():
        if suite.hash_name == name:
            return suite
    return None


def by_scheme(scheme: str) -> Suite | None:
    """The suite an envelope signature or encryption scheme belongs to, if one does."""
    for suite in SUITES.values():
        if scheme in (suite.envelope_scheme, suite.encryption_scheme):
            return suite
    return None


def public_from_raw(raw: bytes, *, encryption: bool = False) -> PublicKey:
    """A public key from its wire form: 32 bytes are Ed25519/X25519, a 65-byte point is SM2."""
    for suite in SUITES.values():
        if suite.owns_raw_public(raw):
            return suite.public_from_raw(raw, encryption=encryption)
    raise ValueError(f"a public key of {len(raw)} bytes belongs to no suite")


def note_key_hash(name: str, public: PublicKey) -> bytes:
    """The 4-byte key hash of a C2SP signed note: SHA-256(name || 0x0A || type || key)[:4], the
    spec's own hash whatever the signature's suite."""
    return hashlib.sha256(name.encode() + b"\n" + public.suite.note_type + public.raw).digest()[:4]


def cosigner_key_hash(name: str, public: PublicKey) -> bytes:
    """The 4-byte key id of a C2SP tlog-cosignature: as ``note_key_hash`` with the suite's
    cosignature type (0x04 for Ed25519)."""
    data = name.encode() + b"\n" + public.suite.cosignature_type + public.raw
    return hashlib.sha256(data).digest()[:4]


def identifier(data: bytes) -> str:
    """Hex SHA-256 of ``data``, for naming things: event and dead-letter ids, repeats, stored
    session tokens, raw bytes in audit facts.  The same under every suite on purpose: an id
    must not change when a deployment changes suite, or a repeat across the change would go
    unrecognised.  Nothing is signed, sealed or authenticated by it; what is uses the suite's
    own hash."""
    return hashlib.sha256(data).hexdigest()


def labelled_digest(suite: Suite, data: bytes) -> str:
    """``<hash>:<hex>`` of ``data`` in ``suite``'s hash (``sha256:…``, ``sm3:…``): a digest that
    says which hash made it, so a reader compares like with like."""
    return f"{suite.hash_name}:{suite.digest(data).hex()}"


def envelope_digest(signing_key_id: str, raw: bytes) -> str:
    """The digest of an envelope's bytes as receipts name them: in the hash of the suite the
    envelope is signed in (SM3 for an SM2-signed one), so a gm receipt names what it signs for
    with SM3.  An envelope whose key id names no suite is digested with the default's."""
    try:
        suite = by_key_id(signing_key_id)
    except ValueError:
        suite = SUITES[DEFAULT]
    return labelled_digest(suite, raw)


def load_private_pem(pem: bytes, *, encryption: bool = False) -> PrivateKey:
    """A PKCS#8 PEM private key of whichever suite made it; ValueError when none did."""
    for suite in SUITES.values():
        key = suite.load_private_pem(pem, encryption=encryption)
        if key is not None:
            return key
    kind = "encryption" if encryption else "signing"
    raise ValueError(f"not a {kind} key of any suite ({', '.join(SUITES)})")
