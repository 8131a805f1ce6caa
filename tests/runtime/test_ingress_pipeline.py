"""The ingress pipeline without a broker: each effect, their order, and each failure point.

An :class:`InMemoryProducer` stands in for Kafka and a SQLite file for the store, so these run
in milliseconds.  The rule under test: an outcome (inbox write or dead letter, store, audit) is
complete before ``handle`` returns, and a step that raises stops the steps after it and reaches
the caller, which does not commit; handling the same record again then completes it once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.messages import encryption_target
from hub.audit import facts
from hub.audit.events import AuditEvent
from hub.core.clock import now_utc, truncate_ms
from hub.core.config import Settings
from hub.routing.router import Router
from hub.runtime.ingress.build import build_pipeline
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED, DUPLICATE, IngressPipeline
from hub.runtime.ingress.producer import InMemoryProducer
from hub.runtime.ingress.record import IngressRecord
from hub.runtime.services import HubServices
from hub.storage.audit_facts import AuditFacts, StoredFact
from hub.trust.address import Address
from hub.trust.authority import create_dev_directory, create_key, development_authority
from hub.trust.directory import load_signing_key
from hub.trust.keys import SigningKey
from hub.wire import headers
from hub.wire.codec import AvroDeserializer
from hub.wire.envelope import seal
from hub.wire.families import FAMILIES
from hub.wire.jsonpayload import from_json
from hub.wire.topics import DEAD_LETTER, inbox_topic
from tests.hubproc import load_example

CONNECTORS = ["MIB@350582", "PSB@350582", "PSB@350500", "HEALTH@350582", "CDI@350582", "HUB@100000"]


class Rig:
    """A pipeline on a temporary home, its fake producer, and a way to sign messages."""

    def __init__(self, home: Path, suite: str = "intl") -> None:
        self.settings = Settings(home=home, dev_directory="never", crypto_suite=suite)
        self.authority = development_authority(self.settings)
        create_dev_directory(self.authority, self.settings.keys_dir, CONNECTORS, suite)
        self.services = HubServices.create(self.settings)
        self.producer = InMemoryProducer()
        self.pipeline: IngressPipeline = build_pipeline(self.services, self.producer)
        self.offset = 0
        self.read_audit = AvroDeserializer(self.services.registry, "audit_event")
        self.read_dead_letter = AvroDeserializer(self.services.registry, "dead_letter")

    def key(self, address: str) -> SigningKey:
        return load_signing_key(
            self.settings.keys_dir, Address.parse(address), self.services.directory.current
        )

    def message(
        self, family: str = "clue_transfer", sender: str = "MIB@350582", to: str = "PSB@350582",
        payload: dict[str, Any] | None = None, encrypt: bool | None = None, **kwargs: Any,
    ) -> tuple[str, bytes]:  # fmt: skip
        registry = self.services.registry
        schema = registry.latest(FAMILIES[family].schema_stem)
        wanted = encrypt if encrypt is not None else FAMILIES[family].encryption_required
        if wanted and "encrypt_to" not in kwargs:
            kwargs["encrypt_to"] = encryption_target(
                self.services.directory.current, Address.parse(to)
            )
        env, raw = seal(
            registry,
            family=family,
            payload_schema=schema,
            payload=payload if payload is not None else from_json(schema.raw, load_example(family)),
            sender=Address.parse(sender),
            recipient=Address.parse(to),
            key=self.key(sender),
            **kwargs,
        )
        return env.message_id, raw

    def record(self, raw: bytes, *, offset: int | None = None, **kwargs: Any) -> IngressRecord:
        if offset is None:
            offset, self.offset = self.offset, self.offset + 1
        kwargs.setdefault("timestamp_ms", int(time.time() * 1000))
        return IngressRecord("hub.ingress", 0, offset, raw, **kwargs)

    def handle(self, record: IngressRecord) -> Any:
        return asyncio.run(self.pipeline.handle(record))

    def audit_kinds(self) -> list[str]:
        return [e["kind"] for e in self.audit_events()]

    def audit_events(self) -> list[dict[str, Any]]:
        """The events of the router's fact rows in the store, oldest first (each row's tag
        checked with the hub's audit key, as the sink checks it)."""
        out: list[dict[str, Any]] = []
        for row in self.fact_rows():
            assert self.services.audit_mac.verify(row.events, row.tag)
            out += [e.to_record() for e in facts.decode(row.events)]
        return out

    def fact_rows(self) -> list[StoredFact]:
        return AuditFacts(self.services.store.engine).oldest(1_000_000)

    def delivered(self, message_id: str) -> bool:
        return self.services.store.was_delivered(message_id)


