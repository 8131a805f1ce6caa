"""The message families the hub carries, their payload schemas and their field rules.

Avro checks the shape of a payload; the rules here check what Avro cannot: check digits,
non-negative sums, a case referral's stage matching who sends it to whom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.wire.envelope import Envelope
from hub.wire.validators import check_credit_code, check_id_number, check_sha256, is_ascii_digits

Problems = list[str]


@dataclass(frozen=True)
class Family:
    name: str
    schema_stem: str
    title: str
    check: Callable[[dict[str, Any], Envelope], Problems]
    #: Whether the message answers another one (correlation_id is then required).  A reply's
    #: legality is decided by the ledger (hub.lifecycle.states), not by policy.yaml.
    is_reply: bool = False
    #: Raised by the hub itself (SLA events); a connector may not send it.
    hub_only: bool = False


def _nonblank(payload: dict[str, Any], *names: str) -> Problems:
    return [f"{n} must not be blank" for n in names if not str(payload.get(n) or "").strip()]


def _amount(payload: dict[str, Any], name: str = "amount_fen") -> Problems:
    value = payload.get(name)
    return [f"{name} must not be negative"] if value is not None and value < 0 else []


def _hashes(items: list[dict[str, Any]], what: str) -> Problems:
    out = []
    for i, item in enumerate(items, start=1):
        problem = check_sha256(item["sha256"])
        if problem:
            out.append(f"{what} #{i}: {problem}")
    return out


def _codes(prefix: str, credit_code: str | None, id_number: str | None) -> Problems:
    out = []
    if credit_code is not None and (p := check_credit_code(credit_code)):
        out.append(f"{prefix}: {p}")
    if id_number is not None and (p := check_id_number(id_number)):
        out.append(f"{prefix}: {p}")
    return out


INSTITUTION_KINDS = {"HOSPITAL", "PHARMACY", "FUND_HANDLER", "OTHER_INSTITUTION"}


def check_clue_transfer(p: dict[str, Any], env: Envelope) -> Problems:
    out = _nonblank(p, "clue_id", "summary", "legal_basis") + _amount(p)
    batch = p["batch"]
    out += _nonblank(batch, "batch_id")
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
    out += _codes("subject", subject.get("credit_code"), subject.get("id_number"))
    out += _hashes(p.get("evidence", []), "evidence")
    return out


STAGE_FLOWS = {
    "MIB_TO_PSB": ("MIB", "PSB"),
    "PSB_TO_PROC": ("PSB", "PROC"),
    "PROC_TO_COURT": ("PROC", "COURT"),
}


def check_case_referral(p: dict[str, Any], env: Envelope) -> Problems:
    out = _nonblank(p, "case_number", "summary") + _amount(p)
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
        out += _codes(f"suspect #{i}", s.get("credit_code"), s.get("id_number"))
    if not p["charges"]:
        out.append("a case referral names at least one charge")
    out += _hashes(p.get("attachments", []), "attachment")
    return out


def check_invoice_request(p: dict[str, Any], env: Envelope) -> Problems:
    out = _nonblank(p, "request_id", "payer_name") + _amount(p)
    if not is_ascii_digits(p["invoice_code"], 8):
        out.append("invoice_code must be 8 digits")
    if not is_ascii_digits(p["invoice_number"], 10):
        out.append("invoice_number must be 10 digits")
    if not (p["check_code"].isascii() and p["check_code"].isalnum() and len(p["check_code"]) == 6):
        out.append("check_code must be 6 letters or digits")
    if p["amount_fen"] == 0:
        out.append("amount_fen must be positive")
    out += _codes("payer", None, p.get("payer_id_number"))
    return out


def check_invoice_result(p: dict[str, Any], env: Envelope) -> Problems:
    out = _nonblank(p, "request_id", "invoice_code", "invoice_number")
    out += _amount(p, "recorded_amount_fen")
    return out


def check_corruption_handoff(p: dict[str, Any], env: Envelope) -> Problems:
    out = _nonblank(p, "handoff_id", "summary")
    if not p["officials"]:
        out.append("a corruption-clue handoff names at least one official")
    for i, o in enumerate(p["officials"], start=1):
        out += [f"official #{i}: {m}" for m in _nonblank(o, "name", "post", "unit")]
        out += _codes(f"official #{i} unit", o.get("unit_credit_code"), None)
    out += _hashes(p.get("evidence", []), "evidence")
    return out


def check_receipt(p: dict[str, Any], env: Envelope) -> Problems:
    return []


def check_acceptance(p: dict[str, Any], env: Envelope) -> Problems:
    if p["decision"] == "RETURNED" and not str(p.get("reason") or "").strip():
        return ["a RETURNED acceptance needs a reason (退回理由)"]
    return []


def check_feedback(p: dict[str, Any], env: Envelope) -> Problems:
    out = _nonblank(p, "note")
    percent = p.get("percent")
    if percent is not None and not 0 <= percent <= 100:
        out.append("percent must lie between 0 and 100")
    return out


def check_closure(p: dict[str, Any], env: Envelope) -> Problems:
    out = _amount(p, "recovered_fen") + _amount(p, "penalties_fen")
    kinds = [s["kind"] for s in p.get("sanctions", [])]
    for s in p.get("sanctions", []):
        if s["count"] < 1:
            out.append(f"sanction {s['kind']}: count must be at least 1")
    if len(kinds) != len(set(kinds)):
        out.append("each sanction kind may be listed once (give its count)")
    return out


def check_sla_event(p: dict[str, Any], env: Envelope) -> Problems:
    return _nonblank(p, "event_id", "message_id")


#: The families that answer an original hand-off, in lifecycle order (see hub.lifecycle.states).
REPLY_FAMILIES = ("receipt", "acceptance", "feedback", "closure", "invoice_verification_result")
SLA_EVENT = "sla_event"

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("clue_transfer", "clue_transfer", "线索移送 clue transfer", check_clue_transfer),
        Family("case_referral", "case_referral", "案件移送 case referral", check_case_referral),
        Family(
            "invoice_verification_request",
            "invoice_verification_request",
            "电子票据查验 e-invoice verification request",
            check_invoice_request,
        ),
        Family(
            "invoice_verification_result",
            "invoice_verification_result",
            "电子票据查验结果 e-invoice verification result",
            check_invoice_result,
            is_reply=True,
        ),
        Family(
            "corruption_clue_handoff",
            "corruption_clue_handoff",
            "腐败线索移交 corruption-clue handoff",
            check_corruption_handoff,
        ),
        Family("receipt", "receipt", "签收 receipt", check_receipt, is_reply=True),
        Family(
            "acceptance",
            "acceptance",
            "受理/退回 acceptance or return",
            check_acceptance,
            is_reply=True,
        ),
        Family("feedback", "feedback", "进展反馈 progress feedback", check_feedback, is_reply=True),
        Family("closure", "closure", "办结 closure with result", check_closure, is_reply=True),
        Family(SLA_EVENT, "sla_event", "时限事件 SLA event", check_sla_event, hub_only=True),
    )
}


def family(name: str) -> Family | None:
    return FAMILIES.get(name)


def check_payload(fam: Family, payload: dict[str, Any], env: Envelope) -> Problems:
    problems = fam.check(payload, env)
    if fam.is_reply and not env.correlation_id:
        problems.append(f"{fam.name} answers a message: correlation_id is required")
    return problems
