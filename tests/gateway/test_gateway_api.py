"""The gateway's HTTP contract, in process: what it sends is what the router accepts, keys make
requests idempotent, errors are RFC 9457 problems naming fields by JSON pointer, the inbox is
at-least-once until acknowledged, answers go back signed, pushes are Standard Webhooks.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from connectors.client import Connector
from connectors.dedup import HandledIds
from connectors.gateway.api import create_api
from connectors.gateway.push import Pusher
from connectors.gateway.server import authenticator
from connectors.gateway.service import Gateway
from connectors.gateway.store import GatewayStore
from connectors.messages import open_record
from hub.runtime.ingress.pipeline import DELIVERED, DUPLICATE
from hub.trust.address import Address
from hub.trust.directory import load_encryption_keys
from tests.hubproc import load_example
from tests.runtime.test_ingress_pipeline import Rig

SECRET_NAME = "王某某"


class Side:
    """One agency's gateway on the rig: its connector publishes into ``sent`` (or fails)."""

    def __init__(self, rig: Rig, address: str, tmp: Path) -> None:
        self.rig = rig
        self.address = Address.parse(address)
        self.sent: list[bytes] = []
        self.broker_away = False
        self.connector = Connector(
            self.address,
            bootstrap="127.0.0.1:9",
            registry=rig.services.registry,
            directory=lambda: rig.services.directory.current,
            key=rig.key(address),
            handled=HandledIds(tmp / f"{address}.handled.db"),
            decryption_keys=load_encryption_keys(
                rig.settings.keys_dir, self.address, rig.services.directory.current
            ),
        )
        self.connector.send_raw = self._send_raw  # type: ignore[method-assign]
        self.store = GatewayStore(tmp / f"{address}.gateway.db")
        self.token = self.store.new_token("case-system")
        self.gateway = Gateway(self.connector, self.store)
        app = create_api(self.gateway, authenticate=authenticator(self.store, False))
        self.http = TestClient(app)
        self.auth = {"Authorization": f"Bearer {self.token}"}

    def _send_raw(self, raw: bytes, *, key: bytes | None = None, **_: Any) -> None:
        if self.broker_away:
            raise ConnectionError("broker away")
        self.sent.append(raw)

    def post(self, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
        headers = dict(self.auth)
        if key:
            headers["Idempotency-Key"] = key
        return self.http.post(path, json=body, headers=headers)

    def route_last(self) -> Any:
        """Hand the last bytes this gateway published to the hub's pipeline."""
        return self.rig.handle(self.rig.record(self.sent[-1]))

    def take_inbox_from(self, topic_prefix: str) -> None:
        """What the hub wrote to this connector's inbox, read as its receiver would."""
        directory = self.rig.services.directory.current
        for rec in self.rig.producer.on(topic_prefix):
            msg = open_record(self.rig.services.registry, directory, rec, me=self.address,
                              decryption_keys=self.connector.decryption_keys)  # fmt: skip
            self.gateway.on_message(msg)


def clue(name: str = SECRET_NAME) -> dict[str, Any]:
    payload = load_example("clue_transfer")
    payload["subject"]["name"] = name
    return {"family": "clue_transfer", "to": "PSB@350582", "payload": payload}


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


@pytest.fixture
def mib(rig: Rig, tmp_path: Path) -> Side:
    return Side(rig, "MIB@350582", tmp_path)


@pytest.fixture
def psb(rig: Rig, tmp_path: Path) -> Side:
    return Side(rig, "PSB@350582", tmp_path)


def problem_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "reason", "errors"} <= set(body)
    assert body["status"] == response.status_code
    return body


def test_a_message_posted_is_signed_sent_and_routed(mib: Side) -> None:
    response = mib.post("/v1/messages", clue(), key="k-1")
    assert response.status_code == 202, response.text
    assert response.json()["family"] == "clue_transfer"
    assert mib.route_last().kind == DELIVERED
    assert mib.rig.delivered(response.json()["id"])


def test_the_same_key_and_body_gets_the_same_answer_and_sends_once(mib: Side) -> None:
    first = mib.post("/v1/messages", clue(), key="k-1")
    again = mib.post("/v1/messages", clue(), key="k-1")
    assert again.status_code == 202 and again.json() == first.json()
    assert len(mib.sent) == 1


