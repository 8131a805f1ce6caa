"""The lifecycle replies: 签收 receipt, 受理/退回 acceptance, 反馈 feedback, 办结 closure.

Each goes back to the original's sender and moves its row in the ledger::

    DELIVERED ─receipt→ RECEIVED ─acceptance(ACCEPTED)→ ACCEPTED ─feedback→ IN_PROGRESS
                                 └acceptance(RETURNED)→ RETURNED     (feedback repeats)
    ACCEPTED or IN_PROGRESS ─closure→ CLOSED
"""

from __future__ import annotations

import json
from typing import Any

from hub.wire.documents import documents_fact
from hub.wire.envelope import Envelope
from hub.wire.families.base import (
    Facts,
    Family,
    Payload,
    Problems,
    SubjectHasher,
    no_problems,
    non_negative,
    nonblank,
    references,
)


def _returned(p: Payload) -> bool:
    return p.get("decision") == "RETURNED"


# -- 签收 receipt --------------------


def receipt_facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "received_at")
    # A digest of the envelope bytes, never their content: v4 labels it with its hash
    # (original_digest), v2-v3 named a SHA-256 (original_sha256).
    out.take(p, "original_digest")
    out.take(p, "original_sha256")
    facts = dict(out)
    docs = p.get("documents") or []
    if docs:  # wire sizes and chunk roots only: nothing a sealed document's plaintext shows
        facts["documents"] = documents_fact(
            (int(d["n"]), int(d["wire_size"]), str(d["chunks_root"])) for d in docs
        )
    return facts


# -- 受理/退回 acceptance --------------------


def check_acceptance(p: Payload, env: Envelope) -> Problems:
    if _returned(p) and not str(p.get("reason") or "").strip():
        return ["a RETURNED acceptance needs a reason (退回理由)"]
    return references(p, "case_number")


def acceptance_facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "decision", "decided_at")
    return dict(out)


def acceptance_fulfils(p: Payload) -> tuple[str, ...]:
    # A returned matter will never have a result: nothing is owed any more.
    return ("acceptance", "result") if _returned(p) else ("acceptance",)


def acceptance_columns(p: Payload) -> dict[str, Any]:
    if _returned(p):
        return {"return_reason": p.get("reason")}
    return {"case_number": p["case_number"][:64]} if p.get("case_number") else {}


# -- 反馈 feedback --------------------


def check_feedback(p: Payload, env: Envelope) -> Problems:
    out = nonblank(p, "note")
    percent = p.get("percent")
    if percent is not None and not 0 <= percent <= 100:
        out.append("percent must lie between 0 and 100")
    return out + report_problems(p, env)


def feedback_facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "percent", "reported_at", "processing_report")
    return dict(out)


def report_problems(p: Payload, env: Envelope) -> Problems:
    """A processing report names a document the message carries."""
    n = p.get("processing_report")
    if n is not None and n not in {d.n for d in env.documents}:
        return [f"processing_report names document {n}, which the message does not carry"]
    return []


# -- 办结 closure --------------------


def check_closure(p: Payload, env: Envelope) -> Problems:
    out = non_negative(p, "recovered_fen") + non_negative(p, "penalties_fen")
    kinds = [s["kind"] for s in p.get("sanctions", [])]
    for s in p.get("sanctions", []):
        if s["count"] < 1:
            out.append(f"sanction {s['kind']}: count must be at least 1")
    if len(kinds) != len(set(kinds)):
        out.append("each sanction kind may be listed once (give its count)")
    return out + report_problems(p, env)


def _sanctions(p: Payload) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in p.get("sanctions") or []:
        counts[s["kind"]] = counts.get(s["kind"], 0) + int(s["count"])
    return counts


def closure_facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "result", "recovered_fen", "penalties_fen")
    out.put("sanctions", _sanctions(p))
    out.take(p, "closed_at", "processing_report")
    return dict(out)


def closure_columns(p: Payload) -> dict[str, Any]:
    return {
        "result": p.get("result"),
        "recovered_fen": p.get("recovered_fen"),
        "penalties_fen": p.get("penalties_fen"),
        "sanctions": json.dumps({s["kind"]: s["count"] for s in p.get("sanctions", [])}),
        "result_note": p.get("note"),
    }


RECEIPT = Family(
    "receipt",
    "签收 receipt",
    no_problems,
    order=60,
    business=False,
    is_reply=True,
    next_state=lambda p: "RECEIVED",
    fulfils=lambda p: ("receipt",),
    audit_kind=lambda p: "receipt",
    facts=receipt_facts,
)
ACCEPTANCE = Family(
    "acceptance",
    "受理/退回 acceptance or return",
    check_acceptance,
    order=70,
    business=False,
    is_reply=True,
    next_state=lambda p: "RETURNED" if _returned(p) else "ACCEPTED",
    fulfils=acceptance_fulfils,
    audit_kind=lambda p: "returned" if _returned(p) else "accepted",
    ledger_result=acceptance_columns,
    facts=acceptance_facts,
)
FEEDBACK = Family(
    "feedback",
    "进展反馈 progress feedback",
    check_feedback,
    order=80,
    business=False,
    is_reply=True,
    next_state=lambda p: "IN_PROGRESS",
    audit_kind=lambda p: "feedback",
    facts=feedback_facts,
)
CLOSURE = Family(
    "closure",
    "办结 closure with result",
    check_closure,
    order=90,
    business=False,
    is_reply=True,
    next_state=lambda p: "CLOSED",
    fulfils=lambda p: ("result",),
    audit_kind=lambda p: "closed",
    ledger_result=closure_columns,
    facts=closure_facts,
)
FAMILIES = (RECEIPT, ACCEPTANCE, FEEDBACK, CLOSURE)
