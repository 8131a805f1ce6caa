"""A month of the audit log as a signed, self-verifying archive, written in bounded memory.

``hub audit archive --month 2026-11 --out DIR`` writes into DIR:

- ``records.jsonl``: the month's records (those the sink recorded in the month), as the chain
  hashes them, with ``prev_hash`` and ``hash``;
- ``agencies/<AGENCY@REGION>.jsonl``: each agency's extract, the records it sent or received,
  the same lines, so an agency can keep what concerns it;
- ``checkpoints.jsonl`` and ``timestamps/<seq>.tsr|.dat``: the month's signed chain
  checkpoints and their RFC 3161 tokens;
- ``heads.jsonl``: the tree heads published within the month with every agency cosignature
  that verifies (C2SP signed notes), when the hub's store is given;
- ``manifest.json``: the range, the chain hash before it, the *frontier* (the RFC 9162 subtree
  hashes covering every earlier record: at most log2(n) of them), the tree size and root at the
  month's last record, a checkpoint of that root signed now, and each file's digest;
  ``manifest.sig``: the operators' signature over the manifest's bytes.

With the frontier, the month's leaves give the root of the whole log at its end, so the archive
proves its records are the log's without any earlier record; ``ops/audit/verify_export.py``
checks all of it with nothing from the hub.  Memory: one batch of records, the frontier, and one
open file per agency; never the month.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hub.audit.chain import GENESIS
from hub.audit.export import COLUMNS, HASH_RULE, digest_file, timestamps
from hub.audit.schema import audit_log
from hub.audit.store import AuditStore
from hub.audit.transparency import origin_of, signed_checkpoint
from hub.core import merkle
from hub.core.clock import BEIJING, iso_ms
from hub.trust.keys import SigningKey

FORMAT = "hub-audit-archive-v1"


class Frontier:
    """The perfect subtrees of an RFC 9162 tree grown leaf by leaf: (size, hash) pairs, largest
    first.  The root folds them from the right; memory is O(log n)."""

    def __init__(self, h: merkle.Digest, nodes: list[tuple[int, bytes]] | None = None) -> None:
        self.h, self.nodes = h, list(nodes or [])

    @property
    def size(self) -> int:
        return sum(n for n, _ in self.nodes)

    def add(self, leaf: bytes) -> None:
        size, node = 1, leaf
        while self.nodes and self.nodes[-1][0] == size:
            _, left = self.nodes.pop()
            size, node = size * 2, merkle.node_hash(left, node, self.h)
        self.nodes.append((size, node))

    def root(self) -> bytes:
        if not self.nodes:
            return self.h(b"")
        node = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            node = merkle.node_hash(left, node, self.h)
        return node

    def to_json(self) -> list[list[Any]]:
        return [[n, x.hex()] for n, x in self.nodes]


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a month given as YYYY-MM, as UTC instants: the month as the agencies
    count it, from midnight Beijing time on its first day (docs/audit.md)."""
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=BEIJING).astimezone(UTC)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=BEIJING).astimezone(UTC)
    return start, end


def unfinished(month: str, now: datetime) -> str | None:
    """Why ``month`` cannot be archived at ``now`` (it has not ended), or None.  An archive is
    written once: records still to come in the month would be in no archive."""
    _, end = month_bounds(month)
    if now >= end:
        return None
    ends = end.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return f"{month} has not ended (it ends {ends} Beijing time): archive a month once it is over"


def seq_range(store: AuditStore, month: str) -> tuple[int, int] | None:
    start, end = month_bounds(month)
    rec = audit_log.c.recorded_at
    stmt = select(func.min(audit_log.c.seq), func.max(audit_log.c.seq)).where(
        rec >= start, rec < end
    )
    with store.engine.connect() as conn:
        first, last = conn.execute(stmt).one()
    return None if first is None else (int(first), int(last))


def write_archive(
    store: AuditStore,
    out: Path,
    month: str,
    key: SigningKey,
    *,
    heads: Callable[[int, int], list[dict[str, Any]]] | None = None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the month's archive into ``out`` (see the module); returns the manifest.
    ``heads(first, last)`` gives the cosigned tree heads of that range.  Raises ValueError for
    a month that has not ended at ``now`` (the hub's clock) or that holds no record."""
    problem = unfinished(month, now or datetime.now(UTC))
    if problem:
        raise ValueError(problem)
    found = seq_range(store, month)
    if found is None:
        raise ValueError(f"the audit log has no record of {month}")
    first, last = found
    suite = store.suite
    frontier = Frontier(suite.digest)
    prev_hash = GENESIS
    for h in store.iter_record_hashes(first - 1):
        frontier.add(merkle.leaf_hash(h.encode(), suite.digest))
        prev_hash = h
    before = frontier.to_json()
    out.mkdir(parents=True, exist_ok=True)
    (out / "agencies").mkdir(exist_ok=True)
    extracts: dict[str, Any] = {}
    count = 0
    try:
        with (out / "records.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
            for rec in store.records(after=first - 1, upto=last):
                line = json.dumps({c: rec.get(c) for c in COLUMNS}, ensure_ascii=False,
                                  separators=(",", ":")) + "\n"  # fmt: skip
                fh.write(line)
                for party in {str(rec.get("sender") or ""), str(rec.get("recipient") or "")} - {""}:
                    if party not in extracts:
                        name = out / "agencies" / f"{party}.jsonl"
                        extracts[party] = name.open("w", encoding="utf-8", newline="\n")
                    extracts[party].write(line)
                frontier.add(merkle.leaf_hash(str(rec["hash"]).encode(), suite.digest))
                count += 1
                if progress is not None and count % 10000 == 0:
                    progress(count)
    finally:
        for f in extracts.values():
            f.close()
    root = frontier.root()
    checkpoints = [cp for cp in store.checkpoints() if first <= cp.seq <= last]
    with (out / "checkpoints.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for cp in checkpoints:
            fh.write(json.dumps(cp.to_json(), separators=(",", ":")) + "\n")
    stamped = timestamps(store, out, first, last)
    cosigned = heads(first, last) if heads is not None else []
    with (out / "heads.jsonl").open("w", encoding="utf-8", newline="\n") as fh:
        for head in cosigned:
            fh.write(json.dumps(head, ensure_ascii=False, separators=(",", ":")) + "\n")
    files = {
        str(p.relative_to(out)): digest_file(p, suite)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "manifest.sig")
    }
    manifest = {
        "format": FORMAT,
        "month": month,
        "archived_at": iso_ms(datetime.now(UTC)),
        "first_seq": first,
        "last_seq": last,
        "records": count,
        "prev_hash": prev_hash,
        "frontier": before,
        "hash": suite.hash_name,
        "hash_rule": HASH_RULE.replace("HASH", suite.hash_name),
        "tree_size": last,
        "root": root.hex(),
        "checkpoint": signed_checkpoint(origin_of(suite), last, root, key),
        "key": {"key_id": key.key_id, "public_key": key.public_b64},
        "timestamps": stamped,
        "cosigned_heads": len(cosigned),
        "files": files,
        "verify_with": "python3 ops/audit/verify_export.py <this directory>",
    }
    body = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode()
    (out / "manifest.json").write_bytes(body)
    signature = {"key_id": key.key_id, "signature": base64.b64encode(key.sign(body)).decode()}
    (out / "manifest.sig").write_text(json.dumps(signature) + "\n", encoding="utf-8")
    return manifest
