"""Taking turns on the event loop during long pieces of CPU work.

A consumer group's heartbeats are tasks on the same asyncio loop as the router (aiokafka has no
heartbeat thread).  A batch of 500 records decided and encoded without an ``await`` that yields
keeps them from running: on a loaded machine that was seconds, long enough for the group to
think the router dead, take its partitions away mid-batch and have the batch read again (every
record then recognised as a repeat: correct, but a rebalance for nothing).  Work that loops over
a batch calls :meth:`Turns.take` between items; it yields once ``every_s`` has passed.
"""

from __future__ import annotations

import asyncio
import time

#: Long enough that yielding costs nothing measurable, short enough for any heartbeat interval.
EVERY_S = 0.05


class Turns:
    def __init__(self, every_s: float = EVERY_S) -> None:
        self.every_s = every_s
        self._since = time.monotonic()

    async def take(self) -> None:
        """Let other tasks run if this one has had the loop for ``every_s``."""
        if time.monotonic() - self._since >= self.every_s:
            await asyncio.sleep(0)
            self._since = time.monotonic()