def fail_store(rig: Rig, method: str, times: int = 1) -> None:
    """The next ``times`` calls of ``Store.<method>`` raise, as a database that went away."""
    store = rig.services.store
    real: Callable[..., Any] = getattr(store, method)
    left = [times]

    def broken(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise ConnectionError(f"store down during {method}")
        return real(*args, **kwargs)

    setattr(store, method, broken)


def fail_ledger(rig: Rig, method: str) -> None:
    ledger = rig.services.ledger
    real = getattr(ledger, method)
    left = [1]

    def broken(*args: Any, **kwargs: Any) -> Any:
        if left[0]:
            left[0] -= 1
            raise ConnectionError(f"store down during {method}")
        return real(*args, **kwargs)

    setattr(ledger, method, broken)


# -- outcomes ------------------------------------------------------------------------------------


def test_a_valid_clue_goes_to_the_inbox_then_the_store_then_the_audit_log(rig: Rig) -> None:
    mid, raw = rig.message()
    outcome = rig.handle(rig.record(raw))
    assert outcome.kind == DELIVERED and outcome.message_id == mid
    inbox = inbox_topic("PSB", "350582")
    assert rig.producer.topics() == [inbox]  # its audit facts go to the store, not the broker
    assert len(rig.fact_rows()) == 1  # one fact record for the message
    written = rig.producer.on(inbox)[0]
    assert written.value == raw  # the sender's bytes, so the recipient verifies end to end
    assert written.key == mid.encode()
    assert written.header(headers.ROUTED_TO) == b"PSB@350582"
    assert written.header(headers.VIA) == b"direct"
    assert rig.delivered(mid)
    assert rig.services.ledger.entry(mid)["state"] == "DELIVERED"
    assert rig.audit_kinds() == ["submitted", "routed", "delivered"]
    delivered = rig.audit_events()[-1]
    assert delivered["facts"]["inbox"] == f"{inbox}/{written.partition}@0"


def test_a_clue_for_a_county_without_a_connector_falls_back_to_the_city(rig: Rig) -> None:
    _, raw = rig.message(to="PSB@350521")
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    written = rig.producer.on("hub.inbox.")[0]
    assert written.topic == inbox_topic("PSB", "350500")
    assert written.header(headers.VIA) == b"fallback"


def test_the_same_record_read_twice_is_delivered_once(rig: Rig) -> None:
    _mid, raw = rig.message()
    first = rig.handle(rig.record(raw, offset=0))
    again = rig.handle(rig.record(raw, offset=0))
    assert (first.kind, again.kind) == (DELIVERED, DUPLICATE)
    assert len(rig.producer.on("hub.inbox.")) == 1
    # The repeat re-publishes the delivery's events under the same ids (the sink keeps one).
    ids = [e["event_id"] for e in rig.audit_events()]
    first_ids = {e.event_id for e in first.events if e.kind in {"routed", "delivered"}}
    assert first_ids <= {e.event_id for e in again.events}
    assert rig.audit_kinds().count("duplicate_ignored") == 1
    assert len(ids) == len(first.events) + len(again.events)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda rig: b"\x00not avro at all", "undecodable"),
        (lambda rig: rig.message()[1][:-5], "undecodable"),
        (lambda rig: rig.message(sender="HEALTH@350582", to="PSB@350582")[1], "policy_violation"),
        (lambda rig: rig.message(to="SAMR@350582")[1], "no_route"),
    ],
    ids=["random bytes", "truncated", "policy", "no route"],
)
def test_what_cannot_be_delivered_is_dead_lettered_stored_and_audited(
    rig: Rig, make: Callable[[Rig], bytes], reason: str
) -> None:
    raw = make(rig)
    outcome = rig.handle(rig.record(raw))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, reason)
    assert rig.producer.topics() == [DEAD_LETTER.name]
    assert len(rig.fact_rows()) == 1
    sent = rig.producer.on(DEAD_LETTER.name)[0]
    assert sent.header(headers.REASON) == reason.encode()
    record = rig.read_dead_letter(sent.value)
    assert record["original"] == raw and record["reason"] == reason
    stored = rig.services.store.dead_letter(outcome.dead_letter_id)
    assert stored is not None and stored["original"] == raw
    assert rig.audit_kinds() == ["submitted", "dead_lettered"]
    assert rig.producer.on("hub.inbox.") == []


