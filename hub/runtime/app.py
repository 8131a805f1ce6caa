"""The Faust app: a thin adapter from Faust's agents and timers to the hub's own objects.

The router is a task running the ingress loop (``hub.runtime.ingress.loop``): its own consumer
group on ``hub.ingress``, batches, and offsets committed by hand once every record of a batch
has its outcome.  (Not a Faust agent: Faust's batch API acks a batch in a ``finally``, so a
cancelled batch would be committed without its outcomes.)  The timers run the SLA clock and
record new keys (``hub.runtime.timers``).  Nothing here decides anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiohttp.web import Response

from hub.audit.store import AuditStore
from hub.core.config import Settings
from hub.runtime.admin import TopicEpochs
from hub.runtime.audit_access import audit_opener
from hub.runtime.health import Readiness, store_answers
from hub.runtime.ingress.build import build_router
from hub.runtime.ingress.recorder import Epochs
from hub.runtime.kafka_clients import KafkaProducer
from hub.runtime.kafka_security import faust_credentials
from hub.runtime.services import HubServices
from hub.runtime.timers import InboxTopics, KeyRecorder, Pruner, Redeliverer, SlaTicker
from hub.runtime.tree_heads import TreeHeadPublisher
from hub.runtime.web_pages import Page, WebPages
from hub.storage.tree_heads import TreeHeads
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


def tree_head_publisher(
    services: HubServices,
    ticker: SlaTicker,
    inboxes: InboxTopics,
    audit: Callable[[], AuditStore],
) -> TreeHeadPublisher:
    directory = services.directory
    return TreeHeadPublisher(
        services.registry,
        audit,
        TreeHeads(services.store.engine),
        lambda: directory.current,
        ticker.operators_key,
        inboxes,
        proofs=services.settings.tree_head_proofs,
        clock=services.clock,
    )


def _faust_view(page: Page) -> Callable[[Any, Any], Awaitable[Response]]:
    async def view(web: Any, request: Any) -> Response:
        return await page()

    return view


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
    router_producer = KafkaProducer(bootstrap, settings)
    router = build_router(services, router_producer, inboxes, epochs, bootstrap)
    redeliver = Redeliverer(services, producer, inboxes, epochs)
    ticker = SlaTicker(services, producer, inboxes)
    record_keys = KeyRecorder(services, producer)

    @app.task
    async def route() -> None:
        await router.run_restarting(router_producer)

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
    audit_store = audit_opener(settings)
    tree_heads = tree_head_publisher(services, ticker, inboxes, audit_store)

    @app.timer(interval=settings.tree_head_interval_s, name="tree-heads", on_leader=True)
    async def publish_tree_heads() -> None:
        try:
            await tree_heads.tick(producer)
        except Exception:
            log.exception("publishing the audit log's tree head failed; retrying at the next tick")

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

    readiness = Readiness(router, store_answers(services.store.engine))
    router.on_joined = readiness.announce

    pages = WebPages(services, router, readiness, audit_store)
    for path, page in pages.routes().items():
        app.page(path)(_faust_view(page))  # type: ignore[arg-type]

    return app
