"""腐败线索移交 corruption-clue handoff: any agency → discipline inspection (CDI)."""

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
    nonblank,
    references,
)


def check(p: Payload, env: Envelope) -> Problems:
    out = nonblank(p, "handoff_id", "summary") + references(p, "handoff_id")
    if not p["officials"]:
        out.append("a corruption-clue handoff names at least one official")
    for i, o in enumerate(p["officials"], start=1):
        out += [f"official #{i}: {m}" for m in nonblank(o, "name", "post", "unit")]
        out += codes(f"official #{i} unit", o.get("unit_credit_code"), None)
    out += hashes(p.get("evidence", []), "evidence")
    return out


def facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "sensitivity")
    out.put("official_count", len(p.get("officials") or []))
    out.put("related_clue_ids", list(p.get("related_clue_ids") or []))
    return dict(out)


FAMILY = Family(
    "corruption_clue_handoff",
    "腐败线索移交 corruption-clue handoff",
    check,
    order=50,
    answered_by=FULL_LIFECYCLE,
    facts=facts,
    # Corruption clues name officials: not even the hub's host may read them.
    encryption_required=True,
)
