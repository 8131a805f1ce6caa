"""周报表 the weekly report: a bureau's forms 1-3 of a week, to the bureau one level up.

It is a reply, to the duty the hub opens for each bureau and week (``hub.sla.weekly``): a ledger
row ``weekly_report`` from the level above to the bureau, with one obligation (``result``) due on
the following Wednesday.  Answering it closes the row and fulfils the obligation, so a report
that is late is breached and escalated like any other deadline, and one sent twice is refused as
an illegal transition.  Figures are aggregates (counts, sums in fen): the audit log keeps them,
so the level above can set them beside what the log itself supports (``hub.report.check``).
"""

from __future__ import annotations

import re

from hub.wire.envelope import Envelope
from hub.wire.families.base import Facts, Family, Payload, Problems, SubjectHasher

NAME = "weekly_report"
WEEK = re.compile(r"\d{4}-W\d{2}")
KEY = re.compile(r"form[123](/[a-z0-9_]+){1,4}")


def check(p: Payload, env: Envelope) -> Problems:
    out: Problems = []
    if p.get("region") != env.sender.region:
        out.append("region must be the sender's own region")
    if not WEEK.fullmatch(str(p.get("week", ""))):
        out.append("week must be an ISO week, e.g. 2026-W48")
    keys = [f["key"] for f in p.get("figures", [])]
    if len(keys) != len(set(keys)):
        out.append("each figure key may be given once")
    out += [f"figure {k}: not a form cell (form1/…, form2/…, form3/…)" for k in keys
            if not KEY.fullmatch(k)]  # fmt: skip
    out += ["figures are counts and sums: none may be negative"] * any(
        f["value"] < 0 for f in p.get("figures", [])
    )
    carried = {d.n for d in env.documents}
    out += [f"processing report {r['n']}: the message does not carry document {r['n']}"
            for r in p.get("processing_reports", []) if r["n"] not in carried]  # fmt: skip
    return out


def figures_fact(p: Payload) -> str:
    """``key=value`` per figure, space-separated, sorted: what the audit log keeps."""
    return " ".join(
        f"{f['key']}={f['value']}" for f in sorted(p["figures"], key=lambda f: f["key"])
    )


def facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "region", "week", "submitted_at")
    out.put("figures", figures_fact(p))
    out.put("based_on", " ".join(p.get("based_on") or []) or None)
    out.put("processing_reports", len(p.get("processing_reports") or []))
    return dict(out)


FAMILY = Family(
    NAME,
    "周报表 weekly report",
    check,
    order=95,
    business=False,
    is_reply=True,
    # The hub's duty row has this family too: the report is what answers it.
    answered_by={NAME: frozenset({"DELIVERED"})},
    next_state=lambda p: "CLOSED",
    fulfils=lambda p: ("result",),
    audit_kind=lambda p: NAME,
    facts=facts,
)
