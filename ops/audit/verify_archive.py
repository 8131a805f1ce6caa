#!/usr/bin/env python3
"""Re-verify a monthly archive of the hub's transfer log without the hub (``hub audit archive``).

    python3 verify_export.py ARCHIVE_DIR [--key KEY_ID=BASE64_PUBLIC_KEY]
        [--directory directory.json --anchor directory-anchor.json] [--tsa-ca tsa-ca.pem]

(``verify_export.py`` hands an archive to this file.)  Checks, in order: the manifest's signature
(by ``--key``, or the key the manifest names, which is only as trustworthy as the manifest);
each file's digest; the hash chain of records.jsonl from the manifest's ``prev_hash``; that the
RFC 9162 tree of the log, rebuilt from the manifest's ``frontier`` (the subtree hashes of every
earlier record) and the month's records, has the manifest's root at ``tree_size``, and that the
signed checkpoint names that root; that the chain passes through each checkpoint of the month;
that every line of every agency extract is the same line in records.jsonl; that each tree head
of heads.jsonl names the root the rebuilt tree has at its size and is signed by the manifest's
key; that every cosignature line on a head verifies (C2SP tlog-cosignature) with a key the
signed directory gives to the agency it names — the directory's own signature checked against
the trust anchor (``--directory``, ``--anchor``); without them no cosignature is counted — and
that each timestamp's ``<seq>.dat`` is the stamped form of checkpoint ``<seq>`` (and, with
``--tsa-ca``, that ``openssl ts -verify`` accepts the token).  Only what verifies is counted:
a head whose listed agencies are not the ones whose cosignatures verify fails the archive.
Memory stays flat: one line per file and the frontier (at most log2(n) hashes).

This restates hub/audit/archive.py on purpose: it is what an outsider runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
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


DIRECTORY_DOMAIN = b"hub-directory-v1\n"
COSIGNATURE_TYPE = {"ed25519": b"\x04", "sm2": b"\xffcosignature/v1"}


def load_directory(directory: Path, anchor: Path) -> dict[str, tuple[str, bytes, str]] | str:
    """key id -> (agency address, raw public key, status) of every signing key in a directory
    signed by a key of the anchor; or why not.  The directory is signed over its RFC 8785 form:
    for its contents (strings, whole numbers, lists and objects with ASCII keys) that is JSON with
    sorted keys, no spaces and UTF-8 text."""
    trusted = {k["key_id"]: base64.b64decode(k["public_key"])
               for k in json.loads(anchor.read_text(encoding="utf-8"))["keys"]}  # fmt: skip
    signed = json.loads(directory.read_text(encoding="utf-8"))
    jcs = json.dumps(signed["directory"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    body = DIRECTORY_DOMAIN + jcs.encode()
    good = [s["key_id"] for s in signed.get("signatures", []) if s["key_id"] in trusted
            and vx.verify_signature(s["key_id"], trusted[s["key_id"]],
                                    base64.b64decode(s["signature"]), body)]  # fmt: skip
    if not good:
        return "the directory is not signed by a key of the trust anchor"
    return {key["key_id"]: (c["address"], base64.b64decode(key["public_key"]), key["status"])
            for c in signed["directory"]["connectors"] for key in c.get("keys", [])}  # fmt: skip


def _cosigners(note: str, operators: str, keys: dict[str, tuple[str, bytes, str]]) -> set[str]:
    """The agencies whose cosignature lines on ``note`` verify; raises ValueError naming the
    first line that does not (an unknown or revoked key, another agency's, a bad signature)."""
    body, _, lines = note.partition("\n\n")
    found = set()
    for line in lines.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[1] == operators:
            continue
        key_id = parts[1]
        if key_id not in keys or keys[key_id][2] == "revoked":
            raise ValueError(f"a cosignature by {key_id[:40]}, no usable key of the directory")
        address, raw, _ = keys[key_id]
        blob = base64.b64decode(parts[2])
        algorithm = key_id.split(":", 1)[0]
        key_hash = hashlib.sha256(key_id.encode() + b"\n" + COSIGNATURE_TYPE.get(algorithm, b"?")
                                  + raw).digest()[:4]  # fmt: skip
        when = int.from_bytes(blob[4:12], "big")
        message = f"cosignature/v1\ntime {when}\n{body}\n".encode()
        if blob[:4] != key_hash or not vx.verify_signature(key_id, raw, blob[12:], message):
            raise ValueError(f"the cosignature by {key_id[:40]} ({address}) does not verify")
        found.add(address)
    return found


def _root(nodes: list[tuple[int, bytes]]) -> bytes:
    root = nodes[-1][1]
    for _, left in reversed(nodes[:-1]):
        root = vx._node(left, root)
    return root


def _tokens(d: Path, manifest: dict, checkpoints: dict, tsa_ca: Path | None) -> str | None:
    """Why a timestamp does not date its checkpoint, or None."""
    for item in manifest["timestamps"]:
        seq = int(item["seq"])
        cp = checkpoints.get(seq)
        if cp is None:
            return f"timestamps/{seq}.tsr names no checkpoint of the archive"
        message = "\n".join([cp["scheme"], str(cp["seq"]), cp["head_hash"], cp["signed_at"],
                             cp["key_id"]]) + "\n" + cp["signature"]  # fmt: skip
        if (d / "timestamps" / f"{seq}.dat").read_bytes() != message.encode():
            return f"timestamps/{seq}.dat is not checkpoint #{seq} as signed"
        if tsa_ca is not None:
            done = subprocess.run(["openssl", "ts", "-verify", "-data",
                                   str(d / "timestamps" / f"{seq}.dat"), "-in",
                                   str(d / "timestamps" / f"{seq}.tsr"), "-CAfile", str(tsa_ca)],
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode != 0:
                return f"timestamps/{seq}.tsr does not verify: {done.stderr.strip()[:200]}"
    return None


def verify(
    d: Path,
    keys: dict[str, str],
    *,
    directory: Path | None = None,
    anchor: Path | None = None,
    tsa_ca: Path | None = None,
) -> int:
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
    heads = {}
    for line in (d / "heads.jsonl").read_text(encoding="utf-8").splitlines():
        head = json.loads(line)
        heads[int(head["tree_size"])] = head
    agency_keys = None
    if directory is not None and anchor is not None:
        agency_keys = load_directory(directory, anchor)
        if isinstance(agency_keys, str):
            return vx.fail(agency_keys)
    vouched: dict[int, set[str]] = {}
    extracts = {p: p.open(encoding="utf-8") for p in sorted((d / "agencies").glob("*.jsonl"))}
    pending = {p: f.readline() for p, f in extracts.items()}
    prev, expected = manifest["prev_hash"], manifest["first_seq"]
    first_seq = expected
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
            if seq in heads:  # a head of this size must name the tree as rebuilt here
                note = heads[seq]["note"]
                if not _check_note(note, seq, _root(nodes), key_id, raw):
                    return vx.fail(f"head {seq}: not the log's root at that size, or not signed")
                if agency_keys is not None:
                    try:
                        vouched[seq] = _cosigners(note, key_id, agency_keys)
                    except ValueError as exc:
                        return vx.fail(f"head {seq}: {exc}")
                    if vouched[seq] != set(heads[seq]["agencies"]):
                        return vx.fail(f"head {seq}: lists agencies whose cosignatures it lacks")
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
    if any(size < first_seq or size > expected - 1 for size in heads):
        return vx.fail("heads.jsonl holds a head outside the month")
    root = _root(nodes)
    if root.hex() != manifest["root"] or manifest["tree_size"] != manifest["last_seq"]:
        return vx.fail("the tree of the log at the month's end does not have the manifest's root")
    if not _check_note(manifest["checkpoint"], manifest["tree_size"], root, key_id, raw):
        return vx.fail("the archive's checkpoint does not name its root or does not verify")
    first, last = manifest["first_seq"], manifest["last_seq"]
    print(f"chain: records #{first}..#{last} intact; tree of {last} records has root "
          f"{root.hex()[:16]}…, checkpoint verified")  # fmt: skip
    print(f"extracts: {len(extracts)} agencies' records match")
    for size in sorted(heads):
        if agency_keys is None:
            print(f"head {size}: root and signature verified; cosignatures NOT checked "
                  "(give --directory and --anchor)")  # fmt: skip
        else:
            names = ", ".join(sorted(vouched[size])) or "no agency"
            print(f"head {size}: cosigned by {names} (each cosignature verified)")
    problem = _tokens(d, manifest, checkpoints, tsa_ca)
    if problem:
        return vx.fail(problem)
    how = "verified with openssl ts -verify" if tsa_ca else "give --tsa-ca to verify the tokens"
    print(f"timestamps: {len(manifest['timestamps'])} tokens date their checkpoints ({how})")
    return 0
