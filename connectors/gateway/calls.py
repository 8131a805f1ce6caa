"""Every call to the gateway, logged; Starlette's plain-text Range refusals made RFC 9457.

A pure ASGI middleware: FastAPI's ``@app.middleware("http")`` (``BaseHTTPMiddleware``) runs each
request through an extra task and a memory stream, a fixed cost on every call that a gateway
sending hundreds of messages a second pays in full.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from connectors.gateway.models import problem

log = logging.getLogger("connectors.gateway.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class CallLog:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500
        held: Message | None = None  # the start of a plain-text Range refusal, replaced

        async def sending(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                plain = headers.get(b"content-type", b"").startswith(b"text/plain")
                if status in (400, 416) and plain:
                    held = message
                    return
            elif held is not None:
                if message.get("more_body"):
                    return
                headers = {k.lower(): v for k, v in held.get("headers", [])}
                await _range_problem(status, headers.get(b"content-range"))(scope, receive, send)
                return
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            log.info(
                "%s %s -> %d caller=%s %.0f ms",
                scope.get("method", "-"),
                getattr(route, "path", scope.get("path", "-")),
                status,
                scope.get("hub_caller", "-"),
                (time.monotonic() - started) * 1000,
            )


def _range_problem(status: int, content_range: bytes | None) -> Any:
    # Starlette's FileResponse answers a bad Range itself, in plain text; the API promises
    # RFC 9457 problems for every error (docs/gateway.md).
    reason = "range_not_satisfiable" if status == 416 else "malformed_range"
    detail = ("the Range asked lies outside the document" if status == 416
              else "the Range header is not bytes=FIRST-LAST")  # fmt: skip
    answer = problem(status, reason, detail)
    if content_range is not None:
        answer.headers["Content-Range"] = content_range.decode("latin-1")
    return answer
