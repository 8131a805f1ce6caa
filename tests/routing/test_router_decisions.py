"""Router.decide(): every dead-letter reason and every delivery, on bytes alone (no broker)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.messages import encryption_target
from hub.core.paths import PACKAGE_DATA
from hub.routing.policy import Policy, load_policy
from hub.routing.router import Delivered, Rejected, Router
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.e2e import EncryptionKey
from hub.trust.keys import SigningKey
from hub.wire import codec
from hub.wire.deadletter import DeadLetter, Reason
from hub.wire.envelope import Envelope, encode_envelope, read_envelope, seal
from hub.wire.families import FAMILIES
from hub.wire.jsonpayload import from_json
from hub.wire.schemas import SchemaRegistry

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "examples" / "payloads"
CREATED = datetime(2024, 6, 3, 1, 2, 3, 456000, tzinfo=UTC)

#: Connectors with keys.  No SAMR anywhere (for no_route); PSB also at the city (for fallback).
CONNECTORS = [
    "MIB@350582",
    "MIB@350500",
    "PSB@350582",
    "PSB@350500",
    "PROC@350582",
    "FIN@350582",
    "HEALTH@350582",
    "CDI@350582",
]


class World:
    def __init__(self) -> None:
        self.registry = SchemaRegistry.load(ROOT / "schemas" / "avro")
        self.policy: Policy = load_policy(PACKAGE_DATA / "policy.yaml", set(FAMILIES))
        self.keys: dict[Address, SigningKey] = {}
        self.decryption: dict[Address, EncryptionKey] = {}
        directory = Directory()
        for text in CONNECTORS:
            address = Address.parse(text)
            self.keys[address] = SigningKey.generate()
            directory = directory.with_key(address, self.keys[address], name=text)
            self.decryption[address] = EncryptionKey.generate()
            directory = directory.with_encryption_key(address, self.decryption[address])
        self.directory = directory
        self.router = Router(self.registry, lambda: self.directory, self.policy)

    def payload(self, fam: str, **changes: Any) -> dict[str, Any]:
        schema = self.registry.latest(FAMILIES[fam].schema_stem)
        data = json.loads((PAYLOADS / f"{fam}.json").read_text(encoding="utf-8"))
        data.update(changes)
        return from_json(schema.raw, data)

    def seal(
        self,
        fam: str,
        sender: str,
        recipient: str,
        payload: dict[str, Any] | None = None,
        *,
        key: SigningKey | None = None,
        schema_stem: str | None = None,
        encrypt: bool | None = None,
        **kwargs: Any,
    ) -> tuple[Envelope, bytes]:
        stem = schema_stem or (FAMILIES[fam].schema_stem if fam in FAMILIES else "clue_transfer")
        schema = self.registry.latest(stem)
        if payload is None:
            payload = self.payload(stem)
        if encrypt is None:  # as a connector does: when the family requires it
            encrypt = fam in FAMILIES and FAMILIES[fam].encryption_required
        if encrypt:
            kwargs["encrypt_to"] = encryption_target(self.directory, Address.parse(recipient))
        return seal(
            self.registry,
            family=fam,
            payload_schema=schema,
            payload=payload,
            sender=Address.parse(sender),
            recipient=Address.parse(recipient),
            key=key or self.keys[Address.parse(sender)],
            created_at=kwargs.pop("created_at", CREATED),
            **kwargs,
        )

    def resign(self, env: Envelope, sender: str) -> bytes:
        """Sign ``env`` as it stands with ``sender``'s key: a well-formed, honest envelope."""
        key = self.keys[Address.parse(sender)]
        env = replace(env, signing_key_id=key.key_id)
        env = replace(env, signature=key.sign(env.signing_bytes()))
        return encode_envelope(self.registry, env)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def delivered(world: World, raw: bytes) -> Delivered:
    decision = world.router.decide(raw)
    assert isinstance(decision, Delivered), decision
    return decision


def rejected(world: World, raw: bytes, reason: Reason) -> Rejected:
    decision = world.router.decide(raw)
    assert isinstance(decision, Rejected), decision
    assert decision.reason == reason, decision.detail
    return decision


# -- deliveries ----------------------------------------------------------------------------------


