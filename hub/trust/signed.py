"""The signed directory and the trust anchor it is checked against.

The agency directory is a document signed by the operators' *directory key*: a signing key of a
suite (``hub.trust.suites``: Ed25519 or SM2)
that is not the hub's runtime key (``HUB@100000``) and may live offline.  Routers and
connectors load a directory only when its signature verifies against a configured *trust
anchor* (``directory-anchor.json``: the directory keys' public halves, as X-Road's
configuration anchor holds the central server's), so whoever can write ``directory.json`` on
the hub host cannot register a key for an agency.

File format 2::

    {"format": 2,
     "directory": {"serial": N, "issued_at": "...", "connectors": [...]},
     "signatures": [{"key_id": "ed25519:…", "signature": "<base64>"}]}

Each signature is in its key's suite (the key id names it) over ``b"hub-directory-v1\\n"``
followed by the RFC 8785 (JCS) canonical JSON of the ``directory`` object.  ``serial`` grows
with every version; a reader that has loaded version N refuses to go back to an older one (a
replayed directory could bring back a revoked key).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

from hub.core.files import write_atomic
from hub.trust import suites
from hub.trust.keys import SigningKey, verify
from hub.trust.suites import PublicKey

SIGNED_FORMAT = 2
ANCHOR_FORMAT = 1
DOMAIN = b"hub-directory-v1\n"


class AnchorError(ValueError):
    """The trust anchor is missing or unusable (wrapped in DirectoryError by callers)."""


def canonical(obj: Any) -> bytes:
    """RFC 8785 canonical JSON: the bytes a directory or a key request is signed over."""
    return rfc8785.dumps(obj)


@dataclass(frozen=True)
class TrustAnchor:
    """The directory keys a reader trusts: key id → public key."""

    keys: dict[str, PublicKey]

    @classmethod
    def of(cls, *public: PublicKey) -> TrustAnchor:
        return cls({p.key_id: p for p in public})

    @classmethod
    def load(cls, path: Path) -> TrustAnchor:
        if not path.exists():
            raise AnchorError(
                f"no trust anchor at {path}: copy the operators' directory-anchor.json there "
                "(a development hub makes its own with `hub directory init`)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != ANCHOR_FORMAT:
                raise AnchorError(f"{path}: unsupported format {data.get('format')!r}")
            keys = {}
            for item in data["keys"]:
                raw = base64.b64decode(item["public_key"], validate=True)
                try:
                    public = suites.public_from_raw(raw)
                except ValueError:
                    public = None
                if public is None or public.key_id != item["key_id"]:
                    raise AnchorError(f"{path}: key {item['key_id']} does not match its id")
                keys[item["key_id"]] = public
        except (json.JSONDecodeError, KeyError, TypeError, binascii.Error) as exc:
            raise AnchorError(f"{path}: not a trust anchor ({type(exc).__name__})") from exc
        if not keys:
            raise AnchorError(f"{path}: the anchor names no key")
        return cls(keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ANCHOR_FORMAT,
            "keys": [
                {"key_id": kid, "public_key": pub.b64} for kid, pub in sorted(self.keys.items())
            ],
        }

    def save(self, path: Path) -> None:
        text = json.dumps(self.to_json(), indent=2) + "\n"
        write_atomic(path, text.encode())

    def verify(self, document: dict[str, Any], source: str) -> dict[str, Any]:
        """The ``directory`` object of a signed document, once one signature verifies against
        a key of this anchor; raises AnchorError otherwise."""
        if document.get("format") != SIGNED_FORMAT:
            raise AnchorError(
                f"{source} is not a signed directory (format {document.get('format')!r}); "
                "the operators sign it with `hub directory sign`"
            )
        body = document.get("directory")
        signatures = document.get("signatures")
        if not isinstance(body, dict) or not isinstance(signatures, list):
            raise AnchorError(f"{source}: a signed directory has 'directory' and 'signatures'")
        message = DOMAIN + canonical(body)
        for sig in signatures:
            public = self.keys.get(str(sig.get("key_id"))) if isinstance(sig, dict) else None
            if public is None:
                continue
            try:
                raw = base64.b64decode(str(sig.get("signature")), validate=True)
            except (binascii.Error, ValueError):
                continue
            if verify(public, raw, message):
                return body
        names = ", ".join(str(s.get("key_id")) for s in signatures if isinstance(s, dict))
        raise AnchorError(
            f"{source}: no signature verifies against the trust anchor (signed by: "
            f"{names or 'nobody'}; trusted: {', '.join(sorted(self.keys))})"
        )


def sign_document(body: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    signature = key.sign(DOMAIN + canonical(body))
    return {
        "format": SIGNED_FORMAT,
        "directory": body,
        "signatures": [{"key_id": key.key_id, "signature": base64.b64encode(signature).decode()}],
    }


def issued_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
