"""Processing reports (处理报告): a case a higher level handed down is closed with its report or
not at all: the recipient's own gateway and connector refuse the closure without one before
anything is sent; with one, the closure carries it as a document, the hub delivers it only with
its chunks, and the ledger records it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

import tests.runtime.test_ingress_pipeline as pipeline_tests
from connectors.answers import ProcessingReportRequired
from connectors.messages import OriginalRef
from hub.core.config import POLICY_FILE
from hub.routing.policy import load_policy
from hub.runtime.ingress.pipeline import DELIVERED
from hub.trust.address import Address
from hub.trust.e2e import CHUNK_TAG_LEN
from hub.wire.documents import chunk_count
from tests.gateway.test_gateway_api import Side, clue, problem_of
from tests.gateway.test_gateway_documents import Producer, chunks_of
from tests.runtime.test_ingress_pipeline import Rig

REPORT = b"%PDF-1.7\n" + os.urandom(600_000)


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.setattr(pipeline_tests, "CONNECTORS", [*pipeline_tests.CONNECTORS, "MIB@350500"])
    return Rig(tmp_path / "hub")


def side(rig: Rig, address: str, tmp_path: Path) -> Side:
    s = Side(rig, address, tmp_path)
    s.connector._producer = Producer()  # type: ignore[assignment]
    s.connector.policy = load_policy(POLICY_FILE)
    return s


def handed_down(rig: Rig, tmp_path: Path) -> tuple[Side, Side, str]:
    """The city bureau hands a clue down to the county bureau, which signs for and accepts it."""
    city, county = side(rig, "MIB@350500", tmp_path), side(rig, "MIB@350582", tmp_path)
    sent = city.post("/v1/messages", {**clue(), "to": "MIB@350582"}, key="down-1")
    assert sent.status_code == 202, sent.text
    assert city.route_last().kind == DELIVERED
    county.take_inbox_from("hub.inbox.MIB.350582")
    mid = sent.json()["id"]
    for action, body in (("receipt", None), ("accept", {"case_number": "晋医保2026-3"})):
        assert county.post(f"/v1/messages/{mid}/{action}", body, key=action).status_code == 202
        assert county.route_last().kind == DELIVERED
    return city, county, mid


def test_a_closure_without_the_required_report_is_refused_before_anything_is_sent(
    rig: Rig, tmp_path: Path
) -> None:
    _, county, mid = handed_down(rig, tmp_path)
    before = len(county.sent)
    refused = county.post(f"/v1/messages/{mid}/close", {"result": "VERIFIED_TRUE"}, key="c-1")
    assert refused.status_code == 422
    body = problem_of(refused)
    assert body["reason"] == "processing_report_required"
    assert body["errors"] == [
        {"pointer": "/document", "detail": "the processing report is required"}
    ]
    assert len(county.sent) == before and chunks_of(county) == []
    # The connector refuses it the same way, whoever calls it.
    with pytest.raises(ProcessingReportRequired):
        county.connector.close_case(OriginalRef(mid, Address.parse("MIB@350500")), "NOT_TRUE")


def test_a_closure_with_its_report_is_delivered_with_it_and_the_ledger_records_it(
    rig: Rig, tmp_path: Path
) -> None:
    _, county, mid = handed_down(rig, tmp_path)
    closed = post_report(county, f"/v1/messages/{mid}/close", key="c-3")
    assert closed.status_code == 202, closed.text
    for raw in chunks_of(county):
        rig.handle(rig.record(raw))
    assert county.route_last().kind == DELIVERED
    entry = rig.services.ledger.entry(mid)
    assert entry["state"] == "CLOSED"
    n, size, root = entry["processing_report"].split(":")
    # The report travels sealed to the recipient: its size on the wire has a tag per chunk.
    sealed_size = len(REPORT) + CHUNK_TAG_LEN * chunk_count(len(REPORT))
    assert n == "1" and int(size) == sealed_size and len(root) == 64


def test_a_case_not_handed_down_closes_without_a_report(rig: Rig, tmp_path: Path) -> None:
    mib, psb = side(rig, "MIB@350582", tmp_path), side(rig, "PSB@350582", tmp_path)
    sent = mib.post("/v1/messages", clue(), key="k-1")
    mib.route_last()
    psb.take_inbox_from("hub.inbox.PSB.350582")
    mid = sent.json()["id"]
    for action, body in (("receipt", None), ("accept", {}), ("close", {"result": "NOT_TRUE"})):
        assert psb.post(f"/v1/messages/{mid}/{action}", body, key=action).status_code == 202
        assert psb.route_last().kind == DELIVERED
    assert rig.services.ledger.entry(mid)["processing_report"] is None


def post_report(s: Side, path: str, *, key: str) -> httpx.Response:
    boundary = "reportboundary42"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="message"\r\n'
            "Content-Type: application/json\r\n\r\n"
            '{"result": "VERIFIED_TRUE", "recovered_fen": 120000}\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="document"; filename="处理报告.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + REPORT
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**s.auth, "Idempotency-Key": key,
               "Content-Type": f"multipart/form-data; boundary={boundary}"}  # fmt: skip
    return s.http.post(path, content=body, headers=headers)
