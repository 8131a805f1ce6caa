"""线索移送 clue transfer: a fraud clue handed from one agency to another."""

from __future__ import annotations

from hub.wire.envelope import Envelope
from hub.wire.families.base import (
    FULL_LIFECYCLE,
    Facts,
    Family,
    Payload,
    Problems,
    SubjectHasher,
    codes,
    hashes,
    non_negative,
    nonblank,
    references,
)

INSTITUTION_KINDS = {"HOSPITAL", "PHARMACY", "FUND_HANDLER", "OTHER_INSTITUTION"}


def check(p: Payload, env: Envelope) -> Problems:
    out = nonblank(p, "clue_id", "summary", "legal_basis") + non_negative(p)
    out += references(p, "clue_id")
    batch = p["batch"]
    out += nonblank(batch, "batch_id")
    if batch["batch_number"] < 1 or batch["sequence"] < 1:
        out.append("batch_number and sequence start at 1")
    size = batch.get("batch_size")
    if size is not None and batch["sequence"] > size:
        out.append(f"sequence {batch['sequence']} exceeds batch_size {size}")
    subject = p["subject"]
    if subject["kind"] in INSTITUTION_KINDS:
        if not subject.get("credit_code"):
            out.append(f"subject of kind {subject['kind']} needs a credit_code")
    elif not subject.get("id_number"):
        out.append(f"subject of kind {subject['kind']} needs an id_number")
    out += codes("subject", subject.get("credit_code"), subject.get("id_number"))
    out += hashes(p.get("evidence", []), "evidence")
    return out


def facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    batch = p.get("batch") or {}
    out.put("clue_id", p.get("clue_id"))
    out.put("batch_id", batch.get("batch_id"))
    out.put("batch_source", batch.get("source"))
    out.put("batch_number", batch.get("batch_number"))
    out.put("batch_sequence", batch.get("sequence"))
    out.put("batch_size", batch.get("batch_size"))
    out.take(p, "category", "risk_level", "amount_fen")
    out.put("evidence_count", len(p.get("evidence") or []))
    out.put("requested_deadline", p.get("requested_deadline"))
    subject = p.get("subject") or {}
    out.put("subject_kind", subject.get("kind"))
    if subject:
        code = subject.get("credit_code") or subject.get("id_number")
        # Without a code the name is the only handle; it is hashed like a code.
        out["subject_ref"] = ref(subject.get("kind"), code or subject.get("name"))
    return dict(out)


FAMILY = Family(
    "clue_transfer",
    "线索移送 clue transfer",
    check,
    order=10,
    answered_by=FULL_LIFECYCLE,
    facts=facts,
)
