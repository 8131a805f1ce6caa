"""The Faust app: the router agent that moves each ingress record to an inbox or the dead letters.

At-least-once: an ingress offset is committed only after the delivery (or dead letter) was
acknowledged by the broker and recorded in the store.  A record redelivered after a crash is
recognised by its message id and not delivered twice; connectors de-duplicate too.

The same commit that records a delivery updates the ledger (``hub.lifecycle.ledger``): an
original opens its SLA obligations, a reply moves its conversation on.  A Faust timer runs the
SLA clock (``hub.sla.clock``) on every worker; the database decides which worker fires each event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from aiohttp.web import Response

from hub.audit import emit as audit
from hub.audit.events import AuditEvent, SubjectRef
from hub.core.clock import Clock, clock_from_settings
from hub.core.config import Settings
from hub.lifecycle.ledger import Ledger, Original, SlaEventRow
from hub.lifecycle.states import State, fulfils, state_after
from hub.routing.policy import load_policy
from hub.routing.router import Delivered, Rejected, Router
from hub.runtime import metrics
from hub.runtime.admin import ensure_topics
from hub.sla.clock import SlaClock, plan_obligations
from hub.sla.policy import SlaPolicy, load_sla_policy
from hub.sla.publisher import SlaPublisher
from hub.sla.workdays import WorkCalendar, default_calendar
from hub.storage.store import DeliveryRow, Store
from hub.trust.address import Address
from hub.trust.directory import DirectoryFile, load_signing_key
from hub.trust.operators import OPERATORS
from hub.wire.codec import encode
from hub.wire.deadletter import DeadLetter, Reason, dead_letter_id
from hub.wire.families import FAMILIES, family
from hub.wire.schemas import SchemaRegistry
from hub.wire.topics import DEAD_LETTER, INGRESS, inbox_spec

log = logging.getLogger("hub.router")

REPLAY_HEADER = "hub-replay-of"
DIRECTORY_MISSES = {Reason.NO_ROUTE, Reason.UNKNOWN_SENDER, Reason.BAD_SIGNATURE}


def header(headers: Any, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode() if isinstance(value, bytes) else value
    return None


@dataclass
class RoutingService:
    """Everything the agent needs, built once per worker."""

    settings: Settings
    bootstrap: str
    registry: SchemaRegistry
    directory: DirectoryFile
    router: Router
    store: Store
    ledger: Ledger
    sla_policy: SlaPolicy
    calendar: WorkCalendar
    clock: Clock

    @classmethod
    def create(cls, settings: Settings, bootstrap: str) -> RoutingService:
        registry = SchemaRegistry.load(settings.schemas_path)
        directory = DirectoryFile(settings.directory_path)
        policy = load_policy(settings.policy_path, set(FAMILIES))
        store = Store(settings.effective_store_url)
        ledger = Ledger(store.engine)
        router = Router(
            registry, lambda: directory.current, policy, ledger.conversation, ledger.reply_applied
        )
        return cls(
            settings,
            bootstrap,
            registry,
            directory,
            router,
            store,
            ledger,
            load_sla_policy(settings.sla_path),
            default_calendar(),
            clock_from_settings(settings),
        )

    def __post_init__(self) -> None:
        self._topics_ready: set[str] = set()
        self.audit = audit.AuditPublisher(self.registry)
        self.subject_ref = SubjectRef.from_file(self.settings.audit_secret_path)
        self._audited_keys: set[str] = set()
        self.sla_clock = SlaClock(
            self.ledger, lambda: self.directory.current, on_fired=self._count_sla_event
        )
        self.sla_publisher = SlaPublisher(
            self.registry,
            self.ledger,
            lambda: self.directory.current,
            self._hub_key,
            self._ensure_inbox,
            audit=self.audit,
        )

    def _hub_key(self) -> Any:
        # Loaded when first needed: `hub run` creates the operators' key before the worker starts.
        if not hasattr(self, "_key"):
            self._key = load_signing_key(self.settings.keys_dir, OPERATORS, self.directory.current)
        return self._key

    @staticmethod
    def _count_sla_event(ev: SlaEventRow) -> None:
        metrics.SLA_COUNTERS[ev.kind].labels(ev.family, ev.stage, ev.debtor.partition("@")[0]).inc()

    async def sla_tick(self, producer: Any) -> None:
        now = self.clock()
        await asyncio.to_thread(self.sla_clock.tick, now)
        await self.sla_publisher.publish_pending(producer, now)

    async def audit_keys(self, producer: Any) -> int:
        """Record every key in the directory not recorded yet (the sink drops repeats)."""
        directory = self.directory.current
        new = [
            audit.key_registered(str(c.address), k.key_id, k.public_key, k.created_at, self.clock())
            for c in directory.connectors.values()
            for k in c.keys
            if k.key_id not in self._audited_keys
        ]
        if new:
            await self.audit.publish(producer, new)
            self._audited_keys.update(e.facts["key_id"] for e in new)
        return len(new)

    async def _ensure_inbox(self, topic: str, agency: str, region: str) -> None:
        if topic in self._topics_ready:
            return
        await asyncio.to_thread(
            ensure_topics,
            self.bootstrap,
            [inbox_spec(agency, region)],
            security=self.settings.kafka_python_security(),
            replication=self.settings.topic_replication,
        )
        self._topics_ready.add(topic)

    async def handle(self, producer: Any, message: Any) -> None:
        started = time.perf_counter()
        raw: bytes = message.value or b""
        replay_of = header(message.headers, REPLAY_HEADER)
        if replay_of:
            metrics.REPLAYS.inc()
        decision = self._decide(raw)
        if (
            isinstance(decision, Rejected)
            and decision.reason in DIRECTORY_MISSES
            and self.directory.reload_if_changed()
        ):
            # A key or connector registered a moment ago: decide again on the new directory
            # rather than dead-letter on a stale one.
            decision = self._decide(raw)
        events = audit.submitted(
            raw,
            decision.envelope,
            source=audit.source_of(message.topic, message.partition, message.offset),
            at=self.clock(),
            replay_of=replay_of,
        )
        if isinstance(decision, Delivered):
            events += await self._deliver(producer, message, decision)
        else:
            events.append(await self._dead_letter(producer, message, decision, replay_of))
        # Before the offset is committed: a crash from here on redelivers the record, and the
        # repeated events carry the same ids.
        await self.audit.publish(producer, events)
        metrics.ROUTE_SECONDS.observe(time.perf_counter() - started)

    def _decide(self, raw: bytes) -> Delivered | Rejected:
        try:
            return self.router.decide(raw)
        except Exception as exc:
            # A bug must not wedge the partition on one record, nor drop it: dead-letter it
            # with the error so it can be replayed once the router is fixed.
            log.exception("router failed on a record; dead-lettering it")
            return Rejected(Reason.ROUTER_ERROR, f"{type(exc).__name__}: {exc}")

    async def _deliver(self, producer: Any, message: Any, d: Delivered) -> list[AuditEvent]:
        env, route = d.envelope, d.route
        decided_at = self.clock()
        if await asyncio.to_thread(self.store.was_delivered, env.message_id):
            metrics.DUPLICATES.labels(env.family).inc()
            log.info("duplicate %s %s ignored (already delivered)", env.family, env.message_id)
            source = audit.source_of(message.topic, message.partition, message.offset)
            return [audit.duplicate(env, source=source, at=decided_at)] + await asyncio.to_thread(
                self._audit_again, d
            )
        await self._ensure_inbox(route.topic, route.inbox.agency, route.inbox.region)
        written = await producer.send_and_wait(
            route.topic,
            key=env.conversation_id.encode(),
            value=message.value,
            partition=None,
            timestamp=None,
            headers=[("hub-routed-to", str(route.inbox).encode()), ("hub-via", route.via.encode())],
        )
        row = DeliveryRow(
            message_id=env.message_id,
            conversation_id=env.conversation_id,
            family=env.family,
            sender=str(env.sender),
            recipient=str(env.recipient),
            routed_to=str(route.inbox),
            fallback=route.fallback,
            created_at=env.created_at,
            routed_at=datetime.now(UTC),
        )
        applied_at = await asyncio.to_thread(self._record, d, row)
        metrics.ROUTED.labels(env.family, env.sender.agency, env.recipient.agency, route.via).inc()
        events = audit.delivered(
            env,
            routed_to=route.inbox,
            via=route.via,
            fallback=route.fallback,
            decided_at=decided_at,
            delivered_at=self.clock(),
            inbox=audit.source_of(
                route.topic, getattr(written, "partition", -1), getattr(written, "offset", -1)
            ),
            payload=d.payload,
            subject_ref=self.subject_ref,
        )
        if d.conversation is not None and d.new_state is not None and applied_at is not None:
            step = audit.reply_applied(
                env,
                new_state=d.new_state.value,
                payload=d.payload,
                at=applied_at,
                subject_ref=self.subject_ref,
            )
            if step is not None:
                events.append(step)
        log.info(
            "routed %s %s %s → %s%s",
            env.family,
            env.message_id,
            env.sender,
            route.inbox,
            f" (fallback for {env.recipient})" if route.fallback else "",
        )
        return events

    def _audit_again(self, d: Delivered) -> list[AuditEvent]:
        """The events of an earlier delivery of this message, from the store.

        The router may have stopped between recording a delivery and publishing its audit
        events; a redelivered record then repeats them, with the same ids, so the log has them
        once whether or not the first copy arrived.
        """
        env = d.envelope
        stored = self.store.delivery(env.message_id)
        if stored is None:
            return []
        events = audit.delivered(
            env,
            routed_to=Address.parse(stored.routed_to),
            via="unknown (repeated after a redelivery)",
            fallback=stored.fallback,
            decided_at=stored.routed_at,
            delivered_at=stored.routed_at,
            inbox="unknown (repeated after a redelivery)",
            payload=d.payload,
            subject_ref=self.subject_ref,
        )
        if env.correlation_id is not None:
            step = audit.reply_applied(
                env,
                new_state=state_after(env.family, d.payload).value,
                payload=d.payload,
                at=stored.routed_at,
                subject_ref=self.subject_ref,
            )
            if step is not None:
                events.append(step)
        return events

    def _record(self, d: Delivered, row: DeliveryRow) -> datetime | None:
        """The delivery and its ledger effect, in one transaction (idempotent by message id).

        Returns when a reply moved its conversation on (None if the ledger had applied it).
        """
        now = self.clock()
        if d.conversation is None:
            planned = plan_obligations(
                self.sla_policy,
                self.calendar,
                message_id=row.message_id,
                family=row.family,
                sender=row.sender,
                debtor=row.routed_to,
                payload=d.payload,
                delivered_at=now,
                escalation_grace=timedelta(seconds=self.settings.sla_escalation_grace_s),
            )
            risk = (d.payload or {}).get("risk_level")
            self.ledger.record_original(Original(row, now, risk), planned)
            return now
        if d.new_state is None:  # the ledger had applied it; the delivery row was written too
            self.store.record_delivery(row)
            return None
        applied = self.ledger.apply_reply(
            row,
            new_state=d.new_state,
            at=now,
            fulfils=fulfils(row.family, d.payload),
            result=result_fields(row.family, d.payload),
        )
        if applied:
            entry = self.ledger.entry(d.conversation.message_id)
            if entry is not None:
                since = (now - entry["delivered_at"]).total_seconds()
                if d.new_state is State.RECEIVED:
                    metrics.TIME_TO_RECEIPT.labels(d.conversation.family).observe(since)
                elif d.new_state is State.CLOSED:
                    metrics.TIME_TO_CLOSE.labels(d.conversation.family).observe(since)
        # Even when the ledger had it (a redelivery), the audit event is repeated with the same
        # id, in case the first copy never reached the log.
        return now

    async def _dead_letter(
        self, producer: Any, message: Any, r: Rejected, replay_of: str | None
    ) -> AuditEvent:
        env = r.envelope
        raw: bytes = message.value or b""
        timestamp_ms = int((message.timestamp or 0) * 1000)
        dl = DeadLetter(
            dead_letter_id=dead_letter_id(
                raw, message.topic, message.partition, message.offset, timestamp_ms
            ),
            reason=r.reason.value,
            detail=r.detail,
            original=raw,
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            dead_lettered_at=datetime.now(UTC),
            message_id=env.message_id if env else None,
            family=env.family if env else None,
            sender=str(env.sender) if env else None,
            recipient=str(env.recipient) if env else None,
            replay_of=replay_of,
        )
        await producer.send_and_wait(
            DEAD_LETTER.name,
            key=dl.dead_letter_id.encode(),
            value=encode(self.registry.latest("dead_letter"), dl.to_record()),
            partition=None,
            timestamp=None,
            headers=[("hub-reason", dl.reason.encode())],
        )
        await asyncio.to_thread(self.store.record_dead_letter, dl)
        metrics.DEAD_LETTERED.labels(
            dl.reason,
            dl.family or "unknown",
            env.sender.agency if env else "unknown",
            env.recipient.agency if env else "unknown",
        ).inc()
        # The detail names fields and codes, never payload values, so it is safe to log.
        log.warning(
            "dead-lettered %s (%s) from %s: %s [%s]",
            dl.message_id
            or f"{len(raw)} bytes at {message.topic}/{message.partition}@{message.offset}",
            dl.reason,
            dl.sender or "unknown sender",
            dl.detail,
            dl.dead_letter_id,
        )
        return audit.dead_lettered(dl, env)


def result_fields(family_name: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """The ledger columns a reply fills in (the 台账's result of a hand-off)."""
    fam = family(family_name)
    return fam.ledger_result(payload or {}) if fam is not None else {}


def create_app(settings: Settings, bootstrap: str, web_port: int) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"hubkafka://{bootstrap}",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_credentials=_faust_credentials(settings),
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        topic_partitions=INGRESS.partitions,
        topic_replication_factor=settings.topic_replication,
        topic_allow_declare=True,
        datadir=str(settings.home / "faust"),
        web_enabled=True,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=web_port,
        web_in_thread=False,
    )
    app.hub_fetch_max_wait_ms = settings.fetch_max_wait_ms  # read by hub.runtime.kafka_transport
    service = RoutingService.create(settings, bootstrap)
    app.hub_service = service
    ingress = app.topic(
        INGRESS.name, key_serializer="raw", value_serializer="raw", partitions=INGRESS.partitions
    )

    @app.agent(ingress, name="router")
    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await service.handle(app.producer, event.message)

    @app.timer(interval=settings.sla_tick_s, name="sla-clock")
    async def sla_clock() -> None:
        try:
            await service.sla_tick(app.producer)
        except Exception:
            # A failed tick (database busy, broker hiccup) is retried by the next one; the
            # claims and leases in the ledger keep that safe.
            log.exception("SLA tick failed; retrying at the next one")

    async def record_new_keys() -> None:
        try:
            await service.audit_keys(app.producer)
        except Exception:
            log.exception("recording new keys in the audit log failed; retrying")

    # Keys present at start are recorded first; the timer notices keys registered later.
    app.task(record_new_keys)
    app.timer(interval=2.0, name="audit-keys")(record_new_keys)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Response:
        rows = await asyncio.to_thread(service.ledger.open_obligation_counts)
        metrics.set_open_obligations(rows)
        _update_consumer_lag(app)
        body, content_type = metrics.render()
        return Response(body=body, headers={"Content-Type": content_type})

    return app


