"""Exporting the transfer log for people outside the hub: CSV, JSON Lines and a manifest.

``audit.jsonl`` holds every record exactly as the chain hashes it (plus ``prev_hash`` and
``hash``); ``audit.csv`` the same columns for a spreadsheet; ``checkpoints.jsonl`` the signed
checkpoints; ``manifest.json`` each file's digest, the log's hash (``sha256``, or ``sm3`` for a
log of the gm suite), the hash rule, the head of the chain and the public keys that signed the
checkpoints.  ``ops/audit/verify_export.py`` re-verifies
all of it with the Python standard library (and ``cryptography`` for the signatures), without
the hub or its database.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.audit.chain import CHAIN_COLUMNS, CHECKPOINT_SCHEME, GENESIS, Checkpoint
from hub.audit.pruned import pruned_start
from hub.audit.store import AuditStore
from hub.core.clock import iso_ms
from hub.trust.suites import Suite

FORMAT = "hub-audit-export-v1"
COLUMNS = (*CHAIN_COLUMNS, "prev_hash", "hash")
HASH_RULE = (
    "hash_n = HASH_hex(hash_{n-1} + '\\n' + canonical_n); hash_0 = 64 zeros; canonical_n = "
    "JSON object of the columns " + ", ".join(CHAIN_COLUMNS) + " of record n (null where "
    "empty), keys sorted, separators ',' and ':', non-ASCII escaped as \\uXXXX; 'signed' and "
    "'facts' are JSON strings taken verbatim"
)
CHECKPOINT_RULE = (
    "a signature by key_id (ed25519:… Ed25519; sm2:… SM2 with SM3, signer id 1234567812345678) "
    "over the UTF-8 lines '" + CHECKPOINT_SCHEME + "', seq, head_hash, signed_at, key_id joined "
    "by '\\n'"
)


def digest_file(path: Path, suite: Suite) -> str:
    h = suite.hasher()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def timestamps(store: AuditStore, out: Path, first: int = 1, last: int | None = None) -> list[dict]:
    """Each token of a checkpoint in [first, last] and the bytes it stamps, as files
    ``openssl ts`` reads."""
    from hub.audit.stamps import Stamps
    from hub.audit.timestamps import stamped_bytes, token_time

    folder = out / "timestamps"
    folder.mkdir(exist_ok=True)
    listed = []
    for cp, token in Stamps(store).stamped():
        if cp.seq < first or (last is not None and cp.seq > last):
            continue
        (folder / f"{cp.seq}.tsr").write_bytes(token)
        (folder / f"{cp.seq}.dat").write_bytes(stamped_bytes(cp))
        listed.append({"seq": cp.seq, "time": iso_ms(token_time(token))})
    return listed


def export(
    store: AuditStore,
    out: Path,
    *,
    checkpoint_keys: dict[str, dict[str, str]],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the four files into ``out``; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    jsonl, csv_path = out / "audit.jsonl", out / "audit.csv"
    # Records pruned after archiving (hub.audit.prune) are in their archives; their hashes
    # come along, so the chain starts from the last of them and the tree stays whole.
    pruned = out / "pruned.jsonl"
    start = (0, GENESIS)
    with pruned.open("w", encoding="utf-8", newline="\n") as fh:
        for seq, h in enumerate(store.iter_record_hashes(pruned_start(store)[0]), start=1):
            fh.write(json.dumps({"seq": seq, "hash": h}) + "\n")
            start = (seq, h)
    count, first, last, head = 0, None, None, start[1]
    with (
        jsonl.open("w", encoding="utf-8", newline="\n") as fj,
        csv_path.open("w", encoding="utf-8", newline="") as fc,
    ):
        writer = csv.writer(fc)
        writer.writerow(COLUMNS)
        for rec in store.records():
            row = {c: rec.get(c) for c in COLUMNS}
            fj.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
            count += 1
            first = first if first is not None else rec["seq"]
            last, head = rec["seq"], rec["hash"]
            if progress is not None and count % 10000 == 0:
                progress(count)
    checkpoints: list[Checkpoint] = store.checkpoints()
    cps = out / "checkpoints.jsonl"
    with cps.open("w", encoding="utf-8", newline="\n") as fh:
        for cp in checkpoints:
            fh.write(json.dumps(cp.to_json(), separators=(",", ":")) + "\n")
    stamped = timestamps(store, out)
    files = {}
    for p in (jsonl, csv_path, cps, pruned, *sorted((out / "timestamps").glob("*"))):
        size = p.stat().st_size
        files[str(p.relative_to(out))] = {
            store.suite.hash_name: digest_file(p, store.suite),
            "bytes": size,
        }
    manifest = {
        "format": FORMAT,
        "exported_at": iso_ms(datetime.now(UTC)),
        "records": count,
        "first_seq": first,
        "last_seq": last,
        "head_hash": head,
        "genesis_hash": GENESIS,
        "pruned": start[0],  # records #1..#pruned are archived: pruned.jsonl has their hashes
        "columns": list(COLUMNS),
        "hash": store.suite.hash_name,
        "hash_rule": HASH_RULE.replace("HASH", store.suite.hash_name),
        "checkpoint_rule": CHECKPOINT_RULE,
        "checkpoints": len(checkpoints),
        "checkpoint_keys": checkpoint_keys,
        "timestamps": stamped,
        "timestamp_rule": "timestamps/<seq>.tsr is an RFC 3161 TimeStampResp over "
        "timestamps/<seq>.dat: the checkpoint's signed lines, '\\n', its signature in hex; "
        "openssl ts -verify -data <seq>.dat -in <seq>.tsr -CAfile <the TSA's CA>",
        "files": files,
        "verify_with": "python3 ops/audit/verify_export.py <this directory>",
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return manifest
