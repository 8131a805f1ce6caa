"""The SLA publisher's fencing, with an in-memory producer: leases from the current time, only
the lease holder marks an event published, and a copy with no route is retried, not lost."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.lifecycle.ledger import Ledger
from hub.runtime.ingress.producer import InMemoryProducer
from hub.sla.clock import SlaClock
from hub.sla.publisher import SlaPublisher
from hub.storage.store import Store
from hub.trust.keys import SigningKey
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import SLA_EVENTS
from tests.lifecycle.test_ledger import T0, deliver, directory

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = SchemaRegistry.load(ROOT / "schemas" / "avro")
KEY = SigningKey.generate()


async def _no_topic(topic: str, agency: str, region: str) -> None:
    return None


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(Store(f"sqlite:///{tmp_path / 'hub.db'}").engine)


def one_event(ledger: Ledger, where: list[str]) -> datetime:
    deliver(ledger, "m1")
    now = T0 + timedelta(minutes=31)
    SlaClock(ledger, lambda: directory(*where)).tick(now)
    return now


def publisher(ledger: Ledger, where: list[str], clock: list[datetime]) -> SlaPublisher:
    return SlaPublisher(
        REGISTRY, ledger, lambda: directory(*where), lambda: KEY, _no_topic, lease_s=30,
        clock=lambda: clock[0],
    )  # fmt: skip


def test_a_lease_runs_from_when_it_is_taken_not_from_the_tick(ledger: Ledger) -> None:
    where = ["MIB@350582", "PSB@350582", "HUB@100000"]
    tick = one_event(ledger, where)
    late = [tick + timedelta(seconds=25)]  # a long tick: this event is reached 25 s in
    pub = publisher(ledger, where, late)
    producer = InMemoryProducer()
    ledger.mark_published_many = lambda *a, **k: set()  # type: ignore[method-assign]  # never done
    asyncio.run(pub.publish_pending(producer, tick))
    # Leased at tick + 25 s for 30 s: still held at tick + 50 s, free at tick + 56 s.
    assert ledger.unpublished(tick + timedelta(seconds=50)) == []
    assert len(ledger.unpublished(tick + timedelta(seconds=56))) == 1


def test_only_the_lease_holder_marks_an_event_published(ledger: Ledger) -> None:
    tick = one_event(ledger, ["MIB@350582", "PSB@350582", "HUB@100000"])
    [ev] = ledger.unpublished(tick)
    assert ledger.lease(ev.event_id, tick, 30, owner="worker-a")
    # worker-a stalls past its lease; worker-b takes the event over.
    assert ledger.lease(ev.event_id, tick + timedelta(seconds=31), 30, owner="worker-b")
    assert not ledger.mark_published(ev.event_id, tick + timedelta(seconds=40), owner="worker-a")
    assert ledger.unpublished(tick + timedelta(seconds=62)) != []
    assert ledger.mark_published(ev.event_id, tick + timedelta(seconds=41), owner="worker-b")
    assert ledger.unpublished(tick + timedelta(hours=1)) == []


def test_an_event_whose_recipient_has_no_route_is_retried_not_lost(ledger: Ledger) -> None:
    # The creditor MIB@350582 has no connector at all yet (nor any level above it).
    where = ["PSB@350582", "HUB@100000"]
    tick = one_event(ledger, where)
    clock = [tick]
    producer = InMemoryProducer()
    assert asyncio.run(publisher(ledger, where, clock).publish_pending(producer, tick)) == 0
    assert len(producer.on(SLA_EVENTS.name)) == 1
    # The connector registers; once the lease has run out the event is published and marked.
    where.append("MIB@350582")
    later = tick + timedelta(seconds=31)
    clock[0] = later
    assert asyncio.run(publisher(ledger, where, clock).publish_pending(producer, later)) == 1
    assert producer.on("hub.inbox.MIB.350582")
    assert ledger.unpublished(later + timedelta(hours=1)) == []


def test_a_tick_publishes_its_events_a_batch_at_a_time_audit_after_the_records(
    ledger: Ledger,
) -> None:
    from hub.audit.emit import AuditPublisher
    from hub.audit.mac import AuditMac
    from hub.wire.topics import AUDIT

    where = ["MIB@350582", "PSB@350582", "HUB@100000"]
    for mid in ("m1", "m2", "m3"):
        deliver(ledger, mid)
    tick = T0 + timedelta(minutes=31)
    SlaClock(ledger, lambda: directory(*where)).tick(tick)
    assert len(ledger.unpublished(tick)) == 3
    pub = SlaPublisher(
        REGISTRY, ledger, lambda: directory(*where), lambda: KEY, _no_topic, batch=2,
        audit=AuditPublisher(REGISTRY, AuditMac(b"k" * 32)), clock=lambda: tick,
    )  # fmt: skip
    leases: list[int] = []
    real = ledger.lease_many

    def counting(ids, *args, **kwargs):  # type: ignore[no-untyped-def]
        leases.append(len(ids))
        return real(ids, *args, **kwargs)

    ledger.lease_many = counting  # type: ignore[method-assign]
    producer = InMemoryProducer()
    assert asyncio.run(pub.publish_pending(producer, tick)) == 3
    assert leases == [2, 1]  # one transaction per batch, not one per event
    assert ledger.unpublished(tick + timedelta(hours=1)) == []
    topics = producer.topics()
    # Within each batch, every record is written before any of its audit events.
    first_batch = topics[: topics.index(AUDIT.name) + 2]
    assert first_batch[-2:] == [AUDIT.name, AUDIT.name]
    assert AUDIT.name not in first_batch[:-2] and len(producer.on(SLA_EVENTS.name)) == 3


def test_the_clock_file_is_a_test_setting(tmp_path: Path) -> None:
    from hub.core.clock import clock_from_settings
    from hub.core.config import Settings
    from hub.core.errors import ConfigError

    with pytest.raises(ConfigError, match="allow_clock_file"):
        clock_from_settings(Settings(home=tmp_path, clock_file=str(tmp_path / "clock")))
    (tmp_path / "clock").write_text("3600\n")
    clock = clock_from_settings(
        Settings(home=tmp_path, clock_file=str(tmp_path / "clock"), allow_clock_file=True)
    )
    assert clock() > datetime.now(UTC) + timedelta(minutes=59)


def test_every_command_on_a_home_follows_the_clock_its_hub_recorded(tmp_path: Path) -> None:
    from hub.core.clock import clock_from_settings, record_home_clock
    from hub.core.config import Settings

    moved = tmp_path / "clock-offset"
    moved.write_text(str(11 * 86400))
    hub = Settings(home=tmp_path, clock_file=str(moved), allow_clock_file=True)
    record_home_clock(hub)  # `hub run` does this as it starts
    # The console, `hub status` or a report on the same home, started without HUB_CLOCK_FILE:
    console = clock_from_settings(Settings(home=tmp_path))
    assert console() > datetime.now(UTC) + timedelta(days=10, hours=23)
    moved.write_text(str(12 * 86400))  # the hub's clock moves on; so does everyone's
    assert console() > datetime.now(UTC) + timedelta(days=11, hours=23)
    # A command naming a clock of its own keeps it; a hub started on the wall clock clears it.
    own = clock_from_settings(Settings(home=tmp_path, clock_offset_s=-3600))
    assert own() < datetime.now(UTC)
    record_home_clock(Settings(home=tmp_path))
    assert (
        abs((clock_from_settings(Settings(home=tmp_path))() - datetime.now(UTC)).total_seconds())
        < 5
    )
