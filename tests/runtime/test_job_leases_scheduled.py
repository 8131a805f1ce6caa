"""Two processes' schedulers on one store: a leased job runs in one of them at a time, moves to
the other when its holder loses the store, and moves at once when its holder stops cleanly; a
job without a lease runs in both."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from hub.runtime.job_lease import JobLease
from hub.runtime.jobs import Job, keep_running
from hub.storage.leases import JobLeases
from hub.storage.store import Store

LEASE_S = 0.6
A, B = "run@host-a/11111111", "worker-1@host-b/22222222"


class CutOff(JobLeases):
    """The store as a host cut from it sees it: every statement fails."""

    cut = False

    def take(self, *args: Any, **kwargs: Any) -> Any:
        if self.cut:
            raise OperationalError("take", {}, Exception("connection refused"))
        return super().take(*args, **kwargs)


class Runs:
    def __init__(self) -> None:
        self.at: dict[str, list[float]] = {A: [], B: []}

    def job(self, who: str, lease: JobLease | None, *, at_start: bool = True) -> Job:
        async def run() -> None:
            self.at[who].append(time.monotonic())

        return Job("tree-heads", run, 0.05, at_start=at_start, lease=lease)


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_leased_job_runs_in_one_process_and_moves_when_its_holder_loses_the_store(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hub.db'}")
    a_leases = CutOff(store.engine)
    a = JobLease(a_leases, "tree-heads", A, LEASE_S)
    b = JobLease(JobLeases(store.engine), "tree-heads", B, LEASE_S)
    runs = Runs()

    async def scenario() -> float:
        first = asyncio.create_task(keep_running(runs.job(A, a)))
        await until(lambda: len(runs.at[A]) >= 1)
        second = asyncio.create_task(keep_running(runs.job(B, b)))
        await asyncio.sleep(3 * LEASE_S)
        assert len(runs.at[A]) > 10 and runs.at[B] == []  # B stands by
        cut = time.monotonic()
        a_leases.cut = True
        await until(lambda: runs.at[B])
        took = runs.at[B][0] - cut
        await asyncio.sleep(3 * LEASE_S)
        for task in (first, second):
            task.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        return took

    took = asyncio.run(scenario())
    # Taken over once A's lease ran out: after at most one lease and one renewal period.
    assert took < LEASE_S + b.renew_s + 1.0
    assert a.current is None and b.taken_over
    # A ran no more once B held the job (its own clock told it the lease had run out).
    assert not [t for t in runs.at[A] if t > runs.at[B][0]]
    [lease] = JobLeases(store.engine).all()
    assert lease.owner == B and lease.fence == 2


def test_a_clean_stop_hands_the_lease_over_at_once(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hub.db'}")
    a = JobLease(JobLeases(store.engine), "prune", A, 6.0)
    b = JobLease(JobLeases(store.engine), "prune", B, 6.0)
    runs = Runs()

    async def scenario() -> float:
        first = asyncio.create_task(keep_running(runs.job(A, a)))
        await until(lambda: runs.at[A])
        second = asyncio.create_task(keep_running(runs.job(B, b)))
        await asyncio.sleep(0.3)
        stopped = time.monotonic()
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await until(lambda: runs.at[B], timeout=15)
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        return runs.at[B][0] - stopped

    took = asyncio.run(scenario())
    # At B's next try (every 2 s, a third of the lease), not after A's lease ran out (>= 4 s).
    assert took < 3.5
    [lease] = JobLeases(store.engine).all()
    assert lease.owner == B and lease.fence == 2


def test_a_job_without_a_lease_runs_in_every_process(tmp_path: Path) -> None:
    runs = Runs()

    async def scenario() -> None:
        tasks = [asyncio.create_task(keep_running(runs.job(who, None))) for who in (A, B)]
        await until(lambda: len(runs.at[A]) > 2 and len(runs.at[B]) > 2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(scenario())