def test_a_forged_signature_is_dead_lettered_as_bad_signature(rig: Rig) -> None:
    _, raw = rig.message()
    forged = bytearray(raw)
    forged[-3] ^= 0x01  # a bit of the signature
    assert rig.handle(rig.record(bytes(forged))).reason == "bad_signature"


def test_a_router_bug_dead_letters_the_record_instead_of_dropping_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: Router, raw: bytes, at: Any = None) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(Router, "decide", explode)
    outcome = rig.handle(rig.record(rig.message()[1]))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "router_error")
    assert "KeyError" in rig.services.store.dead_letter(outcome.dead_letter_id)["detail"]


def test_a_connector_registered_after_the_start_is_found_on_a_directory_miss(rig: Rig) -> None:
    _mid, raw = rig.message(to="SAMR@350582")
    create_key(rig.authority, rig.settings.keys_dir, Address.parse("SAMR@350582"))
    assert rig.handle(rig.record(raw)).kind == DELIVERED
    assert rig.producer.on(inbox_topic("SAMR", "350582"))


def test_a_receipt_moves_the_ledger_and_logs_the_step(rig: Rig) -> None:
    mid, raw = rig.message()
    rig.handle(rig.record(raw))
    _rid, receipt = rig.message(
        "receipt",
        sender="PSB@350582",
        to="MIB@350582",
        payload={"received_at": now_utc(), "received_by": "经侦大队", "note": None},
        correlation_id=mid,
    )
    assert rig.handle(rig.record(receipt)).kind == DELIVERED
    assert rig.services.ledger.entry(mid)["state"] == "RECEIVED"
    assert rig.audit_kinds()[-1] == "receipt"
    assert rig.producer.on(inbox_topic("MIB", "350582"))[0].key == mid.encode()


def test_a_replayed_dead_letter_is_marked_as_a_replay_in_the_log(rig: Rig) -> None:
    record = rig.record(b"junk", headers=((headers.REPLAY_OF, b"dl-0123456789abcdef0123"),))
    outcome = rig.handle(record)
    assert outcome.kind == DEAD_LETTERED
    assert rig.audit_kinds()[0] == "dlq_replayed"
    assert (
        rig.read_dead_letter(rig.producer.on(DEAD_LETTER.name)[0].value)["replay_of"]
        == "dl-0123456789abcdef0123"
    )


# -- failure points: a step that raises stops the rest; the repeat completes once -----------------


def test_an_inbox_write_that_fails_records_nothing_and_the_repeat_delivers_once(rig: Rig) -> None:
    mid, raw = rig.message()
    rig.producer.fail("hub.inbox.", ConnectionError("broker gone"))
    with pytest.raises(ConnectionError):
        rig.handle(rig.record(raw, offset=0))
    assert rig.producer.sent == [] and not rig.delivered(mid)
    assert rig.handle(rig.record(raw, offset=0)).kind == DELIVERED
    assert len(rig.producer.on("hub.inbox.")) == 1
    assert rig.audit_kinds() == ["submitted", "routed", "delivered"]


def test_a_store_that_fails_after_the_inbox_write_publishes_no_audit_and_the_repeat_records_once(
    rig: Rig,
) -> None:
    mid, raw = rig.message()
    fail_ledger(rig, "record_original")
    with pytest.raises(ConnectionError):
        rig.handle(rig.record(raw, offset=0))
    assert rig.producer.topics() == [inbox_topic("PSB", "350582")]
    assert rig.fact_rows() == []  # no audit yet
    assert not rig.delivered(mid)
    assert rig.handle(rig.record(raw, offset=0)).kind == DELIVERED
    # At-least-once: the inbox holds the message twice; the connector de-duplicates by id.
    assert len(rig.producer.on("hub.inbox.")) == 2
    assert rig.delivered(mid) and rig.services.store.count_deliveries() == 1
    assert rig.audit_kinds() == ["submitted", "routed", "delivered"]


