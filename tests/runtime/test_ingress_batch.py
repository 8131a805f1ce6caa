"""The batched ingress path: the same outcomes as one record at a time, at a fraction of the waits.

Uses the rig of ``test_ingress_pipeline`` (an in-memory producer, a SQLite store).  The rules
under test: every record of a batch gets exactly one outcome, the same as the single path gives
it; writes are acknowledged before the store records the batch, and the store records it
together with its audit facts, one row per record; a record that depends on one ahead of it in
the batch sees it; a failure anywhere repeats or splits the work and never leaves a record
without an outcome.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.core.clock import now_utc
from hub.runtime.ingress.batch import BatchPipeline
from hub.runtime.ingress.pipeline import DEAD_LETTERED, DELIVERED, DUPLICATE, Outcome
from hub.runtime.ingress.record import IngressRecord
from hub.wire.topics import AUDIT, DEAD_LETTER, inbox_topic
from tests.runtime.test_ingress_pipeline import Rig


def run_batch(rig: Rig, records: Sequence[IngressRecord]) -> list[Outcome]:
    return asyncio.run(BatchPipeline(rig.pipeline).process(records))


def receipt_for(rig: Rig, mid: str) -> tuple[str, bytes]:
    return rig.message(
        "receipt",
        sender="PSB@350582",
        to="MIB@350582",
        payload={"received_at": now_utc(), "received_by": "经侦大队", "note": None},
        correlation_id=mid,
    )


def test_every_record_of_a_batch_gets_one_outcome_in_order(rig: Rig) -> None:
    a, raw_a = rig.message()
    b, raw_b = rig.message(to="HEALTH@350582")
    _, policy = rig.message(sender="HEALTH@350582", to="PSB@350582")
    records = [rig.record(raw_a), rig.record(b"\x00junk"), rig.record(raw_b), rig.record(policy)]
    outcomes = run_batch(rig, records)
    assert [(o.kind, o.reason) for o in outcomes] == [
        (DELIVERED, None),
        (DEAD_LETTERED, "undecodable"),
        (DELIVERED, None),
        (DEAD_LETTERED, "policy_violation"),
    ]
    assert rig.delivered(a) and rig.delivered(b)
    assert rig.services.ledger.entry(a)["state"] == "DELIVERED"
    assert len(rig.services.ledger.obligations_of(a)) > 0
    for o in outcomes[1::2]:
        assert rig.services.store.dead_letter(o.dead_letter_id) is not None
    assert len(rig.producer.on(DEAD_LETTER.name)) == 2
    assert rig.producer.on(inbox_topic("PSB", "350582"))[0].value == raw_a


def test_a_batch_gives_the_same_outcomes_and_audit_events_as_the_single_path(
    tmp_path: Path,
) -> None:
    single = Rig(tmp_path / "one")
    # The same keys and secrets (so the same event ids), an empty store of its own.
    shutil.copytree(tmp_path / "one", tmp_path / "many")
    batched = Rig(tmp_path / "many")
    mids_raws = [single.message(), single.message(to="PSB@350521"), single.message()]
    raws = [raw for _, raw in mids_raws] + [mids_raws[0][1], b"junk"]
    arrived = int(time.time() * 1000)
    one = [
        single.handle(single.record(raw, offset=i, timestamp_ms=arrived))
        for i, raw in enumerate(raws)
    ]
    many = run_batch(
        batched, [batched.record(raw, offset=i, timestamp_ms=arrived) for i, raw in enumerate(raws)]
    )
    assert [o.kind for o in many] == [o.kind for o in one] == [
        DELIVERED, DELIVERED, DELIVERED, DUPLICATE, DEAD_LETTERED,
    ]  # fmt: skip
    assert [o.reason for o in many] == [o.reason for o in one]
    assert sorted(e.event_id for o in many for e in o.events) == sorted(
        e.event_id for o in one for e in o.events
    )


def test_every_write_is_acknowledged_before_the_store_records_the_batch_with_its_audit_facts(
    rig: Rig,
) -> None:
    mids = []
    records = []
    for _ in range(3):
        mid, raw = rig.message()
        mids.append(mid)
        records.append(rig.record(raw))
    records.append(rig.record(b"junk"))
    written_before_the_store: list[set[str]] = []
    recorder = rig.pipeline.recorder
    real = recorder.record_batch

    def spy(*args: Any) -> Any:
        written_before_the_store.append(set(rig.producer.topics()))
        return real(*args)

    recorder.record_batch = spy  # type: ignore[method-assign]
    run_batch(rig, records)
    assert written_before_the_store == [{inbox_topic("PSB", "350582"), DEAD_LETTER.name}]
    assert all(rig.delivered(m) for m in mids)
    assert len(rig.fact_rows()) == 4  # one fact record per ingress record
    assert AUDIT.name not in rig.producer.topics()  # none of it through the broker


def test_a_batch_whose_facts_cannot_be_written_records_none_of_its_outcomes_until_they_can(
    rig: Rig, no_wait: list[float]
) -> None:
    messages = [rig.message() for _ in range(3)]
    facts_table = rig.pipeline.recorder.facts
    real = facts_table.write
    seen: list[bool] = []

    def flaky(*args: Any, **kwargs: Any) -> None:
        # Another connection sees what is committed: nothing of the batch, on either attempt.
        seen.append(any(rig.delivered(m) for m, _ in messages))
        if len(seen) == 1:
            raise ConnectionError("store down for the audit facts")
        real(*args, **kwargs)

    facts_table.write = flaky  # type: ignore[method-assign]
    outcomes = run_batch(rig, [rig.record(raw) for _, raw in messages])
    assert [o.kind for o in outcomes] == [DELIVERED] * 3
    assert seen == [False, False] and no_wait == [0.2]
    assert all(rig.delivered(m) for m, _ in messages)
    assert rig.audit_kinds().count("delivered") == 3


def test_a_receipt_right_behind_its_original_in_one_batch_moves_the_ledger(rig: Rig) -> None:
    mid, raw = rig.message()
    _, receipt = receipt_for(rig, mid)
    outcomes = run_batch(rig, [rig.record(raw), rig.record(receipt)])
    assert [o.kind for o in outcomes] == [DELIVERED, DELIVERED]
    assert rig.services.ledger.entry(mid)["state"] == "RECEIVED"
    assert "receipt" in rig.audit_kinds()


def test_a_repeat_inside_one_batch_is_recognised_and_a_hijack_is_a_conflict(rig: Rig) -> None:
    mid, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    _, hijack = rig.message(
        "corruption_clue_handoff", sender="HEALTH@350582", to="CDI@350582", message_id=mid
    )
    outcomes = run_batch(rig, [rig.record(raw), rig.record(raw), rig.record(hijack)])
    assert [(o.kind, o.reason) for o in outcomes] == [
        (DELIVERED, None),
        (DUPLICATE, None),
        (DEAD_LETTERED, "id_conflict"),
    ]
    assert len(rig.producer.on("hub.inbox.CDI")) == 1
    assert rig.services.store.delivery(mid).sender == "MIB@350582"


def test_a_broker_failure_repeats_the_batch_and_completes_each_record_once(
    rig: Rig, no_wait: list[float]
) -> None:
    messages = [rig.message() for _ in range(4)]
    rig.producer.fail("hub.inbox.", ConnectionError("broker gone"), times=2)
    outcomes = run_batch(rig, [rig.record(raw) for _, raw in messages])
    assert [o.kind for o in outcomes] == [DELIVERED] * 4
    assert no_wait == [0.2]  # one repeat of the whole segment
    assert all(rig.delivered(m) for m, _ in messages)
    ids = [e["event_id"] for e in rig.audit_events()]
    assert len(ids) == len(set(ids)) == 4 * 3  # audit facts stored once, with the good attempt


def test_a_database_failure_after_the_writes_repeats_the_batch(
    rig: Rig, no_wait: list[float]
) -> None:
    from sqlalchemy.exc import OperationalError

    messages = [rig.message() for _ in range(3)]
    recorder = rig.pipeline.recorder
    real = recorder.record_batch
    calls = [0]

    def flaky(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*args)

    recorder.record_batch = flaky  # type: ignore[method-assign]
    outcomes = run_batch(rig, [rig.record(raw) for _, raw in messages])
    assert [o.kind for o in outcomes] == [DELIVERED] * 3
    assert calls[0] == 2 and no_wait == [0.2]
    assert rig.audit_kinds().count("delivered") == 3


def test_a_lasting_failure_in_a_batch_dead_letters_only_the_record_at_fault(rig: Rig) -> None:
    good1, raw1 = rig.message()
    bad, raw_bad = rig.message()
    good2, raw2 = rig.message()
    recorder = rig.pipeline.recorder
    real = recorder._original

    def broken(d: Any, *args: Any) -> Any:
        # e.g. an SLA rule that cannot plan this payload: the batch's transaction rolls back
        if d.envelope.message_id == bad:
            raise RuntimeError("a bug that only this record meets")
        return real(d, *args)

    recorder._original = broken  # type: ignore[method-assign]
    outcomes = run_batch(rig, [rig.record(raw1), rig.record(raw_bad), rig.record(raw2)])
    assert [(o.kind, o.reason) for o in outcomes] == [
        (DELIVERED, None),
        (DEAD_LETTERED, "router_error"),
        (DELIVERED, None),
    ]
    assert rig.delivered(good1) and rig.delivered(good2) and not rig.delivered(bad)


def test_a_record_whose_decision_needs_the_store_while_it_is_down_still_gets_an_outcome(
    rig: Rig, no_wait: list[float]
) -> None:
    from hub.wire import headers

    _, raw = rig.message()
    replay = rig.record(b"junk", headers=((headers.REPLAY_OF, b"dl-0123456789abcdef0123"),))
    recorder = rig.pipeline.recorder
    real = recorder.first_seen
    left = [1]

    def down(*args: Any) -> Any:
        if left[0]:
            left[0] -= 1
            raise ConnectionError("store gone")
        return real(*args)

    recorder.first_seen = down  # type: ignore[method-assign]
    outcomes = run_batch(rig, [rig.record(raw), replay])
    assert [o.kind for o in outcomes] == [DELIVERED, DEAD_LETTERED]


def test_a_hijacked_id_in_a_batch_records_nothing_and_is_kept_for_no_redelivery(rig: Rig) -> None:
    from hub.storage.redelivery import Redeliveries

    mid, raw = rig.message("corruption_clue_handoff", to="CDI@350582")
    run_batch(rig, [rig.record(raw)])
    _, receipt = rig.message(
        "receipt",
        sender="CDI@350582",
        to="MIB@350582",
        payload={"received_at": now_utc(), "received_by": "信访室", "note": None},
        correlation_id=mid,
    )
    run_batch(rig, [rig.record(receipt)])  # the original is received: its redelivery copy goes
    kept = Redeliveries(rig.services.store.engine)
    before = kept.ids()
    assert mid not in before
    _, hijack = rig.message(
        "corruption_clue_handoff", sender="HEALTH@350582", to="CDI@350582", message_id=mid
    )
    [outcome] = run_batch(rig, [rig.record(hijack)])
    assert (outcome.kind, outcome.reason) == (DEAD_LETTERED, "id_conflict")
    assert kept.ids() == before  # the hijacker's bytes are not waiting to be re-published
    assert rig.services.store.delivery(mid).sender == "MIB@350582"


def test_in_a_batch_no_record_is_submitted_later_than_it_was_routed_or_delivered(rig: Rig) -> None:
    """The trail reads in causal order: the submitted record once showed 11:47:59 beside a routed
    record of 11:47:58 for the same message."""
    _, raw = rig.message()
    [outcome] = run_batch(rig, [rig.record(raw)])
    times = {e.kind: e.occurred_at for e in outcome.events}
    assert times["submitted"] <= times["routed"] <= times["delivered"], times