def test_clue_is_delivered_to_the_police_of_the_same_county(world: World) -> None:
    env, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    d = delivered(world, raw)
    assert d.envelope == env
    assert d.route.inbox == Address("PSB", "350582")
    assert d.route.topic == "hub.inbox.PSB.350582"
    assert d.route.fallback is False
    assert d.payload is not None
    assert d.payload["clue_id"] == "FJ-QZ-JJ-2024-0001"
    assert d.payload["related_clue_ids"] == []  # decoded to the current clue_transfer version


def test_clue_written_with_v1_is_delivered_and_read_as_v2(world: World) -> None:
    v1 = world.registry.version("clue_transfer", 1)
    data = json.loads((PAYLOADS / "clue_transfer.json").read_text(encoding="utf-8"))
    env, raw = seal(
        world.registry,
        family="clue_transfer",
        payload_schema=v1,
        payload=from_json(v1.raw, data),
        sender=Address("MIB", "350582"),
        recipient=Address("PSB", "350582"),
        key=world.keys[Address("MIB", "350582")],
    )
    assert env.schema_version == 1
    d = delivered(world, raw)
    assert d.payload is not None and d.payload["reporting_channel"] is None


def test_case_referral_mib_to_psb(world: World) -> None:
    _, raw = world.seal("case_referral", "MIB@350582", "PSB@350582")
    d = delivered(world, raw)
    assert d.route.topic == "hub.inbox.PSB.350582"
    assert d.payload is not None and d.payload["stage"] == "MIB_TO_PSB"


def test_invoice_request_mib_to_fin(world: World) -> None:
    _, raw = world.seal("invoice_verification_request", "MIB@350582", "FIN@350582")
    d = delivered(world, raw)
    assert d.route.inbox == Address("FIN", "350582")
    assert d.route.topic == "hub.inbox.FIN.350582"


def test_invoice_result_answering_no_delivered_request_is_refused(world: World) -> None:
    # The result is a reply: without the request in the ledger it answers nothing.  Delivery of
    # a result to a delivered request is covered end to end (tests/test_end_to_end.py).
    request, _ = world.seal("invoice_verification_request", "MIB@350582", "FIN@350582")
    _, raw = world.seal(
        "invoice_verification_result",
        "FIN@350582",
        "MIB@350582",
        correlation_id=request.message_id,
        causation_id=request.message_id,
    )
    r = world.router.decide(raw)
    assert isinstance(r, Rejected)
    assert r.reason is Reason.UNKNOWN_CONVERSATION


def test_reply_without_correlation_id_is_invalid(world: World) -> None:
    _, raw = world.seal("invoice_verification_result", "FIN@350582", "MIB@350582")
    r = rejected(world, raw, Reason.INVALID_PAYLOAD)
    assert "correlation_id is required" in r.detail
    assert r.envelope is not None and r.envelope.family == "invoice_verification_result"


def test_corruption_handoff_mib_to_cdi(world: World) -> None:
    _, raw = world.seal("corruption_clue_handoff", "MIB@350582", "CDI@350582")
    d = delivered(world, raw)
    assert d.route.topic == "hub.inbox.CDI.350582"


def test_corruption_handoff_from_another_agency_to_cdi(world: World) -> None:
    _, raw = world.seal("corruption_clue_handoff", "HEALTH@350582", "CDI@350582")
    assert delivered(world, raw).route.inbox == Address("CDI", "350582")


def test_batch_goes_down_from_city_to_county_mib(world: World) -> None:
    _, raw = world.seal("clue_transfer", "MIB@350500", "MIB@350582")
    assert delivered(world, raw).route.topic == "hub.inbox.MIB.350582"


def test_fallback_to_the_city_when_the_county_has_no_connector(world: World) -> None:
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350581")
    d = delivered(world, raw)
    assert d.route.inbox == Address("PSB", "350500")
    assert d.route.topic == "hub.inbox.PSB.350500"
    assert d.route.fallback is True
    assert d.route.via == "fallback"
    assert d.envelope.recipient == Address("PSB", "350581")  # the address is kept as written


# -- signatures ----------------------------------------------------------------------------------


