"""Key registration and rotation requests: made on the agency's side, applied by the operators.

An agency makes its own key pairs (``hub keys new --request``, ``hub keys rotate --request``);
the private halves never leave its key folder.  What it sends the operators is a request::

    {"format": 1,
     "request": {"kind": "register" | "rotate", "address": "MIB@350582", "name": "...",
                 "created_at": "...", "signing_key": {"key_id", "public_key"} | null,
                 "encryption_key": {"key_id", "public_key"} | null},
     "proof": "<base64 Ed25519 signature by the new signing key>",
     "authorisation": {"key_id": "...", "signature": "<base64>"} | null}

Signatures are over ``b"hub-key-request-v1\\n"`` and the RFC 8785 canonical JSON of
``request``.  The *proof* shows the requester holds the new signing key.  A rotation is also
*authorised* by a signing key of the address that is active in the directory, so nobody but
the current key holder can replace an agency's keys; a first registration has no such key,
so the operators confirm its *fingerprint* with the agency by another channel (an official
letter, a phone call) before applying it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.core.files import write_atomic
from hub.trust import hsm, suites
from hub.trust.address import Address
from hub.trust.directory import Directory, DirectoryError, check_address, private_key_path
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey, load_public, verify, write_private
from hub.trust.signed import canonical, issued_now

FORMAT = 1
DOMAIN = b"hub-key-request-v1\n"
KINDS = ("register", "rotate")


def _signature(key: SigningKey, body: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(DOMAIN + canonical(body))).decode()


def _verifies(public_b64: str, signature_b64: str, body: dict[str, Any]) -> bool:
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        return verify(load_public(public_b64), sig, DOMAIN + canonical(body))
    except (binascii.Error, ValueError):
        return False


@dataclass(frozen=True)
class KeyRequest:
    body: dict[str, Any]
    proof: str | None = None
    authorisation: dict[str, str] | None = None

    @property
    def kind(self) -> str:
        return str(self.body.get("kind"))

    @property
    def address(self) -> Address:
        return Address.parse(str(self.body.get("address")))

    @property
    def fingerprint(self) -> str:
        """What the operators read back to the agency before applying a first registration."""
        digest = hashlib.sha256(canonical(self.body)).hexdigest()[:32]
        return "-".join(digest[i : i + 4] for i in range(0, 32, 4))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "request": self.body,
            "proof": self.proof,
            "authorisation": self.authorisation,
        }

    def save(self, path: Path) -> None:
        write_atomic(
            path, (json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n").encode()
        )

    @classmethod
    def load(cls, path: Path) -> KeyRequest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DirectoryError(f"{path}: not a key request ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DirectoryError(f"{path}: not a key request (format {FORMAT})")
        body = data.get("request")
        if not isinstance(body, dict):
            raise DirectoryError(f"{path}: the request has no 'request' object")
        return cls(body, data.get("proof"), data.get("authorisation"))


def make_request(
    kind: str,
    address: Address,
    keys_dir: Path,
    *,
    name: str = "",
    signing: bool = True,
    encryption: bool = True,
    current: SigningKey | None = None,
    suite: str = suites.DEFAULT,
    pkcs11: str | None = None,
) -> KeyRequest:
    """New key pairs for ``address``, their private halves kept in ``keys_dir``, and the request
    that registers their public halves (a rotation is authorised by ``current``).  With a
    ``pkcs11`` URI the signing key is made in that hardware module instead, and ``keys_dir``
    keeps only a reference to it (``hub.trust.hsm``)."""
    if kind not in KINDS:
        raise DirectoryError(f"a key request is one of {KINDS}, not {kind!r}")
    check_address(address)
    if kind == "rotate" and current is None:
        raise DirectoryError(f"a rotation of {address} must be authorised by its current key")
    if not signing and not encryption:
        raise DirectoryError("a request registers a signing key, an encryption key or both")
    body: dict[str, Any] = {
        "kind": kind,
        "address": str(address),
        "name": name,
        "created_at": issued_now(),
        "signing_key": None,
        "encryption_key": None,
    }
    new_signing: SigningKey | None = None
    if signing and pkcs11:
        made = hsm.generate(pkcs11, suite)
        new_signing = SigningKey(made.key_id, made)
        reference = private_key_path(keys_dir, address, made.key_id)
        write_private(reference.with_suffix(hsm.REFERENCE_SUFFIX), pkcs11.encode() + b"\n")
        body["signing_key"] = {"key_id": new_signing.key_id, "public_key": new_signing.public_b64}
    elif signing:
        new_signing = SigningKey.generate(suite)
        new_signing.save(private_key_path(keys_dir, address, new_signing.key_id))
        body["signing_key"] = {"key_id": new_signing.key_id, "public_key": new_signing.public_b64}
    if encryption:
        enc = EncryptionKey.generate(suite)
        enc.save(private_key_path(keys_dir, address, enc.key_id))
        body["encryption_key"] = {"key_id": enc.key_id, "public_key": enc.public_b64}
    prover = new_signing or current
    assert prover is not None  # signing or a rotation, which has its current key
    authorisation = None
    if current is not None and kind == "rotate":
        authorisation = {"key_id": current.key_id, "signature": _signature(current, body)}
    return KeyRequest(body, _signature(prover, body), authorisation)


def check_request(request: KeyRequest, directory: Directory) -> None:
    """Raise DirectoryError unless ``request`` may be applied to ``directory``."""
    body = request.body
    if request.kind not in KINDS:
        raise DirectoryError(f"a key request is one of {KINDS}, not {request.kind!r}")
    try:
        address = request.address
    except ValueError as exc:
        raise DirectoryError(f"request: {exc}") from exc
    check_address(address)
    signing = body.get("signing_key")
    encryption = body.get("encryption_key")
    if not signing and not encryption:
        raise DirectoryError("the request registers no key")
    for entry, encrypting in ((signing, False), (encryption, True)):
        if entry is None:
            continue
        try:
            raw = base64.b64decode(str(entry["public_key"]), validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise DirectoryError("request: a key without a base64 public key") from exc
        try:
            key_id = suites.public_from_raw(raw, encryption=encrypting).key_id
        except ValueError:
            key_id = None
        if key_id is None or key_id != entry.get("key_id"):
            raise DirectoryError(f"request: key {entry.get('key_id')} does not match its id")
        if directory.key_owner(entry["key_id"]) or directory.encryption_key_owner(entry["key_id"]):
            raise DirectoryError(f"request: key {entry['key_id']} is registered already")
    conn = directory.connectors.get(address)
    live = [k for k in conn.keys if k.status != "revoked"] if conn else []
    if request.kind == "register":
        if live:
            raise DirectoryError(
                f"{address} is registered already: its keys change by a rotation request "
                "authorised by its current key (`hub keys rotate --request`), or the operators "
                "revoke them first"
            )
        if signing is None:
            raise DirectoryError("a first registration brings a signing key")
    prover = signing["public_key"] if signing else None
    if request.kind == "rotate":
        auth = request.authorisation or {}
        active = {k.key_id: k for k in (conn.keys if conn else ()) if k.status == "active"}
        entry = active.get(str(auth.get("key_id")))
        if entry is None:
            raise DirectoryError(
                f"the rotation of {address} is not authorised by an active signing key of it"
            )
        if not _verifies(entry.public_key, str(auth.get("signature")), body):
            raise DirectoryError(f"the rotation of {address}: its authorisation does not verify")
        prover = prover or entry.public_key
    if prover is None or not _verifies(prover, str(request.proof), body):
        raise DirectoryError("request: the proof of possession of the new key does not verify")