def test_an_audit_fact_write_that_fails_is_repeated_with_the_same_ids(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    mid, raw = rig.message()
    facts_table = rig.pipeline.recorder.facts
    real, left = facts_table.write, [1]

    def broken(*args: Any, **kwargs: Any) -> None:
        if left.pop() if left else 0:
            raise ConnectionError("store down for the audit facts")
        real(*args, **kwargs)

    monkeypatch.setattr(facts_table, "write", broken)
    with pytest.raises(ConnectionError):
        rig.handle(rig.record(raw, offset=0))
    assert rig.delivered(mid)
    again = rig.handle(rig.record(raw, offset=0))
    assert again.kind == DUPLICATE
    kinds = rig.audit_kinds()
    assert {"routed", "delivered", "duplicate_ignored"} <= set(kinds)
    assert len(rig.producer.on("hub.inbox.")) == 1


def test_a_dead_letter_write_that_fails_stores_nothing_and_the_repeat_has_the_same_id(
    rig: Rig,
) -> None:
    rig.producer.fail(DEAD_LETTER.name, ConnectionError("broker gone"))
    record = rig.record(b"junk", offset=7)
    with pytest.raises(ConnectionError):
        rig.handle(record)
    assert rig.services.store.count_dead_letters() == {}
    first = rig.handle(record)
    second = rig.handle(record)
    assert first.dead_letter_id == second.dead_letter_id
    assert sum(rig.services.store.count_dead_letters().values()) == 1


def test_a_store_that_fails_on_a_dead_letter_publishes_no_audit(rig: Rig) -> None:
    fail_store(rig, "record_dead_letter")
    with pytest.raises(ConnectionError):
        rig.handle(rig.record(b"junk"))
    assert rig.producer.topics() == [DEAD_LETTER.name]
    assert rig.fact_rows() == []


def test_the_audit_events_of_one_record_are_one_tagged_fact_row_of_its_hand_off(
    rig: Rig,
) -> None:
    mid, raw = rig.message()
    outcome = rig.handle(rig.record(raw))
    assert all(isinstance(e, AuditEvent) for e in outcome.events)
    [row] = rig.fact_rows()
    assert rig.services.audit_mac.verify(row.events, row.tag)
    assert not rig.services.audit_mac.verify(row.events + b" ", row.tag)
    assert [e.event_id for e in facts.decode(row.events)] == [e.event_id for e in outcome.events]
    assert {e["conversation_id"] for e in rig.audit_events()} == {mid}


# -- process(): exactly one outcome per record, whatever fails ------------------------------------


def process(rig: Rig, record: IngressRecord) -> Any:
    return asyncio.run(rig.pipeline.process(record))


def test_a_broker_that_is_down_is_waited_out_with_backoff_and_nothing_is_lost(
    rig: Rig, no_wait: list[float]
) -> None:
    mid, raw = rig.message()
    rig.producer.fail("hub.inbox.", ConnectionError("broker gone"), times=3)
    outcome = process(rig, rig.record(raw))
    assert outcome.kind == DELIVERED and rig.delivered(mid)
    assert no_wait == [0.2, 0.4, 0.8]
    assert len(rig.producer.on("hub.inbox.")) == 1


def test_a_database_that_is_down_is_waited_out(rig: Rig, no_wait: list[float]) -> None:
    from sqlalchemy.exc import OperationalError

    mid, raw = rig.message()
    ledger = rig.services.ledger
    real = ledger.record_original
    calls = [0]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] <= 2:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    ledger.record_original = flaky  # type: ignore[method-assign]
    assert process(rig, rig.record(raw)).kind == DELIVERED
    assert len(no_wait) == 2 and rig.delivered(mid)


def test_a_failure_that_would_repeat_dead_letters_the_record_instead_of_skipping_it(
    rig: Rig, no_wait: list[float]
) -> None:
    from sqlalchemy.exc import DataError

    mid, raw = rig.message()
    ledger = rig.services.ledger

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise DataError("INSERT", {}, Exception("value too long for type character varying(64)"))

    ledger.record_original = refuse  # type: ignore[method-assign]
    outcome = process(rig, rig.record(raw))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "router_error")
    row = rig.services.store.dead_letter(outcome.dead_letter_id)
    assert row["original"] == raw and row["message_id"] == mid
    assert "DataError" in row["detail"] and "varying" not in row["detail"]
    assert "dead_lettered" in rig.audit_kinds()
    assert no_wait == []


