"""The ledger and the SLA clock on SQLite and PostgreSQL: idempotent, each event fired once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.lifecycle.ledger import Ledger
from hub.lifecycle.rows import Original
from hub.lifecycle.states import State, fulfils
from hub.sla.clock import SlaClock, plan_obligations
from hub.sla.policy import load_sla_policy
from hub.sla.workdays import default_calendar
from hub.storage.store import DeliveryRow, Store
from hub.trust.address import Address
from hub.trust.directory import Directory
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS

SHORT = load_sla_policy(Path(__file__).parents[1] / "data" / "sla-short.yaml")
T0 = datetime(2025, 9, 29, 2, 0, tzinfo=UTC)
GRACE = timedelta(minutes=30)


def directory(*addresses: str) -> Directory:
    d = Directory()
    for a in addresses:
        d = d.with_key(Address.parse(a), SigningKey.generate())
    return d


DIRECTORY = directory("MIB@350582", "PSB@350582", "PSB@350500", "HUB@100000")


def delivery(
    mid: str, family: str = "clue_transfer", *, conv: str | None = None, **kw
) -> DeliveryRow:
    values = {
        "message_id": mid,
        "conversation_id": conv or mid,
        "family": family,
        "sender": "MIB@350582",
        "recipient": "PSB@350582",
        "routed_to": "PSB@350582",
        "fallback": False,
        "created_at": T0,
        "routed_at": T0,
        **kw,
    }
    return DeliveryRow(**values)


def deliver(ledger: Ledger, mid: str, *, risk: str | None = None, requested=None) -> bool:
    d = delivery(mid)
    planned = plan_obligations(
        SHORT,
        default_calendar(),
        message_id=mid,
        family=d.family,
        sender=d.sender,
        debtor=d.routed_to,
        payload={"risk_level": risk, "requested_deadline": requested},
        delivered_at=T0,
        escalation_grace=GRACE,
    )
    return ledger.record_original(Original(d, T0, risk), planned)


def reply(ledger: Ledger, rid: str, conv: str, family: str, state: State, at: datetime, p=None):
    d = delivery(
        rid, family, conv=conv, sender="PSB@350582", recipient="MIB@350582", routed_to="MIB@350582"
    )
    return ledger.apply_reply(d, new_state=state, at=at, fulfils=fulfils(family, p or {}))


@pytest.fixture
def ledger(db_url: str) -> Ledger:
    store = Store(db_url)
    yield Ledger(store.engine)
    store.close()


def test_delivery_opens_obligations_once(ledger: Ledger) -> None:
    assert deliver(ledger, "m1")
    assert not deliver(ledger, "m1")  # redelivery after a crash changes nothing
    obs = {o.stage: o for o in ledger.obligations_of("m1")}
    assert set(obs) == {"receipt", "acceptance", "result"}
    assert obs["receipt"].due_at == T0 + timedelta(hours=1)
    assert obs["receipt"].warn_at == T0 + timedelta(minutes=30)
    assert obs["receipt"].escalate_at == T0 + timedelta(hours=1) + GRACE
    assert obs["receipt"].debtor == "PSB@350582" and obs["receipt"].creditor == "MIB@350582"
    assert ledger.conversation("m1").state is State.DELIVERED


def test_a_requested_deadline_replaces_the_result_deadline(ledger: Ledger) -> None:
    deliver(ledger, "m1", requested=date(2025, 10, 9))
    result = next(o for o in ledger.obligations_of("m1") if o.stage == "result")
    assert result.due_at == datetime(2025, 10, 9, 16, 0, tzinfo=UTC)  # 24:00 Beijing


def test_replies_are_applied_once_and_fulfil_their_obligations(ledger: Ledger) -> None:
    deliver(ledger, "m1")
    at = T0 + timedelta(minutes=10)
    assert reply(ledger, "r1", "m1", "receipt", State.RECEIVED, at)
    assert not reply(ledger, "r1", "m1", "receipt", State.RECEIVED, at + timedelta(hours=1))
    assert ledger.reply_applied("r1")
    entry = ledger.entry("m1")
    assert entry["state"] == "RECEIVED" and entry["received_at"] == at
    obs = {o.stage: o for o in ledger.obligations_of("m1")}
    assert obs["receipt"].fulfilled_at == at
    assert obs["acceptance"].fulfilled_at is None
    reply(ledger, "r2", "m1", "acceptance", State.RETURNED, at, {"decision": "RETURNED"})
    assert all(o.fulfilled_at == at for o in ledger.obligations_of("m1"))


def test_the_oldest_unreceived_original_is_known_per_recipient_and_its_due_date_too(
    ledger: Ledger,
) -> None:
    deliver(ledger, "m1")
    deliver(ledger, "m2")
    assert ledger.oldest_unreceived() == [("PSB@350582", T0)]
    assert ledger.due_at("m1", "receipt") is not None
    assert ledger.due_at("m1", "no-such-stage") is None
    for n, mid in enumerate(("m1", "m2")):
        reply(ledger, f"r{n}", mid, "receipt", State.RECEIVED, T0 + timedelta(minutes=5))
    assert ledger.oldest_unreceived() == []


def test_a_receipt_in_time_means_no_warning(ledger: Ledger) -> None:
    deliver(ledger, "m1")
    reply(ledger, "r1", "m1", "receipt", State.RECEIVED, T0 + timedelta(minutes=5))
    clock = SlaClock(ledger, lambda: DIRECTORY)
    report = clock.tick(T0 + timedelta(minutes=50))
    assert report.fired == []


def test_no_receipt_warning_then_breach_then_escalation_each_once(ledger: Ledger) -> None:
    deliver(ledger, "m1")
    clock = SlaClock(ledger, lambda: DIRECTORY)
    assert clock.tick(T0 + timedelta(minutes=29)).fired == []
    first = clock.tick(T0 + timedelta(minutes=31)).fired
    assert [(e.kind, e.stage) for e in first] == [("WARNING", "receipt")]
    assert clock.tick(T0 + timedelta(minutes=40)).fired == []
    second = clock.tick(T0 + timedelta(minutes=61)).fired
    assert [(e.kind, e.stage) for e in second] == [("WARNING", "acceptance"), ("BREACH", "receipt")]
    third = clock.tick(T0 + timedelta(minutes=91)).fired
    escalation = [e for e in third if e.kind == "ESCALATION"]
    assert [(e.stage, e.escalated_to) for e in escalation] == [
        ("receipt", ["PSB@350500", str(OPERATORS)])  # the city bureau of the same agency
    ]
    kinds = [(e.kind, e.stage) for e in ledger.events("m1")]
    assert kinds.count(("WARNING", "receipt")) == 1
    assert kinds.count(("BREACH", "receipt")) == 1
    assert kinds.count(("ESCALATION", "receipt")) == 1


def test_the_next_instant_is_the_earliest_deadline_still_waiting(ledger: Ledger) -> None:
    assert ledger.next_instant() is None
    deliver(ledger, "m1")
    clock = SlaClock(ledger, lambda: DIRECTORY)
    first = ledger.next_instant()
    assert first is not None and first > T0
    assert clock.tick(first - timedelta(seconds=1)).fired == []
    assert clock.tick(first).fired != []  # what was waiting for that instant fires at it
    later = ledger.next_instant()
    assert later is not None and later > first
    clock.tick(T0 + timedelta(days=400))  # everything fired: nothing waits any more
    assert ledger.next_instant() is None


def test_late_discovery_still_fires_in_order(ledger: Ledger) -> None:
    deliver(ledger, "m1")
    fired = SlaClock(ledger, lambda: DIRECTORY).tick(T0 + timedelta(hours=2)).fired
    receipt = [e.kind for e in fired if e.stage == "receipt"]
    assert receipt == ["WARNING", "BREACH", "ESCALATION"]


def test_a_high_risk_clue_overdue_is_flagged_for_flight_inspection(ledger: Ledger) -> None:
    deliver(ledger, "m1", risk="HIGH")
    deliver(ledger, "m2", risk="LOW")
    fired = SlaClock(ledger, lambda: DIRECTORY).tick(T0 + timedelta(hours=4, minutes=1)).fired
    flagged = [(e.message_id, e.escalated_to) for e in fired if e.kind == "FLIGHT_INSPECTION"]
    assert flagged == [("m1", [str(OPERATORS)])]


def test_a_restarted_clock_does_not_fire_again(ledger: Ledger, db_url: str) -> None:
    deliver(ledger, "m1")
    SlaClock(ledger, lambda: DIRECTORY).tick(T0 + timedelta(minutes=31))
    # "Restart": a new engine and clock on the same database.
    store = Store(db_url)
    restarted = SlaClock(Ledger(store.engine), lambda: DIRECTORY)
    fired = restarted.tick(T0 + timedelta(minutes=61)).fired
    assert [(e.kind, e.stage) for e in fired if e.stage == "receipt"] == [("BREACH", "receipt")]
    assert [e.kind for e in ledger.events("m1") if e.stage == "receipt"] == ["WARNING", "BREACH"]
    store.close()


def test_two_clocks_racing_fire_each_event_once(ledger: Ledger, db_url: str) -> None:
    for i in range(40):
        deliver(ledger, f"m{i}")
    stores = [Store(db_url) for _ in range(2)]
    clocks = [SlaClock(Ledger(s.engine), lambda: DIRECTORY, batch=7) for s in stores]
    now = T0 + timedelta(hours=5)
    reports = []
    barrier = threading.Barrier(2)

    def run(clock: SlaClock) -> None:
        barrier.wait()
        reports.append(clock.tick(now))

    threads = [threading.Thread(target=run, args=(c,)) for c in clocks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fired = [e.event_id for r in reports for e in r.fired]
    assert len(fired) == len(set(fired))
    # 40 messages x 3 stages x (warning, breach, escalation)
    assert len(fired) == 40 * 3 * 3
    assert len(ledger.events()) == 40 * 3 * 3
    for s in stores:
        s.close()


def test_due_obligations_are_read_through_an_index(ledger: Ledger) -> None:
    deliver(ledger, "m1")
    with ledger.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT * FROM obligations WHERE fulfilled_at IS NULL "
                    "AND breached_at IS NULL AND due_at <= '2030-01-01' ORDER BY due_at LIMIT 10"
                )
            ).all()
            detail = " ".join(str(r[-1]) for r in plan)
        else:
            conn.execute(text("SET enable_seqscan = off"))  # tiny table: force the planner's hand
            plan = conn.execute(
                text(
                    "EXPLAIN SELECT * FROM obligations WHERE fulfilled_at IS NULL "
                    "AND breached_at IS NULL AND due_at <= '2030-01-01' ORDER BY due_at LIMIT 10"
                )
            ).all()
            detail = " ".join(r[0] for r in plan)
    assert "ix_obligations_due" in detail, detail


def test_events_are_published_under_a_lease(ledger: Ledger) -> None:
    deliver(ledger, "m1")
    SlaClock(ledger, lambda: DIRECTORY).tick(T0 + timedelta(minutes=31))
    now = T0 + timedelta(minutes=31)
    [ev] = ledger.unpublished(now)
    assert ledger.lease(ev.event_id, now)
    assert not ledger.lease(ev.event_id, now)  # a second worker does not publish it too
    assert ledger.unpublished(now) == []
    # A worker that died holding the lease: after it expires, another publishes.
    assert [e.event_id for e in ledger.unpublished(now + timedelta(minutes=1))] == [ev.event_id]
    ledger.mark_published(ev.event_id, now)
    assert ledger.unpublished(now + timedelta(hours=1)) == []


def test_the_board_counts_per_pair_and_family(ledger: Ledger) -> None:
    deliver(ledger, "m1")
    deliver(ledger, "m2")
    reply(ledger, "r1", "m1", "receipt", State.RECEIVED, T0 + timedelta(minutes=20))
    SlaClock(ledger, lambda: DIRECTORY).tick(T0 + timedelta(minutes=61))
    [row] = ledger.board(T0 + timedelta(minutes=61))
    assert (row["sender"], row["recipient"], row["family"]) == (
        "MIB@350582",
        "PSB@350582",
        "clue_transfer",
    )
    assert row["messages"] == 2 and row["open"] == 2
    assert row["overdue"] == 1  # m2's receipt
    assert row["due_within_24h"] == 4  # both acceptances and results
    assert row["breached"] == 1
    assert row["median_time_to_receipt_s"] == 1200
    counts = {(d, f, s): n for d, f, s, n in ledger.open_obligation_counts()}
    assert counts[("PSB@350582", "clue_transfer", "receipt")] == 1


def test_the_board_totals_follow_the_ledger_without_reading_it_whole(ledger: Ledger) -> None:
    from sqlalchemy import event

    for mid in ("m1", "m2", "m3"):
        deliver(ledger, mid)
    assert not deliver(ledger, "m1")  # a redelivery is not counted twice
    reply(ledger, "r1", "m1", "receipt", State.RECEIVED, T0 + timedelta(minutes=5))
    reply(ledger, "r2", "m2", "closure", State.CLOSED, T0 + timedelta(minutes=6))
    reply(ledger, "r2", "m2", "closure", State.CLOSED, T0 + timedelta(minutes=7))  # repeat
    statements: list[str] = []
    event.listen(
        ledger.engine, "before_cursor_execute", lambda c, cur, stmt, *a: statements.append(stmt)
    )
    [row] = ledger.board(T0 + timedelta(minutes=10))
    assert (row["messages"], row["open"]) == (3, 2)
    assert row["median_time_to_receipt_s"] == 300
    # Every query of the ledger table is narrowed by an indexed condition.
    on_ledger = [s for s in statements if "FROM ledger" in s]
    assert on_ledger and all("WHERE ledger.received_at >=" in s for s in on_ledger)


def test_a_ledger_from_before_the_totals_is_counted_once_at_start(ledger: Ledger) -> None:
    from hub.lifecycle.board import backfill_totals
    from hub.lifecycle.tables import board_totals

    for mid in ("m1", "m2"):
        deliver(ledger, mid)
    reply(ledger, "r1", "m1", "closure", State.CLOSED, T0 + timedelta(minutes=5))
    with ledger.engine.begin() as conn:  # as an older hub left it
        conn.execute(board_totals.delete())
    assert ledger.board(T0)[0]["messages"] == 0
    backfill_totals(ledger.engine)
    backfill_totals(ledger.engine)  # only once
    [row] = ledger.board(T0 + timedelta(minutes=10))
    assert (row["messages"], row["open"]) == (2, 1)
