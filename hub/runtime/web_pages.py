"""The pages of a router worker's web port, for ``hub run`` and ``hub worker`` alike: /healthz,
/readyz, /metrics, /board and /board.json, and the audit log's tiles under /tlog/
(``hub.runtime.tlog_pages``), on a small aiohttp server (``serve_pages``).

Each page is a coroutine without arguments returning an aiohttp ``Response``.  What a page reads
from the database runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.web import Application, AppRunner, Request, Response, TCPSite, json_response

from hub.audit.store import AuditStore
from hub.runtime import board_page, metrics
from hub.runtime.health import Readiness
from hub.runtime.services import HubServices
from hub.runtime.tlog_pages import TlogPages
from hub.storage.tree_heads import TreeHeads
from hub.trust.expiry import key_expiries

Page = Callable[[], Awaitable[Response]]


class WebPages:
    def __init__(
        self,
        services: HubServices,
        router: Any,  # IngressLoop: .lag()
        readiness: Readiness,
        audit: Callable[[], AuditStore],
    ) -> None:
        self.services = services
        self.router = router
        self.readiness = readiness
        self.audit = audit

    def routes(self) -> dict[str, Page]:
        return {
            "/healthz": self.healthz,
            "/readyz": self.readyz,
            "/metrics": self.metrics,
            "/board": self.board,
            "/board.json": self.board_json,
        }

    async def healthz(self) -> Response:
        return json_response({"alive": True})

    async def readyz(self) -> Response:
        state = await self.readiness.check()
        return json_response(state, status=200 if state["ready"] else 503)

    async def metrics(self) -> Response:
        ledger = self.services.ledger
        metrics.set_open_obligations(await asyncio.to_thread(ledger.open_obligation_counts))
        waiting = await asyncio.to_thread(ledger.oldest_unreceived)
        metrics.set_unreceived_oldest(waiting, self.services.clock())
        metrics.set_consumer_lag(self.router.lag())
        metrics.set_key_expiry(
            key_expiries(self.services.directory.current, self.services.settings.key_lifetime_days)
        )
        await self.readiness.check()  # hub_router_ready as of this scrape
        body, content_type = metrics.render()
        return Response(body=body, headers={"Content-Type": content_type})

    def _board_view(self) -> dict[str, Any]:
        s = self.services
        return board_page.gather(s.ledger, s.store, self.audit, s.clock())

    async def board(self) -> Response:
        view = await asyncio.to_thread(self._board_view)
        page = board_page.render_html(view, refresh_s=self.services.settings.board_refresh_s)
        return Response(text=page, content_type="text/html", charset="utf-8")

    async def board_json(self) -> Response:
        return json_response(await asyncio.to_thread(self._board_view))


async def serve_pages(pages: WebPages, host: str, port: int) -> AppRunner:
    """Serve ``pages`` on ``host:port``; ``cleanup()`` the runner returned to stop."""
    app = Application()
    for path, page in pages.routes().items():
        app.router.add_get(path, _view(page))
    TlogPages(pages.audit, TreeHeads(pages.services.store.engine)).add_to(app)
    runner = AppRunner(app, access_log=None)
    await runner.setup()
    await TCPSite(runner, host, port).start()
    return runner


def _view(page: Page) -> Callable[[Request], Awaitable[Response]]:
    async def view(request: Request) -> Response:
        return await page()

    return view
