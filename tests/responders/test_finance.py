"""The finance bureau's responder answers each e-invoice check from its register, signs for the
request and closes it with the result."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from connectors.messages import open_record
from connectors.responders.finance import KNOWN, FinanceResponder, Register, decide, sample_invoices
from hub.runtime.ingress.pipeline import DELIVERED
from hub.trust.address import Address
from hub.trust.authority import create_key
from hub.wire.jsonpayload import from_json
from tests.gateway.test_gateway_api import Side
from tests.hubproc import load_example
from tests.runtime.test_ingress_pipeline import Rig

AUTHENTIC, VOIDED, REIMBURSED = KNOWN


def request_for(invoice, **changes) -> dict:
    req = {
        "check_code": invoice.check_code,
        "issue_date": invoice.issue_date,
        "amount_fen": invoice.amount_fen,
    }
    return {**req, **changes}


@pytest.mark.parametrize(
    ("invoice", "changes", "expected"),
    [
        (AUTHENTIC, {}, ("AUTHENTIC", None)),
        (AUTHENTIC, {"check_code": "a1b2c3"}, ("AUTHENTIC", None)),  # case does not matter
        (AUTHENTIC, {"amount_fen": 356001}, ("AMOUNT_MISMATCH", 356000)),
        (AUTHENTIC, {"check_code": "ZZZZZZ"}, ("NOT_FOUND", None)),
        (AUTHENTIC, {"issue_date": date(2024, 5, 21)}, ("NOT_FOUND", None)),
        (None, {}, ("NOT_FOUND", None)),
        (VOIDED, {"amount_fen": 1}, ("VOIDED", 128000)),
        (REIMBURSED, {}, ("ALREADY_REIMBURSED", 56000)),
    ],
)
def test_each_result_of_an_invoice_check(invoice, changes, expected) -> None:
    assert decide(invoice, request_for(invoice or AUTHENTIC, **changes)) == expected


def test_the_sample_register_is_the_same_for_a_seed_and_holds_every_status() -> None:
    one, two = sample_invoices(200, seed=7), sample_invoices(200, seed=7)
    assert one == two and one != sample_invoices(200, seed=8)
    assert set(KNOWN) <= set(one)
    assert {i.status for i in one} == {"issued", "voided", "reimbursed"}


def test_a_check_of_a_voided_invoice_is_answered_voided_and_closes_the_request(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path / "hub")
    fin_address = Address.parse("FIN@350500")
    create_key(rig.authority, rig.settings.keys_dir, fin_address)
    rig.services.directory.refresh(force=True)
    fin = Side(rig, "FIN@350500", tmp_path)
    register = Register(f"sqlite:///{tmp_path / 'register.db'}")
    register.add(sample_invoices(50))
    schema = rig.services.registry.latest("invoice_verification_request")
    payload = from_json(schema.raw, load_example("invoice_verification_request"))
    payload.update(
        invoice_number=VOIDED.invoice_number,
        check_code=VOIDED.check_code,
        issue_date=VOIDED.issue_date,
    )
    mid, raw = rig.message("invoice_verification_request", to="FIN@350500", payload=payload)
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    [record] = rig.producer.on("hub.inbox.FIN.350500")
    msg = open_record(rig.services.registry, rig.services.directory.current, record, me=fin_address)
    responder = FinanceResponder(fin.connector, register)
    assert responder.handle(msg) == "VOIDED"
    receipt, result = fin.sent
    assert rig.handle(rig.record(receipt)).kind == DELIVERED
    assert rig.handle(rig.record(result)).kind == DELIVERED
    assert rig.services.ledger.entry(mid)["state"] == "CLOSED"
    answers = rig.producer.on("hub.inbox.MIB.350582")
    opened = [
        open_record(
            rig.services.registry, rig.services.directory.current, a, me=Address.parse("MIB@350582")
        )
        for a in answers
    ]
    assert [m.payload.get("result") for m in opened if m.family.startswith("invoice")] == ["VOIDED"]
    # Handled again (a crash before the commit), it is not answered a second time.
    assert responder.handle(replace(msg)) is None
    assert len(fin.sent) == 2