def test_key_not_in_the_directory_is_a_bad_signature(world: World) -> None:
    stranger = SigningKey.generate()
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", key=stranger)
    r = rejected(world, raw, Reason.BAD_SIGNATURE)
    assert stranger.key_id in r.detail


def test_key_of_another_connector_is_a_bad_signature(world: World) -> None:
    other = world.keys[Address("MIB", "350500")]
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", key=other)
    r = rejected(world, raw, Reason.BAD_SIGNATURE)
    assert "belongs to MIB@350500, not to sender MIB@350582" in r.detail


def test_claiming_another_key_id_without_its_private_key_is_a_bad_signature(
    world: World,
) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    real_id = world.keys[Address("MIB", "350582")].key_id
    stranger = SigningKey.generate()
    forged = replace(env, signing_key_id=real_id)
    forged = replace(forged, signature=stranger.sign(forged.signing_bytes()))
    r = rejected(world, encode_envelope(world.registry, forged), Reason.BAD_SIGNATURE)
    assert r.detail == "signature does not match the envelope"


def test_payload_tampered_after_signing_is_a_bad_signature(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    schema = world.registry.latest("clue_transfer")
    tampered_payload = world.payload("clue_transfer", amount_fen=1)
    tampered = replace(env, payload=codec.encode(schema, tampered_payload))
    r = rejected(world, encode_envelope(world.registry, tampered), Reason.BAD_SIGNATURE)
    assert r.detail == "signature does not match the envelope"
    assert delivered(world, encode_envelope(world.registry, env)).envelope == env


@pytest.mark.parametrize(
    "change",
    [
        {"recipient": Address("HEALTH", "350582")},
        {"family": "corruption_clue_handoff"},
        {"correlation_id": "someone-else"},
        {"message_id": "replayed-id"},
        {"signature": b"\x00" * 64},
    ],
    ids=["recipient", "family", "correlation_id", "message_id", "zero-signature"],
)
def test_any_tampered_signed_field_is_a_bad_signature(world: World, change: dict[str, Any]) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    raw = encode_envelope(world.registry, replace(env, **change))
    rejected(world, raw, Reason.BAD_SIGNATURE)


def test_revoked_key_is_a_bad_signature(world: World) -> None:
    mib = Address("MIB", "350582")
    conn = world.directory.connectors[mib]
    revoked = replace(conn, keys=tuple(replace(k, status="revoked") for k in conn.keys))
    directory = Directory({**world.directory.connectors, mib: revoked})
    router = Router(world.registry, lambda: directory, world.policy)
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    decision = router.decide(raw)
    assert isinstance(decision, Rejected) and decision.reason == Reason.BAD_SIGNATURE
    assert "revoked" in decision.detail


# -- addresses, family, policy -------------------------------------------------------------------


def test_unregistered_sender_is_unknown_sender(world: World) -> None:
    _, raw = world.seal(
        "clue_transfer", "MIB@350581", "PSB@350582", key=world.keys[Address("MIB", "350582")]
    )
    r = rejected(world, raw, Reason.UNKNOWN_SENDER)
    assert "MIB@350581 is not registered" in r.detail


@pytest.mark.parametrize(
    ("sender", "recipient", "fragment"),
    [
        ("MIB@350582", "POLICE@350582", "recipient: unknown agency 'POLICE'"),
        ("XYZ@350582", "PSB@350582", "sender: unknown agency 'XYZ'"),
        ("MIB@350582", "PSB@35058", "recipient: region '35058'"),
        ("MIB@350582", "PSB@000582", "recipient: region '000582'"),
    ],
)
def test_unknown_agency_or_bad_region(
    world: World, sender: str, recipient: str, fragment: str
) -> None:
    key = world.keys[Address("MIB", "350582")]
    _, raw = world.seal("clue_transfer", sender, recipient, key=key)
    r = rejected(world, raw, Reason.UNKNOWN_AGENCY)
    assert fragment in r.detail


def test_unknown_family(world: World) -> None:
    _, raw = world.seal("gossip", "MIB@350582", "PSB@350582", schema_stem="clue_transfer")
    r = rejected(world, raw, Reason.UNKNOWN_FAMILY)
    assert "'gossip'" in r.detail


@pytest.mark.parametrize(
    ("fam", "sender", "recipient"),
    [
        ("case_referral", "MIB@350582", "PROC@350582"),
        ("clue_transfer", "HEALTH@350582", "PSB@350582"),
        ("clue_transfer", "MIB@350582", "MIB@350500"),  # county MIB up to its city
        ("invoice_verification_request", "FIN@350582", "MIB@350582"),
        ("corruption_clue_handoff", "CDI@350582", "MIB@350582"),
    ],
)
def test_policy_violation(world: World, fam: str, sender: str, recipient: str) -> None:
    _, raw = world.seal(fam, sender, recipient)
    r = rejected(world, raw, Reason.POLICY_VIOLATION)
    assert f"{sender} may not send {fam} to {recipient}" in r.detail


# -- payload rules -------------------------------------------------------------------------------


def test_invalid_credit_code_check_character_in_the_subject(world: World) -> None:
    subject = {"kind": "HOSPITAL", "name": "晋江市某某医院", "credit_code": "12350582MB0123456G"}
    payload = world.payload("clue_transfer", subject=subject)
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", payload)
    r = rejected(world, raw, Reason.INVALID_PAYLOAD)
    assert "subject.credit_code: credit code check character does not match" in r.detail
    assert "F" not in r.detail.replace("GB", "")  # the right check character is not given away


def test_invalid_id_number_check_digit_in_the_subject(world: World) -> None:
    subject = {"kind": "DOCTOR", "name": "张某", "id_number": "350582198001011238"}
    payload = world.payload("clue_transfer", subject=subject)
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", payload)
    r = rejected(world, raw, Reason.INVALID_PAYLOAD)
    assert "subject.id_number: ID number check character does not match" in r.detail
    assert "7" not in r.detail and "350582" not in r.detail


def test_case_referral_stage_must_match_the_flow(world: World) -> None:
    payload = world.payload("case_referral", stage="PSB_TO_PROC")
    _, raw = world.seal("case_referral", "MIB@350582", "PSB@350582", payload)
    r = rejected(world, raw, Reason.INVALID_PAYLOAD)
    assert "stage PSB_TO_PROC is a PSB→PROC referral, not MIB→PSB" in r.detail


def test_several_problems_are_reported_together(world: World) -> None:
    payload = world.payload("invoice_verification_request", invoice_code="123", amount_fen=-5)
    _, raw = world.seal("invoice_verification_request", "MIB@350582", "FIN@350582", payload)
    r = rejected(world, raw, Reason.INVALID_PAYLOAD)
    assert "invoice_code must be 8 digits" in r.detail
    assert "amount_fen must not be negative" in r.detail


def test_payload_of_another_family_is_a_schema_mismatch(world: World) -> None:
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", schema_stem="case_referral")
    r = rejected(world, raw, Reason.SCHEMA_MISMATCH)
    assert "payload is case_referral.v1" in r.detail


def test_schema_version_must_match_the_payload_writer(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    assert env.schema_version == 2
    raw = world.resign(replace(env, schema_version=1), "MIB@350582")
    r = rejected(world, raw, Reason.SCHEMA_MISMATCH)
    assert "needs clue_transfer.v1, payload is clue_transfer.v2" in r.detail


def test_undecodable_payload_inside_a_valid_envelope(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    raw = world.resign(replace(env, payload=env.payload[:-3]), "MIB@350582")
    r = rejected(world, raw, Reason.UNDECODABLE)
    assert r.detail.startswith("payload:")
    assert r.envelope is not None


def test_encrypted_payload_is_refused_until_encryption_is_supported(world: World) -> None:
    # hub-sig-v1 does not cover the encryption header and the router could not check the
    # payload, so an envelope claiming encryption must not be waved through.
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    encryption = {
        "scheme": "x25519-aesgcm",
        "recipient_key_id": "k",
        "ephemeral_public_key": b"\x01" * 32,
        "nonce": b"\x02" * 12,
    }
    raw = world.resign(replace(env, payload=b"ciphertext", encryption=encryption), "MIB@350582")
    r = world.router.decide(raw)
    assert isinstance(r, Rejected)
    assert r.reason is Reason.UNSUPPORTED_ENCRYPTION


def test_non_ascii_digits_in_an_id_number_are_invalid_not_a_crash(world: World) -> None:
    payload = world.payload("clue_transfer")
    payload["subject"] = {
        **payload["subject"],
        "kind": "INSURED_PERSON",
        "credit_code": None,
        "id_number": "²50582198001011237",
    }
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582", payload=payload)
    r = world.router.decide(raw)
    assert isinstance(r, Rejected)
    assert r.reason is Reason.INVALID_PAYLOAD


# -- bytes that are not a (known) envelope -------------------------------------------------------


def test_random_bytes_are_undecodable(world: World) -> None:
    data = random.Random(20240603).randbytes(1024)
    assert data[:2] != codec.MAGIC
    r = rejected(world, data, Reason.UNDECODABLE)
    assert r.envelope is None


def test_empty_bytes_are_undecodable(world: World) -> None:
    rejected(world, b"", Reason.UNDECODABLE)


def test_unknown_fingerprint_is_unknown_schema(world: World) -> None:
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    forged = codec.MAGIC + b"\xde\xad\xbe\xef" * 2 + raw[codec.HEADER_LEN :]
    r = rejected(world, forged, Reason.UNKNOWN_SCHEMA)
    assert "deadbeefdeadbeef" in r.detail


def test_envelope_with_trailing_bytes_is_undecodable(world: World) -> None:
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    rejected(world, raw + b"\x00", Reason.UNDECODABLE)


def test_a_valid_avro_record_that_is_not_an_envelope(world: World) -> None:
    letter = DeadLetter(
        dead_letter_id="dl-1",
        reason="undecodable",
        detail="test",
        original=b"\x00",
        source_topic="hub.ingress",
        source_partition=0,
        source_offset=0,
        dead_lettered_at=CREATED,
    )
    data = codec.encode(world.registry.latest("dead_letter"), letter.to_record())
    r = rejected(world, data, Reason.NOT_AN_ENVELOPE)
    assert "dead_letter.v1" in r.detail


def test_a_bare_payload_is_not_an_envelope(world: World) -> None:
    schema = world.registry.latest("clue_transfer")
    data = codec.encode(schema, world.payload("clue_transfer"))
    rejected(world, data, Reason.NOT_AN_ENVELOPE)


def test_recipient_without_a_connector_at_any_level_is_no_route(world: World) -> None:
    _, raw = world.seal("clue_transfer", "MIB@350582", "SAMR@350582")
    r = rejected(world, raw, Reason.NO_ROUTE)
    assert "SAMR@350582" in r.detail


def test_the_directory_is_asked_at_every_decision(world: World) -> None:
    directories = [Directory(), world.directory]
    router = Router(world.registry, lambda: directories[0], world.policy)
    _, raw = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    first = router.decide(raw)
    assert isinstance(first, Rejected) and first.reason == Reason.UNKNOWN_SENDER
    directories.pop(0)
    assert isinstance(router.decide(raw), Delivered)


# -- the envelope and its signing bytes ----------------------------------------------------------


def test_envelope_survives_the_wire(world: World) -> None:
    env, raw = world.seal(
        "clue_transfer", "MIB@350582", "PSB@350582", causation_id="c-1", message_id="m-1"
    )
    back = read_envelope(world.registry, raw)
    assert back == env
    assert back.created_at == CREATED
    assert back.signing_bytes() == env.signing_bytes()


def fields_of(structure: bytes) -> list[bytes | None]:
    """Split hub-sig-v2 as docs/wire-format.md documents it: length-prefixed fields, optional ones
    behind a presence byte (positions 6, 7 and 11)."""
    out: list[bytes | None] = []
    i = 0
    for position in range(12):
        if position in (6, 7, 11):
            present = structure[i]
            i += 1
            if not present:
                out.append(None)
                continue
        size = int.from_bytes(structure[i : i + 4], "big")
        out.append(structure[i + 4 : i + 4 + size])
        i += 4 + size
    assert i == len(structure)
    return out


def test_signing_bytes_are_deterministic_and_documented(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-1")
    again, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-1")
    assert env.signature_scheme == "hub-sig-v2"
    assert env.signing_bytes() == again.signing_bytes()
    fields = fields_of(env.signing_bytes())
    assert fields[0] == b"hub-sig-v2"
    assert fields[1:6] == [b"m-1", b"clue_transfer", b"2", b"MIB@350582", b"PSB@350582"]
    assert fields[6:8] == [None, None]
    assert fields[8] == str(int(CREATED.timestamp()) * 1000 + 456).encode()
    assert fields[9] == env.signing_key_id.encode()
    assert fields[10] == hashlib.sha256(env.payload).hexdigest().encode()
    assert fields[11] is None  # no encryption header


def test_hub_sig_v1_is_still_the_documented_lines(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-1")
    lines = replace(env, signature_scheme="hub-sig-v1").signing_bytes().split(b"\n")
    assert lines[0] == b"hub-sig-v1"
    assert lines[1:6] == [b"m-1", b"clue_transfer", b"2", b"MIB@350582", b"PSB@350582"]
    assert lines[10] == hashlib.sha256(env.payload).hexdigest().encode()


def test_hub_sig_v2_cannot_move_text_between_fields_or_confuse_absent_and_empty(
    world: World,
) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-1")
    a = replace(env, correlation_id="ab", causation_id="c")
    b = replace(env, correlation_id="a", causation_id="bc")
    assert a.signing_bytes() != b.signing_bytes()
    assert replace(env, correlation_id="").signing_bytes() != env.signing_bytes()


ENCRYPTED = {
    "scheme": "hpke-x25519-sha256-aes128gcm",
    "recipient_key_id": "x25519:00",
    "ephemeral_public_key": b"k" * 32,
    "nonce": b"",
}


def test_hub_sig_v2_covers_the_encryption_header_and_v1_cannot_sign_one(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-1")
    encrypted = replace(env, encryption=ENCRYPTED)
    assert encrypted.signing_bytes() != env.signing_bytes()
    swapped = replace(env, encryption={**ENCRYPTED, "recipient_key_id": "x25519:01"})
    assert swapped.signing_bytes() != encrypted.signing_bytes()
    with pytest.raises(ValueError, match="hub-sig-v1"):
        replace(encrypted, signature_scheme="hub-sig-v1").signing_bytes()


def test_a_new_message_signed_with_hub_sig_v1_is_refused_unless_allowed(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582")
    key = world.keys[Address.parse("MIB@350582")]
    old = replace(env, signature_scheme="hub-sig-v1")
    old = replace(old, signature=key.sign(old.signing_bytes()))
    raw = encode_envelope(world.registry, old)
    refused = world.router.decide(raw)
    assert isinstance(refused, Rejected) and refused.reason is Reason.BAD_SIGNATURE
    assert "hub-sig-v2" in refused.detail
    lenient = Router(
        world.registry,
        lambda: world.directory,
        world.policy,
        schemes=frozenset({"hub-sig-v1", "hub-sig-v2"}),
    )
    assert isinstance(lenient.decide(raw), Delivered)
    unknown = encode_envelope(world.registry, replace(old, signature_scheme="hub-sig-v9"))
    assert isinstance(lenient.decide(unknown), Rejected)


@pytest.mark.parametrize(
    "change",
    [
        {"message_id": "m-2"},
        {"family": "case_referral"},
        {"schema_version": 1},
        {"sender": Address("MIB", "350500")},
        {"recipient": Address("PSB", "350500")},
        {"correlation_id": "c"},
        {"causation_id": "c"},
        {"created_at": datetime(2024, 6, 3, 1, 2, 3, 457000, tzinfo=UTC)},
        {"signing_key_id": "ed25519:0000000000000000"},
        {"payload": b"other"},
        {"encryption": ENCRYPTED},
    ],
    ids=lambda change: next(iter(change)),
)
def test_signing_bytes_change_with_every_signed_field(world: World, change: dict[str, Any]) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-1")
    assert replace(env, **change).signing_bytes() != env.signing_bytes()


def test_the_signature_itself_is_not_signed(world: World) -> None:
    env, _ = world.seal("clue_transfer", "MIB@350582", "PSB@350582", message_id="m-1")
    assert replace(env, signature=b"x").signing_bytes() == env.signing_bytes()
