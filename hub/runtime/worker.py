"""``hub worker``: one more router worker beside a running hub, sharing ``hub.ingress``.

Workers with the same ``app_id`` form one consumer group, so a second worker takes half of the
ingress partitions (a third, a third of them...) and the group moves them back when it stops.
A worker routes only: the SLA timer, the redelivery at start and the key records stay with
``hub run``.  It must share the hub's store (PostgreSQL for real work; SQLite serialises the
writers of two processes) and, on the embedded broker, the hub's run id, read from its state
file, so its deliveries carry the right epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiohttp.web import Application, AppRunner, Request, Response, TCPSite, json_response

from hub.core.config import Settings
from hub.runtime import board_page, metrics
from hub.runtime.admin import TopicEpochs
from hub.runtime.audit_access import audit_opener
from hub.runtime.health import Readiness, store_answers
from hub.runtime.ingress.build import build_router
from hub.runtime.ingress.loop import IngressLoop
from hub.runtime.kafka_clients import KafkaProducer
from hub.runtime.services import HubServices
from hub.runtime.state import read_state, resolve_bootstrap
from hub.runtime.timers import InboxTopics

log = logging.getLogger("hub.worker")


def run_worker(settings: Settings, *, metrics_port: int = 0) -> int:
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
    asyncio.run(_work(services, bootstrap, epochs, metrics_port))
    log.info("router worker stopped")
    return 0


async def _work(services: HubServices, bootstrap: str, epochs: TopicEpochs, web_port: int) -> None:
    producer = KafkaProducer(bootstrap, services.settings, client_id="hub-worker")
    router = build_router(services, producer, InboxTopics(bootstrap, services), epochs, bootstrap)
    readiness = Readiness(router, store_answers(services.store.engine))
    router.on_joined = readiness.announce
    web = await _serve(readiness, router, services, web_port) if web_port else None
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    lag = asyncio.create_task(_report_lag(router))
    try:
        await router.run_restarting(producer)
    except asyncio.CancelledError:
        pass  # a signal: the batch in hand is not committed and will be read again
    finally:
        lag.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lag
        if web is not None:
            await web.cleanup()


async def _serve(
    readiness: Readiness, router: IngressLoop, services: HubServices, port: int
) -> AppRunner:
    """The worker's own small web server: what ``hub run`` serves on its web port."""
    audit = audit_opener(services.settings)

    def board_view() -> dict[str, Any]:
        return board_page.gather(services.ledger, services.store, audit, services.clock())

    async def board(request: Request) -> Response:
        view = await asyncio.to_thread(board_view)
        page = board_page.render_html(view, refresh_s=services.settings.board_refresh_s)
        return Response(text=page, content_type="text/html", charset="utf-8")

    async def board_json(request: Request) -> Response:
        return json_response(await asyncio.to_thread(board_view))

    async def healthz(request: Request) -> Response:
        return json_response({"alive": True})

    async def readyz(request: Request) -> Response:
        state = await readiness.check()
        return json_response(state, status=200 if state["ready"] else 503)

    async def metrics_page(request: Request) -> Response:
        metrics.set_consumer_lag(router.lag())
        await readiness.check()
        body, content_type = metrics.render()
        return Response(body=body, headers={"Content-Type": content_type})

    app = Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/board", board)
    app.router.add_get("/board.json", board_json)
    runner = AppRunner(app, access_log=None)
    await runner.setup()
    await TCPSite(runner, services.settings.web_host, port).start()
    return runner


async def _report_lag(router: IngressLoop) -> None:
    while True:
        await asyncio.sleep(5)
        metrics.set_consumer_lag(router.lag())