def test_the_same_key_with_another_body_is_refused(mib: Side) -> None:
    mib.post("/v1/messages", clue(), key="k-1")
    other = mib.post("/v1/messages", clue("李某某"), key="k-1")
    assert other.status_code == 422
    assert problem_of(other)["reason"] == "idempotency_key_reused"
    assert len(mib.sent) == 1


def test_a_key_still_in_flight_is_a_conflict(mib: Side) -> None:
    from connectors.gateway.store import digest
    from hub.trust.signed import canonical

    body = {"causation_id": None, "correlation_id": None, "encrypt": None, **clue()}
    mib.store.begin("case-system", "k-1", digest(canonical(body).decode()))
    response = mib.post("/v1/messages", clue(), key="k-1")
    assert response.status_code == 409 and problem_of(response)["reason"] == "in_flight"


def test_a_broker_that_is_away_keeps_the_sealed_bytes_for_the_retry(mib: Side) -> None:
    mib.broker_away = True
    response = mib.post("/v1/messages", clue(), key="k-1")
    assert response.status_code == 503 and problem_of(response)["reason"] == "broker_unavailable"
    mib.broker_away = False
    retried = mib.post("/v1/messages", clue(), key="k-1")
    assert retried.status_code == 202
    assert mib.route_last().kind == DELIVERED
    # And a gateway that stopped before confirming publishes the very same bytes again.
    mib.post("/v1/messages", clue(), key="k-2")
    assert mib.route_last().kind == DELIVERED
    with mib.store._lock:  # as a crash between publishing and recording leaves it
        mib.store._db.execute("UPDATE requests SET state = 'sealed' WHERE idem_key = 'k-2'")
    assert mib.gateway.recover() == 1
    assert mib.sent[-1] == mib.sent[-2]
    assert mib.route_last().kind == DUPLICATE


def test_payload_problems_are_named_by_json_pointer(mib: Side) -> None:
    body = clue()
    payload = body["payload"]
    del payload["clue_id"]
    payload["category"] = "NOT_A_CATEGORY"
    payload["surprise"] = 1
    response = mib.post("/v1/messages", body, key="k-1")
    assert response.status_code == 422
    found = problem_of(response)
    assert found["reason"] == "invalid_payload"
    pointers = {e["pointer"] for e in found["errors"]}
    assert {"/payload/clue_id", "/payload/category", "/payload/surprise"} <= pointers
    assert "NOT_A_CATEGORY" not in json.dumps(found["errors"])  # values are not echoed
    assert mib.sent == []
    # The key was not spent on a refused body: the corrected request goes through.
    assert mib.post("/v1/messages", clue(), key="k-1").status_code == 202


def test_a_family_rule_problem_points_at_its_field(mib: Side) -> None:
    body = clue()
    code = body["payload"]["subject"]["credit_code"]
    body["payload"]["subject"]["credit_code"] = code[:-1] + ("A" if code[-1] != "A" else "B")
    response = mib.post("/v1/messages", body, key="k-1")
    assert response.status_code == 422, response.text
    pointers = [e["pointer"] for e in problem_of(response)["errors"]]
    assert "/payload/subject/credit_code" in pointers, pointers


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [({}, 401, "unauthenticated"), ({"Authorization": "Bearer nope"}, 401, "unauthenticated")],
)
def test_callers_without_a_valid_token_are_refused(
    mib: Side, headers: dict[str, str], status: int, reason: str
) -> None:
    response = mib.http.post(
        "/v1/messages", json=clue(), headers={**headers, "Idempotency-Key": "k"}
    )
    assert response.status_code == status and problem_of(response)["reason"] == reason
    assert mib.store.caller_of(mib.token) == "case-system"
    assert mib.token not in (mib.store._db.execute("SELECT sha256 FROM tokens").fetchone()[0])


def test_a_message_without_an_idempotency_key_is_refused(mib: Side) -> None:
    response = mib.post("/v1/messages", clue())
    assert response.status_code == 422
    assert problem_of(response)["reason"] == "invalid_request"


