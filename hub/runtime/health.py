"""Liveness and readiness of a router worker, for ``/healthz``, ``/readyz`` and ``hub status``.

Alive: the worker's web server answers.  Ready: the router has joined the ingress group (it has
its partitions; none when other workers hold them all) *and* the store answers a query.  Before
that a message sent waits; ``hub run`` logs "ready" only once both hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from hub.runtime import metrics

log = logging.getLogger("hub.run")


def store_answers(engine: Engine) -> Callable[[], bool]:
    def ping() -> bool:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means: not ready
            log.warning("readiness: the store does not answer (%s)", type(exc).__name__)
            return False
        return True

    return ping


class Readiness:
    def __init__(self, router: Any, store_ping: Callable[[], bool]) -> None:
        self.router = router  # IngressLoop: .joined, .partitions
        self.store_ping = store_ping
        self._announced = False

    async def check(self) -> dict[str, Any]:
        store = await asyncio.to_thread(self.store_ping)
        joined = bool(self.router.joined)
        metrics.ROUTER_READY.set(1 if joined and store else 0)
        return {
            "ready": joined and store,
            "router_joined": joined,
            "ingress_partitions": int(self.router.partitions) if joined else 0,
            "store": "answers" if store else "does not answer",
        }

    async def announce(self, partitions: int) -> None:
        """Called when the router joined: log "ready" once the store answers too."""
        state = await self.check()
        if state["ready"]:
            log.info("ready: routing with %d ingress partitions; the store answers", partitions)
            self._announced = True
        elif not self._announced:
            log.warning("joined the ingress group, but not ready: the store does not answer")
