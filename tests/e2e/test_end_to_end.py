"""The spine against the real embedded broker: a `hub run` process, connectors, the CLI."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from hub.audit.store import AuditStore
from hub.storage.store import Store
from hub.trust.address import Address
from hub.trust.directory_file import load_directory
from hub.trust.keys import SigningKey
from hub.wire.envelope import encode_envelope, seal
from hub.wire.jsonpayload import from_json
from hub.wire.topics import INGRESS, inbox_topic
from tests.hubproc import (
    HubProcess,
    load_example,
    raw_inbox_records,
    wait_for_messages,
    wait_until,
)


def payload(conn, family: str, **changes) -> dict:
    schema = conn.registry.latest(family)
    return {**from_json(schema.raw, load_example(family)), **changes}


def store(hub: HubProcess) -> Store:
    return Store(hub.settings.effective_store_url)


def dead_letter_of(hub: HubProcess, message_id: str) -> dict:
    s = store(hub)
    rows: list = []

    def found() -> bool:
        rows[:] = [r for r in s.dead_letters(limit=10_000) if r["message_id"] == message_id]
        return bool(rows)

    wait_until(found, what=f"dead letter of {message_id}")
    assert len(rows) == 1, rows
    return rows[0]


def test_each_family_arrives_verified_and_decoded(suite_hub: HubProcess) -> None:
    hub = suite_hub
    mib = hub.connector("MIB@350582")
    fin = hub.connector("FIN@350582")
    sent = {
        "PSB@350582": [
            (
                "clue_transfer",
                mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer")),
            )
        ],
        "HEALTH@350582": [
            (
                "clue_transfer",
                mib.send("clue_transfer", "HEALTH@350582", payload(mib, "clue_transfer")),
            )
        ],
    }
    sent["PSB@350582"].append(
        ("case_referral", mib.send("case_referral", "PSB@350582", payload(mib, "case_referral")))
    )
    request_id = mib.send(
        "invoice_verification_request", "FIN@350582", payload(mib, "invoice_verification_request")
    )
    sent["FIN@350582"] = [("invoice_verification_request", request_id)]
    sent["CDI@350582"] = [
        (
            "corruption_clue_handoff",
            mib.send(
                "corruption_clue_handoff", "CDI@350582", payload(mib, "corruption_clue_handoff")
            ),
        )
    ]
    sent["MIB@350582"] = [
        (
            "invoice_verification_result",
            fin.send(
                "invoice_verification_result",
                "MIB@350582",
                payload(fin, "invoice_verification_result"),
                correlation_id=request_id,
            ),
        )
    ]

    for address, items in sent.items():
        conn = hub.connector(address, signing=False)
        found = wait_for_messages(conn, [mid for _, mid in items])
        for family, mid in items:
            msg = found[mid]
            assert msg.family == family
            assert msg.envelope.recipient == Address.parse(address)
            assert msg.via == "direct"
            expected = payload(mib, family)
            for field in ("amount_fen", "summary", "case_number", "request_id", "handoff_id"):
                if field in expected:
                    assert msg.payload[field] == expected[field]
        conn.close()
    result = wait_for_messages(
        hub.connector("MIB@350582", signing=False), [sent["MIB@350582"][0][1]]
    )
    assert next(iter(result.values())).envelope.correlation_id == request_id


def test_rejections_land_in_the_dead_letter_queue_with_their_reason(hub: HubProcess) -> None:
    mib = hub.connector("MIB@350582")
    registry = mib.registry
    schema = registry.latest("clue_transfer")
    producer = KafkaProducer(bootstrap_servers=hub.state.bootstrap, acks="all")

    # A forged signature: signed with a key the directory does not know under MIB's key id.
    forger = SigningKey(mib.key.key_id, SigningKey.generate().private)
    forged, forged_raw = seal(
        registry,
        family="clue_transfer",
        payload_schema=schema,
        payload=payload(mib, "clue_transfer"),
        sender=mib.address,
        recipient=Address.parse("PSB@350582"),
        key=forger,
    )
    # A policy violation: a health commission may not send clues to the police.
    health = hub.connector("HEALTH@350582")
    violation = health.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    # An unknown schema fingerprint inside an otherwise valid envelope.
    env, _ = seal(
        registry,
        family="clue_transfer",
        payload_schema=schema,
        payload=payload(mib, "clue_transfer"),
        sender=mib.address,
        recipient=Address.parse("PSB@350582"),
        key=mib.key,
    )
    unknown_payload = b"\xc3\x01" + bytes.fromhex("0123456789abcdef") + env.payload[10:]
    unknown_env = replace(env, message_id=str(uuid.uuid4()), payload=unknown_payload)
    unknown_env = replace(unknown_env, signature=mib.key.sign(unknown_env.signing_bytes()))
    # 1 KB of random bytes.
    junk = os.urandom(1024)

    for raw in (forged_raw, encode_envelope(registry, unknown_env), junk):
        producer.send(INGRESS.name, raw).get(10)
    producer.close()

    assert dead_letter_of(hub, forged.message_id)["reason"] == "bad_signature"
    assert dead_letter_of(hub, violation)["reason"] == "policy_violation"
    unknown = dead_letter_of(hub, unknown_env.message_id)
    assert unknown["reason"] == "unknown_schema"
    assert "0123456789abcdef" in unknown["detail"]
    s = store(hub)
    wait_until(
        lambda: any(r["original"] == junk for r in s.dead_letters(limit=10_000)),
        what="junk dead letter",
    )
    junk_row = next(r for r in s.dead_letters(limit=10_000) if r["original"] == junk)
    assert junk_row["reason"] == "undecodable"
    assert junk_row["message_id"] is None

    # `hub dlq list --json` shows them, machine-readably.
    listed = [json.loads(line) for line in hub.cli("dlq", "list", "--json").stdout.splitlines()]
    by_id = {r["dead_letter_id"]: r for r in listed}
    assert by_id[junk_row["dead_letter_id"]]["reason"] == "undecodable"
    assert by_id[junk_row["dead_letter_id"]]["original_size"] == 1024
    assert {r["reason"] for r in listed} >= {
        "bad_signature",
        "policy_violation",
        "unknown_schema",
        "undecodable",
    }
    # Nothing of the rejected messages reached the police inbox.
    psb = hub.connector("PSB@350582", signing=False)
    ids = {m.message_id for m in psb.messages(idle_timeout_s=1.5)}
    assert not ids & {forged.message_id, violation, unknown_env.message_id}


def test_messages_in_equal_delivered_plus_dead_lettered(hub: HubProcess) -> None:
    s = store(hub)
    delivered_before = s.count_deliveries()
    dead_before = sum(s.count_dead_letters().values())
    mib = hub.connector("MIB@350582")
    good = [
        mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer")) for _ in range(12)
    ]
    bad_subject = payload(mib, "clue_transfer")
    bad_subject["subject"] = {**bad_subject["subject"], "credit_code": "12350582MB0123456A"}
    bad = [mib.send("clue_transfer", "PSB@350582", bad_subject) for _ in range(5)]
    bad += [
        mib.send("case_referral", "COURT@350582", payload(mib, "case_referral")) for _ in range(3)
    ]
    sent = len(good) + len(bad)

    def settled() -> bool:
        delivered = s.count_deliveries() - delivered_before
        dead = sum(s.count_dead_letters().values()) - dead_before
        return delivered + dead >= sent

    wait_until(settled, what="all messages routed or dead-lettered")
    assert s.count_deliveries() - delivered_before == len(good)
    assert sum(s.count_dead_letters().values()) - dead_before == len(bad)
    found = wait_for_messages(hub.connector("PSB@350582", signing=False), good)
    assert set(found) == set(good)


def sealed_clue(hub: HubProcess, to: str, key: SigningKey | None = None) -> tuple[Any, bytes]:
    """The example clue from MIB@350582 to ``to``, signed (by MIB's key unless another)."""
    mib = hub.connector("MIB@350582")
    return seal(
        mib.registry,
        family="clue_transfer",
        payload_schema=mib.registry.latest("clue_transfer"),
        payload=payload(mib, "clue_transfer"),
        sender=mib.address,
        recipient=Address.parse(to),
        key=key or mib.key,
    )


def test_redelivered_message_lands_in_exactly_one_inbox_once(hub: HubProcess) -> None:
    mib = hub.connector("MIB@350582")
    env, raw = sealed_clue(hub, "SAMR@350582")
    for _ in range(3):  # a connector retrying after a lost acknowledgement
        mib.send_raw(raw, key=env.message_id.encode())
    wait_for_messages(hub.connector("SAMR@350582", signing=False), [env.message_id])
    s = store(hub)
    wait_until(
        lambda: (
            "hub_messages_duplicate_total" in metrics_text(hub)
            and metric_value(hub, "hub_messages_duplicate_total", family="clue_transfer") >= 2
        ),
        what="duplicates counted",
    )
    records = [
        r
        for r in raw_inbox_records(hub.state.bootstrap, inbox_topic("SAMR", "350582"))
        if r.value == raw
    ]
    assert len(records) == 1
    assert s.was_delivered(env.message_id)
    # The audit log has every submission, one delivery, and the ignored repeats.
    kinds = audit_kinds_until(hub, env.message_id, lambda k: k.count("duplicate_ignored") >= 2)
    assert kinds.count("submitted") == 3 and kinds.count("delivered") == 1


def test_fallback_to_the_city_when_the_county_has_no_connector(hub: HubProcess) -> None:
    mib = hub.connector("MIB@350582")
    # 350583 (南安市) has no police connector; the 泉州市 (350500) one receives it.
    mid = mib.send("clue_transfer", "PSB@350583", payload(mib, "clue_transfer"))
    found = wait_for_messages(hub.connector("PSB@350500", signing=False), [mid])
    assert found[mid].via == "fallback"
    assert found[mid].envelope.recipient == Address("PSB", "350583")


def test_dead_letter_replayed_after_its_cause_is_fixed(hub: HubProcess) -> None:
    mib = hub.connector("MIB@350582")
    # No market-regulation connector in 福建 above the county of 350583's neighbour 350521.
    mid = mib.send("clue_transfer", "SAMR@350521", payload(mib, "clue_transfer"))
    row = dead_letter_of(hub, mid)
    assert row["reason"] == "no_route"
    hub.cli("keys", "new", "SAMR@350500", "--name", "泉州市市场监督管理局")
    out = hub.cli("dlq", "replay", row["dead_letter_id"][:12]).stdout
    assert "replayed" in out
    found = wait_for_messages(hub.connector("SAMR@350500", signing=False), [mid])
    assert found[mid].via == "fallback"
    assert store(hub).dead_letter(row["dead_letter_id"])["replay_count"] == 1
    assert metric_value(hub, "hub_dead_letter_replays_total") >= 1
    kinds = audit_kinds_until(hub, mid, lambda k: "delivered" in k)
    assert kinds == ["submitted", "dead_lettered", "dlq_replayed", "submitted", "routed",
                     "delivered"]  # fmt: skip
    records = AuditStore(hub.settings.effective_audit_url).trail(mid)
    dead = next(r for r in records if r["kind"] == "dead_lettered")
    assert dead["status"] == "DEAD_LETTERED" and '"reason":"no_route"' in dead["facts"]
    new_key = load_directory(hub.settings).connectors[Address("SAMR", "350500")]
    key_id = new_key.keys[-1].key_id

    def key_recorded() -> bool:
        found = AuditStore(hub.settings.effective_audit_url).search(kinds=["key_registered"])
        return any(key_id in r["facts"] and r["sender"] == "SAMR@350500" for r in found)

    wait_until(key_recorded, what="the new key in the audit log")


def audit_kinds_until(hub: HubProcess, message_id: str, done, timeout: float = 30) -> list[str]:
    kinds: list[str] = []

    def check() -> bool:
        nonlocal kinds
        store = AuditStore(hub.settings.effective_audit_url)
        kinds = [r["kind"] for r in store.trail(message_id) if not r["kind"].startswith("sla_")]
        store.close()
        return done(kinds)

    wait_until(check, timeout=timeout, what=f"audit records of {message_id}")
    return kinds


def test_consume_commits_only_after_the_handler_succeeded(hub: HubProcess) -> None:
    mib = hub.connector("MIB@350582")
    ids = [
        mib.send("clue_transfer", "PROC@350582", payload(mib, "clue_transfer")) for _ in range(3)
    ]
    wait_for_messages(hub.connector("PROC@350582", signing=False), ids)
    attempts: list[str] = []
    succeeded: list[str] = []

    def failing(msg) -> None:
        attempts.append(msg.message_id)
        if msg.message_id == ids[1] and attempts.count(ids[1]) == 1:
            raise RuntimeError("handler crashed")
        succeeded.append(msg.message_id)

    with pytest.raises(RuntimeError):
        hub.connector("PROC@350582").consume(failing, follow=False, idle_timeout_s=2)
    assert ids[1] in attempts and ids[1] not in succeeded
    # The next run gets the failed message again; none handled before is handled twice.
    hub.connector("PROC@350582").consume(failing, follow=False, idle_timeout_s=2)
    assert sorted(succeeded) == sorted(ids)
    assert attempts.count(ids[1]) == 2


def test_cli_send_then_inbox_shows_the_clue(hub: HubProcess) -> None:
    out = hub.cli(
        "send",
        "clue_transfer",
        "--from",
        "MIB@350582",
        "--to",
        "PSB@350582",
        "--payload",
        "examples/payloads/clue_transfer.json",
    )
    message_id = out.stdout.strip()
    uuid.UUID(message_id)
    wait_for_messages(hub.connector("PSB@350582", signing=False), [message_id])
    inbox = hub.cli("inbox", "PSB@350582", "--json", "--idle", "1.5").stdout
    rows = [json.loads(line) for line in inbox.splitlines()]
    mine = [r for r in rows if r["id"] == message_id]
    assert len(mine) == 1
    assert mine[0]["family"] == "clue_transfer"
    assert mine[0]["sender"] == "MIB@350582"
    assert mine[0]["recipient"] == "PSB@350582"
    assert mine[0]["payload"]["clue_id"] == load_example("clue_transfer")["clue_id"]
    assert mine[0]["payload"]["requested_deadline"] is None  # the example asks for none


def test_cli_rejects_a_payload_that_does_not_fit(hub: HubProcess, tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**load_example("clue_transfer"), "colour": "red"}))
    proc = hub.cli(
        "send",
        "clue_transfer",
        "--from",
        "MIB@350582",
        "--to",
        "PSB@350582",
        "--payload",
        str(bad),
        check=False,
    )
    assert proc.returncode == 1
    assert "unknown field(s) ['colour']" in proc.stderr


