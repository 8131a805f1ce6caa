"""What ``hub run`` runs once its broker, topics, directory and store are there: routing first,
on its own, then the web pages and the periodic jobs beside it.

The router is the ingress loop (``hub.runtime.ingress.loop``): its own consumer group on
``hub.ingress``, batches, offsets committed by hand once every record of a batch has its outcome.
It starts before anything else and depends on nothing else here: a stuck job or a slow producer
does not hold it up.  The jobs (``hub.runtime.jobs``) run the SLA clock, publish tree heads,
record new keys, prune and re-publish what an embedded broker lost; each is a task of its own,
watched and reported when stuck, and those that must run once hold a lease in the store
(``hub.runtime.schedule``), so that any number of ``hub run`` and ``hub worker`` processes
share them.  Nothing here decides anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from hub.runtime.audit_access import audit_opener
from hub.runtime.directory_topic import DirectoryFollower
from hub.runtime.health import Readiness, store_answers
from hub.runtime.ingress.build import build_router
from hub.runtime.ingress.recorder import Epochs
from hub.runtime.ingress.seat import RouterSeat
from hub.runtime.jobs import Job, keep_running
from hub.runtime.kafka_clients import KafkaProducer
from hub.runtime.schedule import hub_jobs
from hub.runtime.services import HubServices
from hub.runtime.startup import async_step, until
from hub.runtime.timers import InboxTopics
from hub.runtime.timestamp_gate import TimestampGate
from hub.runtime.web_pages import WebPages, serve_pages
from hub.wire.topics import router_group

log = logging.getLogger("hub.run")

#: What start_hub (tests), the crash drill and the demo wait for in the log.
READY_LINE = "hub ready:"


async def run_hub_runtime(
    services: HubServices,
    bootstrap: str,
    web_port: int,
    epochs: Epochs,
    seat: RouterSeat | None = None,
) -> None:
    """Route, serve the pages and run the jobs until SIGINT or SIGTERM; the router takes
    ``seat`` when ``hub run`` started its join already."""
    settings = services.settings
    timeout = settings.startup_timeout_s
    router_producer = KafkaProducer(bootstrap, settings)
    inboxes = InboxTopics(bootstrap, services)
    router = build_router(services, router_producer, inboxes, epochs, bootstrap, seat=seat)
    readiness = Readiness(router, store_answers(services.store.engine))
    router.on_joined = readiness.announce
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)

    tasks: list[asyncio.Task] = [asyncio.create_task(router.run_restarting(router_producer))]
    if settings.tsa_url:
        period = settings.acceptable_timestamp_failure_period_s
        gate = TimestampGate(router, audit_opener(settings), period, services.clock)
        job = Job("timestamp-gate", gate, settings.tsa_interval_s, at_start=False)
        tasks.append(asyncio.create_task(keep_running(job)))
    producer = KafkaProducer(bootstrap, settings, client_id="hub-jobs")
    # Newer signed directory versions from hub.directory (hub directory publish).
    follower = DirectoryFollower(services.directory, bootstrap,
                                 settings.kafka_python_security()).start()  # fmt: skip
    pages = WebPages(services, router, readiness, audit_opener(settings))
    web = None
    try:
        web = await async_step(
            f"the web server on {settings.web_host}:{web_port}",
            serve_pages(pages, settings.web_host, web_port),
            timeout,
        )
        log.info("%s routing hub.ingress; web pages on http://%s:%d",
                 READY_LINE, settings.web_host, web_port)  # fmt: skip
        await async_step(f"the jobs' producer to reach {bootstrap}", producer.start(), timeout)
        tasks += [asyncio.create_task(keep_running(j), name=j.name)
                  for j in hub_jobs(services, producer, inboxes, instance="run",
                                    epochs=epochs)]  # fmt: skip
        await until(
            f"the router to join consumer group {router_group(settings.app_id)} on {bootstrap}",
            lambda: router.joined,
            timeout,
        )
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        log.info("stopping: the batch in hand is not committed and will be read again")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(follower.stop)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)
        if web is not None:
            await web.cleanup()
