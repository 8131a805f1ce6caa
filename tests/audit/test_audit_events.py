"""What the hub records about each step (pure builders), and the sink's batch handling."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY as METRICS

from consumers.audit_sink import AuditSink, Checkpointer
from hub.audit import emit
from hub.audit import events as ev
from hub.audit.events import AuditEvent, SubjectRef, facts_of
from hub.audit.mac import AuditMac
from hub.audit.store import AuditStore
from hub.audit.trail import build_trail, signature_check
from hub.core.config import Settings
from hub.trust.address import Address
from hub.trust.keys import SigningKey
from hub.wire.envelope import Envelope, seal
from hub.wire.schemas import SchemaRegistry
from tests.hubproc import load_example

REGISTRY = SchemaRegistry.load(Path(__file__).resolve().parents[2] / "schemas" / "avro")
T0 = datetime(2024, 6, 18, 2, 0, tzinfo=UTC)
NAME = "王秀英"
ID_NUMBER = "11010519491231002X"
REF = SubjectRef(b"k" * 32)


def person_clue() -> dict:
    payload = load_example("clue_transfer")
    payload["subject"] = {
        "kind": "INSURED_PERSON",
        "name": NAME,
        "credit_code": None,
        "id_number": ID_NUMBER,
    }
    payload["summary"] = f"{NAME}（身份证 {ID_NUMBER}）冒名住院"
    return payload


def sealed(payload: dict, family: str = "clue_transfer", **kw):
    key = SigningKey.generate()
    env, raw = seal(
        REGISTRY,
        family=family,
        payload_schema=REGISTRY.latest(family),
        payload=payload,
        sender=kw.pop("sender", Address("MIB", "350582")),
        recipient=kw.pop("recipient", Address("PSB", "350582")),
        key=key,
        **kw,
    )
    return env, raw, key


def test_facts_keep_metadata_and_drop_personal_data() -> None:
    payload = person_clue()
    facts = facts_of("clue_transfer", payload, REF)
    text = json.dumps(facts, ensure_ascii=False)
    assert NAME not in text and ID_NUMBER not in text and "冒名" not in text
    assert facts["subject_kind"] == "INSURED_PERSON"
    assert facts["batch_source"] == payload["batch"]["source"]
    assert facts["clue_id"] == payload["clue_id"]
    assert facts["amount_fen"] == str(payload["amount_fen"])
    # The same person is the same reference (distinct counts), a different key another one.
    assert facts["subject_ref"] == facts_of("clue_transfer", person_clue(), REF)["subject_ref"]
    assert (
        facts["subject_ref"] != facts_of("clue_transfer", payload, SubjectRef(b"x"))["subject_ref"]
    )


@pytest.mark.parametrize(
    "family",
    ["case_referral", "invoice_verification_request", "corruption_clue_handoff"],
)
def test_other_families_leak_nothing(family: str) -> None:
    payload = load_example(family)
    facts = json.dumps(facts_of(family, payload, REF), ensure_ascii=False)
    strings: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and len(value) >= 4:
            strings.append(value)

    for field in ("suspects", "officials", "summary", "payer_name", "payer_id_number"):
        walk(payload.get(field))
    assert strings, f"the {family} example has personal fields to test with"
    for s in strings:
        assert s not in facts, f"{s!r} leaked into the audit facts of {family}"


def test_closure_facts_and_reply_kinds() -> None:
    closure = {
        "result": "VERIFIED_TRUE",
        "recovered_fen": 1234567,
        "penalties_fen": 100,
        "sanctions": [{"kind": "FINED", "count": 1}, {"kind": "FINED", "count": 2}],
        "note": f"{NAME} 已处理",
        "closed_at": T0,
    }
    facts = facts_of("closure", closure, REF)
    assert json.loads(facts["sanctions"]) == {"FINED": 3}
    assert facts["recovered_fen"] == "1234567"
    assert NAME not in json.dumps(facts, ensure_ascii=False)
    assert ev.reply_kind("acceptance", {"decision": "RETURNED"}) == ev.RETURNED
    assert ev.reply_kind("acceptance", {"decision": "ACCEPTED"}) == ev.ACCEPTED
    assert ev.reply_kind("closure", closure) == ev.CLOSED
    assert ev.reply_kind("invoice_verification_result", {}) == ev.CLOSED
    assert ev.reply_kind("clue_transfer", {}) is None


def test_event_ids_are_deterministic_per_fact() -> None:
    env, raw, _ = sealed(load_example("clue_transfer"))
    a = emit.submitted(raw, env, source="hub.ingress/1@5", at=T0)
    b = emit.submitted(raw, env, source="hub.ingress/1@5", at=T0 + timedelta(seconds=9))
    c = emit.submitted(raw, env, source="hub.ingress/1@6", at=T0)
    assert a[0].event_id == b[0].event_id  # the same record redelivered
    assert a[0].event_id != c[0].event_id  # the same message submitted again
    replay = emit.submitted(raw, env, source="hub.ingress/1@7", at=T0, replay_of="dl-1")
    assert [e.kind for e in replay] == ["dlq_replayed", "submitted"]
    garbage = emit.submitted(b"\x00" * 10, None, source="hub.ingress/0@1", at=T0)[0]
    assert garbage.message_id is None and len(garbage.facts["bytes_sha256"]) == 64


def test_delivery_events_carry_a_verifiable_signature() -> None:
    env, _, key = sealed(person_clue())
    routed, delivered = delivered_events(env)
    assert delivered.status == "DELIVERED" and routed.status is None
    store_rec = _as_record(delivered)
    keys = {key.key_id: ("MIB@350582", key.public)}
    assert signature_check(store_rec, keys.get) == ("valid", "MIB@350582")
    # A different claimed sender, or a changed payload hash, no longer verifies.
    assert signature_check({**store_rec, "sender": "MIB@350583"}, keys.get)[0] == "wrong signer"
    signed = json.loads(store_rec["signed"])
    signed["payload_sha256"] = "0" * 64
    tampered = {**store_rec, "signed": json.dumps(signed)}
    assert signature_check(tampered, keys.get)[0] == "INVALID"
    assert signature_check(store_rec, lambda _k: None)[0] == "unknown key"


def delivered_event(env: Envelope) -> AuditEvent:
    return delivered_events(env)[1]


def delivered_events(env: Envelope) -> list[AuditEvent]:
    return emit.delivered(
        env,
        routed_to=Address("PSB", "350582"),
        via="direct",
        fallback=False,
        decided_at=T0,
        delivered_at=T0,
        inbox="hub.inbox.PSB.350582/0@3",
        payload=person_clue(),
        subject_ref=REF,
    )


def test_a_hub_sig_v1_record_keeps_its_old_form_and_still_verifies() -> None:
    from dataclasses import replace

    env, _, key = sealed(person_clue())
    old = replace(env, signature_scheme="hub-sig-v1")
    old = replace(old, signature=key.sign(old.signing_bytes()))
    delivered = delivered_event(old)
    store_rec = _as_record(delivered)
    # Stored exactly as before hub-sig-v2 existed, so the hashes of old records do not move.
    assert set(json.loads(store_rec["signed"])) == {
        "schema_version", "created_at", "correlation_id", "causation_id",
        "signing_key_id", "payload_sha256", "signature",
    }  # fmt: skip
    keys = {key.key_id: ("MIB@350582", key.public)}
    assert signature_check(store_rec, keys.get) == ("valid", "MIB@350582")


def test_a_hub_sig_v2_record_keeps_the_scheme_and_the_encryption_digest() -> None:
    env, _, _ = sealed(person_clue())
    delivered = delivered_event(env)
    signed = json.loads(_as_record(delivered)["signed"])
    assert signed["scheme"] == "hub-sig-v2" and signed["encryption_sha256"] is None
    # And through Avro, the way the sink receives it.
    from hub.audit.mac import AuditMac
    from hub.wire.codec import AvroDeserializer

    raw = emit.AuditPublisher(REGISTRY, AuditMac(b"m" * 32)).encode(delivered)
    back = AuditEvent.from_record(AvroDeserializer(REGISTRY, "audit_event")(raw))
    assert back.signed == delivered.signed


def _as_record(event: AuditEvent) -> dict:
    from hub.audit.chain import json_text

    return {
        "seq": 1,
        "kind": event.kind,
        "message_id": event.message_id,
        "family": event.family,
        "sender": event.sender,
        "recipient": event.recipient,
        "signed": json_text(event.signed.to_json()) if event.signed else None,
        "facts": json_text(event.facts),
    }


def test_a_reply_does_not_change_the_status_of_its_own_delivery() -> None:
    env, _, _ = sealed(
        {"received_at": T0, "received_by": NAME, "note": None},
        family="receipt",
        sender=Address("PSB", "350582"),
        recipient=Address("MIB", "350582"),
        correlation_id="orig-1",
    )
    _, delivered = emit.delivered(
        env,
        routed_to=Address("MIB", "350582"),
        via="direct",
        fallback=False,
        decided_at=T0,
        delivered_at=T0,
        inbox="x",
        payload={},
        subject_ref=REF,
    )
    assert delivered.status is None and delivered.conversation_id == "orig-1"
    step = emit.reply_applied(
        env, new_state="RECEIVED", payload={"received_at": T0, "received_by": NAME}, at=T0,
        subject_ref=REF,
    )  # fmt: skip
    assert step.kind == "receipt" and step.status == "RECEIVED"
    assert NAME not in json.dumps(step.facts, ensure_ascii=False)


# -- the sink without a broker -------------------------------------------------------------------


def test_sink_batches_are_idempotent_and_unreadable_bytes_are_kept(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    key = SigningKey.generate()
    sink = AuditSink(settings, "unused:9092", store=store, key=lambda: key)
    env, raw, _ = sealed(load_example("clue_transfer"))
    publisher = emit.AuditPublisher(REGISTRY, sink.mac)
    batch: list = [
        (value := publisher.encode(e), f"hub.audit/0@{i}", sink.mac.tag(value))
        for i, e in enumerate(emit.submitted(raw, env, source="hub.ingress/0@1", at=T0))
    ]
    batch.append((b"not avro", "hub.audit/0@9", sink.mac.tag(b"not avro")))
    first = sink.append_batch(batch)
    assert first.appended == 2 and first.kinds == {"submitted": 1, ev.UNREADABLE: 1}
    again = sink.append_batch(batch)  # redelivered after a crash before the commit
    assert again.appended == 0 and again.skipped == 2
    records = list(store.records())
    unreadable = json.loads(records[1]["facts"])
    assert records[1]["kind"] == ev.UNREADABLE and unreadable["source"] == "hub.audit/0@9"
    steps = build_trail(store.trail(env.message_id), store.predecessor_hash, lambda _k: None)
    assert [s.record["kind"] for s in steps] == ["submitted"] and steps[0].record_ok


def test_checkpointer_signs_after_enough_records_or_enough_time(tmp_path: Path) -> None:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    key = SigningKey.generate()
    now = [0.0]
    cp = Checkpointer(store, lambda: key, every=10, interval_s=60, clock=lambda: now[0])
    from tests.audit.test_audit_store import events

    store.append(events(4))
    cp.note(4)
    assert not cp.maybe_sign()
    now[0] = 61
    assert cp.maybe_sign() and store.last_checkpoint_seq() == 4
    store.append(events(10, 4))
    cp.note(10)
    assert cp.maybe_sign() and store.last_checkpoint_seq() == 14
    assert not cp.maybe_sign()
    # What the board shows and HubAuditCheckpointStale reads.
    last = store.last_checkpoint()
    assert last is not None and last.seq == 14
    assert METRICS.get_sample_value("hub_audit_last_checkpoint_timestamp_seconds") > 0


class FakeConsumer:
    """The high watermarks and positions a kafka-python consumer knows after a poll."""

    def __init__(self, high: dict[int, int | None], position: dict[int, int]) -> None:
        self.high, self.pos = high, position

    def assignment(self) -> set[int]:
        return set(self.high)

    def highwater(self, tp: int) -> int | None:
        return self.high[tp]

    def position(self, tp: int) -> int:
        if tp not in self.pos:
            raise RuntimeError("no position yet")
        return self.pos[tp]


def test_the_sink_lag_sums_what_each_partition_has_not_appended() -> None:
    from consumers.audit_sink import _lag

    assert _lag(FakeConsumer({0: 100, 1: 50, 2: None}, {0: 90, 1: 50, 2: 0})) == 10
    # A partition without a position yet (being reassigned) is counted at the next poll.
    assert _lag(FakeConsumer({0: 100, 1: 50}, {0: 40})) == 60


def _sink(tmp_path: Path) -> tuple[AuditSink, AuditStore]:
    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    key = SigningKey.generate()
    return AuditSink(Settings(home=tmp_path), "unused:9092", store=store, key=lambda: key), store


def test_the_sink_stores_each_full_tile_of_the_tree_as_its_batches_complete_it(
    tmp_path: Path,
) -> None:
    from hub.audit.tiles import TiledTree, TileLog
    from hub.audit.transparency import leaves
    from hub.core import merkle

    sink, store = _sink(tmp_path)
    publisher = emit.AuditPublisher(REGISTRY, sink.mac)
    values = [
        publisher.encode(AuditEvent(f"e{i}", "routed", T0, message_id=f"m{i}")) for i in range(530)
    ]
    for start in range(0, 530, 70):  # batches that end anywhere in a tile
        batch = [(v, f"hub.audit/0@{start + i}", sink.mac.tag(v))
                 for i, v in enumerate(values[start : start + 70])]  # fmt: skip
        sink.append_batch(batch)
    assert TileLog(store).integrate(530) == 0  # tiles 0 and 1 were stored by the sink
    tree = merkle.StreamedTree(530)
    tree.want_root()
    tree.feed(leaves(store, 530))
    assert TiledTree(TileLog(store), 530).root() == tree.root()


def test_a_forged_event_cannot_take_a_genuine_events_id(tmp_path: Path) -> None:
    sink, store = _sink(tmp_path)
    env, raw, _ = sealed(load_example("clue_transfer"))
    genuine = emit.submitted(raw, env, source="hub.ingress/0@1", at=T0)[0]
    # A forger writes to hub.audit first, claiming the genuine event's id, with made-up facts.
    forged = replace(genuine, facts={**genuine.facts, "size": "1"})
    publisher = emit.AuditPublisher(REGISTRY, sink.mac)
    forged_bytes = publisher.encode(forged)
    first = sink.append_batch([(forged_bytes, "hub.audit/0@0", None)])
    assert first.kinds == {ev.QUARANTINED: 1}
    wrong = AuditMac(b"k" * 32).tag(forged_bytes)
    assert sink.append_batch([(forged_bytes, "hub.audit/0@1", wrong)]).kinds == {ev.QUARANTINED: 1}
    value = publisher.encode(genuine)
    real = sink.append_batch([(value, "hub.audit/0@2", sink.mac.tag(value))])
    assert real.kinds == {"submitted": 1}
    records = list(store.records())
    assert [r["kind"] for r in records] == [ev.QUARANTINED, ev.QUARANTINED, "submitted"]
    assert records[2]["event_id"] == genuine.event_id
    assert json.loads(records[2]["facts"])["size"] == genuine.facts["size"]
    assert (
        json.loads(records[0]["facts"])["bytes_sha256"] == hashlib.sha256(forged_bytes).hexdigest()
    )


def test_one_record_the_database_refuses_is_quarantined_and_the_rest_appended(
    tmp_path: Path,
) -> None:
    from sqlalchemy.exc import DataError

    sink, store = _sink(tmp_path)
    env, raw, _ = sealed(load_example("clue_transfer"))
    publisher = emit.AuditPublisher(REGISTRY, sink.mac)
    evs = emit.submitted(
        raw, env, source="hub.ingress/0@1", at=T0, replay_of="dl-0123456789abcdef0123"
    )
    batch: list = [
        (v := publisher.encode(e), f"hub.audit/0@{i}", sink.mac.tag(v)) for i, e in enumerate(evs)
    ]
    poison = evs[0].event_id
    real_append = store.append

    def refusing(events: list, **kwargs: object) -> object:
        if any(e.event_id == poison for e in events):
            raise DataError("INSERT", {}, Exception("value too long"))
        return real_append(events, **kwargs)

    store.append = refusing  # type: ignore[method-assign]
    result = sink.append_batch(batch)
    assert result.appended == 2 and result.kinds == {ev.QUARANTINED: 1, "submitted": 1}


def test_a_database_that_is_away_makes_the_sink_wait_not_skip(tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    sink, store = _sink(tmp_path)
    env, raw, _ = sealed(load_example("clue_transfer"))
    publisher = emit.AuditPublisher(REGISTRY, sink.mac)
    value = publisher.encode(emit.submitted(raw, env, source="hub.ingress/0@1", at=T0)[0])
    real_append = store.append
    calls = [0]

    def away(events: list, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == 1:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real_append(events, **kwargs)

    store.append = away  # type: ignore[method-assign]
    sink._stop.wait = lambda _s: False  # type: ignore[method-assign]
    result = sink._append_until_done([(value, "hub.audit/0@0", sink.mac.tag(value))])
    assert result.kinds == {"submitted": 1} and calls[0] == 2


def test_the_trail_compares_a_receipt_with_the_bytes_that_were_sent(tmp_path: Path) -> None:
    from hub.audit.store import AuditStore
    from hub.audit.trail import story

    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    env, raw, _ = sealed(load_example("clue_transfer"))
    sent = "sha256:" + hashlib.sha256(raw).hexdigest()  # an Ed25519-signed envelope's hash
    receipt_env, _, _ = sealed(
        {"received_at": T0, "received_by": None, "note": None, "original_digest": sent},
        family="receipt",
        correlation_id=env.message_id,
    )
    lying_env = replace(receipt_env, message_id="r-2")
    events = [
        *emit.submitted(raw, env, source="hub.ingress/0@1", at=T0),
        emit.reply_applied(
            receipt_env, new_state="RECEIVED", at=T0, subject_ref=REF,
            payload={"received_at": T0, "original_digest": sent},
        ),
        emit.reply_applied(
            lying_env, new_state="RECEIVED", at=T0, subject_ref=REF,
            payload={"received_at": T0, "original_digest": "sm3:" + sent[7:]},  # other hash
        ),
    ]  # fmt: skip
    store.append([e for e in events if e is not None])
    steps = build_trail(store.trail(env.message_id), store.predecessor_hash, lambda _k: None)
    assert json.loads(steps[0].record["facts"])["envelope_digest"] == sent
    checks = [s.receipt_check for s in steps if s.record["kind"] == "receipt"]
    assert checks == ["matches", "DIFFERS"]
    assert "DIFFER" in story(steps[-1]) and steps[-1].to_json()["receipt_matches_sent"] is False


def test_a_receipt_of_the_sha256_age_still_compares_with_a_submission_of_either_age(
    tmp_path: Path,
) -> None:
    """Logs written before receipts labelled their hash keep envelope_sha256 and
    original_sha256; the trail reads them as sha256: digests."""
    from hub.audit.store import AuditStore

    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    env, raw, _ = sealed(load_example("clue_transfer"))
    hexed = hashlib.sha256(raw).hexdigest()
    old_submitted = AuditEvent("ev-old", "submitted", T0, message_id=env.message_id,
                               conversation_id=env.message_id,
                               facts={"envelope_sha256": hexed})  # fmt: skip
    receipt_env, _, _ = sealed(
        {"received_at": T0, "received_by": None, "note": None, "original_digest": None},
        family="receipt",
        correlation_id=env.message_id,
    )
    v3 = emit.reply_applied(receipt_env, new_state="RECEIVED", at=T0, subject_ref=REF,
                            payload={"received_at": T0, "original_sha256": hexed})  # fmt: skip
    labelled = {"received_at": T0, "original_digest": f"sha256:{hexed}"}
    v4 = emit.reply_applied(replace(receipt_env, message_id="r-4"), new_state="RECEIVED", at=T0,
                            subject_ref=REF, payload=labelled)  # fmt: skip
    assert v3 is not None and v4 is not None
    store.append([old_submitted, v3, v4])
    steps = build_trail(store.trail(env.message_id), store.predecessor_hash, lambda _k: None)
    assert [s.receipt_check for s in steps if s.record["kind"] == "receipt"] == ["matches"] * 2


def test_a_signature_made_before_its_key_was_revoked_stays_valid_one_made_after_does_not() -> None:
    env, _, key = sealed(person_clue(), created_at=T0)
    rec = _as_record(delivered_event(env))
    keys = {key.key_id: ("MIB@350582", key.public)}
    later = {key.key_id: T0 + timedelta(hours=1)}
    earlier = {key.key_id: T0 - timedelta(hours=1)}
    assert signature_check(rec, keys.get, later.get)[0] == "valid"
    assert signature_check(rec, keys.get, earlier.get)[0] == "signed after the key's revocation"
    assert signature_check(rec, keys.get, {}.get)[0] == "valid"


def test_the_trail_sets_each_document_a_receipt_names_beside_the_signed_manifest(
    tmp_path: Path,
) -> None:
    from hub.audit.store import AuditStore
    from hub.audit.trail import story
    from hub.wire.documents import DocumentRef

    store = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
    env, raw, _ = sealed(load_example("clue_transfer"))
    refs = tuple(DocumentRef(n, 3, 1_500_000 + n, bytes([n]) * 32, b"sealed", "u" * 32)
                 for n in (1, 2, 3))  # fmt: skip
    env = replace(env, documents=refs)
    received = [
        {"n": 1, "wire_size": 1_500_001, "chunks_root": (bytes([1]) * 32).hex()},  # as sent
        {"n": 2, "wire_size": 1_500_002, "chunks_root": (b"\x09" * 32).hex()},  # other chunks
    ]  # document 3: never read
    receipt_env, _, _ = sealed(
        {"received_at": T0, "received_by": None, "note": None, "original_digest": None,
         "documents": received},
        family="receipt", correlation_id=env.message_id,
    )  # fmt: skip
    events = [
        *emit.submitted(raw, env, source="hub.ingress/0@1", at=T0),
        emit.reply_applied(
            receipt_env, new_state="RECEIVED", at=T0, subject_ref=REF,
            payload={"received_at": T0, "documents": received},
        ),
    ]  # fmt: skip
    store.append([e for e in events if e is not None])
    steps = build_trail(store.trail(env.message_id), store.predecessor_hash, lambda _k: None)
    submitted, receipt = steps[0], steps[-1]
    assert "document 1: 1.4 MiB, root 010101010101…" in story(submitted)
    assert [(d.n, d.verdict) for d in receipt.document_checks] == [
        (1, "matches"),
        (2, "DIFFERS"),
        (3, "not received"),
    ]
    assert "document 2: 1.4 MiB, root 020202020202… DIFFERS" in story(receipt)
    as_json = receipt.to_json()["documents"]
    assert as_json[1]["received_root"] == (b"\x09" * 32).hex()
    assert all("name" not in d for d in as_json)  # sizes and digests only