def test_metrics_count_by_family_agency_and_reason(hub: HubProcess) -> None:
    producer = KafkaProducer(bootstrap_servers=hub.state.bootstrap, acks="all")
    producer.send(INGRESS.name, os.urandom(64)).get(10)  # its own undecodable record
    producer.close()
    mib = hub.connector("MIB@350582")
    mid = mib.send("corruption_clue_handoff", "CDI@350582", payload(mib, "corruption_clue_handoff"))
    wait_for_messages(hub.connector("CDI@350582", signing=False), [mid])
    wait_until(
        lambda: (
            metric_value(
                hub,
                "hub_messages_routed_total",
                family="corruption_clue_handoff",
                sender_agency="MIB",
                recipient_agency="CDI",
                via="direct",
            )
            >= 1
        ),
        what="routed counter",
    )
    wait_until(
        lambda: (
            'hub_messages_dead_lettered_total{family="unknown",reason="undecodable"'
            in metrics_text(hub)
        ),
        what="the undecodable record counted",
    )


def metrics_text(hub: HubProcess) -> str:
    with urllib.request.urlopen(f"{hub.state.web_url}/metrics", timeout=5) as resp:
        return resp.read().decode()


def metric_value(hub: HubProcess, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for fam in text_string_to_metric_families(metrics_text(hub)):
        for sample in fam.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_reading_an_inbox_stops_at_its_end_not_after_the_idle_timeout(hub: HubProcess) -> None:
    import threading

    mib = hub.connector("MIB@350582")
    ids = [
        mib.send("clue_transfer", "HEALTH@350582", payload(mib, "clue_transfer")) for _ in range(3)
    ]
    health = hub.connector("HEALTH@350582", signing=False)
    wait_for_messages(health, ids)
    listed: list[str] = []
    # An hour of idle time: only finding the end (the high watermark of each partition, from
    # the fetch responses) lets this return.
    reader = threading.Thread(
        target=lambda: listed.extend(m.message_id for m in health.messages(idle_timeout_s=3600)),
        daemon=True,
    )
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "the inbox reader did not find the end of the inbox"
    assert set(ids) <= set(listed)


def test_a_receipt_signs_for_the_exact_bytes_in_its_suite_s_hash_and_the_trail_says_so(
    suite_hub: HubProcess,
) -> None:
    hub = suite_hub
    mib, psb = hub.connector("MIB@350582"), hub.connector("PSB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    msg = wait_for_messages(psb, [mid])[mid]
    # An SM2-signed message is signed for with SM3, an Ed25519-signed one with SHA-256.
    label = "sm3" if hub.env.get("HUB_CRYPTO_SUITE") == "gm" else "sha256"
    assert re.fullmatch(label + r":[0-9a-f]{64}", msg.raw_digest)
    psb.receipt(msg)
    audit_kinds_until(hub, mid, lambda k: "receipt" in k)
    steps = json.loads(hub.cli("audit", "trail", mid, "--json").stdout)
    receipt = next(s for s in steps if s["kind"] == "receipt")
    submitted = next(s for s in steps if s["kind"] == "submitted")
    assert receipt["facts"]["original_digest"] == msg.raw_digest
    assert submitted["facts"]["envelope_digest"] == msg.raw_digest
    assert "original_sha256" not in receipt["facts"]
    assert receipt["receipt_matches_sent"] is True
    assert "for the exact bytes sent" in hub.cli("audit", "trail", mid).stdout


def test_hub_audit_prove_gives_a_proof_an_outsider_checks_against_an_export(
    hub: HubProcess, tmp_path
) -> None:
    import subprocess
    import sys

    mib = hub.connector("MIB@350582")
    mid = mib.send("clue_transfer", "PSB@350582", payload(mib, "clue_transfer"))
    audit_kinds_until(hub, mid, lambda k: "delivered" in k)
    proof = json.loads(hub.cli("audit", "prove", mid).stdout)
    assert proof["records"] and "\n\u2014 ed25519:" in proof["checkpoint"]
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    hub.cli("audit", "export", "--out", str(tmp_path / "export"))
    verifier = Path(__file__).resolve().parents[2] / "ops" / "audit" / "verify_export.py"
    done = subprocess.run(
        [sys.executable, str(verifier), str(tmp_path / "export"), "--prove",
         str(tmp_path / "proof.json")],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checkpoint signed by ed25519:" in done.stdout
    consistency = json.loads(
        hub.cli("audit", "consistency", "--old-size", str(proof["tree_size"])).stdout
    )
    assert consistency["old_root"] == proof["root"]


def test_metrics_say_the_router_is_ready_when_keys_fall_due_and_who_has_not_signed(
    hub: HubProcess,
) -> None:
    # Once the router has joined its group ("hub ready" is logged before that).
    wait_until(lambda: metric_value(hub, "hub_router_ready") == 1.0, what="the router ready")
    due = metric_value(
        hub, "hub_key_expiry_timestamp_seconds", connector="MIB@350582", use="signing"
    )
    # Keys the development hub made today fall due key_lifetime_days (365) from now.
    assert time.time() + 360 * 86400 < due < time.time() + 366 * 86400
    mib = hub.connector("MIB@350582")
    clue = payload(mib, "clue_transfer", requested_deadline=None)
    # Nobody reads the market regulator's inbox in these tests: what is sent there waits.
    mid = mib.send("clue_transfer", "SAMR@350582", clue)
    wait_until(
        lambda: metric_value(hub, "hub_unreceived_oldest_seconds", recipient="SAMR@350582") > 0,
        what=f"{mid} counted as not signed for",
    )
    with urllib.request.urlopen(f"{hub.state.web_url}/board", timeout=5) as resp:
        page = resp.read().decode()
    assert "晋江市市场监督管理局" in page  # the pair, named in Chinese
