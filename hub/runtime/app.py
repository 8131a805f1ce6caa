"""The Faust app: a thin adapter from Faust's agents and timers to the hub's own objects.

The router agent hands each ingress record to the ingress pipeline (``hub.runtime.ingress``) and
returns only when the pipeline has given it an outcome; Faust commits the offset after that
(at-least-once).  The timers run the SLA clock and record new keys (``hub.runtime.timers``).
Nothing here decides anything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from aiohttp.web import Response

from hub.core.config import Settings
from hub.runtime import metrics
from hub.runtime.admin import TopicEpochs
from hub.runtime.ingress.build import build_pipeline
from hub.runtime.ingress.record import IngressRecord
from hub.runtime.ingress.recorder import Epochs
from hub.runtime.kafka_security import faust_credentials
from hub.runtime.services import HubServices
from hub.runtime.timers import InboxTopics, KeyRecorder, Pruner, Redeliverer, SlaTicker
from hub.wire.topics import INGRESS

log = logging.getLogger("hub.router")


class FaustProducer:
    """The app's producer, looked up when used: Faust creates it only when the app starts."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def send(self, topic: str, key: Any, value: Any, partition: Any, timestamp: Any,
                   headers: Any) -> Any:  # fmt: skip
        return await self.app.producer.send(topic, key, value, partition, timestamp, headers)

    async def send_and_wait(self, topic: str, key: Any, value: Any, partition: Any,
                            timestamp: Any, headers: Any) -> Any:  # fmt: skip
        return await self.app.producer.send_and_wait(
            topic, key, value, partition, timestamp, headers
        )


def create_app(
    settings: Settings, bootstrap: str, web_port: int, *, epochs: Epochs | None = None
) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=f"hubkafka://{bootstrap}",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_credentials=faust_credentials(settings),
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
    app.hub_fetch_max_wait_ms = settings.fetch_max_wait_ms  # type: ignore[attr-defined]
    services = HubServices.create(settings)
    producer = FaustProducer(app)
    inboxes = InboxTopics(bootstrap, services)
    epochs = epochs or TopicEpochs(bootstrap, security=settings.kafka_python_security())
    pipeline = build_pipeline(services, producer, inboxes, epochs)
    redeliver = Redeliverer(services, producer, inboxes, epochs)
    ticker = SlaTicker(services, producer, inboxes)
    record_keys = KeyRecorder(services, producer)
    ingress = app.topic(
        INGRESS.name, key_serializer="raw", value_serializer="raw", partitions=INGRESS.partitions
    )

    @app.agent(ingress, name="router")
    async def route(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await pipeline.process(IngressRecord.from_message(event.message))

    @app.timer(interval=settings.sla_tick_s, name="sla-clock")
    async def sla_clock() -> None:
        try:
            await ticker.tick()
        except Exception:
            # A failed tick (database busy, broker hiccup) is retried by the next one; the
            # claims and leases in the ledger keep that safe.
            log.exception("SLA tick failed; retrying at the next one")

    async def record_new_keys() -> None:
        try:
            await record_keys()
        except Exception:
            log.exception("recording new keys in the audit log failed; retrying")

    prune = Pruner(services)

    @app.timer(interval=3600.0, name="prune", on_leader=True)
    async def prune_old_rows() -> None:
        try:
            await prune()
        except Exception:
            log.exception("pruning failed; retrying in an hour")

    @app.task
    async def redeliver_lost() -> None:
        try:
            await redeliver()
        except Exception:
            log.exception("re-publishing what the broker lost failed; it is tried at next start")

    # Keys present at start are recorded first; the timer notices keys registered later.
    app.task(record_new_keys)
    app.timer(interval=2.0, name="audit-keys")(record_new_keys)

    @app.page("/metrics")  # type: ignore[arg-type]
    async def metrics_page(web: Any, request: Any) -> Response:
        rows = await asyncio.to_thread(services.ledger.open_obligation_counts)
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
