"""The worker's periodic jobs: the SLA clock, and recording newly registered keys.

Both run on every worker; the database decides which worker fires each SLA event and the audit
sink drops repeated key records, so two workers never double an effect.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from hub.audit import emit
from hub.lifecycle.rows import SlaEventRow
from hub.runtime import metrics
from hub.runtime.ingress.inbox import EnsureInbox, publish
from hub.runtime.ingress.producer import Producer
from hub.runtime.ingress.recorder import Epochs
from hub.runtime.services import HubServices
from hub.sla.clock import SlaClock
from hub.sla.publisher import SlaPublisher
from hub.sla.weekly import duties, week_of
from hub.storage.chunks import ChunkStore
from hub.storage.redelivery import Redeliveries
from hub.storage.store import Pruned
from hub.trust.address import Address
from hub.trust.directory import load_signing_key
from hub.trust.keys import SigningKey
from hub.trust.operators import OPERATORS

log = logging.getLogger("hub.run")


def count_sla_event(ev: SlaEventRow) -> None:
    metrics.SLA_COUNTERS[ev.kind].labels(ev.family, ev.stage, ev.debtor.partition("@")[0]).inc()


class SlaTicker:
    """One tick: fire what is due (claims in the database), then publish what was fired."""

    def __init__(
        self, services: HubServices, producer: Producer, ensure_inbox: EnsureInbox
    ) -> None:
        self.services = services
        self.producer = producer
        self._key: SigningKey | None = None
        directory = services.directory
        self.clock = SlaClock(services.ledger, lambda: directory.current, on_fired=count_sla_event)
        self.duties = WeeklyDuties(services)
        self.publisher = SlaPublisher(
            services.registry,
            services.ledger,
            lambda: directory.current,
            self.operators_key,
            ensure_inbox,
            audit=emit.AuditPublisher(services.registry, services.audit_mac),
            clock=services.clock,
        )

    def operators_key(self) -> SigningKey:
        # Loaded when first needed: `hub run` creates the operators' key before the worker starts.
        if self._key is None:
            s = self.services
            self._key = load_signing_key(s.settings.keys_dir, OPERATORS, s.directory.current)
        return self._key

    async def tick(self) -> float | None:
        """Fire and publish what is due; returns the seconds until the next deadline (the job
        runs again then, when sooner than ``sla_tick_s``: a breach is not a tick late), or
        None when nothing waits."""
        now = self.services.clock()
        await asyncio.to_thread(self.duties.open, now)
        await asyncio.to_thread(self.clock.tick, now)
        await self.publisher.publish_pending(self.producer, now)
        upcoming = await asyncio.to_thread(self.services.ledger.next_instant)
        if upcoming is None:
            return None
        return (upcoming - self.services.clock()).total_seconds()


class WeeklyDuties:
    """Opens, once per week and directory, every bureau's weekly report duty (hub.sla.weekly)
    for the week under way: a week already over when the hub first ran is asked of no one."""

    def __init__(self, services: HubServices) -> None:
        self.services = services
        self._opened: set[tuple[str, frozenset[Address]]] = set()

    def open(self, now: datetime) -> int:
        s = self.services
        week = week_of(now)
        addresses = frozenset(s.directory.current.connectors)
        if (week, addresses) in self._opened:
            return 0
        found = duties(set(addresses), week, s.calendar, s.escalation_grace)
        rows = [(d.original(), [d.obligation]) for d in found]
        if rows:
            with s.ledger.engine.begin() as conn:
                s.ledger.record_originals(conn, rows)
            log.info("weekly report duties of %s: %d bureaus report upward", week, len(rows))
        self._opened.add((week, addresses))
        return len(rows)


class KeyRecorder:
    """Puts every key in the directory into the audit log once (the sink drops repeats)."""

    def __init__(self, services: HubServices, producer: Producer) -> None:
        self.services = services
        self.producer = producer
        self.publisher = emit.AuditPublisher(services.registry, services.audit_mac)
        self._recorded: set[str] = set()

    async def __call__(self) -> int:
        s = self.services
        new = [
            emit.key_registered(str(c.address), k.key_id, k.public_key, k.created_at, s.clock())
            for c in s.directory.current.connectors.values()
            for k in c.keys
            if k.key_id not in self._recorded
        ]
        if new:
            await self.publisher.publish(self.producer, new)
            self._recorded.update(e.facts["key_id"] for e in new)
        return len(new)


class InboxTopics:
    """Creates a connector's inbox and documents topics before the first record written to either,
    once per worker (called with the inbox's name)."""

    def __init__(self, bootstrap: str, services: HubServices) -> None:
        self.bootstrap = bootstrap
        self.settings = services.settings
        self._ready: set[str] = set()

    async def __call__(self, topic: str, agency: str, region: str) -> None:
        if topic in self._ready:
            return
        from hub.runtime.admin import ensure_topics
        from hub.wire.topics import connector_topics

        await asyncio.to_thread(
            ensure_topics,
            self.bootstrap,
            connector_topics(agency, region, self.settings.docs_retention_ms),
            security=self.settings.kafka_python_security(),
            replication=self.settings.topic_replication,
        )
        self._ready.add(topic)


class Pruner:
    """Deletes dead letters past their retention, delivered ids past the de-dup window and chunk
    rows past the documents topics' retention."""

    def __init__(self, services: HubServices) -> None:
        self.services = services

    async def __call__(self) -> Pruned:
        s, now = self.services.settings, self.services.clock()
        pruned = await asyncio.to_thread(
            self.services.store.prune,
            dead_letters_before=now - timedelta(days=s.dead_letter_retention_days),
            deliveries_before=now - timedelta(days=s.dedup_retention_days),
        )
        await asyncio.to_thread(
            Redeliveries(self.services.store.engine).prune,
            now - timedelta(days=s.dedup_retention_days),
        )
        # A chunk's row is worth keeping as long as its documents topic keeps its bytes.
        chunks = await asyncio.to_thread(
            ChunkStore(self.services.store.engine).prune,
            now - timedelta(milliseconds=s.docs_retention_ms),
        )
        if chunks:
            log.info("pruned %d document chunk rows past the documents topics' retention", chunks)
        if pruned.dead_letters or pruned.deliveries:
            log.info(
                "pruned %d dead letters and %d delivered ids past retention",
                pruned.dead_letters,
                pruned.deliveries,
            )
        return pruned


class Redeliverer:
    """At start: publish again every kept inbox record whose topic's epoch has changed, i.e.
    whose broker (or topic) no longer has what was written (``hub.storage.redelivery``)."""

    def __init__(
        self, services: HubServices, producer: Producer, ensure_inbox: EnsureInbox, epochs: Epochs
    ) -> None:
        self.kept = Redeliveries(services.store.engine)
        self.producer = producer
        self.ensure_inbox = ensure_inbox
        self.epochs = epochs

    async def __call__(self) -> int:
        done = 0
        for kept in await asyncio.to_thread(self.kept.all):
            _, _, agency, region = kept.topic.split(".", 3)
            await self.ensure_inbox(kept.topic, agency, region)
            current = await asyncio.to_thread(self.epochs, kept.topic)
            if current == kept.broker_epoch:
                continue
            await publish(self.producer, kept)
            # Re-stamped after the write: a crash in between publishes it once more.
            if await asyncio.to_thread(
                self.kept.restamp, kept.message_id, kept.broker_epoch, current
            ):
                done += 1
                metrics.REDELIVERED.inc()
        if done:
            log.warning(
                "re-published %d delivered but unreceived messages the broker no longer had", done
            )
        return done
