#!/usr/bin/env python3
"""Re-verify a monthly archive of the hub's transfer log without the hub (``hub audit archive``).

    python3 verify_export.py ARCHIVE_DIR [--key KEY_ID=BASE64_PUBLIC_KEY]

(``verify_export.py`` hands an archive to this file.)  Checks, in order: the manifest's signature
(by ``--key``, or the key the manifest names, which is only as trustworthy as the manifest);
each file's digest; the hash chain of records.jsonl from the manifest's ``prev_hash``; that the
RFC 9162 tree of the log, rebuilt from the manifest's ``frontier`` (the subtree hashes of every
earlier record) and the month's records, has the manifest's root at ``tree_size``, and that the
signed checkpoint names that root; that the chain passes through each checkpoint of the month;
that every line of every agency extract is the same line in records.jsonl; and the agencies'
cosignatures on the month's tree heads are reported.  Memory stays flat: one line per file and
the frontier (at most log2(n) hashes).

This restates hub/audit/archive.py on purpose: it is what an outsider runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import verify_export as vx


def _check_note(note: str, size: int, root: bytes, key_id: str, raw: bytes) -> bool:
    body, _, signatures = note.partition("\n\n")
    if body.split("\n")[1:3] != [str(size), base64.b64encode(root).decode()]:
        return False
    note_type = b"\xff" if key_id.startswith("sm2:") else b"\x01"
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[1] != key_id:
            continue
        blob = base64.b64decode(parts[2])
        if blob[:4] == hashlib.sha256(key_id.encode() + b"\n" + note_type + raw).digest()[:4]:
            return vx.verify_signature(key_id, raw, blob[4:], (body + "\n").encode())
    return False


def verify(d: Path, keys: dict[str, str]) -> int:
    body = (d / "manifest.json").read_bytes()
    manifest = json.loads(body)
    sig = json.loads((d / "manifest.sig").read_text(encoding="utf-8"))
    key_id = sig["key_id"]
    # Keys given on the command line are the only ones trusted; without, the manifest's own.
    own = manifest["key"]["public_key"] if manifest["key"]["key_id"] == key_id else None
    public = keys.get(key_id) if keys else own
    if public is None:
        return vx.fail(f"the manifest is signed by {key_id}, which is not trusted")
    raw = base64.b64decode(public)
    if not vx.verify_signature(key_id, raw, base64.b64decode(sig["signature"]), body):
        return vx.fail("manifest.sig does not verify")
    source = "--key" if key_id in keys else "the manifest's own key (compare it with the directory)"
    print(f"manifest: signed by {key_id} ({source})")
    vx.HASH = manifest["hash"]
    for name, expected in manifest["files"].items():
        if not (d / name).exists() or vx.file_digest(d / name) != expected:
            return vx.fail(f"{name} is missing or does not match the manifest")
    print(f"files: {len(manifest['files'])} match the manifest")

    checkpoints = {}
    for line in (d / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines():
        cp = json.loads(line)
        checkpoints[int(cp["seq"])] = cp
    # The tree of every earlier record, as its perfect subtrees (size, hash), largest first.
    nodes = [(int(n), bytes.fromhex(h)) for n, h in manifest["frontier"]]
    if sum(n for n, _ in nodes) != manifest["first_seq"] - 1:
        return vx.fail("the frontier does not cover the records before the month")
    extracts = {p: p.open(encoding="utf-8") for p in sorted((d / "agencies").glob("*.jsonl"))}
    pending = {p: f.readline() for p, f in extracts.items()}
    prev, expected = manifest["prev_hash"], manifest["first_seq"]
    with (d / "records.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            seq = int(rec["seq"])
            if seq != expected or rec["prev_hash"] != prev:
                return vx.fail(f"record #{seq}: not the next record of the chain")
            computed = vx.digest(prev.encode() + b"\n" + vx.canonical(rec)).hex()
            if computed != rec["hash"]:
                return vx.fail(f"record #{seq}: content does not match its hash")
            if seq in checkpoints and checkpoints[seq]["head_hash"] != computed:
                return vx.fail(f"record #{seq}: chain differs from the checkpoint signed there")
            size, node = 1, vx._leaf(computed)
            while nodes and nodes[-1][0] == size:
                size, node = size * 2, vx._node(nodes.pop()[1], node)
            nodes.append((size, node))
            for p, waiting in pending.items():
                if waiting and json.loads(waiting)["seq"] == seq:
                    if waiting != line:
                        return vx.fail(f"{p.name}: record #{seq} differs from records.jsonl")
                    pending[p] = extracts[p].readline()
            prev, expected = computed, seq + 1
    for p, f in extracts.items():
        f.close()
        if pending[p]:
            return vx.fail(f"{p.name} holds a record that is not the month's, or out of order")
    if expected - 1 != manifest["last_seq"]:
        return vx.fail("the records end before the manifest's last record")
    root = nodes[-1][1]
    for _, left in reversed(nodes[:-1]):
        root = vx._node(left, root)
    if root.hex() != manifest["root"] or manifest["tree_size"] != manifest["last_seq"]:
        return vx.fail("the tree of the log at the month's end does not have the manifest's root")
    if not _check_note(manifest["checkpoint"], manifest["tree_size"], root, key_id, raw):
        return vx.fail("the archive's checkpoint does not name its root or does not verify")
    first, last = manifest["first_seq"], manifest["last_seq"]
    print(f"chain: records #{first}..#{last} intact; tree of {last} records has root "
          f"{root.hex()[:16]}…, checkpoint verified")  # fmt: skip
    print(f"extracts: {len(extracts)} agencies' records match")
    lines = (d / "heads.jsonl").read_text(encoding="utf-8").splitlines()
    for head in map(json.loads, lines):
        print(f"head {head['tree_size']}: cosigned by {', '.join(head['agencies'])}")
    print(f"timestamps: {len(manifest['timestamps'])} tokens (openssl ts -verify each)")
    return 0
