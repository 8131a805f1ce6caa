#!/usr/bin/env python3
"""Read one inbox record as an independent reader: no hub code, only what docs/wire-format.md
documents.

    python3 read_inbox_record.py RECORD.bin --schemas schemas/avro --directory directory.json \\
        --anchor directory-anchor.json [--key RECIPIENT_ENCRYPTION_PRIVATE.pem]

RECORD.bin is the value of a record from a `hub.inbox.AGENCY.REGION` topic, as Kafka gives it.
The reader:

0. checks the directory's signature against the trust anchor (docs/wire-format.md, "The signed
   directory"): by the key id's algorithm (ed25519:… Ed25519; sm2:… SM2 with SM3 and the signer
   id 1234567812345678) over "hub-directory-v1\\n" and the RFC 8785 canonical JSON of its
   `directory` object, which for its values (strings, whole numbers, no floats) is
   json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) in UTF-8;
1. decodes the Avro single-object encoding (C3 01, the 8-byte CRC-64-AVRO fingerprint of the
   writer schema's Parsing Canonical Form, the Avro body) with the `.avsc` files alone;
2. rebuilds the signed structure (hub-sig-v2, v3 for a message with documents, hub-sig-sm2-v1
   under the gm suite, whose digests are SM3; docs/wire-format.md) and verifies the signature
   with the sender's key from the directory, which must be a key of that sender;
3. if the payload is encrypted, opens it with the recipient's private key: HPKE base mode,
   DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM; or under gm the SM4 key unwrapped by
   `openssl pkeyutl -decrypt` (SM2, GB/T 32918.4), then SM4-GCM; `info` as docs/wire-format.md
   gives it;
4. decodes the payload with its writer schema and prints the envelope and the payload as JSON.

Exit 0 when the signature verifies (and the payload opens), 1 otherwise.  Needs `fastavro` and
`cryptography` (>= 47, for HPKE); for gm records `tongsuopy` and the `openssl` command line;
nothing from the hub.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form

SCHEMES = ("hub-sig-v2", "hub-sig-v3", "hub-sig-sm2-v1")


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


def digest(scheme: str, data: bytes) -> str:
    """Lowercase hex: SM3 under hub-sig-sm2-v1, SHA-256 otherwise."""
    if scheme != "hub-sig-sm2-v1":
        return hashlib.sha256(data).hexdigest()
    from tongsuopy.crypto import hashes

    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize().hex()


def verify(key_id: str, public_b64: str, signature: bytes, message: bytes) -> bool:
    """Ed25519 for ed25519:… keys; SM2 with SM3 and the default signer id for sm2:… keys."""
    raw = base64.b64decode(public_b64)
    if key_id.startswith("sm2:"):
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec

        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), raw)
            public.verify(signature, message, ec.ECDSA(hashes.SM3()))
        except Exception:  # InvalidSignature, or a malformed one
            return False
        return True
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def encryption_digest(scheme: str, header: dict) -> str:
    out = b""
    for name in ("scheme", "recipient_key_id", "ephemeral_public_key", "nonce"):
        value = header[name]
        data = value if isinstance(value, bytes) else str(value or "").encode()
        out += len(data).to_bytes(4, "big") + data
    return digest(scheme, out)


def open_payload(header: dict, ciphertext: bytes, key_pem: bytes, info: bytes) -> bytes:
    """The payload, opened with the recipient's private key by the header's scheme."""
    if header["scheme"] == "hpke-base-x25519-sha256-aes128gcm":
        private = serialization.load_pem_private_key(key_pem, password=None)
        suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
        return suite.decrypt(header["ephemeral_public_key"] + ciphertext, private, info=info)  # type: ignore[arg-type]
    if header["scheme"] == "sm2-wrapped-sm4gcm":
        from tongsuopy.crypto.ciphers.aead import SM4GCM

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "key.pem").write_bytes(key_pem)
            (Path(tmp) / "wrapped").write_bytes(header["ephemeral_public_key"])
            unwrapped = subprocess.run(
                ["openssl", "pkeyutl", "-decrypt", "-inkey", str(Path(tmp) / "key.pem"),
                 "-in", str(Path(tmp) / "wrapped")], capture_output=True, check=True,
            ).stdout  # fmt: skip
        return SM4GCM(unwrapped).decrypt(header["nonce"], ciphertext, info)
    raise ValueError(f"unknown encryption scheme {header['scheme']!r}")


def address(a: dict) -> str:
    return f"{a['agency']}@{a['region']}"


def manifest_digest(scheme: str, documents: list) -> str:
    """The manifest digest (docs/wire-format.md, "Documents")."""
    out = field("hub-manifest-v1")
    for d in documents:
        out += field(str(d["n"])) + field(str(d["upload"])) + field(str(d["chunk_count"]))
        out += field(str(d["size"])) + field(bytes(d["chunks_root"]).hex())
        out += field(digest(scheme, bytes(d["descriptor"])))
    return digest(scheme, out)


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
        field(digest(scheme, env["payload"])),
        optional(encryption_digest(scheme, header) if header else None),
    ]
    documents = env.get("documents") or []
    if scheme == "hub-sig-v3":  # a message with documents: the manifest's digest last
        parts.append(field(manifest_digest(scheme, documents)))
    elif scheme == "hub-sig-sm2-v1":  # the manifest's digest as an optional field
        parts.append(optional(manifest_digest(scheme, documents) if documents else None))
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
        message = b"hub-directory-v1\n" + canonical.encode()
        if verify(sig["key_id"], trusted[sig["key_id"]], base64.b64decode(sig["signature"]),
                  message):  # fmt: skip
            return body
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("record", type=Path)
    ap.add_argument("--schemas", type=Path, required=True)
    ap.add_argument("--directory", type=Path, required=True)
    ap.add_argument("--anchor", type=Path, required=True, help="the directory's trust anchor")
    ap.add_argument("--key", type=Path, help="the recipient's encryption private key (PEM)")
    args = ap.parse_args(argv)
    schemas = load_schemas(args.schemas)
    env = decode(schemas, args.record.read_bytes())
    scheme = env.get("signature_scheme")
    if scheme not in SCHEMES:
        print(f"FAILED: signature scheme {scheme!r}, not one of {', '.join(SCHEMES)}")
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
    if not verify(env["signing_key_id"], owner[1], env["signature"], signed_structure(env)):
        print("FAILED: the signature does not verify")
        return 1
    body = env["payload"]
    header = env.get("encryption")
    if header:
        if args.key is None:
            print("FAILED: the payload is encrypted; give the recipient's key with --key")
            return 1
        info = b"".join(
            field(x)
            for x in (
                "hub-e2e-v1", env["message_id"], env["family"], str(env["schema_version"]),
                sender, address(env["recipient"]), header["recipient_key_id"],
            )
        )  # fmt: skip
        try:
            body = open_payload(header, body, args.key.read_bytes(), info)
        except Exception as exc:  # wrong key, altered bytes: say so, exit 1
            print(f"FAILED: the payload does not open with this key ({type(exc).__name__})")
            return 1
    payload = decode(schemas, body)
    out = {
        "message_id": env["message_id"],
        "family": env["family"],
        "sender": sender,
        "recipient": address(env["recipient"]),
        "signature": f"valid ({scheme})",
        "encrypted": bool(header),
        "payload": payload,
    }
    print(json.dumps(out, ensure_ascii=False, default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
