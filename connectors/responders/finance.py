"""The finance bureau's automatic e-invoice responder (财政局 查验医疗收费电子票据).

``hub responder finance --as FIN@350500 --register URL`` reads FIN's inbox and answers every
``invoice_verification_request`` from the register of issued medical e-invoices, a table in
FIN's own database (``fin_einvoice_register``: invoice code, number, check code, issue date,
amount, status ``issued`` / ``voided`` (红冲) / ``reimbursed``, payer).  For each request it
signs the receipt, then sends the result, both with ids derived from the request's (a request
delivered again is answered by the same two messages, which the hub recognises), well inside
the two-hour SLA.  ``decide`` is the rule, pure.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from connectors.client import Connector
from connectors.messages import InboxMessage

log = logging.getLogger("connectors.responders.finance")

REQUEST, RESULT = "invoice_verification_request", "invoice_verification_result"
STATUSES = ("issued", "voided", "reimbursed")

ANSWERS = Counter(
    "hub_finance_answers_total", "E-invoice checks answered by the finance responder", ["result"]
)

meta = MetaData()
register = Table(
    "fin_einvoice_register",
    meta,
    Column("invoice_code", String(8), primary_key=True),
    Column("invoice_number", String(10), primary_key=True),
    Column("check_code", String(6), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("payer_name", String(64), nullable=False),
)


@dataclass(frozen=True)
class Invoice:
    invoice_code: str
    invoice_number: str
    check_code: str
    issue_date: date
    amount_fen: int
    status: str
    payer_name: str


def decide(invoice: Invoice | None, request: dict[str, Any]) -> tuple[str, int | None]:
    """(result, the amount on record when it is worth telling) for one request.

    Not found also when the check code or the issue date does not match: the request then names
    no invoice that was issued.  A voided (红冲) or reimbursed invoice says so whatever its
    amount; only a live invoice is compared by amount.
    """
    if (
        invoice is None
        or invoice.check_code.upper() != str(request["check_code"]).upper()
        or invoice.issue_date != request["issue_date"]
    ):
        return "NOT_FOUND", None
    if invoice.status == "voided":
        return "VOIDED", invoice.amount_fen
    if invoice.status == "reimbursed":
        return "ALREADY_REIMBURSED", invoice.amount_fen
    if invoice.amount_fen != int(request["amount_fen"]):
        return "AMOUNT_MISMATCH", invoice.amount_fen
    return "AUTHENTIC", None


class Register:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        meta.create_all(self.engine)

    def find(self, code: str, number: str) -> Invoice | None:
        stmt = select(register).where(
            register.c.invoice_code == code, register.c.invoice_number == number
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else Invoice(**row)

    def add(self, invoices: list[Invoice]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(register), [i.__dict__ for i in invoices])


#: Invoices the sample register always holds, for the demo and the tests: the example request
#: (examples/payloads/invoice_verification_request.json) is authentic; the next one was voided.
KNOWN = (
    Invoice("35010124", "0001234567", "A1B2C3", date(2024, 5, 20), 356000, "issued", "李某"),
    Invoice("35010124", "0001234568", "D4E5F6", date(2024, 5, 21), 128000, "voided", "王某"),
    Invoice("35010124", "0001234569", "G7H8J9", date(2024, 5, 22), 56000, "reimbursed", "张某"),
)


def sample_invoices(count: int = 500, seed: int = 2024) -> list[Invoice]:
    """A generated register: the known invoices and ``count`` more, deterministic for a seed,
    about 5 % voided and 10 % already reimbursed."""
    rng = random.Random(seed)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
    out = list(KNOWN)
    for i in range(count):
        roll = rng.random()
        status = "voided" if roll < 0.05 else "reimbursed" if roll < 0.15 else "issued"
        out.append(
            Invoice(
                "35050124",
                f"{i + 1:010d}",
                "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6)),
                date(2024, 1, 1) + timedelta(days=rng.randrange(366)),
                rng.randrange(1_000, 5_000_000),
                status,
                rng.choice(surnames) + "某",
            )
        )
    return out


class FinanceResponder:
    def __init__(self, connector: Connector, register: Register) -> None:
        self.connector = connector
        self.register = register

    def handle(self, msg: InboxMessage) -> str | None:
        """Answer one inbox message if it is an invoice check; returns the result given."""
        if msg.family != REQUEST:
            return None
        handled = self.connector.handled
        if handled is not None and handled.answer_sent(msg.message_id, RESULT):
            return None  # answered before (a handler run again after a crash)
        request = msg.payload
        invoice = self.register.find(request["invoice_code"], request["invoice_number"])
        result, recorded = decide(invoice, dict(request))
        self.connector.receipt(msg, received_by="财政局社保科 自动查验")
        payload = {
            "request_id": request["request_id"],
            "invoice_code": request["invoice_code"],
            "invoice_number": request["invoice_number"],
            "result": result,
            "recorded_amount_fen": recorded,
            "checked_at": datetime.now(UTC),
            "note": None,
        }
        answer_id = self.connector.reply(
            msg, RESULT, payload, message_id=self.connector.answer_id(msg.message_id, RESULT)
        )
        if handled is not None:
            handled.remember_answer(msg.message_id, RESULT, answer_id)
        ANSWERS.labels(result).inc()
        log.info("answered invoice check %s: %s", msg.message_id, result)
        return result
