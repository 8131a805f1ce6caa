"""Finding a hand-off whose records were pruned into a monthly archive.

Cases are kept for years; the live log keeps a month's records only until ``hub audit prune``
(after ``hub audit archive``).  The archives live under ``audit_archive_dir`` (default
``<home>/archives``), one folder per month named ``YYYY-MM``.  A lookup reads, for each pruned
month (``audit_archives``, newest first), the archive's ``records.jsonl`` line by line and keeps
the lines of the hand-off: memory is one line and the records found.

An archive's records count as *verified* when its ``manifest.json`` is the very manifest the
prune checked (its digest is the one recorded when the month was pruned: the operators'
signature, the frontier and the root were verified then), its ``records.jsonl`` has the digest
that manifest names, and each record found has the hash the live log kept for its number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub.audit.export import digest_file
from hub.audit.pruned import pruned_hash
from hub.audit.schema import audit_archives
from hub.audit.store import AuditStore


@dataclass
class ArchivedRecords:
    month: str
    folder: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Empty when verified; else why not (the records are still shown, marked).
    problem: str = ""

    @property
    def verified(self) -> bool:
        return not self.problem

    def label(self) -> str:
        state = "已核验 verified" if self.verified else f"未通过核验 NOT verified: {self.problem}"
        return f"来自 {self.month} 归档 from the {self.month} archive, {state}"


def pruned_months(store: AuditStore) -> list[tuple[str, str]]:
    """(month, manifest digest) of every pruned month, newest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(audit_archives.c.month, audit_archives.c.manifest_digest).order_by(
                audit_archives.c.month.desc()
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def find_archived(store: AuditStore, archive_dir: Path, message_id: str) -> list[ArchivedRecords]:
    """The archived records about ``message_id`` (as message or conversation), month by month,
    each with whether it verifies; months whose archive is missing say so."""
    found: list[ArchivedRecords] = []
    kept = pruned_hash(store)
    for month, manifest_digest in pruned_months(store):
        folder = archive_dir / month
        result = ArchivedRecords(month, folder)
        manifest_path, records_path = folder / "manifest.json", folder / "records.jsonl"
        if not manifest_path.exists() or not records_path.exists():
            continue  # not here: another month's archive may hold the case
        manifest_bytes = manifest_path.read_bytes()
        manifest = json.loads(manifest_bytes)
        records = [
            r for r in _lines(records_path)
            if message_id in (r.get("message_id"), r.get("conversation_id"))
        ]  # fmt: skip
        if not records:
            continue
        result.records = records
        if store.suite.digest(manifest_bytes).hex() != manifest_digest:
            result.problem = "its manifest is not the one the month was pruned with"
        elif digest_file(records_path, store.suite) != manifest["files"]["records.jsonl"]:
            result.problem = "records.jsonl is not the file its manifest names"
        else:
            bad = [r["seq"] for r in records if kept(int(r["seq"])) != r.get("hash")]
            if bad:
                result.problem = f"record #{bad[0]} has another hash than the live log kept"
        found.append(result)
    return found
