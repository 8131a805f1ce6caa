"""The router's audit facts in the store, chained into the log by the sink (no broker needed).

The rules under test: a fact row gives the log exactly the records the same events gave it when
they travelled on ``hub.audit``; a row is believed only with a valid tag and never dropped; a
row is deleted only once its events are in the log, and a row read twice adds nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from consumers.audit_sink import AuditSink
from consumers.fact_drain import FactDrain
from hub.audit import emit, facts
from hub.audit import events as ev
from hub.audit.events import AuditEvent, SubjectRef
from hub.audit.store import AuditStore
from hub.core.config import Settings
from hub.storage.audit_facts import AuditFacts, Fact
from hub.storage.store import Store
from hub.trust.address import Address
from hub.trust.keys import SigningKey
from tests.audit.test_audit_events import REGISTRY, T0, sealed
from tests.hubproc import load_example


def hand_off_events() -> list[AuditEvent]:
    """What the router tells the log about one clue: submitted, routed, delivered (signed
    fields, payload facts), then the receipt's step."""
    env, raw, _ = sealed(load_example("clue_transfer"))
    ref = SubjectRef(b"s" * 32)
    out = emit.submitted(raw, env, source="hub.ingress/0@1", at=T0)
    out += emit.delivered(
        env,
        routed_to=Address("PSB", "350582"),
        via="direct",
        fallback=False,
        decided_at=T0,
        delivered_at=T0 + timedelta(milliseconds=3),
        inbox="hub.inbox.PSB.350582/0@0",
        payload=load_example("clue_transfer"),
        subject_ref=ref,
    )
    return out


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = Settings(home=tmp_path)
        self.log = AuditStore(f"sqlite:///{tmp_path / 'audit.db'}")
        self.table = AuditFacts(Store(f"sqlite:///{tmp_path / 'hub.db'}").engine)
        key = SigningKey.generate()
        self.sink = AuditSink(self.settings, "unused:9092", store=self.log, key=lambda: key)
        self.drain = FactDrain(self.table, self.sink.mac)

    def write(self, *rows: Fact) -> None:
        self.table.write(rows, T0)

    def round(self) -> int:
        """One round of the sink's loop over the rows alone; returns how many it appended."""
        taken = self.drain.take(1000)
        result = self.sink.append_batch([], taken)
        self.drain.done(taken)
        return result.appended


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_a_fact_row_gives_the_log_the_very_records_the_topic_gave_it(
    rig: Rig, tmp_path: Path
) -> None:
    events = hand_off_events()
    rig.write(facts.fact_of(events, rig.sink.mac))
    assert rig.round() == 3
    # The same events as Avro records on hub.audit, into a second log at the same instant.
    other = AuditStore(f"sqlite:///{tmp_path / 'other.db'}")
    publisher = emit.AuditPublisher(REGISTRY, rig.sink.mac)
    sink = AuditSink(rig.settings, "unused:9092", store=other, key=SigningKey.generate)
    items: list = []
    for i, e in enumerate(events):
        value = publisher.encode(e)
        items.append((value, f"hub.audit/0@{i}", rig.sink.mac.tag(value)))
    sink.append_batch(items)
    mine, theirs = list(rig.log.records()), list(other.records())
    strip = ("recorded_at", "hash", "prev_hash")  # the instant each sink appended differs
    assert [{k: v for k, v in r.items() if k not in strip} for r in mine] == [
        {k: v for k, v in r.items() if k not in strip} for r in theirs
    ]
    assert [r["kind"] for r in mine] == ["submitted", "routed", "delivered"]
    signed = json.loads(mine[1]["signed"])
    assert signed["signature"] == events[1].signed.signature.hex()  # type: ignore[union-attr]


def test_a_row_without_a_valid_tag_is_quarantined_and_a_row_that_does_not_decode_is_kept(
    rig: Rig,
) -> None:
    genuine = facts.fact_of(hand_off_events(), rig.sink.mac)
    forged = Fact(genuine.events.replace(b"PSB@350582", b"PSB@350500"), genuine.tag)
    garbage = Fact(b"{not json", rig.sink.mac.tag(b"{not json"))
    rig.write(forged, garbage)
    assert rig.round() == 2
    records = list(rig.log.records())
    assert [r["kind"] for r in records] == [ev.QUARANTINED, ev.UNREADABLE]
    quarantined = json.loads(records[0]["facts"])
    assert quarantined["why"] == "no valid tag" and quarantined["source"].startswith("audit_facts#")
    assert "PSB@350500" not in json.dumps([dict(r) for r in records], default=str)
    # The genuine row still makes its events facts: the forgery took none of their ids.
    rig.write(genuine)
    assert rig.round() == 3
    assert rig.table.count() == 0


def test_rows_are_deleted_only_once_their_events_are_in_the_log_and_a_second_read_adds_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.write(facts.fact_of(hand_off_events(), rig.sink.mac))
    taken = rig.drain.take(1000)

    def down(*_a: object, **_k: object) -> None:
        raise ConnectionError("audit store away")

    monkeypatch.setattr(rig.log, "append", down)
    with pytest.raises(ConnectionError):
        rig.sink.append_batch([], taken)
    monkeypatch.undo()
    assert rig.table.count() == 1 and rig.log.count() == 0  # nothing lost
    # Appended, then the sink dies before it deletes the row: the row is read again.
    assert rig.sink.append_batch([], rig.drain.take(1000)).appended == 3
    assert rig.table.count() == 1
    again = rig.drain.take(1000)
    result = rig.sink.append_batch([], again)
    assert (result.appended, result.skipped) == (0, 3)
    rig.drain.done(again)
    assert rig.table.count() == 0 and rig.log.count() == 3


def test_rows_come_out_oldest_first_in_bounded_batches(rig: Rig) -> None:
    events = hand_off_events()
    for n in range(10):
        one = [AuditEvent(f"e{n}", ev.SUBMITTED, T0 + timedelta(seconds=n))]
        rig.write(facts.fact_of(one, rig.sink.mac))
    first = rig.drain.take(9)  # about three events a row: three rows
    assert [e.event_id for e in first.events] == ["e0", "e1", "e2"]
    rig.drain.done(first)
    assert rig.table.count() == 7
    assert facts.decode(facts.encode(events)) == events  # instants here are whole ms
