"""With the hub and two gateways running, plain curl sends a clue from MIB's gateway, PSB's
gateway delivers it, curl signs for it, accepts and closes it, and `hub audit trail` tells the
story; a gateway stopped and started again delivers what arrived meanwhile, once; a Node.js
script with only fetch does the same as curl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gatewayproc import GatewayProcess, spawn_cli, start_gateway
from tests.hubproc import ROOT, HubProcess, load_example, start_hub, wait_until


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    proc = start_hub(tmp_path_factory.mktemp("gateway-hub"))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def gateways(hub: HubProcess) -> Iterator[dict[str, GatewayProcess]]:
    started = {a: start_gateway(hub, a) for a in ("MIB@350582", "PSB@350582")}
    yield started
    for g in started.values():
        g.stop()


def inbox_until(gw: GatewayProcess, message_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, messages = gw.curl("GET", "/v1/inbox?wait=10")
        assert status == 200, messages
        for m in messages:
            if m["id"] == message_id:
                return m
    raise AssertionError(f"{message_id} not in {gw.address}'s gateway inbox")


def clue() -> dict[str, Any]:
    return {"family": "clue_transfer", "to": "PSB@350582", "payload": load_example("clue_transfer")}


def test_curl_sends_signs_for_and_closes_a_clue_and_the_trail_tells_it(
    hub: HubProcess, gateways: dict[str, GatewayProcess]
) -> None:
    mib, psb = gateways["MIB@350582"], gateways["PSB@350582"]
    status, sent = mib.curl("POST", "/v1/messages", clue(), key="case-2024-0001")
    assert status == 202, sent
    mid = sent["id"]
    assert mib.curl("POST", "/v1/messages", clue(), key="case-2024-0001") == (202, sent)
    got = inbox_until(psb, mid)
    assert got["family"] == "clue_transfer" and got["sender"] == "MIB@350582"
    assert got["payload"]["subject"]["credit_code"] == clue()["payload"]["subject"]["credit_code"]
    for action, body in (
        ("receipt", {"received_by": "刑侦支队"}),
        ("accept", {"case_number": "泉公刑2024-17"}),
        ("close", {"result": "VERIFIED_TRUE", "recovered_fen": 1283450, "sanctions": {"FINED": 1}}),
    ):
        status, answer = psb.curl("POST", f"/v1/messages/{mid}/{action}", body, key=f"{action}-1")
        assert status == 202, answer
    assert psb.curl("POST", f"/v1/inbox/{mid}/ack")[0] == 204

    def closed_at_mib() -> bool:
        return mib.curl("GET", f"/v1/messages/{mid}")[1]["state"] == "CLOSED"

    wait_until(closed_at_mib, 60, "MIB's gateway to see the hand-off closed")
    view = mib.curl("GET", f"/v1/messages/{mid}")[1]
    assert view["hub"]["ledger"]["state"] == "CLOSED"  # the hub's own 台账 agrees

    def trail() -> list[str]:
        out = hub.cli("audit", "trail", mid, "--json", check=False).stdout
        return [step["kind"] for step in json.loads(out or "[]")]

    wait_until(lambda: "closed" in trail(), 60, "the closure in the audit log")
    kinds = trail()
    for kind in ("submitted", "routed", "delivered", "receipt", "accepted", "closed"):
        assert kind in kinds, kinds
    verified = hub.cli("audit", "trail", mid, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_problems_come_back_as_rfc_9457_with_pointers(gateways: dict[str, GatewayProcess]) -> None:
    body = clue()
    del body["payload"]["category"]
    status, problem = gateways["MIB@350582"].curl("POST", "/v1/messages", body, key="bad-1")
    assert status == 422 and problem["reason"] == "invalid_payload"
    assert {"pointer": "/payload/category", "detail": "is required"} in problem["errors"]


def test_schemathesis_finds_the_gateway_exactly_as_its_document_says(
    gateways: dict[str, GatewayProcess], tmp_path: Path
) -> None:
    """A bounded property-based run from the gateway's own /openapi.json (fixed seed, 20
    examples per operation): no 5xx, every status and content type documented, every body as
    its schema says.  It once found FastAPI's undocumented `400 {"detail": ...}`."""
    mib = gateways["MIB@350582"]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"),
         "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
         "run", f"{mib.url}/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         "--max-examples", "20", "--seed", "20261204", "--workers", "1",
         "--request-timeout", "30", "-H", f"Authorization: Bearer {mib.token}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout.split("SUMMARY")[-1]


