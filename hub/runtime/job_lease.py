"""This process's claim on one job that must run once across a hub's processes.

A :class:`JobLease` renews the job's lease in the store (``hub.storage.leases``) every third of
``job_lease_s`` while it holds it, and tries to take it at the same pace while another process
does; every change is logged at INFO and shown as ``hub_job_lease_held{task}``.  A holder that
dies is replaced within one lease period; a holder that restarts takes its lease back at once
(its owner name is stable: instance, host and home).  The lease's fence goes with the job's
writes (``JobLeases.check``), so a holder that stalled cannot write after it lost the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hub.runtime import metrics
from hub.storage.leases import JobLeases, Lease

log = logging.getLogger("hub.run")


def owner_name(instance: str, home: Path) -> str:
    """``run@host/1a2b3c4d``: the same for every restart of one process instance of one home,
    different for two homes on one host."""
    # A checksum, not a digest: it tells two homes apart in a name, nothing rests on it.
    where = f"{zlib.crc32(str(home.resolve()).encode()):08x}"
    return f"{instance}@{socket.gethostname()}/{where}"


def wall_clock() -> datetime:
    # Not the hub's clock: a rehearsal that moves the hub's clock a week on must not expire
    # every lease at once.
    return datetime.now(UTC)


class JobLease:
    def __init__(
        self,
        leases: JobLeases,
        job: str,
        owner: str,
        lease_s: float,
        *,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.leases, self.job, self.owner, self.lease_s = leases, job, owner, lease_s
        self.clock = clock
        self.current: Lease | None = None
        #: Set while this process holds the lease.
        self.holding = asyncio.Event()
        self._seen_holder: str | None = None
        self._tries = 0
        self._unreachable = False
        #: The lease was taken after this process had stood by (not at its first try): the
        #: job is run at once, as its last holder may have been gone a whole lease period.
        self.taken_over = False

    @property
    def renew_s(self) -> float:
        return self.lease_s / 3

    def held(self) -> Lease | None:
        """The lease, while it is this process's and has not run out by this host's clock."""
        lease = self.current
        if lease is None or lease.expires_at <= self.clock():
            return None
        return lease

    async def refresh(self) -> Lease | None:
        """Renew or take the lease once; returns it when held."""
        fence = self.current.fence if self.current is not None else None
        self._tries += 1
        try:
            lease = await asyncio.to_thread(
                self.leases.take, self.job, self.owner, os.getpid(), self.clock(),
                self.lease_s, fence,
            )  # fmt: skip
        except Exception as exc:  # the store is unreachable: the lease runs out on its own
            if not self._unreachable:  # said once per outage, not at every try
                log.warning("job %s: could not renew its lease (%s); it runs out in %.0f s "
                            "unless the store answers", self.job, type(exc).__name__,
                            self.lease_s)  # fmt: skip
            self._unreachable = True
            lease = self.held()
            self._changed(lease, "nobody this process can see (the store does not answer)")
            return lease
        if self._unreachable:
            log.info("job %s: the store answers again", self.job)
            self._unreachable = False
        holder = "?"
        if lease is None:
            with contextlib.suppress(Exception):
                holder = await asyncio.to_thread(self._holder)
        self._changed(lease, holder)
        return lease

    def _changed(self, lease: Lease | None, holder: str) -> None:
        before = self.current
        self.current = lease
        if lease is not None:
            self.holding.set()
            metrics.JOB_LEASE_HELD.labels(self.job).set(1)
            if before is None or before.fence != lease.fence:
                self.taken_over = self._tries > 1
                log.info("job %s: this process holds its lease now (fence %d, %s)",
                         self.job, lease.fence, self.owner)  # fmt: skip
            return
        self.holding.clear()
        metrics.JOB_LEASE_HELD.labels(self.job).set(0)
        if before is not None:
            log.warning("job %s: lease lost (fence %d); another process runs it now",
                        self.job, before.fence)  # fmt: skip
        if holder != self._seen_holder:
            self._seen_holder = holder
            log.info("job %s: standing by while %s holds its lease", self.job, holder)

    def _holder(self) -> str:
        for lease in self.leases.all():
            if lease.job == self.job:
                return f"{lease.owner} (pid {lease.pid})"
        return "nobody"

    async def keep(self) -> None:
        """Renew (or try to take) the lease every :attr:`renew_s` until cancelled; then give it
        up so a standby takes over at once."""
        try:
            while True:
                await self.refresh()
                await asyncio.sleep(self.renew_s)
        finally:
            if self.current is not None:
                lease, self.current = self.current, None
                metrics.JOB_LEASE_HELD.labels(self.job).set(0)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.leases.release, lease, self.clock())
