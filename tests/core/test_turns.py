"""Long CPU work on the event loop takes turns, so a consumer group's heartbeats still run."""

from __future__ import annotations

import asyncio
import time

from hub.core.turns import Turns


def busy_loop(seconds: float, turns: Turns | None) -> list[int]:
    async def scenario() -> list[int]:
        beats: list[int] = []

        async def heartbeat() -> None:
            while True:
                beats.append(1)
                await asyncio.sleep(0)

        task = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        beats.clear()  # only what runs during the work counts
        end = time.monotonic() + seconds
        while time.monotonic() < end:  # a batch decided record by record, no I/O
            sum(range(1000))
            if turns is not None:
                await turns.take()
        during = len(beats)
        task.cancel()
        return [during]

    return asyncio.run(scenario())


def test_work_that_takes_turns_lets_other_tasks_run_and_work_that_does_not_starves_them() -> None:
    assert busy_loop(0.3, None) == [0]  # why the router takes turns
    assert busy_loop(0.3, Turns(every_s=0.05))[0] >= 3