def test_a_gateway_stopped_and_started_again_delivers_what_came_meanwhile_once(
    hub: HubProcess, gateways: dict[str, GatewayProcess]
) -> None:
    mib, psb = gateways["MIB@350582"], gateways["PSB@350582"]
    psb.stop()
    mid = mib.curl("POST", "/v1/messages", clue(), key=f"while-away-{uuid.uuid4()}")[1]["id"]
    time.sleep(2)
    again = start_gateway(hub, "PSB@350582", port=psb.port)
    gateways["PSB@350582"] = again
    inbox_until(again, mid)
    time.sleep(3)  # nothing more arrives for it
    _, messages = again.curl("GET", "/v1/inbox?limit=500")
    assert [m["id"] for m in messages].count(mid) == 1
    # Leave the shared inbox as found: a message left unacknowledged answers every later long
    # poll at once (it once made the Node client's poll loop run out before its own clue came).
    assert again.curl("POST", f"/v1/inbox/{mid}/ack")[0] == 204


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not on this machine")
def test_a_node_script_with_only_fetch_does_what_curl_does(
    gateways: dict[str, GatewayProcess],
) -> None:
    mib, psb = gateways["MIB@350582"], gateways["PSB@350582"]
    # Something else waits unacknowledged in PSB's inbox, so every long poll answers at once:
    # the script must still wait for its own clue.
    stale = mib.curl("POST", "/v1/messages", clue(), key=f"stale-{uuid.uuid4()}")[1]["id"]
    inbox_until(psb, stale)
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "MIB_URL": mib.url,
        "MIB_TOKEN": mib.token,
        "PSB_URL": psb.url,
        "PSB_TOKEN": psb.token,
    }
    script = ROOT / "examples" / "clients" / "node" / "walkthrough.mjs"
    done = subprocess.run(
        ["node", str(script), str(ROOT / "examples" / "payloads" / "clue_transfer.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["state"] == "CLOSED"
    assert psb.curl("POST", f"/v1/inbox/{stale}/ack")[0] == 204


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_outbox_rows_arrive_once_across_a_gateway_restart(
    hub: HubProcess, gateways: dict[str, GatewayProcess], kind: str
) -> None:
    from sqlalchemy import insert, select

    from connectors.gateway.outbox import agency_engine, create_tables, outbox, sent
    from tests.databases import agency_database

    psb = gateways["PSB@350582"]
    with agency_database(kind) as url:
        engine = agency_engine(url)
        create_tables(engine)

        def add_row() -> str:
            row_id = str(uuid.uuid4())
            body = load_example("clue_transfer")
            with engine.begin() as conn:
                conn.execute(
                    insert(outbox).values(
                        id=row_id,
                        aggregatetype="clue",
                        aggregateid=body["clue_id"],
                        type="ClueTransferred",
                        payload=json.dumps(body, ensure_ascii=False),
                        family="clue_transfer",
                        recipient="PSB@350582",
                    )
                )
            return row_id

        first = add_row()
        city = start_gateway(hub, "MIB@350500", "--outbox-url", url)
        try:
            inbox_until(psb, first)
        finally:
            city.stop()
        second = add_row()  # inserted while the gateway is down
        city = start_gateway(hub, "MIB@350500", "--outbox-url", url, port=city.port)
        try:
            inbox_until(psb, second)
            time.sleep(3)
        finally:
            city.stop()
        _, messages = psb.curl("GET", "/v1/inbox?limit=500")
        ids = [m["id"] for m in messages]
        assert ids.count(first) == 1 and ids.count(second) == 1
        with engine.connect() as conn:
            assert dict(conn.execute(select(sent.c.id, sent.c.state)).all()) == {
                first: "sent",
                second: "sent",
            }
        engine.dispose()


def test_a_check_of_a_voided_invoice_is_answered_voided_by_the_finance_responder(
    hub: HubProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from connectors.responders.finance import KNOWN
    from hub.wire.jsonpayload import from_json

    register = tmp_path_factory.mktemp("fin") / "register.db"
    responder, _ = spawn_cli(
        hub,
        "responder",
        "responder",
        "finance",
        "--as",
        "FIN@350500",
        "--register",
        f"sqlite:///{register}",
        "--sample",
    )
    try:
        voided = KNOWN[1]
        mib = hub.connector("MIB@350582")
        payload = load_example("invoice_verification_request")
        payload.update(
            invoice_number=voided.invoice_number,
            check_code=voided.check_code,
            issue_date=str(voided.issue_date),
            amount_fen=voided.amount_fen,
        )

        schema = mib.registry.latest("invoice_verification_request")
        mid = mib.send("invoice_verification_request", "FIN@350500", from_json(schema.raw, payload))

        def answered() -> bool:
            return any(
                m.family == "invoice_verification_result" and m.envelope.correlation_id == mid
                for m in mib.messages(idle_timeout_s=2)
            )

        wait_until(answered, 90, "the finance responder's answer")
        [result] = [
            m
            for m in mib.messages(idle_timeout_s=2)
            if m.family == "invoice_verification_result" and m.envelope.correlation_id == mid
        ]
        assert (
            result.payload["result"] == "VOIDED" and result.payload["recorded_amount_fen"] == 128000
        )
    finally:
        responder.terminate()
        responder.wait(20)


def make_pki(folder: Path) -> dict[str, Path]:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("agency CA"))
        .issuer_name(name("agency CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out: dict[str, Path] = {}

    def issue(cn: str, serial: int, server: bool) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        out[f"{cn}.pem"] = folder / f"{cn}.pem"
        out[f"{cn}.key"] = folder / f"{cn}.key"
        out[f"{cn}.pem"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{cn}.key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    issue("server", 2, True)
    issue("case-system", 3, False)
    out["ca.pem"] = folder / "ca.pem"
    out["ca.pem"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return out


def test_a_gateway_with_a_client_ca_admits_only_certified_callers(
    hub: HubProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    from hub.runtime.broker import free_port

    port = free_port("127.0.0.1")
    proc, _ = spawn_cli(
        hub,
        "gateway-mtls",
        "gateway",
        "--as",
        "HEALTH@350582",
        "--port",
        str(port),
        "--tls-cert",
        str(pki["server.pem"]),
        "--tls-key",
        str(pki["server.key"]),
        "--client-ca",
        str(pki["ca.pem"]),
    )
    url = f"https://127.0.0.1:{port}/v1/inbox"

    def curl(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
                str(pki["ca.pem"]),
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )

    try:
        wait_until(
            lambda: (
                curl(
                    "--cert", str(pki["case-system.pem"]), "--key", str(pki["case-system.key"])
                ).stdout
                == "200"
            ),
            60,
            "the TLS gateway to answer a certified caller",
        )
        refused = curl()  # no client certificate: the TLS handshake fails
        assert refused.returncode != 0 and refused.stdout != "200"
    finally:
        proc.terminate()
        proc.wait(20)


def test_curl_posts_evidence_that_comes_out_of_the_other_gateway_byte_for_byte(
    hub: HubProcess, gateways: dict[str, GatewayProcess], tmp_path: Path
) -> None:
    """The done-when of documents, at 3 MiB (`bench/documents.py --through gateways` runs it at
    1 GiB): curl posts a sealed clue with a PDF and its Content-Digest as multipart; PSB's
    gateway serves it whole, by range and with its digest; its text is on no topic and in no
    file of the hub's own (the agencies' gateways keep theirs in their folders)."""
    import base64
    import hashlib

    from tests.e2e.test_documents_end_to_end import write_pdf
    from tests.hubproc import raw_inbox_records

    mib, psb = gateways["MIB@350582"], gateways["PSB@350582"]
    marker = f"MARK-{uuid.uuid4().hex}-证据原文".encode()
    pdf = write_pdf(tmp_path / "evidence.pdf", 3 * 1024 * 1024 + 17, marker)
    digest = base64.b64encode(hashlib.sha256(pdf.read_bytes()).digest()).decode()
    message = tmp_path / "message.json"
    message.write_text(json.dumps({**clue(), "encrypt": True}, ensure_ascii=False))
    out = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", f"{mib.url}/v1/messages",
         "-H", f"Authorization: Bearer {mib.token}", "-H", "Idempotency-Key: evidence-1",
         "-F", f"message=<{message};type=application/json",
         "-F", f'document=@{pdf};filename=就诊记录.pdf;type=application/pdf;'
               f'headers="Content-Digest: sha-256=:{digest}:"'],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    text, _, status = out.stdout.rpartition("\n")
    assert status == "202", text
    mid = json.loads(text)["id"]
    got = inbox_until(psb, mid, timeout=120)
    sha = hashlib.sha256(pdf.read_bytes()).hexdigest()
    listed = [{k: d[k] for k in ("n", "name", "media_type", "size", "sha256")}
              for d in got["documents"]]  # fmt: skip
    assert listed == [{"n": 1, "name": "就诊记录.pdf", "media_type": "application/pdf",
                       "size": pdf.stat().st_size, "sha256": sha}]  # fmt: skip
    assert len(got["documents"][0]["chunks_root"]) == 64  # read and checked before it was listed
    saved = tmp_path / "out.pdf"
    head = subprocess.run(
        ["curl", "-sS", "-D", "-", "-o", str(saved), "-H", f"Authorization: Bearer {psb.token}",
         f"{psb.url}/v1/messages/{mid}/documents/1"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.lower()  # fmt: skip
    assert saved.read_bytes() == pdf.read_bytes()
    assert f"content-digest: sha-256=:{digest.lower()}:" in head
    part = subprocess.run(
        ["curl", "-sS", "-r", "1000-1999", "-H", f"Authorization: Bearer {psb.token}",
         f"{psb.url}/v1/messages/{mid}/documents/1"],
        capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert part == pdf.read_bytes()[1000:2000]
    for topic in ("hub.ingress", "hub.docs.PSB.350582", "hub.inbox.PSB.350582"):
        for record in raw_inbox_records(hub.state.bootstrap, topic, idle_s=1.0):
            blob = (record.value or b"") + b"".join(v for _, v in record.headers or [])
            assert marker not in blob, f"evidence in clear on {topic}"
    # PSB's receipt names the document as its gateway read it; the trail sets it beside the sent
    from tests.e2e.test_end_to_end import audit_kinds_until

    assert psb.curl("POST", f"/v1/messages/{mid}/receipt")[0] == 202
    audit_kinds_until(hub, mid, lambda k: "receipt" in k, timeout=60)
    steps = json.loads(hub.cli("audit", "trail", mid, "--json").stdout)
    receipt = next(s for s in steps if s["kind"] == "receipt")
    assert [d["verdict"] for d in receipt["documents"]] == ["matches"]
    agencies = {hub.home / "gateway", hub.home / "connectors"}
    for path in hub.home.rglob("*"):
        if path.is_file() and not any(a in path.parents for a in agencies):
            assert marker not in path.read_bytes(), f"evidence in clear in {path}"
