"""Start-up steps that say what they wait for and never wait forever.

Each step a hub process takes before it routes — the broker, its topics, the store, the
directory, a producer's connection, the ingress group's join — runs under a timeout.  Starting,
it logs what it waits for; every ``every_s`` it says it is still waiting and for how long; past
the timeout it fails with :class:`StartupStuck`, naming the step, instead of hanging silently.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from hub.core.errors import HubError

log = logging.getLogger("hub.run")

T = TypeVar("T")


class StartupStuck(HubError):
    """A start-up step did not finish within its timeout."""

    reason = "startup_stuck"
    exit_code = 3


def _stuck(what: str, timeout_s: float) -> StartupStuck:
    return StartupStuck(
        f"start-up stuck: {what} did not finish within {timeout_s:.0f} s "
        "(the timeout is the startup_timeout_s setting, HUB_STARTUP_TIMEOUT_S)"
    )


def step(what: str, fn: Callable[[], T], timeout_s: float, *, every_s: float = 10.0) -> T:
    """``fn()`` in a thread of its own, waited for at most ``timeout_s``.

    A step past its timeout is left behind in a daemon thread: the process is about to exit
    with the error, and a call blocked in a socket cannot be interrupted from outside anyway."""
    log.info("start-up: waiting for %s", what)
    started = time.monotonic()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"startup: {what}", daemon=True)
    worker.start()
    while True:
        left = timeout_s - (time.monotonic() - started)
        worker.join(max(0.0, min(every_s, left)))
        if not worker.is_alive():
            break
        waited = time.monotonic() - started
        if waited >= timeout_s:
            raise _stuck(what, timeout_s)
        log.warning("start-up: still waiting for %s (%.0f s of %.0f s)", what, waited, timeout_s)
    if "error" in box:
        raise box["error"]
    log.info("start-up: %s done in %.1f s", what, time.monotonic() - started)
    return box["value"]


async def async_step(
    what: str, awaitable: Awaitable[T], timeout_s: float, *, every_s: float = 10.0
) -> T:
    """The same for a coroutine: cancelled and reported as :class:`StartupStuck` past its
    timeout."""
    log.info("start-up: waiting for %s", what)
    started = time.monotonic()
    task = asyncio.ensure_future(awaitable)
    while True:
        left = timeout_s - (time.monotonic() - started)
        done, _ = await asyncio.wait({task}, timeout=max(0.0, min(every_s, left)))
        if done:
            break
        waited = time.monotonic() - started
        if waited >= timeout_s:
            task.cancel()
            raise _stuck(what, timeout_s)
        log.warning("start-up: still waiting for %s (%.0f s of %.0f s)", what, waited, timeout_s)
    log.info("start-up: %s done in %.1f s", what, time.monotonic() - started)
    return task.result()


async def until(
    what: str, condition: Callable[[], bool], timeout_s: float, *, every_s: float = 10.0
) -> None:
    """Wait until ``condition()`` holds (polled), with the same reporting."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.1)

    await async_step(what, poll(), timeout_s, every_s=every_s)