def test_a_dead_letter_the_broker_refuses_whole_keeps_the_head_and_the_hash(
    rig: Rig, no_wait: list[float]
) -> None:
    from aiokafka.errors import MessageSizeTooLargeError

    rig.producer.fail(DEAD_LETTER.name, MessageSizeTooLargeError(), times=2)
    raw = b"\x00" + bytes(range(256)) * 20
    outcome = process(rig, rig.record(raw))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "router_error")
    row = rig.services.store.dead_letter(outcome.dead_letter_id)
    assert row["original"] == raw[:1024]
    assert hashlib.sha256(raw).hexdigest() in row["detail"]


def test_a_record_over_the_size_limit_is_dead_lettered_by_hash_and_head(rig: Rig) -> None:
    rig.pipeline.max_record_bytes = 10_000
    raw = rig.message()[1] + b"x" * 20_000
    outcome = process(rig, rig.record(raw))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "too_large")
    sent = rig.read_dead_letter(rig.producer.on(DEAD_LETTER.name)[0].value)
    assert sent["original"] == raw[:1024]
    assert hashlib.sha256(raw).hexdigest() in sent["detail"] and len(sent["detail"]) <= 4096


@pytest.mark.parametrize(
    ("shift", "reason"),
    [(timedelta(hours=-25), "stale"), (timedelta(minutes=6), "from_future")],
    ids=["a day and an hour old", "six minutes ahead"],
)
def test_an_envelope_outside_the_freshness_window_is_dead_lettered(
    rig: Rig, shift: timedelta, reason: str
) -> None:
    _, raw = rig.message(created_at=truncate_ms(datetime.now(UTC) + shift))
    assert process(rig, rig.record(raw)).reason == reason


def test_freshness_is_judged_by_when_the_record_reached_the_broker(rig: Rig) -> None:
    created = truncate_ms(datetime.now(UTC) - timedelta(hours=30))
    _, raw = rig.message(created_at=created)
    arrived = int((created + timedelta(minutes=1)).timestamp() * 1000)  # the hub was down
    assert process(rig, rig.record(raw, timestamp_ms=arrived)).kind == DELIVERED


def test_the_same_id_from_another_sender_is_a_conflict_not_a_repeat(rig: Rig) -> None:
    mid, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    assert process(rig, rig.record(raw)).kind == DELIVERED
    _, hijack = rig.message(
        "corruption_clue_handoff", sender="HEALTH@350582", to="CDI@350582", message_id=mid
    )
    outcome = process(rig, rig.record(hijack))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "id_conflict")
    assert "another sender" in rig.services.store.dead_letter(outcome.dead_letter_id)["detail"]
    assert len(rig.producer.on("hub.inbox.CDI")) == 1


def test_the_same_id_with_other_content_is_a_conflict(rig: Rig) -> None:
    mid, raw = rig.message()
    process(rig, rig.record(raw))
    payload = from_json(
        rig.services.registry.latest("clue_transfer").raw,
        {**load_example("clue_transfer"), "amount_fen": 1},
    )
    _, other = rig.message(payload=payload, message_id=mid)
    assert process(rig, rig.record(other)).reason == "id_conflict"


def test_a_retried_send_with_the_same_id_and_content_is_a_repeat(rig: Rig) -> None:
    mid, raw = rig.message()
    process(rig, rig.record(raw))
    _, resent = rig.message(message_id=mid)  # re-signed later: another created_at and signature
    assert resent != raw
    assert process(rig, rig.record(resent)).kind == DUPLICATE


def test_an_applied_reply_id_reused_by_another_party_is_refused(rig: Rig) -> None:
    mid, raw = rig.message()
    process(rig, rig.record(raw))
    receipt = {"received_at": now_utc(), "received_by": None, "note": None}
    rid, reply = rig.message("receipt", sender="PSB@350582", to="MIB@350582",
                             payload=receipt, correlation_id=mid)  # fmt: skip
    assert process(rig, rig.record(reply)).kind == DELIVERED
    _, forged = rig.message("receipt", sender="HEALTH@350582", to="MIB@350582",
                            payload=receipt, correlation_id=mid, message_id=rid)  # fmt: skip
    assert process(rig, rig.record(forged)).reason == "illegal_transition"


