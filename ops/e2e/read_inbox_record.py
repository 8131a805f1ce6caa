#!/usr/bin/env python3
"""Read one inbox record as an independent reader: no hub code, only what docs/wire-format.md
documents.

    python3 read_inbox_record.py RECORD.bin --schemas schemas/avro --directory directory.json \\
        --anchor directory-anchor.json [--key RECIPIENT_X25519_PRIVATE.pem]

RECORD.bin is the value of a record from a `hub.inbox.AGENCY.REGION` topic, as Kafka gives it.
The reader:

0. checks the directory's signature against the trust anchor (docs/wire-format.md, "The signed
   directory"): Ed25519 over "hub-directory-v1\\n" and the RFC 8785 canonical JSON of its
   `directory` object, which for its values (strings, whole numbers, no floats) is
   json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) in UTF-8;
1. decodes the Avro single-object encoding (C3 01, the 8-byte CRC-64-AVRO fingerprint of the
   writer schema's Parsing Canonical Form, the Avro body) with the `.avsc` files alone;
2. rebuilds the hub-sig-v2 structure (v3 for a message with documents; docs/wire-format.md) and
   verifies the Ed25519 signature with the sender's key from the directory, which must be a key
   of that sender;
3. if the payload is encrypted, opens it with the recipient's X25519 private key (HPKE base mode,
   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM; `info` as docs/wire-format.md gives it);
4. decodes the payload with its writer schema and prints the envelope and the payload as JSON.

Exit 0 when the signature verifies (and the payload opens), 1 otherwise.  Needs `fastavro` and
`cryptography` (>= 47, for HPKE); nothing from the hub.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form


def load_schemas(folder: Path) -> dict[bytes, dict]:
    """Writer schemas by fingerprint (little-endian bytes, as in the single-object header)."""
    out = {}
    for path in sorted(folder.glob("*.avsc")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        parsed = parse_schema(raw, named_schemas={})
        # fastavro gives the 8 bytes in wire order already (little-endian), as hex.
        out[bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))] = parsed
    return out


def decode(schemas: dict[bytes, dict], data: bytes) -> dict:
    if data[:2] != b"\xc3\x01":
        raise ValueError("not an Avro single-object encoding")
    schema = schemas.get(data[2:10])
    if schema is None:
        raise ValueError(f"unknown writer schema {data[2:10].hex()}")
    return schemaless_reader(io.BytesIO(data[10:]), schema, schema)


def field(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def optional(text: str | None) -> bytes:
    return b"\x00" if text is None else b"\x01" + field(text)


def encryption_digest(header: dict) -> str:
    h = hashlib.sha256()
    for name in ("scheme", "recipient_key_id", "ephemeral_public_key", "nonce"):
        value = header[name]
        data = value if isinstance(value, bytes) else str(value).encode()
        h.update(len(data).to_bytes(4, "big") + data)
    return h.hexdigest()


def address(a: dict) -> str:
    return f"{a['agency']}@{a['region']}"


def manifest_digest(documents: list) -> str:
    """hub-sig-v3's manifest digest (docs/wire-format.md, "Documents")."""
    out = field("hub-manifest-v1")
    for d in documents:
        out += field(str(d["n"])) + field(str(d["chunk_count"])) + field(str(d["size"]))
        out += field(bytes(d["chunks_root"]).hex())
        out += field(hashlib.sha256(bytes(d["descriptor"])).hexdigest())
    return hashlib.sha256(out).hexdigest()


def signed_structure(env: dict) -> bytes:
    header = env.get("encryption")
    millis = int(env["created_at"].timestamp() * 1000)
    scheme = env.get("signature_scheme") or "hub-sig-v2"
    parts = [
        field(scheme),
        field(env["message_id"]),
        field(env["family"]),
        field(str(env["schema_version"])),
        field(address(env["sender"])),
        field(address(env["recipient"])),
        optional(env.get("correlation_id")),
        optional(env.get("causation_id")),
        field(str(millis)),
        field(env["signing_key_id"]),
        field(hashlib.sha256(env["payload"]).hexdigest()),
        optional(encryption_digest(header) if header else None),
    ]
    if scheme == "hub-sig-v3":  # a message with documents: the manifest's digest last
        parts.append(field(manifest_digest(env.get("documents") or [])))
    return b"".join(parts)


def trusted_directory(path: Path, anchor_path: Path) -> dict | None:
    """The signed directory's ``directory`` object when a signature verifies against a key of
    the anchor, else None."""
    document = json.loads(path.read_text(encoding="utf-8"))
    anchor = json.loads(anchor_path.read_text(encoding="utf-8"))
    trusted = {k["key_id"]: k["public_key"] for k in anchor["keys"]}
    body = document.get("directory")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for sig in document.get("signatures", []):
        if sig.get("key_id") not in trusted:
            continue
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(trusted[sig["key_id"]]))
        try:
            public.verify(
                base64.b64decode(sig["signature"]), b"hub-directory-v1\n" + canonical.encode()
            )
        except InvalidSignature:
            continue
        return body
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("record", type=Path)
    ap.add_argument("--schemas", type=Path, required=True)
    ap.add_argument("--directory", type=Path, required=True)
    ap.add_argument("--anchor", type=Path, required=True, help="the directory's trust anchor")
    ap.add_argument("--key", type=Path, help="the recipient's X25519 private key (PEM)")
    args = ap.parse_args(argv)
    schemas = load_schemas(args.schemas)
    env = decode(schemas, args.record.read_bytes())
    if env.get("signature_scheme") != "hub-sig-v2":
        print(f"FAILED: signature scheme {env.get('signature_scheme')!r}, not hub-sig-v2")
        return 1
    sender = address(env["sender"])
    directory = trusted_directory(args.directory, args.anchor)
    if directory is None:
        print("FAILED: the directory's signature does not verify against the trust anchor")
        return 1
    keys = {
        k["key_id"]: (c["address"], k["public_key"])
        for c in directory["connectors"]
        for k in c.get("keys", [])
    }
    owner = keys.get(env["signing_key_id"])
    if owner is None or owner[0] != sender:
        print(f"FAILED: {env['signing_key_id']} is not a key of {sender}")
        return 1
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(owner[1]))
    try:
        public.verify(env["signature"], signed_structure(env))
    except InvalidSignature:
        print("FAILED: the signature does not verify")
        return 1
    body = env["payload"]
    header = env.get("encryption")
    if header:
        if args.key is None:
            print("FAILED: the payload is encrypted; give the recipient's key with --key")
            return 1
        private = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
        info = b"".join(
            field(x)
            for x in (
                "hub-e2e-v1", env["message_id"], env["family"], str(env["schema_version"]),
                sender, address(env["recipient"]), header["recipient_key_id"],
            )
        )  # fmt: skip
        suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
        body = suite.decrypt(header["ephemeral_public_key"] + body, private, info=info)  # type: ignore[arg-type]
    payload = decode(schemas, body)
    out = {
        "message_id": env["message_id"],
        "family": env["family"],
        "sender": sender,
        "recipient": address(env["recipient"]),
        "signature": "valid (hub-sig-v2)",
        "encrypted": bool(header),
        "payload": payload,
    }
    print(json.dumps(out, ensure_ascii=False, default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
