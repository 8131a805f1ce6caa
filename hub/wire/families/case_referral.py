"""案件移送 case referral: MIB → PSB, PSB → PROC, PROC → COURT, each stage by its own sender."""

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

STAGE_FLOWS = {
    "MIB_TO_PSB": ("MIB", "PSB"),
    "PSB_TO_PROC": ("PSB", "PROC"),
    "PROC_TO_COURT": ("PROC", "COURT"),
}


def check(p: Payload, env: Envelope) -> Problems:
    out = nonblank(p, "case_number", "summary") + non_negative(p)
    out += references(p, "case_number")
    flow = STAGE_FLOWS[p["stage"]]
    if (env.sender.agency, env.recipient.agency) != flow:
        out.append(
            f"stage {p['stage']} is a {flow[0]}→{flow[1]} referral, "
            f"not {env.sender.agency}→{env.recipient.agency}"
        )
    if not p["suspects"]:
        out.append("a case referral names at least one suspect")
    for i, s in enumerate(p["suspects"], start=1):
        if s["kind"] == "PERSON" and not s.get("id_number"):
            out.append(f"suspect #{i} is a person and needs an id_number")
        if s["kind"] == "INSTITUTION" and not s.get("credit_code"):
            out.append(f"suspect #{i} is an institution and needs a credit_code")
        out += codes(f"suspect #{i}", s.get("credit_code"), s.get("id_number"))
    if not p["charges"]:
        out.append("a case referral names at least one charge")
    out += hashes(p.get("attachments", []), "attachment")
    return out


def facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "stage", "amount_fen")
    out.put("suspect_count", len(p.get("suspects") or []))
    out.put("cited_clue_ids", list(p.get("cited_clue_ids") or []))
    out.put("case_ref", ref("CASE", p.get("case_number")))
    return dict(out)


FAMILY = Family(
    "case_referral",
    "案件移送 case referral",
    check,
    order=20,
    answered_by=FULL_LIFECYCLE,
    facts=facts,
)