def _update_consumer_lag(app: faust.App) -> None:
    """Lag of the router's ingress partitions on this worker.

    The high watermark is the one fetch responses carry (Tansu's ListOffsets "latest" is wrong,
    fetch responses are not), so it is only as fresh as the last fetch of that partition; the
    committed offset is Faust's own record of what it committed.
    """
    consumer = getattr(app, "_consumer", None)
    if consumer is None:
        return
    committed = getattr(consumer, "_committed_offset", {})
    metrics.CONSUMER_LAG.clear()
    for tp in consumer.assignment():
        if tp.topic != INGRESS.name:
            continue
        try:
            high = consumer.highwater(tp)
        except Exception:  # not fetched yet
            continue
        if high is None:
            continue
        done = committed.get(tp)
        # Faust records the offset of the last processed record; the next to read is one more.
        next_offset = 0 if done is None else done + 1
        metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - next_offset))


def _faust_credentials(settings: Settings) -> Any:
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = _ssl_context(settings) if protocol in {"SSL", "SASL_SSL"} else None
    if protocol == "SSL":
        return ssl_context  # Faust accepts a plain SSLContext as credentials
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
        ssl_context=ssl_context,
    )


def _ssl_context(settings: Settings) -> Any:
    import ssl

    ctx = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        ctx.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None)
    return ctx
