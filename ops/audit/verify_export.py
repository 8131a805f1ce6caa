#!/usr/bin/env python3
"""Re-verify an export of the hub's transfer log without the hub (``hub audit export``).

    python3 verify_export.py EXPORT_DIR [--key KEY_ID=BASE64_PUBLIC_KEY ...]

Checks, in order: each file's SHA-256 against manifest.json; the hash chain of audit.jsonl
from the genesis hash (sequence, links, every record's hash, the head in the manifest); that
audit.csv holds the same records; each checkpoint's Ed25519 signature and that the chain
passes through the signed hash at its sequence number.  Exit 0 when everything holds, 1 at
the first failure, naming it.

Only the Python standard library is needed for the hashes; the signatures need the
``cryptography`` package (without it they are reported as not checked, and the exit is 2).
Public keys for the signatures: ``--key`` (obtained from the hub operators out of band) or,
failing that, the ones in manifest.json, which are only as trustworthy as the manifest.

This file restates hub/audit/chain.py on purpose: it is what an outsider runs.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import json
import sys
from pathlib import Path

CHAIN_COLUMNS = (
    "seq", "event_id", "kind", "occurred_at", "recorded_at", "message_id", "conversation_id",
    "family", "sender", "recipient", "routed_to", "status", "signed", "facts",
)  # fmt: skip


def canonical(record: dict) -> bytes:
    body = {name: record.get(name) for name in CHAIN_COLUMNS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def fail(message: str) -> int:
    print(f"FAILED: {message}")
    return 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("export_dir", type=Path)
    ap.add_argument("--key", action="append", default=[], help="KEY_ID=BASE64 trusted public key")
    args = ap.parse_args(argv)
    d: Path = args.export_dir
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != "hub-audit-export-v1":
        return fail(f"unknown export format {manifest.get('format')!r}")

    for name, info in manifest["files"].items():
        path = d / name
        if not path.exists():
            return fail(f"{name} is missing")
        if sha256_file(path) != info["sha256"]:
            return fail(f"{name} does not match the SHA-256 in manifest.json")
    print(f"files: {len(manifest['files'])} match the manifest")

    checkpoints = {}
    with (d / "checkpoints.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                cp = json.loads(line)
                checkpoints[int(cp["seq"])] = cp

    prev, expected, hashes = manifest["genesis_hash"], 1, {}
    with (d / "audit.jsonl").open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            rec = json.loads(line)
            seq = int(rec["seq"])
            if seq != expected:
                return fail(f"audit.jsonl line {n}: record #{expected} expected, found #{seq}")
            if rec["prev_hash"] != prev:
                return fail(f"record #{seq}: does not link to record #{seq - 1}")
            computed = hashlib.sha256(prev.encode() + b"\n" + canonical(rec)).hexdigest()
            if computed != rec["hash"]:
                return fail(f"record #{seq} ({rec['event_id']}): content does not match its hash")
            cp = checkpoints.get(seq)
            if cp is not None and cp["head_hash"] != computed:
                return fail(f"record #{seq}: chain differs from the checkpoint signed there")
            hashes[seq] = computed
            prev, expected = computed, seq + 1
    records = expected - 1
    if records != manifest["records"] or prev != manifest["head_hash"]:
        return fail("the chain's length or head hash differs from manifest.json")
    print(f"chain: {records} records intact, head {prev}")

    with (d / "audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != records:
        return fail(f"audit.csv has {len(rows)} records, audit.jsonl {records}")
    for row in rows:
        if hashes.get(int(row["seq"])) != row["hash"]:
            return fail(f"audit.csv record #{row['seq']} differs from audit.jsonl")
    print("csv: same records as audit.jsonl")

    for seq in checkpoints:
        if seq > records:
            return fail(f"checkpoint at #{seq} covers records missing from the export")
    trusted = dict(k.split("=", 1) for k in args.key) or {
        kid: info["public_key"] for kid, info in manifest.get("checkpoint_keys", {}).items()
    }
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        print(f"signatures: {len(checkpoints)} checkpoints NOT checked (pip install cryptography)")
        return 2
    for seq, cp in sorted(checkpoints.items()):
        if cp["key_id"] not in trusted:
            return fail(f"checkpoint at #{seq}: key {cp['key_id']} is not a trusted key")
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(trusted[cp["key_id"]]))
        message = "\n".join(
            [cp["scheme"], str(cp["seq"]), cp["head_hash"], cp["signed_at"], cp["key_id"]]
        ).encode()
        try:
            public.verify(bytes.fromhex(cp["signature"]), message)
        except InvalidSignature:
            return fail(f"checkpoint at #{seq}: signature does not verify")
    source = "--key" if args.key else "manifest.json"
    print(f"signatures: {len(checkpoints)} checkpoints verified with keys from {source}")
    last = max(checkpoints, default=0)
    if last < records:
        print(f"note: records #{last + 1}..#{records} are not yet covered by a checkpoint")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
