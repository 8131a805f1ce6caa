"""The Faust app: the router agent that moves each ingress record to an inbox or the dead letters.

At-least-once: an ingress offset is committed only after the delivery (or dead letter) was
acknowledged by the broker and recorded in the store.  A record redelivered after a crash is
recognised by its message id and not delivered twice; connectors de-duplicate too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
from aiohttp.web import Response

from hub import metrics
from hub.codec import encode
from hub.config import Settings
from hub.deadletter import DeadLetter, Reason, dead_letter_id
from hub.directory import DirectoryFile
from hub.families import FAMILIES
from hub.policy import load_policy
from hub.router import Delivered, Rejected, Router
from hub.schemas import SchemaRegistry
from hub.store import DeliveryRow, Store
from hub.topics import DEAD_LETTER, INGRESS, ensure_topics, inbox_spec

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

    @classmethod
    def create(cls, settings: Settings, bootstrap: str) -> RoutingService:
        registry = SchemaRegistry.load(settings.schemas_path)
        directory = DirectoryFile(settings.directory_path)
        policy = load_policy(settings.policy_path, set(FAMILIES))
        router = Router(registry, lambda: directory.current, policy)
        return cls(
            settings, bootstrap, registry, directory, router, Store(settings.effective_store_url)
        )

    def __post_init__(self) -> None:
        self._topics_ready: set[str] = set()

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
        if isinstance(decision, Delivered):
            await self._deliver(producer, message, decision)
        else:
            await self._dead_letter(producer, message, decision, replay_of)
        metrics.ROUTE_SECONDS.observe(time.perf_counter() - started)

    def _decide(self, raw: bytes) -> Delivered | Rejected:
        try:
            return self.router.decide(raw)
        except Exception as exc:
            # A bug must not wedge the partition on one record, nor drop it: dead-letter it
            # with the error so it can be replayed once the router is fixed.
            log.exception("router failed on a record; dead-lettering it")
            return Rejected(Reason.ROUTER_ERROR, f"{type(exc).__name__}: {exc}")

    async def _deliver(self, producer: Any, message: Any, d: Delivered) -> None:
        env, route = d.envelope, d.route
        if await asyncio.to_thread(self.store.was_delivered, env.message_id):
            metrics.DUPLICATES.labels(env.family).inc()
            log.info("duplicate %s %s ignored (already delivered)", env.family, env.message_id)
            return
        await self._ensure_inbox(route.topic, route.inbox.agency, route.inbox.region)
        await producer.send_and_wait(
            route.topic,
            key=env.conversation_id.encode(),
            value=message.value,
            partition=None,
            timestamp=None,
            headers=[("hub-routed-to", str(route.inbox).encode()), ("hub-via", route.via.encode())],
        )
        await asyncio.to_thread(
            self.store.record_delivery,
            DeliveryRow(
                message_id=env.message_id,
                conversation_id=env.conversation_id,
                family=env.family,
                sender=str(env.sender),
                recipient=str(env.recipient),
                routed_to=str(route.inbox),
                fallback=route.fallback,
                created_at=env.created_at,
                routed_at=datetime.now(UTC),
            ),
        )
        metrics.ROUTED.labels(env.family, env.sender.agency, env.recipient.agency, route.via).inc()
        log.info(
            "routed %s %s %s → %s%s",
            env.family,
            env.message_id,
            env.sender,
            route.inbox,
            f" (fallback for {env.recipient})" if route.fallback else "",
        )

    async def _dead_letter(
        self, producer: Any, message: Any, r: Rejected, replay_of: str | None
    ) -> None:
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
    app.hub_fetch_max_wait_ms = settings.fetch_max_wait_ms  # read by hub.kafka_transport
    service = RoutingService.create(settings, bootstrap)
    app.hub_service = service
    ingress = app.topic(
        INGRESS.name, key_serializer="raw", value_serializer="raw", partitions=INGRESS.partitions
    )

    @app.agent(ingress, name="router")
    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await service.handle(app.producer, event.message)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Response:
        body, content_type = metrics.render()
        return Response(body=body, headers={"Content-Type": content_type})

    return app


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