@pytest.mark.parametrize(
    "value",
    [b"\xff\xfe", b"not-a-dead-letter-id", b"dl-" + b"0" * 5000],
    ids=["not UTF-8", "wrong shape", "huge"],
)
def test_a_malformed_replay_header_is_ignored_not_fatal(rig: Rig, value: bytes) -> None:
    _, raw = rig.message()
    outcome = process(rig, rig.record(raw, headers=((headers.REPLAY_OF, value),)))
    assert outcome.kind == DELIVERED and "dlq_replayed" not in rig.audit_kinds()


@pytest.mark.parametrize(
    "bad_id", ["x" * 65, "line\nbreak", "空格 id", ""], ids=["65 chars", "newline", "cjk", "empty"]
)
def test_ids_off_the_alphabet_are_dead_lettered_without_echoing_them(rig: Rig, bad_id: str) -> None:
    from dataclasses import replace as swap

    from hub.wire.envelope import encode_envelope, read_envelope

    # A connector refuses to sign such ids; a hostile sender signs them all the same.
    _, good = rig.message()
    env = read_envelope(rig.services.registry, good)
    env = swap(env, message_id=bad_id or env.message_id, correlation_id=bad_id)
    env = swap(env, signature=rig.key("MIB@350582").sign(env.signing_bytes()))
    raw = encode_envelope(rig.services.registry, env)
    outcome = process(rig, rig.record(raw))
    assert outcome.reason == "invalid_id"
    detail = rig.services.store.dead_letter(outcome.dead_letter_id)["detail"]
    assert (bad_id not in detail) if bad_id else True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sender", "X" * 5000 + "@350582"),
        ("recipient", "PSB@" + "9" * 5000),
        ("family", "f" * 5000),
    ],
    ids=["huge sender agency", "huge recipient region", "huge family"],
)
def test_hostile_names_never_become_columns_labels_or_log_lines(
    rig: Rig, field: str, value: str
) -> None:
    from dataclasses import replace as swap

    from hub.wire.envelope import encode_envelope, read_envelope

    env = read_envelope(rig.services.registry, rig.message()[1])
    env = swap(env, **{field: Address.parse(value) if field != "family" else value})
    raw = encode_envelope(rig.services.registry, env)
    outcome = process(rig, rig.record(raw))
    assert outcome.kind == DEAD_LETTERED
    row = rig.services.store.dead_letter(outcome.dead_letter_id)
    assert row["sender"] is None and row["recipient"] is None and row["family"] is None
    assert len(row["detail"]) < 300
    for event in rig.audit_events():
        assert all(
            len(str(v or "")) < 100
            for k, v in event.items()
            if k in {"sender", "recipient", "family"}
        )


def test_a_dead_letter_that_cannot_be_written_at_all_pauses_instead_of_escaping(
    rig: Rig, no_wait: list[float]
) -> None:
    from aiokafka.errors import MessageSizeTooLargeError

    rig.producer.fail(DEAD_LETTER.name, MessageSizeTooLargeError(), times=5)
    outcome = process(rig, rig.record(b"junk"))
    # undecodable refused, router_error refused whole, then its head three times, then written
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "router_error")
    assert len(no_wait) == 3
    assert sum(rig.services.store.count_dead_letters().values()) == 1


def _receipts(family: str, on_time: str) -> float:
    from prometheus_client import REGISTRY

    return (
        REGISTRY.get_sample_value("hub_receipts_total", {"family": family, "on_time": on_time})
        or 0.0
    )


def test_a_receipt_counts_for_the_receipt_slo_as_on_time_or_late(rig: Rig) -> None:
    from sqlalchemy import update

    from hub.lifecycle.tables import obligations

    before = (_receipts("clue_transfer", "true"), _receipts("clue_transfer", "false"))
    for late in (False, True):
        mid, raw = rig.message()
        rig.handle(rig.record(raw))
        if late:  # its receipt deadline passed before the receipt came
            with rig.services.store.engine.begin() as conn:
                conn.execute(
                    update(obligations)
                    .where(obligations.c.message_id == mid, obligations.c.stage == "receipt")
                    .values(due_at=now_utc() - timedelta(hours=1))
                )
        _rid, receipt = rig.message(
            "receipt",
            sender="PSB@350582",
            to="MIB@350582",
            payload={"received_at": now_utc(), "received_by": None, "note": None},
            correlation_id=mid,
        )
        assert rig.handle(rig.record(receipt)).kind == DELIVERED
    after = (_receipts("clue_transfer", "true"), _receipts("clue_transfer", "false"))
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 1.0)
