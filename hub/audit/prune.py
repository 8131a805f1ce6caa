"""Pruning the live audit log after a month was archived (``hub audit prune``).

A month is pruned only from an archive (``hub.audit.archive``) that the operators' key signed,
whose every record is, byte for byte of its hashed content, the live record, and whose root is
the live tree's at the month's end.  Months go in order: the pruned records are always a prefix
of the log.  For each record its chain hash is kept in ``audit_pruned``: the tree's leaves stay
whole, so tree heads, consistency proofs from any earlier head, and inclusion proofs of later
records are what they were; the chain goes on from the last pruned hash; and an archived
record's own proof is its archive (its signed root at the month's end) plus the live log's
consistency proof from that size.  The database itself refuses to delete a record that no
archive row covers or whose hash was not kept (migration 0004).

Streams: batches of records, the frontier, nothing that grows with the month.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, insert, select

from hub.audit.archive import FORMAT, Frontier
from hub.audit.chain import record_hash
from hub.audit.export import digest_file
from hub.audit.pruned import pruned_start
from hub.audit.schema import audit_archives, audit_log, audit_pruned
from hub.audit.store import AuditStore
from hub.core import merkle
from hub.trust.suites import PublicKey

BATCH = 5000


class PruneError(ValueError):
    """An archive that does not allow pruning the records it claims."""


@dataclass(frozen=True)
class Pruned:
    month: str
    first_seq: int
    last_seq: int
    deleted: int
    #: True when this very archive had been pruned before: nothing was left to delete.
    before: bool = False


def check_archive(
    store: AuditStore, folder: Path, trusted: Callable[[str], PublicKey | None]
) -> dict:
    """The archive's manifest once it may be pruned: signed by a trusted key, the next months
    of the log, the same records as the live log, the same root; raises PruneError."""
    body = (folder / "manifest.json").read_bytes()
    manifest = json.loads(body)
    sig = json.loads((folder / "manifest.sig").read_text(encoding="utf-8"))
    key = trusted(str(sig.get("key_id")))
    if manifest.get("format") != FORMAT:
        raise PruneError(f"{folder} is not a monthly archive of the audit log")
    if key is None or not key.verify(base64.b64decode(sig["signature"]), body):
        raise PruneError("the archive's manifest is not signed by a key of the operators")
    suite = store.suite
    if manifest["hash"] != suite.hash_name:
        raise PruneError(f"the archive hashes with {manifest['hash']}, the log with "
                         f"{suite.hash_name}")  # fmt: skip
    if digest_file(folder / "records.jsonl", suite) != manifest["files"]["records.jsonl"]:
        raise PruneError("records.jsonl does not match its digest in the manifest")
    first, last = int(manifest["first_seq"]), int(manifest["last_seq"])
    done, prev = pruned_start(store)
    if not first <= done + 1 <= last:
        pruned = f"records #1..#{done} are pruned" if done else "nothing is pruned yet"
        raise PruneError(f"{pruned}: months are pruned in order, so the next archive to prune "
                         f"starts at #{done + 1}; this one starts at #{first}")  # fmt: skip
    live = store.records(after=first - 1, upto=last)
    with (folder / "records.jsonl").open(encoding="utf-8") as fh:
        prev = str(manifest["prev_hash"])
        for line in fh:
            rec = json.loads(line)
            if record_hash(prev, rec, suite) != rec["hash"] or rec["prev_hash"] != prev:
                raise PruneError(f"archived record #{rec['seq']} does not match its hash")
            if int(rec["seq"]) > done:
                mine = next(live, None)
                if mine is None or mine["seq"] != rec["seq"] or mine["hash"] != rec["hash"]:
                    raise PruneError(f"archived record #{rec['seq']} is not the live one")
            prev = rec["hash"]
    if next(live, None) is not None or int(manifest["records"]) != last - first + 1:
        raise PruneError("the archive holds fewer records than the log has in that range")
    frontier = Frontier(suite.digest)
    for h in store.iter_record_hashes(last):
        frontier.add(merkle.leaf_hash(h.encode(), suite.digest))
    if frontier.root().hex() != manifest["root"]:
        raise PruneError("the live tree at the archive's end has another root")
    manifest["manifest_digest"] = suite.digest(body).hex()
    return dict(manifest)


def prune(
    store: AuditStore,
    folder: Path,
    trusted: Callable[[str], PublicKey | None],
    progress: Callable[[int], None] | None = None,
) -> Pruned:
    """Delete the archived month's records from the live log, keeping their hashes; resumes
    where a pruning that stopped left off."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    with store.engine.connect() as conn:
        row = conn.execute(
            select(audit_archives).where(audit_archives.c.month == manifest.get("month"))
        ).first()
    if row is not None:
        digest = store.suite.digest((folder / "manifest.json").read_bytes()).hex()
        if digest != row.manifest_digest:  # another archive of the month was the one pruned
            raise PruneError(
                f"{row.month} was pruned from another archive of it (records #{row.first_seq}.."
                f"#{row.last_seq}); {folder} is not that archive: keep the one that was pruned"
            )
        if pruned_start(store)[0] >= row.last_seq:
            return Pruned(row.month, row.first_seq, row.last_seq, 0, before=True)
    m = check_archive(store, folder, trusted)
    first, last = int(m["first_seq"]), int(m["last_seq"])
    with store.engine.begin() as conn:
        known = conn.execute(
            select(func.count()).where(audit_archives.c.month == m["month"])
        ).scalar_one()
        if not known:
            conn.execute(insert(audit_archives).values(
                month=m["month"], first_seq=first, last_seq=last, root=m["root"],
                manifest_digest=m["manifest_digest"], pruned_at=datetime.now(UTC),
            ))  # fmt: skip
    deleted = 0
    while True:
        start = pruned_start(store)[0]
        if start >= last:
            break
        upto = min(start + BATCH, last)
        with store.engine.begin() as conn:
            rows = conn.execute(
                select(audit_log.c.seq, audit_log.c.hash)
                .where(audit_log.c.seq > start, audit_log.c.seq <= upto)
                .order_by(audit_log.c.seq)
            ).all()
            conn.execute(insert(audit_pruned), [{"seq": r.seq, "hash": r.hash} for r in rows])
            conn.execute(delete(audit_log).where(audit_log.c.seq > start, audit_log.c.seq <= upto))
        deleted += len(rows)
        if progress is not None:
            progress(deleted)
    return Pruned(str(m["month"]), first, last, deleted)
