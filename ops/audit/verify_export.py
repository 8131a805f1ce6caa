#!/usr/bin/env python3
"""Re-verify an export of the hub's transfer log without the hub (``hub audit export``), or a
monthly archive (``hub audit archive``: checked by verify_archive.py beside this file).

    python3 verify_export.py EXPORT_DIR [--key KEY_ID=BASE64_PUBLIC_KEY ...]

Checks, in order: each file's digest against manifest.json; the hash chain of audit.jsonl
from the genesis hash (sequence, links, every record's hash, the head in the manifest); that
audit.csv holds the same records; each checkpoint's signature and that the chain passes through
the signed hash at its sequence number.  Exit 0 when everything holds, 1 at the first failure,
naming it.

The log's hash is the manifest's ``hash``: ``sha256``, or ``sm3`` for a hub of the gm suite
(SM3 from the standard library's OpenSSL when it has it, else from tongsuopy).  A key's id
names its algorithm: ``ed25519:…`` (Ed25519, ``cryptography``) or ``sm2:…`` (SM2 with SM3 and the
signer id 1234567812345678, ``tongsuopy``).

With ``--prove PROOF.json`` (from ``hub audit prove``) it also checks, per RFC 9162, that each
record of the proof is in the Merkle tree over the export's first ``tree_size`` records (leaf =
H(0x00 || record hash), node = H(0x01 || left || right), H the log's hash), that the tree's
root is the proof's, and that its signed checkpoint (a C2SP signed note) names that root and
verifies with a trusted key.

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


HASH = "sha256"  # the log's hash, from the manifest


def hasher():
    if HASH == "sha256" or HASH in hashlib.algorithms_available:
        return hashlib.new(HASH)
    from tongsuopy.crypto import hashes  # SM3 where this Python's OpenSSL has none

    class _Sm3:
        def __init__(self) -> None:
            self._h = hashes.Hash(hashes.SM3())

        def update(self, data: bytes) -> None:
            self._h.update(data)

        def digest(self) -> bytes:
            return self._h.copy().finalize()

        def hexdigest(self) -> str:
            return self.digest().hex()

    return _Sm3()


def digest(data: bytes) -> bytes:
    h = hasher()
    h.update(data)
    return h.digest()


def file_digest(path: Path) -> str:
    h = hasher()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_signature(key_id: str, raw: bytes, signature: bytes, message: bytes) -> bool:
    """Ed25519 or SM2 (with SM3, signer id 1234567812345678), by the key id's algorithm."""
    if key_id.startswith("sm2:"):
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec

        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), raw)
        try:
            public.verify(signature, message, ec.ECDSA(hashes.SM3()))
        except Exception:  # InvalidSignature, or a malformed signature
            return False
        return True
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _leaf(record_hash: str) -> bytes:
    return digest(b"\x00" + record_hash.encode())


