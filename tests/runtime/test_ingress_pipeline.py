"""The ingress pipeline without a broker: each effect, their order, and each failure point.

An :class:`InMemoryProducer` stands in for Kafka and a SQLite file for the store, so these run
in milliseconds.  The rule under test: an outcome (inbox write or dead letter, store, audit) is
complete before ``handle`` returns, and a step that raises stops the steps after it and reaches
the caller, which does not commit; handling the same record again then completes it once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.audit.events import AuditEvent
from hub.core.clock import now_utc
from hub.core.config import Settings
from hub.routing.router import Router
from hub.runtime.ingress.build import build_pipeline
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED, DUPLICATE, IngressPipeline
from hub.runtime.ingress.producer import InMemoryProducer
from hub.runtime.ingress.record import IngressRecord
from hub.runtime.services import HubServices
from hub.trust.address import Address
from hub.trust.directory import create_dev_directory, create_key, load_signing_key
from hub.trust.keys import SigningKey
from hub.wire import headers
from hub.wire.codec import AvroDeserializer
from hub.wire.envelope import seal
from hub.wire.families import FAMILIES
from hub.wire.jsonpayload import from_json
from hub.wire.topics import AUDIT, DEAD_LETTER, inbox_topic
from tests.hubproc import load_example

CONNECTORS = ["MIB@350582", "PSB@350582", "PSB@350500", "HEALTH@350582", "HUB@100000"]


class Rig:
    """A pipeline on a temporary home, its fake producer, and a way to sign messages."""

    def __init__(self, home: Path) -> None:
        self.settings = Settings(home=home, dev_directory="never")
        create_dev_directory(self.settings.directory_path, self.settings.keys_dir, CONNECTORS)
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
        payload: dict[str, Any] | None = None, **kwargs: Any,
    ) -> tuple[str, bytes]:  # fmt: skip
        registry = self.services.registry
        schema = registry.latest(FAMILIES[family].schema_stem)
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
        return IngressRecord(
            "hub.ingress", 0, offset, raw, timestamp_ms=1_700_000_000_000, **kwargs
        )

    def handle(self, record: IngressRecord) -> Any:
        return asyncio.run(self.pipeline.handle(record))

    def audit_kinds(self) -> list[str]:
        return [self.read_audit(s.value)["kind"] for s in self.producer.on(AUDIT.name)]

    def audit_events(self) -> list[dict[str, Any]]:
        return [self.read_audit(s.value) for s in self.producer.on(AUDIT.name)]

    def delivered(self, message_id: str) -> bool:
        return self.services.store.was_delivered(message_id)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path / "hub")


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
    assert rig.producer.topics() == [inbox, AUDIT.name, AUDIT.name, AUDIT.name]
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
    assert rig.producer.topics() == [DEAD_LETTER.name, AUDIT.name, AUDIT.name]
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
    def explode(self: Router, raw: bytes) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(Router, "decide", explode)
    outcome = rig.handle(rig.record(rig.message()[1]))
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "router_error")
    assert "KeyError" in rig.services.store.dead_letter(outcome.dead_letter_id)["detail"]


def test_a_connector_registered_after_the_start_is_found_on_a_directory_miss(rig: Rig) -> None:
    _mid, raw = rig.message(to="SAMR@350582")
    create_key(rig.settings.directory_path, rig.settings.keys_dir, Address.parse("SAMR@350582"))
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
    record = rig.record(b"junk", headers=((headers.REPLAY_OF, b"dl-0123"),))
    outcome = rig.handle(record)
    assert outcome.kind == DEAD_LETTERED
    assert rig.audit_kinds()[0] == "dlq_replayed"
    assert (
        rig.read_dead_letter(rig.producer.on(DEAD_LETTER.name)[0].value)["replay_of"] == "dl-0123"
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
    assert rig.producer.topics() == [inbox_topic("PSB", "350582")]  # no audit yet
    assert not rig.delivered(mid)
    assert rig.handle(rig.record(raw, offset=0)).kind == DELIVERED
    # At-least-once: the inbox holds the message twice; the connector de-duplicates by id.
    assert len(rig.producer.on("hub.inbox.")) == 2
    assert rig.delivered(mid) and rig.services.store.count_deliveries() == 1
    assert rig.audit_kinds() == ["submitted", "routed", "delivered"]


def test_an_audit_publish_that_fails_is_repeated_with_the_same_ids(rig: Rig) -> None:
    mid, raw = rig.message()
    rig.producer.fail(AUDIT.name, ConnectionError("audit topic unavailable"))
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


def test_every_audit_event_of_one_hand_off_is_keyed_by_its_conversation(rig: Rig) -> None:
    mid, raw = rig.message()
    outcome = rig.handle(rig.record(raw))
    assert all(isinstance(e, AuditEvent) for e in outcome.events)
    assert {s.key for s in rig.producer.on(AUDIT.name)} == {mid.encode()}
