"""Nothing in clear: encrypted corruption clues carrying known names and ID numbers pass through a
real hub, and those names and numbers are in no topic (read raw), no database file, no log, no
dead letter and no audit export — while the recipient's connector reads them.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from kafka import KafkaAdminClient

from connectors.messages import encryption_target
from hub.trust.address import Address
from tests.hubproc import HubProcess, load_example, raw_records_of_topics, wait_for_messages


def secret_handoff(name: str, id_number: str) -> dict:
    p = load_example("corruption_clue_handoff")
    p["handoff_id"] = f"CDI-HO-{uuid.uuid4().hex[:8]}"
    p["officials"] = [{"name": name, "post": "科长", "unit": "晋江市医疗保障基金中心"}]
    p["summary"] = f"{name}（身份证号 {id_number}）涉嫌收受好处。"
    return p


def test_encrypted_names_and_id_numbers_appear_nowhere_on_the_hub(
    suite_hub: HubProcess, tmp_path: Path
) -> None:
    hub = suite_hub
    name, id_number = f"欧阳{uuid.uuid4().hex[:4]}", "350582197001011234"
    secrets = [name.encode(), id_number.encode()]
    mib, health = hub.connector("MIB@350582"), hub.connector("HEALTH@350582")
    from hub.wire.jsonpayload import from_json

    schema = mib.registry.latest("corruption_clue_handoff")

    def payload() -> dict:
        return from_json(schema.raw, secret_handoff(name, id_number))

    sent = [
        mib.send("corruption_clue_handoff", "CDI@350582", payload()),
        health.send("corruption_clue_handoff", "CDI@350582", payload()),
    ]
    # One encrypted for the wrong connector: dead-lettered, with its (unreadable) bytes kept.
    wrong = encryption_target(mib.directory(), Address.parse("PSB@350582"))
    from hub.wire.envelope import seal

    _, raw = seal(
        mib.registry,
        family="corruption_clue_handoff",
        payload_schema=schema,
        payload=payload(),
        sender=mib.address,
        recipient=Address.parse("CDI@350582"),
        key=mib.key,  # type: ignore[arg-type]
        encrypt_to=wrong,
    )
    mib.send_raw(raw)
    # The recipient reads them in clear.
    cdi = hub.connector("CDI@350582", signing=False)
    found = wait_for_messages(cdi, sent)
    assert all(m.payload["officials"][0]["name"] == name for m in found.values())

    # Every topic, read raw.
    admin = KafkaAdminClient(bootstrap_servers=hub.state.bootstrap)
    topics = [t for t in admin.list_topics() if t.startswith("hub.")]
    admin.close()
    read = 0
    for record in raw_records_of_topics(hub.state.bootstrap, topics):
        blob = (record.value or b"") + b"".join(v for _, v in record.headers or [])
        assert not any(s in blob for s in secrets), f"a secret in clear on {record.topic}"
        read += 1
    assert read >= len(sent)  # at least the messages themselves, on hub.ingress
    # Every database file, the logs, the dead letters, the audit export.
    for path in hub.home.rglob("*"):
        if path.is_file() and path.suffix in {".db", ".db-wal", ".log", ".json", ".jsonl"}:
            data = path.read_bytes()
            assert not any(s in data for s in secrets), f"a secret in clear in {path}"
    letters = hub.cli("dlq", "list", "--json").stdout
    assert "encryption_mismatch" in letters
    assert not any(s.decode() in letters for s in secrets)
    hub.cli("audit", "export", "--out", str(tmp_path / "export"))
    for path in (tmp_path / "export").rglob("*"):  # timestamps/ too, when there are tokens
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), f"a secret in {path.name}"
    assert json.loads((tmp_path / "export" / "manifest.json").read_text())


def test_an_encrypted_payload_that_fails_the_recipients_checks_is_returned_to_its_sender(
    hub: HubProcess,
) -> None:
    from hub.lifecycle.ledger import Ledger
    from hub.storage.store import Store
    from hub.wire.jsonpayload import from_json
    from tests.hubproc import wait_until

    mib = hub.connector("MIB@350582")
    schema = mib.registry.latest("corruption_clue_handoff")
    broken = {**secret_handoff("某", "350582197001011234"), "officials": []}
    mid = mib.send("corruption_clue_handoff", "CDI@350582", from_json(schema.raw, broken))
    cdi = hub.connector("CDI@350582")
    refused: list = []
    cdi.on_rejected = refused.append
    cdi.consume(lambda msg: None, follow=False, idle_timeout_s=3)
    assert any("invalid_payload" in r.reason for r in refused)
    ledger = Ledger(Store(hub.settings.effective_store_url, create=False).engine)
    wait_until(
        lambda: (ledger.entry(mid) or {}).get("state") == "RETURNED",
        what="the refused hand-off returned in the ledger",
    )
    answers = [
        m for m in mib.messages(idle_timeout_s=2)
        if m.envelope.correlation_id == mid and m.family == "acceptance"
    ]  # fmt: skip
    assert answers and answers[0].payload["decision"] == "RETURNED"
    assert "officials" in answers[0].payload["reason"] or "official" in answers[0].payload["reason"]


def test_documents_of_every_family_are_sealed_on_every_topic_replies_included(
    suite_hub: HubProcess, tmp_path: Path
) -> None:
    """Issue 30.2: a clue_transfer (a family whose payload travels in clear) with evidence, and a
    feedback with its processing report: the recipient reads both documents, while neither
    their bytes nor their file names are on any hub topic, read raw; the feedback's payload
    stays readable to the hub's ledger."""
    hub = suite_hub
    marker = uuid.uuid4().hex.encode()
    evidence_name, report_name = (
        f"证据-{marker[:8].decode()}.pdf",
        f"报告-{marker[8:16].decode()}.pdf",
    )
    evidence = tmp_path / evidence_name
    evidence.write_bytes(b"%PDF-1.7\n" + (b"EVIDENCE-" + marker + b"\n") * 4000)
    report = tmp_path / report_name
    report.write_bytes(b"%PDF-1.7\n" + (b"REPORT-" + marker + b"\n") * 300)
    mib, psb = hub.connector("MIB@350582"), hub.connector("PSB@350582")
    from tests.e2e.test_documents_end_to_end import clue

    mid = mib.send("clue_transfer", "PSB@350582", clue(mib), documents=[evidence])
    got = wait_for_messages(psb, [mid])[mid]
    saved = psb.fetch_documents(got, tmp_path / "psb")
    assert saved.documents[0].path.read_bytes() == evidence.read_bytes()
    psb.receipt(got)
    psb.accept(got)
    note_id = psb.feedback(got, "核查中", percent=50, processing_report=report)
    answer = wait_for_messages(mib, [note_id])[note_id]
    assert mib.fetch_documents(answer, tmp_path / "mib").documents[0].path.read_bytes() == (
        report.read_bytes()
    )
    admin = KafkaAdminClient(bootstrap_servers=hub.state.bootstrap)
    topics = [t for t in admin.list_topics() if t.startswith("hub.")]
    admin.close()
    assert any(t.startswith("hub.docs.") for t in topics)
    secrets = [b"EVIDENCE-" + marker, b"REPORT-" + marker, evidence_name.encode(),
               report_name.encode(), marker[:8], marker[8:16]]  # fmt: skip
    for record in raw_records_of_topics(hub.state.bootstrap, topics):
        blob = (record.value or b"") + b"".join(v for _, v in record.headers or [])
        assert not any(s in blob for s in secrets), f"a document in clear on {record.topic}"
    from hub.lifecycle.ledger import Ledger
    from hub.storage.store import Store
    from tests.hubproc import wait_until

    ledger = Ledger(Store(hub.settings.effective_store_url, create=False).engine)
    wait_until(lambda: (ledger.entry(mid) or {}).get("processing_report") is not None,
               what="the feedback's processing report (sizes, root) in the ledger")  # fmt: skip
    assert ledger.entry(mid)["state"] == "IN_PROGRESS"  # type: ignore[index]
