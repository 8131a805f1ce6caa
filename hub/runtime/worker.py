"""``hub worker``: one more router worker beside a running hub, sharing ``hub.ingress``.

Workers with the same ``app_id`` form one consumer group, so a second worker takes half of the
ingress partitions (a third, a third of them...) and the group moves them back when it stops.
A worker also runs the hub's periodic jobs beside ``hub run`` (``hub.runtime.schedule``): the
SLA clock and the key records everywhere, tree heads and pruning only while it holds their
lease in the store; the redelivery at start stays with ``hub run``.  It must share the hub's
store (PostgreSQL for real work; SQLite serialises the writers of two processes) and, on the
embedded broker, the hub's run id, read from its state file, so its deliveries carry the right
epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from hub.core.config import Settings
from hub.core.process_lock import service_lock
from hub.runtime.admin import TopicEpochs
from hub.runtime.audit_access import audit_opener
from hub.runtime.directory_topic import DirectoryFollower
from hub.runtime.health import Readiness, store_answers
from hub.runtime.ingress.build import build_router
from hub.runtime.jobs import Job, keep_running
from hub.runtime.kafka_clients import KafkaProducer
from hub.runtime.schedule import hub_jobs
from hub.runtime.services import HubServices
from hub.runtime.startup import async_step
from hub.runtime.state import read_state, resolve_bootstrap
from hub.runtime.timers import InboxTopics
from hub.runtime.timestamp_gate import TimestampGate
from hub.runtime.web_pages import WebPages, serve_pages

log = logging.getLogger("hub.worker")


def run_worker(settings: Settings, *, metrics_port: int = 0, instance: str = "1") -> int:
    lock = service_lock(settings.home, f"worker-{instance}", f"router worker {instance}")
    with lock:
        return _run_worker(settings, metrics_port, instance)


def _run_worker(settings: Settings, metrics_port: int, instance: str) -> int:
    bootstrap = resolve_bootstrap(settings)
    state = read_state(settings.state_file)
    embedded_run = state.embedded_run if state is not None and state.embedded else ""
    epochs = TopicEpochs(
        bootstrap, embedded_run=embedded_run, security=settings.kafka_python_security()
    )
    services = HubServices.create(settings)
    log.info(
        "router worker on %s (group %s.ingress)%s",
        bootstrap,
        settings.app_id,
        f", /metrics /healthz /readyz /board on http://{settings.web_host}:{metrics_port}"
        if metrics_port
        else "",
    )
    asyncio.run(_work(services, bootstrap, epochs, metrics_port, instance))
    log.info("router worker stopped")
    return 0


async def _work(
    services: HubServices, bootstrap: str, epochs: TopicEpochs, web_port: int, instance: str
) -> None:
    producer = KafkaProducer(bootstrap, services.settings, client_id="hub-worker")
    router = build_router(
        services,
        producer,
        InboxTopics(bootstrap, services),
        epochs,
        bootstrap,
        instance=f"worker-{instance}",
    )
    readiness = Readiness(router, store_answers(services.store.engine))
    router.on_joined = readiness.announce
    web = None
    if web_port:
        pages = WebPages(services, router, readiness, audit_opener(services.settings))
        web = await serve_pages(pages, services.settings.web_host, web_port)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    gate = None
    if services.settings.tsa_url:  # workers refuse new ingress as the hub's router does
        gate = asyncio.create_task(
            keep_running(
                Job(
                    "timestamp-gate",
                    TimestampGate(
                        router,
                        audit_opener(services.settings),
                        services.settings.acceptable_timestamp_failure_period_s,
                        services.clock,
                    ),
                    services.settings.tsa_interval_s,
                    at_start=False,
                )
            )
        )
    follower = DirectoryFollower(services.directory, bootstrap,
                                 services.settings.kafka_python_security()).start()  # fmt: skip
    jobs_producer = KafkaProducer(bootstrap, services.settings, client_id="hub-worker-jobs")
    jobs: list[asyncio.Task] = []
    routing = asyncio.create_task(router.run_restarting(producer))
    try:
        await async_step(f"the jobs' producer to reach {bootstrap}", jobs_producer.start(),
                         services.settings.startup_timeout_s)  # fmt: skip
        jobs = [asyncio.create_task(keep_running(j), name=j.name)
                for j in hub_jobs(services, jobs_producer, InboxTopics(bootstrap, services),
                                  instance=f"worker-{instance}")]  # fmt: skip
        await routing
    except asyncio.CancelledError:
        pass  # a signal: the batch in hand is not committed and will be read again
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        if not routing.done():
            routing.cancel()
            await asyncio.gather(routing, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(jobs_producer.stop(), 10)
        await asyncio.to_thread(follower.stop)
        if gate is not None:
            gate.cancel()
        if web is not None:
            await web.cleanup()