@pytest.mark.parametrize("action", ["receipt", "accept", "return", "feedback", "close"])
def test_a_body_that_is_not_json_is_a_documented_400_problem(mib: Side, action: str) -> None:
    response = mib.http.post(
        f"/v1/messages/some-id/{action}",
        content=b"\x13\xc9\xaf\xff\x04",
        headers={**mib.auth, "Content-Type": "application/json", "Idempotency-Key": "k"},
    )
    assert response.status_code == 400, response.text
    assert problem_of(response)["reason"] == "malformed_body"
    documented = mib.http.get("/openapi.json").json()["paths"][
        f"/v1/messages/{{message_id}}/{action}"
    ]
    assert "400" in documented["post"]["responses"]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [({"family": ""}, "/family"), ({"family": "tree_head"}, "/family"),
     ({"to": "psb@350582"}, "/to"), ({"to": "PSB@3505"}, "/to"), ({"to": "HUB@100000"}, "/to")],
)  # fmt: skip
def test_family_and_recipient_are_refused_by_the_contract_itself(
    mib: Side, change: dict[str, str], pointer: str
) -> None:
    response = mib.post("/v1/messages", {**clue(), **change}, key="k-1")
    assert response.status_code == 422
    found = problem_of(response)
    assert found["reason"] == "invalid_request" and pointer in {
        e["pointer"] for e in found["errors"]
    }
    assert mib.sent == []


def test_the_document_lists_the_families_an_agency_sends_and_the_address_shape(mib: Side) -> None:
    schemas = mib.http.get("/openapi.json").json()["components"]["schemas"]
    family, to = (
        schemas["NewMessage"]["properties"]["family"],
        schemas["NewMessage"]["properties"]["to"],
    )
    assert "clue_transfer" in family["enum"] and "receipt" in family["enum"]
    assert "tree_head" not in family["enum"] and "sla_event" not in family["enum"]
    assert to["pattern"].startswith("^(") and "HUB" not in to["pattern"]


def test_an_unknown_path_answers_a_problem_too(mib: Side) -> None:
    response = mib.http.get("/v1/nowhere", headers=mib.auth)
    assert response.status_code == 404 and problem_of(response)["reason"] == "not_found"


def test_the_inbox_is_at_least_once_until_acknowledged_and_long_polls(mib: Side, psb: Side) -> None:
    assert psb.http.get("/v1/inbox", headers=psb.auth).json() == []
    sent = mib.post("/v1/messages", clue(), key="k-1").json()["id"]
    mib.route_last()

    def later() -> None:
        time.sleep(0.3)
        psb.take_inbox_from("hub.inbox.PSB.350582")

    threading.Thread(target=later).start()
    started = time.monotonic()
    got = psb.http.get("/v1/inbox?wait=10", headers=psb.auth).json()
    assert 0.2 < time.monotonic() - started < 9
    assert [m["id"] for m in got] == [sent]
    assert got[0]["payload"]["subject"]["name"] == SECRET_NAME
    psb.take_inbox_from("hub.inbox.PSB.350582")  # delivered again: kept once
    assert len(psb.http.get("/v1/inbox", headers=psb.auth).json()) == 1
    assert psb.post(f"/v1/inbox/{sent}/ack").status_code == 204
    assert psb.http.get("/v1/inbox", headers=psb.auth).json() == []
    assert psb.post("/v1/inbox/unknown-id/ack").status_code == 404


