"""Benchmark: publishing fired SLA events (the outbox of ``hub.sla.publisher``) to a broker.

    .venv/bin/python -m bench.sla_publish --events 2000

Delivers ``--events`` clues into a SQLite ledger, lets the SLA clock fire one receipt warning
for each, then times ``SlaPublisher.publish_pending`` on the embedded Tansu broker: every event
to ``hub.sla-events``, a signed copy to each inbox concerned, its audit event, and the outbox
marked published.  Prints events/s.  Tests never run this and nothing asserts its timings.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.sla_timers import directory
from hub.audit.emit import AuditPublisher
from hub.audit.mac import AuditMac
from hub.core.config import Settings
from hub.lifecycle.ledger import Ledger
from hub.runtime.admin import ensure_topics
from hub.runtime.broker import EmbeddedBroker
from hub.runtime.kafka_clients import KafkaProducer
from hub.sla.clock import SlaClock
from hub.sla.publisher import SlaPublisher
from hub.storage.store import Store
from hub.trust.keys import SigningKey
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import core_topics, inbox_spec
from tests.lifecycle.test_ledger import T0, deliver

ROOT = Path(__file__).resolve().parent.parent


async def publish(bootstrap: str, publisher: SlaPublisher, now) -> tuple[int, float]:
    producer = KafkaProducer(bootstrap, Settings())
    await producer.start()
    try:
        started = time.perf_counter()
        n = await publisher.publish_pending(producer, now)
        return n, time.perf_counter() - started
    finally:
        await producer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=2000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    registry = SchemaRegistry.load(ROOT / "schemas" / "avro")
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        ledger = Ledger(Store(f"sqlite:///{Path(tmp) / 'hub.db'}").engine)
        d = directory()
        ensure_topics(broker.bootstrap, core_topics() + [inbox_spec(a.agency, a.region)
                                                        for a in d.addresses()])  # fmt: skip
        for i in range(args.events):
            deliver(ledger, f"m{i:07d}")
        now = T0 + timedelta(minutes=31)
        fired = len(SlaClock(ledger, lambda: d).tick(now).fired)
        audit = AuditPublisher(registry, AuditMac(b"bench" * 8))
        publisher = SlaPublisher(
            registry, ledger, lambda: d, SigningKey.generate, _exists, audit=audit,
            clock=lambda: now,
        )  # fmt: skip
        n, seconds = asyncio.run(publish(broker.bootstrap, publisher, now))
        left = len(ledger.unpublished(now + timedelta(hours=1), limit=args.events))
    print(
        f"{fired} SLA events fired; one publish_pending call published {n} in {seconds:.2f} s "
        f"({n / seconds:.0f} events/s); {left} left for later ticks"
    )


async def _exists(topic: str, agency: str, region: str) -> None:
    return None


if __name__ == "__main__":
    main()