def _node(left: bytes, right: bytes) -> bytes:
    return digest(b"\x01" + left + right)


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return digest(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_holds(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2, restated."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def check_proof(path: Path, hashes: dict[int, str], trusted: dict[str, str]) -> int:
    proof = json.loads(path.read_text(encoding="utf-8"))
    size = int(proof["tree_size"])
    if size > len(hashes):
        return fail(f"the proof's tree has {size} records, the export {len(hashes)}")
    root = merkle_root([_leaf(hashes[seq]) for seq in range(1, size + 1)])
    if root.hex() != proof["root"]:
        return fail("the export's first records do not give the proof's tree root")
    for rec in proof["records"]:
        seq = int(rec["seq"])
        if hashes.get(seq) != rec["hash"]:
            return fail(f"proof record #{seq} differs from the export's")
        path_ = [bytes.fromhex(p) for p in rec["proof"]]
        if not inclusion_holds(seq - 1, size, _leaf(rec["hash"]), path_, root):
            return fail(f"record #{seq} is not included in the tree of {size}")
    note = proof.get("checkpoint")
    if not note:
        print("proof: inclusion holds; the tree head is NOT signed")
        return 2
    body, _, signatures = note.partition("\n\n")
    lines = body.split("\n")
    if lines[1:3] != [str(size), base64.b64encode(root).decode()]:
        return fail("the checkpoint names another tree")
    for line in signatures.splitlines():
        _, name, sig = line.split(" ", 2)
        if name not in trusted:
            continue
        raw = base64.b64decode(trusted[name])
        blob = base64.b64decode(sig)
        note_type = b"\xff" if name.startswith("sm2:") else b"\x01"  # C2SP signed-note types
        if blob[:4] != hashlib.sha256(name.encode() + b"\n" + note_type + raw).digest()[:4]:
            return fail(f"checkpoint signature of {name}: wrong key hash")
        if not verify_signature(name, raw, blob[4:], (body + "\n").encode()):
            return fail(f"checkpoint signature of {name} does not verify")
        print(f"proof: {len(proof['records'])} records included in the tree of {size}, "
              f"root {root.hex()[:16]}…, checkpoint signed by {name}")  # fmt: skip
        return 0
    return fail("the checkpoint is not signed by a trusted key")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("export_dir", type=Path)
    ap.add_argument("--key", action="append", default=[], help="KEY_ID=BASE64 trusted public key")
    ap.add_argument("--prove", type=Path, help="a proof from `hub audit prove` to check too")
    ap.add_argument("--directory", type=Path,
                    help="an archive: the signed directory.json whose agencies' keys check the "
                    "cosignatures on its tree heads (with --anchor)")  # fmt: skip
    ap.add_argument("--anchor", type=Path, help="the directory's trust anchor (directory-anchor."
                    "json, from the operators out of band)")  # fmt: skip
    ap.add_argument("--tsa-ca", type=Path, help="an archive: the TSA's CA certificate(s); each "
                    "token is checked with openssl ts -verify")  # fmt: skip
    args = ap.parse_args(argv)
    if (args.directory is None) != (args.anchor is None):
        ap.error("--directory and --anchor go together")
    d: Path = args.export_dir
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") == "hub-audit-archive-v1":  # a month (`hub audit archive`)
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # however this was started
        import verify_archive

        return verify_archive.verify(d, dict(k.split("=", 1) for k in args.key),
                                     directory=args.directory, anchor=args.anchor,
                                     tsa_ca=args.tsa_ca)  # fmt: skip
    if manifest.get("format") != "hub-audit-export-v1":
        return fail(f"unknown export format {manifest.get('format')!r}")
    global HASH
    HASH = manifest.get("hash", "sha256")
    if HASH not in ("sha256", "sm3"):
        return fail(f"unknown hash {HASH!r}")

    for name, info in manifest["files"].items():
        path = d / name
        if not path.exists():
            return fail(f"{name} is missing")
        if file_digest(path) != info[HASH]:
            return fail(f"{name} does not match the {HASH} digest in manifest.json")
    print(f"files: {len(manifest['files'])} match the manifest")

    checkpoints = {}
    with (d / "checkpoints.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                cp = json.loads(line)
                checkpoints[int(cp["seq"])] = cp

    prev, expected, hashes = manifest["genesis_hash"], 1, {}
    pruned_path = d / "pruned.jsonl"
    if manifest.get("pruned") and pruned_path.exists():  # archived records: their hashes only
        with pruned_path.open(encoding="utf-8") as fh:
            for line in fh:
                kept = json.loads(line)
                hashes[int(kept["seq"])] = prev = kept["hash"]
        expected = int(manifest["pruned"]) + 1
        if len(hashes) != manifest["pruned"]:
            return fail("pruned.jsonl does not hold the hash of every pruned record")
    with (d / "audit.jsonl").open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            rec = json.loads(line)
            seq = int(rec["seq"])
            if seq != expected:
                return fail(f"audit.jsonl line {n}: record #{expected} expected, found #{seq}")
            if rec["prev_hash"] != prev:
                return fail(f"record #{seq}: does not link to record #{seq - 1}")
            computed = digest(prev.encode() + b"\n" + canonical(rec)).hex()
            if computed != rec["hash"]:
                return fail(f"record #{seq} ({rec['event_id']}): content does not match its hash")
            cp = checkpoints.get(seq)
            if cp is not None and cp["head_hash"] != computed:
                return fail(f"record #{seq}: chain differs from the checkpoint signed there")
            hashes[seq] = computed
            prev, expected = computed, seq + 1
    records, pruned = expected - 1, int(manifest.get("pruned") or 0)
    for seq, cp in checkpoints.items():
        if seq <= pruned and hashes.get(seq) != cp["head_hash"]:
            return fail(f"checkpoint at #{seq} names another hash than the pruned record's")
    if records - pruned != manifest["records"] or prev != manifest["head_hash"]:
        return fail("the chain's length or head hash differs from manifest.json")
    print(f"chain: {records} records intact, head {prev}")

    with (d / "audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != records - pruned:
        return fail(f"audit.csv has {len(rows)} records, audit.jsonl {records - pruned}")
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
    for seq, cp in sorted(checkpoints.items()):
        if cp["key_id"] not in trusted:
            return fail(f"checkpoint at #{seq}: key {cp['key_id']} is not a trusted key")
        message = "\n".join(
            [cp["scheme"], str(cp["seq"]), cp["head_hash"], cp["signed_at"], cp["key_id"]]
        ).encode()
        raw = base64.b64decode(trusted[cp["key_id"]])
        try:
            good = verify_signature(cp["key_id"], raw, bytes.fromhex(cp["signature"]), message)
        except ImportError as exc:
            print(f"signatures: {len(checkpoints)} checkpoints NOT checked ({exc.name} missing)")
            return 2
        if not good:
            return fail(f"checkpoint at #{seq}: signature does not verify")
    source = "--key" if args.key else "manifest.json"
    print(f"signatures: {len(checkpoints)} checkpoints verified with keys from {source}")
    last = max(checkpoints, default=0)
    if last < records:
        print(f"note: records #{last + 1}..#{records} are not yet covered by a checkpoint")
    if args.prove is not None:
        verdict = check_proof(args.prove, hashes, trusted)
        if verdict:
            return verdict
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
