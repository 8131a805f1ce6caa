"""What a hand-off's page shows: what the hub knows of it, never more.

Its 台账 row; its chain of custody from the audit log, each step re-verified (record hash and the
signer's signature, as ``hub audit trail`` does) with the receipt's digests set beside what was
sent; its SLA obligations with their deadlines in working days and what fired; the manifest of
its documents (sizes and digests: their names are sealed, or payload); its dead letters; how many
agencies cosigned the log, and the time an outside TSA vouches its records existed by.  An
encrypted payload stays unreadable: the hub has only its digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from hub.audit.archived import find_archived
from hub.audit.events import CONSOLE_LOOK
from hub.audit.keys import message_keys, revocations
from hub.audit.stamps import Stamps
from hub.audit.store import AuditStore
from hub.audit.timestamps import TimestampError, stamped_bytes, token_time, verify_token
from hub.audit.trail import Step, build_trail, story
from hub.audit.witnesses import witnessed_head
from hub.console import words
from hub.core.clock import BEIJING
from hub.lifecycle.ledger import Ledger
from hub.sla.workdays import WorkCalendar
from hub.storage.cosignatures import CosignatureRows
from hub.storage.store import Store
from hub.storage.tree_heads import TreeHeads
from hub.trust.directory import Directory
from hub.wire.documents import parse_documents_fact


def _cst(at: Any) -> str:
    if not at:
        return ""
    when = (
        at if isinstance(at, datetime) else datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    )
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _due(at: datetime) -> str:
    """A deadline as people write it: the end of a day is that day's 24:00, not the next 00:00."""
    local = at.astimezone(BEIJING)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def _due_day(at: datetime) -> date:
    """The day a deadline falls on: one at 24:00 (the next day's 00:00) is that day's, so a
    1-working-day deadline counts 1, not 2."""
    return (at.astimezone(BEIJING) - timedelta(microseconds=1)).date()


def _step(s: Step) -> dict[str, Any]:
    r = s.record
    return {
        "seq": r["seq"],
        "kind": r["kind"],
        "at": _cst(r["occurred_at"]),
        "story": words.story(s, story(s)),
        "signature": s.signature or "-",
        "signer": s.signer,
        "record_ok": s.record_ok,
        "receipt_check": s.receipt_check,
        "documents": [d.to_json() for d in s.document_checks],
        "message_id": r["message_id"],
    }


def independent_time(
    audit: AuditStore, last_seq: int, roots: Sequence[x509.Certificate]
) -> dict[str, Any] | None:
    """The TSA's time on the first checkpoint covering record ``last_seq``, with whether its token
    verifies against ``roots`` (the tsa_ca_file's CAs; none: not checked here), or None when no
    such checkpoint has a token yet."""
    found = Stamps(audit).covering(last_seq) if last_seq else None
    if found is None:
        return None
    cp, token = found
    try:
        at = verify_token(token, stamped_bytes(cp), roots) if roots else token_time(token)
        verdict, problem = ("verified" if roots else "unchecked"), None
    except (TimestampError, ValueError) as exc:
        at, verdict, problem = None, "failed", str(exc)
    return {"checkpoint": cp.seq, "at": _cst(at), "verdict": verdict, "problem": problem}


def handoff_view(
    message_id: str,
    *,
    ledger: Ledger,
    store: Store,
    audit: AuditStore,
    directory: Directory,
    calendar: WorkCalendar,
    now: datetime,
    tsa_roots: Sequence[x509.Certificate] = (),
    archive_dir: Path | None = None,
) -> dict[str, Any] | None:
    entry = ledger.entry(message_id)
    if entry is None:
        return None
    live = audit.trail(message_id)
    steps = build_trail(live, audit.predecessor_hash, message_keys(directory, audit),
                        revocations(directory), audit.suite)  # fmt: skip
    # Records pruned from the live log (hub audit prune) are read from the month's archive.
    archived = []
    if archive_dir is not None and not any(r["kind"] == "delivered" for r in live):
        for a in find_archived(audit, archive_dir, message_id):
            archived.append({
                "label": a.label(), "verified": a.verified,
                "records": [{"seq": r["seq"], "at": _cst(r["occurred_at"]), "kind": r["kind"],
                             "status": r.get("status") or ""} for r in a.records],
            })  # fmt: skip
    documents: list[dict[str, Any]] = []
    for s in steps:
        if s.record["kind"] == "submitted" and s.record["message_id"] == message_id:
            for n, (size, root) in sorted(
                parse_documents_fact(s.facts.get("documents", "")).items()
            ):
                documents.append({"n": n, "wire_size": size, "chunks_root": root})
    delivered = entry["delivered_at"]
    obligations = []
    for ob in ledger.obligations_of(message_id):
        obligations.append({
            "stage": ob.stage,
            "debtor": ob.debtor,
            "creditor": ob.creditor,
            "due_at": _due(ob.due_at),
            "working_days": calendar.workdays_between(delivered.astimezone(BEIJING).date(),
                                                      _due_day(ob.due_at)),
            "fulfilled_at": _cst(ob.fulfilled_at),
            "overdue": ob.fulfilled_at is None and ob.due_at < now,
        })  # fmt: skip
    fired = [
        {"kind": e.kind, "stage": e.stage, "at": _cst(e.fired_at), "to": ", ".join(e.escalated_to)}
        for e in ledger.events(message_id)
    ]
    engine = store.engine
    w = witnessed_head(TreeHeads(engine), CosignatureRows(engine), directory, None)
    # The custody's last record: officers' looks join the trail after it, and the page's own
    # look is always newer than any head, so "covered" would never be true of it.
    last_seq = max((int(s.record["seq"]) for s in steps if s.record["kind"] != CONSOLE_LOOK),
                   default=0)  # fmt: skip
    return {
        # Who vouched for the log: the latest head agencies cosigned, checked again here.
        "witnesses": {
            "tree_size": w.tree_size,
            "agencies": w.agencies,
            "problem": w.problem,
            "covers": bool(last_seq) and last_seq <= w.tree_size,
        },
        "timestamp": independent_time(audit, last_seq, tsa_roots),
        "entry": {k: (_cst(v) if isinstance(v, datetime) else v) for k, v in entry.items()},
        "steps": [_step(s) for s in steps],
        "archived": archived,
        "steps_ok": all(s.record_ok and s.signature in ("valid", "") for s in steps),
        "obligations": obligations,
        "fired": fired,
        "documents": documents,
        "dead_letters": [
            {
                "id": d["dead_letter_id"],
                "reason": d["reason"],
                "at": _cst(d["dead_lettered_at"]),
                "replays": d.get("replay_count", 0),
            }
            for d in store.dead_letters_of(message_id)
        ],
    }
