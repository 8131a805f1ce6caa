"""Documents through a real hub on the embedded broker: evidence sent with a clue comes out of
the recipient's connector byte for byte, sealed documents are in clear on no topic, and a chunk
altered before the router sees it turns the message into a dead letter, never a delivery."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from hub.wire import codec
from hub.wire.documents import CHUNK_PLAINTEXT, Chunk
from hub.wire.jsonpayload import from_json
from hub.wire.topics import INGRESS, docs_topic
from tests.e2e.test_end_to_end import audit_kinds_until
from tests.hubproc import (
    HubProcess,
    load_example,
    raw_inbox_records,
    wait_for_messages,
    wait_until,
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_pdf(path: Path, size: int, marker: bytes = b"") -> Path:
    body = bytearray(os.urandom(size))
    body[:9] = b"%PDF-1.7\n"
    if marker:  # a recognisable run of text inside, to look for on the topics
        for at in range(1024, size - len(marker), 300_000):
            body[at : at + len(marker)] = marker
    path.write_bytes(bytes(body))
    return path


def clue(conn, family: str = "clue_transfer") -> dict:  # type: ignore[no-untyped-def]
    schema = conn.registry.latest(family)
    payload = load_example(family)
    if family == "corruption_clue_handoff":
        payload["handoff_id"] = f"CDI-HO-{uuid.uuid4().hex[:8]}"
    else:
        payload["clue_id"] = f"QZ-{uuid.uuid4().hex[:10]}"
    return from_json(schema.raw, payload)


def test_evidence_comes_out_of_the_recipients_connector_byte_for_byte(
    hub: HubProcess, tmp_path: Path
) -> None:
    big = write_pdf(tmp_path / "就诊记录.pdf", 3 * CHUNK_PLAINTEXT + 12345)
    table = tmp_path / "claims.csv"
    table.write_text("结算单号,金额\nJS-1,1234.50\n", encoding="utf-8")
    mib = hub.connector("MIB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", clue(mib), documents=[big, table])
    psb = hub.connector("PSB@350582", signing=False)
    wait_for_messages(psb, [mid])
    saved = tmp_path / "received"
    msg = next(m for m in psb.messages(save_documents=saved) if m.message_id == mid)
    assert [(d.n, d.name, d.size) for d in msg.documents] == [
        (1, "就诊记录.pdf", big.stat().st_size),
        (2, "claims.csv", table.stat().st_size),
    ]
    for d, original in zip(msg.documents, [big, table], strict=True):
        assert d.path is not None and sha256(d.path) == sha256(original) == d.sha256
    assert msg.to_json()["documents"][0]["name"] == "就诊记录.pdf"


def test_a_sealed_document_is_in_clear_on_no_topic(suite_hub: HubProcess, tmp_path: Path) -> None:
    hub = suite_hub
    marker = f"MARK-{uuid.uuid4().hex}-证据原文".encode()
    evidence = write_pdf(tmp_path / "谈话笔录.pdf", 2 * CHUNK_PLAINTEXT, marker)
    mib = hub.connector("MIB@350582")
    family = "corruption_clue_handoff"  # sealed as its payload must be
    mid = mib.send(family, "CDI@350582", clue(mib, family), documents=[evidence])
    cdi = hub.connector("CDI@350582", signing=False)
    wait_for_messages(cdi, [mid])
    msg = next(m for m in cdi.messages(save_documents=tmp_path / "cdi") if m.message_id == mid)
    assert msg.documents[0].path is not None
    assert msg.documents[0].path.read_bytes() == evidence.read_bytes()
    name = "谈话笔录".encode()
    for topic in (INGRESS.name, docs_topic("CDI", "350582"), "hub.inbox.CDI.350582"):
        for record in raw_inbox_records(hub.state.bootstrap, topic, idle_s=1.0):
            blob = (record.value or b"") + b"".join(v for _, v in record.headers or [])
            assert marker not in blob and name not in blob, f"document text in clear on {topic}"
    for path in hub.home.rglob("*"):
        if path.is_file() and path.suffix in {".db", ".db-wal", ".log", ".json", ".jsonl"}:
            data = path.read_bytes()
            assert marker not in data and name not in data, f"document text in {path}"


def test_a_chunk_altered_on_the_way_is_a_dead_letter_not_a_delivery(
    hub: HubProcess, tmp_path: Path
) -> None:
    """The sender's chunks are replaced on hub.ingress by one with a flipped byte (as a broker
    or a disk could): the router refuses the message, and PSB never sees it."""
    evidence = write_pdf(tmp_path / "发票.pdf", CHUNK_PLAINTEXT + 10)
    mib = hub.connector("MIB@350582")
    real_send = mib.producer.send
    flipped: list[int] = []

    def altering(topic, value=None, key=None, **kw):  # type: ignore[no-untyped-def]
        fp, fields = codec.split_header(value)[0], None
        if topic == INGRESS.name and fp == mib.registry.latest("document_chunk").fingerprint:
            _, fields = codec.decode(mib.registry, value)
            chunk = Chunk.from_record(fields)
            if chunk.index == 1 and not flipped:
                flipped.append(1)
                data = bytes([chunk.data[0] ^ 0xFF]) + chunk.data[1:]
                value = codec.encode(
                    mib.registry.latest("document_chunk"), {**fields, "data": data}
                )
        return real_send(topic, value=value, key=key, **kw)

    mib.producer.send = altering  # type: ignore[method-assign]
    mid = mib.send("clue_transfer", "PSB@350582", clue(mib), documents=[evidence])
    assert flipped
    wait_until(
        lambda: mid in hub.cli("dlq", "list", "--json").stdout,
        what="the message with an altered chunk dead-lettered",
    )
    letters = hub.cli("dlq", "list", "--json").stdout
    line = next(x for x in letters.splitlines() if mid in x)
    assert "corrupt_chunk" in line and "发票" not in letters
    psb = hub.connector("PSB@350582", signing=False)
    assert all(m.message_id != mid for m in psb.messages(idle_timeout_s=2))
    # The sender is told, under the operators' signature, with the dead letter to replay.
    dl_id = json.loads(line)["dead_letter_id"]
    mib_inbox = hub.connector("MIB@350582", signing=False)
    returned = wait_for_messages(mib_inbox, [f"ret-{dl_id}"])[f"ret-{dl_id}"]
    assert returned.family == "delivery_refused" and str(returned.envelope.sender) == "HUB@100000"
    assert returned.envelope.correlation_id == mid
    assert returned.payload["reason"] == "corrupt_chunk"
    assert returned.payload["dead_letter_id"] == dl_id


def test_consuming_hands_the_handler_its_documents_saved(hub: HubProcess, tmp_path: Path) -> None:
    evidence = write_pdf(tmp_path / "银行流水.pdf", CHUNK_PLAINTEXT + 77)
    mib = hub.connector("MIB@350582")
    family = "corruption_clue_handoff"
    mid = mib.send(family, "CDI@350582", clue(mib, family), documents=[evidence])
    cdi = hub.connector("CDI@350582")
    cdi.documents_dir = tmp_path / "taken"
    wait_for_messages(cdi, [mid])
    taken = {}
    cdi.consume(lambda m: taken.setdefault(m.message_id, m), follow=False, idle_timeout_s=3)
    doc = taken[mid].documents[0]
    assert doc.path == tmp_path / "taken" / mid / "1-银行流水.pdf"
    assert doc.path.read_bytes() == evidence.read_bytes()


def test_a_receipt_names_each_document_as_received_and_the_trail_compares(
    hub: HubProcess, tmp_path: Path
) -> None:
    scan = write_pdf(tmp_path / "扫描件.pdf", CHUNK_PLAINTEXT + 999)
    mib = hub.connector("MIB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", clue(mib), documents=[scan])
    psb = hub.connector("PSB@350582")
    wait_for_messages(psb, [mid])
    msg = next(m for m in psb.messages(save_documents=tmp_path / "in") if m.message_id == mid)
    psb.receipt(msg)
    audit_kinds_until(hub, mid, lambda k: "receipt" in k)
    steps = json.loads(hub.cli("audit", "trail", mid, "--json").stdout)
    receipt = next(s for s in steps if s["kind"] == "receipt")
    assert [d["verdict"] for d in receipt["documents"]] == ["matches"]
    assert receipt["documents"][0]["received_size"] == msg.documents[0].wire_size
    text = hub.cli("audit", "trail", mid).stdout
    assert "document 1:" in text and "matches" in text and "扫描件" not in text
