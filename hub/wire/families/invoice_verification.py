"""电子票据查验 e-invoice verification: MIB asks, FIN answers; the answer closes the request.

A request has no acceptance step: its result closes it, with or without a receipt first.
"""

from __future__ import annotations

from typing import Any

from hub.wire.envelope import Envelope
from hub.wire.families.base import (
    Facts,
    Family,
    Payload,
    Problems,
    SubjectHasher,
    codes,
    non_negative,
    nonblank,
    references,
)
from hub.wire.validators import is_ascii_digits


def check_request(p: Payload, env: Envelope) -> Problems:
    out = nonblank(p, "request_id", "payer_name") + non_negative(p)
    out += references(p, "request_id")
    if not is_ascii_digits(p["invoice_code"], 8):
        out.append("invoice_code must be 8 digits")
    if not is_ascii_digits(p["invoice_number"], 10):
        out.append("invoice_number must be 10 digits")
    if not (p["check_code"].isascii() and p["check_code"].isalnum() and len(p["check_code"]) == 6):
        out.append("check_code must be 6 letters or digits")
    if p["amount_fen"] == 0:
        out.append("amount_fen must be positive")
    out += codes("payer", None, p.get("payer_id_number"))
    return out


def check_result(p: Payload, env: Envelope) -> Problems:
    out = nonblank(p, "request_id", "invoice_code", "invoice_number")
    out += non_negative(p, "recorded_amount_fen")
    return out


def request_facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "request_id", "amount_fen")
    return dict(out)


def result_facts(p: Payload, ref: SubjectHasher) -> dict[str, str]:
    out = Facts()
    out.take(p, "request_id", "result")
    return dict(out)


def result_columns(p: Payload) -> dict[str, Any]:
    return {"result": p.get("result"), "result_note": p.get("note")}


REQUEST = Family(
    "invoice_verification_request",
    "电子票据查验 e-invoice verification request",
    check_request,
    order=30,
    answered_by={
        "receipt": frozenset({"DELIVERED"}),
        "invoice_verification_result": frozenset({"DELIVERED", "RECEIVED"}),
    },
    facts=request_facts,
)
RESULT = Family(
    "invoice_verification_result",
    "电子票据查验结果 e-invoice verification result",
    check_result,
    order=40,
    is_reply=True,
    next_state=lambda p: "CLOSED",
    fulfils=lambda p: ("receipt", "result"),
    audit_kind=lambda p: "closed",
    ledger_result=result_columns,
    facts=result_facts,
)
FAMILIES = (REQUEST, RESULT)
