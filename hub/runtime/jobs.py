"""The hub's periodic jobs as plain asyncio tasks, each watched so a stuck one is reported.

A job (the SLA clock, tree heads, pruning, key records, the redelivery at start) runs on its
own task: however long one run takes, routing — a task of its own too — is not held up.  A run
that exceeds ``stuck_after_s`` is logged as stuck, with how long it has run, every
``stuck_after_s`` until it finishes, and ``hub_job_stuck{task}`` is 1 meanwhile.  A failed run
is logged and the next one tries again.

A job with a ``lease`` (``hub.runtime.job_lease``) runs only while this process holds it: every
``hub run`` and ``hub worker`` schedules every job, and the store picks one to run each job that
must run once.  A process that takes a lease over from another runs the job at once (its holder
may have been gone a whole lease period); one that holds it from the start waits ``every_s``
when the job says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hub.runtime import metrics
from hub.runtime.job_lease import JobLease

log = logging.getLogger("hub.run")


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], Awaitable[Any]]
    #: Seconds between the end of one run and the start of the next; None: run once.
    every_s: float | None
    stuck_after_s: float = 60.0
    #: What a failed run means for whoever reads the log.
    on_failure: str = "retrying at the next run"
    #: Run at once, or first after ``every_s`` (a tree head of a log the sink has not made yet,
    #: or an SLA tick before the router has read what was waiting, is worth nothing).
    at_start: bool = True
    #: Held by one process of the hub at a time; None: the job is safe to run everywhere.
    lease: JobLease | None = None
    #: The run returns how many seconds until it has work again (a deadline): the next run
    #: starts then, if that is sooner than ``every_s`` (never sooner than ``PACE_FLOOR_S``).
    paced: bool = False


#: The shortest wait between two runs of a paced job: work that is due but cannot be done yet
#: must not make it spin.
PACE_FLOOR_S = 0.05


def wait_after(job: Job, result: Any) -> float:
    """Seconds until ``job`` runs again, given what its last run returned."""
    assert job.every_s is not None
    if job.paced and isinstance(result, (int, float)):
        return max(PACE_FLOOR_S, min(job.every_s, float(result)))
    return job.every_s


async def watched(job: Job) -> Any:
    """One run of ``job``, reported while it is stuck."""
    started = time.monotonic()
    task = asyncio.ensure_future(job.run())
    stuck = False
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=job.stuck_after_s)
            if done:
                return task.result()
            stuck = True
            metrics.JOB_STUCK.labels(job.name).set(1)
            log.warning(
                "job %s has run for %.0f s and is not done (stuck?); routing goes on",
                job.name,
                time.monotonic() - started,
            )
    finally:
        if not task.done():
            task.cancel()
        if stuck:
            metrics.JOB_STUCK.labels(job.name).set(0)
            log.info("job %s finished after %.0f s", job.name, time.monotonic() - started)


async def keep_running(job: Job) -> None:
    """Run ``job`` (now, or after ``every_s`` when not ``at_start``), then every ``every_s``
    (once when None), until cancelled; a leased job only while its lease is held."""
    metrics.JOB_STUCK.labels(job.name).set(0)
    if job.lease is not None:
        await _keep_leased(job, job.lease)
        return
    if not job.at_start and job.every_s is not None:
        await asyncio.sleep(job.every_s)
    while True:
        result = await _run_once(job)
        if job.every_s is None:
            return
        await asyncio.sleep(wait_after(job, result))


#: Per job: the last outage reported, and when (monotonic).
_outages: dict[str, tuple[str, float]] = {}


def _outage(exc: BaseException) -> str | None:
    """A one-line description when ``exc`` is the store or the broker out of reach (expected
    during a partition: no traceback, said once a minute), else None (a bug: full traceback)."""
    from aiokafka.errors import KafkaError as AioKafkaError
    from kafka.errors import KafkaError
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError):
        first = (str(exc.orig).splitlines() or [type(exc.orig).__name__])[0]
        return f"the store does not answer ({first[:160]})"
    if isinstance(exc, (KafkaError, AioKafkaError, ConnectionError, TimeoutError)):
        return f"the broker does not answer ({type(exc).__name__})"
    return None


async def _run_once(job: Job) -> Any:
    """What the run returned; None when it failed (logged here)."""
    try:
        result = await watched(job)
        if _outages.pop(job.name, None) is not None:
            log.info("job %s runs again", job.name)
        return result
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        outage = _outage(exc)
        if outage is None:
            log.exception("job %s failed; %s", job.name, job.on_failure)
            return None
        last = _outages.get(job.name)
        now = time.monotonic()
        if last is None or last[0] != outage or now - last[1] > 60:
            log.warning("job %s failed: %s; %s", job.name, outage, job.on_failure)
            _outages[job.name] = (outage, now)


async def _keep_leased(job: Job, lease: JobLease) -> None:
    assert job.every_s is not None, "a leased job runs periodically"
    keeper = asyncio.create_task(lease.keep(), name=f"{job.name}-lease")
    try:
        await lease.holding.wait()
        result = None
        if job.at_start or lease.taken_over:
            result = await _run_once(job)
        while True:
            # Sleep until the next run, or until the lease is lost.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_lost(lease), wait_after(job, result))
            if lease.held() is None:
                await lease.holding.wait()  # taken back over: the last holder may be long gone
            result = await _run_once(job)
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


async def _lost(lease: JobLease) -> None:
    while lease.held() is not None:
        await asyncio.sleep(lease.renew_s)
