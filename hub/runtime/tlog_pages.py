"""The audit log served read-only at the C2SP tlog-tiles paths, for agencies and witnesses:
``/tlog/checkpoint`` (the latest signed tree head, a signed note) and ``/tlog/tile/...`` (the
tree's tiles and the entry bundles, ``hub.audit.tiles``), so that any tlog-tiles client can check
an inclusion or a consistency proof without the hub's own code.

A tile is the same bytes forever once it exists (a partial tile names its width), so tiles are
served as immutable; the checkpoint is not cached.  What the path names is checked before
anything is read: a malformed or non-canonical path, or a tile beyond the log, is a 404 problem
(RFC 9457).  Nothing here is a payload: the leaves are the records' chain hashes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiohttp.web import Application, Request, Response

from hub.audit.store import AuditStore
from hub.audit.tiles import TileLog, TileNotFound
from hub.storage.tree_heads import TreeHeads

IMMUTABLE = "public, max-age=31536000, immutable"


def problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(text=json.dumps(body), status=status, content_type="application/problem+json")


class TlogPages:
    def __init__(self, audit: Callable[[], AuditStore], heads: TreeHeads) -> None:
        self.audit, self.heads = audit, heads

    def add_to(self, app: Application) -> None:
        app.router.add_get("/tlog/checkpoint", self.checkpoint)
        app.router.add_get("/tlog/{path:tile/.+}", self.tile)

    async def checkpoint(self, request: Request) -> Response:
        head = await asyncio.to_thread(self.heads.latest)
        if head is None:
            return problem(404, "No tree head yet", "the hub has not signed a tree head yet")
        return Response(
            text=str(head.payload["checkpoint"]),
            content_type="text/plain",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def tile(self, request: Request) -> Response:
        path = request.match_info["path"]

        def read() -> bytes:
            store = self.audit()
            return TileLog(store).at_path(path, store.head()[0])

        try:
            data = await asyncio.to_thread(read)
        except TileNotFound as exc:
            return problem(404, "No such tile", exc.detail)
        return Response(
            body=data,
            content_type="application/octet-stream",
            headers={"Cache-Control": IMMUTABLE},
        )
