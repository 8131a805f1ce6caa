"""End-to-end payload encryption: the hub routes what it cannot read; only the recipient reads it.

The ingress pipeline runs on the in-memory producer and a SQLite store (the rig of
``tests/runtime``); the recipient opens what reached its inbox with ``open_record`` and its own
private encryption key, as its connector does.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.messages import VerificationError, encryption_target, open_record
from hub.core.clock import now_utc
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED
from hub.trust.address import Address
from hub.trust.directory import load_encryption_keys
from hub.wire.envelope import encode_envelope, read_envelope
from tests.hubproc import load_example
from tests.runtime.test_ingress_pipeline import Rig

CDI = Address.parse("CDI@350582")
OFFICIAL = "王某"  # the example's official: the name the hub must never see
SUMMARY = "稽核人员涉嫌收受定点医疗机构好处"


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


def open_as(rig: Rig, address: Address, sent: Any) -> Any:
    directory = rig.services.directory.current
    keys = load_encryption_keys(rig.settings.keys_dir, address, directory)
    return open_record(rig.services.registry, directory, sent, me=address, decryption_keys=keys)


def test_an_encrypted_clue_is_routed_unread_and_opened_only_by_its_recipient(rig: Rig) -> None:
    mid, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    env = read_envelope(rig.services.registry, raw)
    assert env.encryption is not None and env.encryption["recipient_key_id"].startswith("x25519:")
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    [inbox] = rig.producer.on("hub.inbox.CDI")
    assert inbox.value == raw
    # The recipient opens it: the payload as the sender wrote it.
    msg = open_as(rig, CDI, inbox)
    assert msg.payload["officials"][0]["name"] == OFFICIAL
    assert msg.payload["handoff_id"] == load_example("corruption_clue_handoff")["handoff_id"]
    # Nothing the hub wrote carries the payload in clear: not a topic, not its store.
    for sent in rig.producer.sent:
        assert OFFICIAL.encode() not in sent.value and SUMMARY.encode() not in sent.value
    for path in rig.settings.home.glob("hub.db*"):
        assert OFFICIAL.encode() not in path.read_bytes()
    delivered = next(e for e in rig.audit_events() if e["kind"] == "delivered")
    assert delivered["facts"]["encrypted"] == "true"
    assert OFFICIAL not in json.dumps(delivered, default=str, ensure_ascii=False)
    assert rig.services.ledger.entry(mid)["state"] == "DELIVERED"


def test_a_family_that_must_be_encrypted_is_refused_in_clear(rig: Rig) -> None:
    _, raw = rig.message("corruption_clue_handoff", to="CDI@350582", encrypt=False)
    outcome = rig.handle(rig.record(raw))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "policy_violation")


def test_any_family_may_be_encrypted(rig: Rig) -> None:
    _, raw = rig.message("clue_transfer", to="PSB@350582", encrypt=True)
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    msg = open_as(rig, Address.parse("PSB@350582"), rig.producer.on("hub.inbox.PSB")[0])
    assert msg.payload["clue_id"] == load_example("clue_transfer")["clue_id"]


def test_a_payload_encrypted_for_another_connector_is_an_encryption_mismatch(rig: Rig) -> None:
    psb_key = encryption_target(rig.services.directory.current, Address.parse("PSB@350582"))
    _, raw = rig.message("corruption_clue_handoff", to="CDI@350582", encrypt_to=psb_key)
    outcome = rig.handle(rig.record(raw))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "encryption_mismatch")


def test_on_a_fallback_the_payload_is_encrypted_for_the_supervising_level(rig: Rig) -> None:
    _, raw = rig.message("clue_transfer", to="PSB@350521", encrypt=True)  # no county connector
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    [inbox] = rig.producer.on("hub.inbox.PSB.350500")
    city = Address.parse("PSB@350500")
    assert open_as(rig, city, inbox).payload["clue_id"]
    directory = rig.services.directory.current
    county_keys = load_encryption_keys(
        rig.settings.keys_dir, Address.parse("PSB@350582"), directory
    )
    with pytest.raises(VerificationError, match="does not hold"):
        open_record(rig.services.registry, directory, inbox, me=city, decryption_keys=county_keys)


def test_an_altered_ciphertext_or_header_breaks_the_sender_signature(rig: Rig) -> None:
    _, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    env = read_envelope(rig.services.registry, raw)
    flipped = bytes([env.payload[0] ^ 1]) + env.payload[1:]
    header = {**env.encryption, "ephemeral_public_key": b"\x00" * 32}  # type: ignore[dict-item]
    for forged in (replace(env, payload=flipped), replace(env, encryption=header)):
        outcome = rig.handle(rig.record(encode_envelope(rig.services.registry, forged)))
        assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "bad_signature")


def test_a_ciphertext_moved_into_another_envelope_does_not_decrypt(rig: Rig) -> None:
    _, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    env = read_envelope(rig.services.registry, raw)
    # The sender itself re-uses the ciphertext under a new id and signs that honestly.
    key = rig.key("MIB@350582")
    moved = replace(env, message_id="m-moved")
    moved = replace(moved, signature=key.sign(moved.signing_bytes()))
    assert rig.handle(rig.record(encode_envelope(rig.services.registry, moved))).kind == DELIVERED
    [inbox] = rig.producer.on("hub.inbox.CDI")
    with pytest.raises(VerificationError, match="does not decrypt"):
        open_as(rig, CDI, inbox)


def test_replies_travel_in_clear_because_the_ledger_reads_them(rig: Rig) -> None:
    mid, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    rig.handle(rig.record(raw))
    _, receipt = rig.message(
        "receipt",
        sender="CDI@350582",
        to="MIB@350582",
        payload={"received_at": now_utc(), "received_by": "信访室", "note": None},
        correlation_id=mid,
        encrypt=True,
    )
    outcome = rig.handle(rig.record(receipt))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "unsupported_encryption")


def test_an_encrypted_payload_that_breaks_the_rules_is_refused_by_the_recipient(rig: Rig) -> None:
    registry = rig.services.registry
    schema = registry.latest("corruption_clue_handoff")
    from hub.wire.jsonpayload import from_json

    bad = from_json(schema.raw, {**load_example("corruption_clue_handoff"), "officials": []})
    _, raw = rig.message("corruption_clue_handoff", to="CDI@350582", payload=bad)
    # The router cannot see the rule it breaks; it delivers, and the recipient refuses it.
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    with pytest.raises(VerificationError, match="invalid_payload"):
        open_as(rig, CDI, rig.producer.on("hub.inbox.CDI")[0])


def test_audit_records_of_an_encrypted_message_keep_the_encryption_digest(rig: Rig) -> None:
    _, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    rig.handle(rig.record(raw))
    delivered = rig.audit_events()[-1]
    env = read_envelope(rig.services.registry, raw)
    assert delivered["signed"]["scheme"] == "hub-sig-v2"
    assert delivered["signed"]["encryption_sha256"] == env.encryption_sha256()


@pytest.mark.parametrize("suite", ["intl", "gm"])
def test_an_independent_reader_with_the_readme_the_schemas_and_the_key_reads_the_record(
    suite: str, tmp_path: Path
) -> None:
    """ops/e2e/read_inbox_record.py imports nothing from the hub: fastavro, cryptography (intl),
    tongsuopy and the OpenSSL command line (gm), and what docs/wire-format.md documents."""
    import subprocess
    import sys

    from hub.trust.directory import private_key_path

    rig = Rig(tmp_path / "hub", suite)

    _, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    rig.handle(rig.record(raw))
    [inbox] = rig.producer.on("hub.inbox.CDI")
    (tmp_path / "record.bin").write_bytes(inbox.value)
    key_id = rig.services.directory.current.connectors[CDI].encryption_key().key_id
    root = Path(__file__).resolve().parents[2]
    script = root / "ops" / "e2e" / "read_inbox_record.py"
    assert "import hub" not in script.read_text() and "from hub" not in script.read_text()

    directory = rig.settings.directory_path

    def read(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), str(tmp_path / "record.bin"),
             "--schemas", str(root / "schemas" / "avro"),
             "--directory", str(directory),
             "--anchor", str(rig.settings.directory_anchor_path), *extra],
            capture_output=True, text=True, cwd=tmp_path,
        )  # fmt: skip

    done = read("--key", str(private_key_path(rig.settings.keys_dir, CDI, key_id)))
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    scheme = "hub-sig-sm2-v1" if suite == "gm" else "hub-sig-v2"
    assert out["signature"] == f"valid ({scheme})" and out["encrypted"] is True
    assert out["payload"]["officials"][0]["name"] == OFFICIAL
    assert read().returncode == 1  # without the key: the signature checks, the payload stays shut
    other = private_key_path(
        rig.settings.keys_dir,
        Address.parse("PSB@350582"),
        rig.services.directory.current.connectors[Address.parse("PSB@350582")]
        .encryption_key()
        .key_id,
    )
    assert read("--key", str(other)).returncode != 0
    # A directory whose signature does not verify (a key swapped in on the hub host) is refused.
    forged = json.loads(directory.read_text())
    forged["directory"]["connectors"][0]["name"] = "someone else"
    directory = tmp_path / "forged.json"
    directory.write_text(json.dumps(forged))
    refused = read("--key", str(private_key_path(rig.settings.keys_dir, CDI, key_id)))
    assert refused.returncode == 1 and "trust anchor" in refused.stdout