def test_answers_go_back_signed_and_move_the_ledger(mib: Side, psb: Side) -> None:
    mid = mib.post("/v1/messages", clue(), key="k-1").json()["id"]
    mib.route_last()
    psb.take_inbox_from("hub.inbox.PSB.350582")
    receipt = psb.post(f"/v1/messages/{mid}/receipt", {"received_by": "刑侦支队"})
    assert receipt.status_code == 202, receipt.text
    assert psb.route_last().kind == DELIVERED
    assert psb.post(f"/v1/messages/{mid}/receipt").json() == receipt.json()  # one receipt
    # Also asked with a key of its own: the receipt already signed, not a second one.
    assert psb.post(f"/v1/messages/{mid}/receipt", {"note": "again"}, key="r-2").json() == (
        receipt.json()
    )
    assert len(psb.sent) == 1
    no_reason = psb.post(f"/v1/messages/{mid}/return", {}, key="r-1")
    assert no_reason.status_code == 422
    assert (
        psb.post(
            f"/v1/messages/{mid}/accept", {"case_number": "泉公刑2024-1"}, key="a-1"
        ).status_code
        == 202
    )
    assert psb.route_last().kind == DELIVERED
    assert (
        psb.post(
            f"/v1/messages/{mid}/feedback", {"note": "调查中", "percent": 40}, key="f-1"
        ).status_code
        == 202
    )
    assert psb.route_last().kind == DELIVERED
    closed = psb.post(
        f"/v1/messages/{mid}/close",
        {"result": "VERIFIED_TRUE", "recovered_fen": 12300, "sanctions": {"FINED": 1}},
        key="c-1",
    )
    assert closed.status_code == 202, closed.text
    assert psb.route_last().kind == DELIVERED
    assert psb.rig.services.ledger.entry(mid)["state"] == "CLOSED"
    # The sender's gateway learns each answer and says where the hand-off stands.
    mib.take_inbox_from("hub.inbox.MIB.350582")
    status = mib.http.get(f"/v1/messages/{mid}", headers=mib.auth).json()
    assert status["direction"] == "sent" and status["state"] == "CLOSED"
    assert [s["family"] for s in status["steps"]] == [
        "clue_transfer",
        "receipt",
        "acceptance",
        "feedback",
        "closure",
    ]
    assert psb.http.get(f"/v1/messages/{mid}", headers=psb.auth).json()["direction"] == "received"
    assert psb.post("/v1/messages/never-seen/accept", {}, key="x").status_code == 404


def test_calls_are_logged_without_payload_contents(
    mib: Side, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        mib.post("/v1/messages", clue(), key="k-1")
        bad = clue()
        bad["payload"]["surprise"] = SECRET_NAME
        mib.post("/v1/messages", bad, key="k-2")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /v1/messages -> 202 caller=case-system" in text
    assert SECRET_NAME not in text


def test_pushes_are_standard_webhooks_retried_then_parked(psb: Side, mib: Side) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    mid = mib.post("/v1/messages", clue(), key="k-1").json()["id"]
    mib.route_last()
    psb.take_inbox_from("hub.inbox.PSB.350582")
    seen: list[httpx.Request] = []
    answers = iter([500, 503])

    def endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers, 200))

    client = httpx.Client(transport=httpx.MockTransport(endpoint))
    pusher = Pusher(psb.store, "http://agency.example/hook", secret, max_attempts=2, client=client)
    assert pusher.push_due() == 0  # 500: retried later
    assert psb.store.due_for_push() == []  # not before its backoff
    with psb.store._lock:
        psb.store._db.execute("UPDATE inbox SET next_push_at = '2000-01-01'")
    assert pusher.push_due() == 0  # 503 on the 2nd attempt: parked
    assert [m["id"] for m in psb.http.get("/v1/inbox/parked", headers=psb.auth).json()] == [mid]
    assert psb.post(f"/v1/inbox/{mid}/push").status_code == 204
    assert pusher.push_due() == 1  # 200: taken, so acknowledged
    assert psb.http.get("/v1/inbox", headers=psb.auth).json() == []
    last = seen[-1]
    payload = Webhook(secret).verify(last.content.decode(), dict(last.headers))
    assert payload["id"] == mid and last.headers["webhook-id"] == mid


@pytest.mark.parametrize("field", ["correlation_id", "causation_id"])
def test_an_id_off_the_alphabet_is_a_422_where_it_enters_not_a_dead_letter_later(
    mib: Side, field: str
) -> None:
    """Issue 30.7: ``correlation_id: "… bad id!"`` got 202 and became an invalid_id dead
    letter; now the gateway names the field and sends nothing."""
    body = {**clue(), field: "… bad id!"}
    response = mib.post("/v1/messages", body, key=f"k-{field}")
    assert response.status_code == 422, response.text
    problem = problem_of(response)
    assert [e["pointer"] for e in problem["errors"]] == [f"/{field}"]
    assert mib.sent == []


@pytest.mark.parametrize(
    "reference", ['=HYPERLINK("http://x.invalid","x")', "QZ-1\nforged", "x" * 65]
)
def test_a_reference_that_could_become_a_formula_or_a_forged_line_is_refused(
    mib: Side, reference: str
) -> None:
    body = clue()
    body["payload"]["clue_id"] = reference
    response = mib.post("/v1/messages", body, key="k-ref")
    assert response.status_code == 422, response.text
    assert "/payload/clue_id" in [e["pointer"] for e in problem_of(response)["errors"]]
    assert mib.sent == []
