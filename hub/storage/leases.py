"""Leases on the jobs that must run once however many hub processes run them.

Every ``hub run`` and ``hub worker`` runs the job scheduler; a job that must not run twice at
once (signing tree heads, pruning, the redelivery at start) first takes its lease here, a row
per job taken by a conditional update in the SQL store: whoever holds it until ``expires_at``
runs the job; the others stand by and take it over once it has expired.

Each time a lease changes hands (or its holder restarts) its ``fence`` grows by one.  A write of
the job is made in a transaction that first checks the fence is still the one it was given
(:meth:`JobLeases.check`, an update of the lease row, so a taker waits on it): a holder that
stalled past its expiry (a paused VM, a long GC, a cut link) and wakes up after another took
over cannot write any more — its fence is old.  Leases are timed by each host's own clock; the
hosts of one hub keep time with NTP, far closer than a lease lasts.

Invariant: at any moment at most one owner's write of a job can commit, and that owner holds
the largest fence the job has had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    select,
    update,
)

from hub.core.clock import as_utc
from hub.core.errors import HubError
from hub.storage.engine import insert_ignore, metadata

job_leases = Table(
    "job_leases",
    metadata,
    Column("job", String(64), primary_key=True),
    #: Who holds it: ``instance@host/home`` (stable across restarts of the same process).
    Column("owner", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("fence", BigInteger, nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
    Column("renewed_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class LeaseLost(HubError):
    """A job's write came with a fence that is no longer the job's: another process took over."""

    reason = "lease_lost"


@dataclass(frozen=True)
class Lease:
    job: str
    owner: str
    pid: int
    fence: int
    taken_at: datetime
    renewed_at: datetime
    expires_at: datetime


class JobLeases:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(
        self, job: str, owner: str, pid: int, now: datetime, lease_s: float, fence: int | None
    ) -> Lease | None:
        """Renew the lease ``owner`` holds with ``fence``, or take ``job``'s lease when it is free,
        expired, or held by an earlier life of ``owner`` (a restart takes its lease back at once,
        with a new fence); None while another owner's lease runs."""
        now = as_utc(now)
        until = now + timedelta(seconds=lease_s)
        c = job_leases.c
        with self.engine.begin() as conn:
            if fence is not None:
                renewed = conn.execute(
                    update(job_leases)
                    .where(c.job == job, c.owner == owner, c.fence == fence)
                    .values(renewed_at=now, expires_at=until, pid=pid)
                )
                if renewed.rowcount == 1:
                    return self._read(conn, job)
            taken = conn.execute(
                update(job_leases)
                .where(c.job == job)
                .where((c.owner == owner) | (c.expires_at < now))
                .values(
                    owner=owner,
                    pid=pid,
                    fence=c.fence + 1,
                    taken_at=now,
                    renewed_at=now,
                    expires_at=until,
                )
            )
            if taken.rowcount == 1:
                return self._read(conn, job)
            values = {"job": job, "owner": owner, "pid": pid, "fence": 1, "taken_at": now,
                      "renewed_at": now, "expires_at": until}  # fmt: skip
            if insert_ignore(conn, job_leases, values):
                return self._read(conn, job)
            return None

    def release(self, lease: Lease, now: datetime) -> bool:
        """Give the lease up (a clean stop), so a standby takes it at its next try."""
        c = job_leases.c
        with self.engine.begin() as conn:
            done = conn.execute(
                update(job_leases)
                .where(c.job == lease.job, c.owner == lease.owner, c.fence == lease.fence)
                .values(expires_at=as_utc(now))
            )
        return done.rowcount == 1

    def check(self, conn: Connection, lease: Lease) -> None:
        """Inside the transaction of one of the job's writes: raise :class:`LeaseLost` unless
        ``lease``'s fence is still the job's.  An update, not a read, so that it locks the row
        until the write commits and a takeover waits for it."""
        c = job_leases.c
        held = conn.execute(
            update(job_leases)
            .where(c.job == lease.job, c.fence == lease.fence)
            .values(fence=c.fence)
        )
        if held.rowcount != 1:
            raise LeaseLost(f"job {lease.job}: fence {lease.fence} is no longer the job's")

    def all(self) -> list[Lease]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(job_leases).order_by(job_leases.c.job)).mappings()
            return [_lease(r) for r in rows]

    def _read(self, conn: Connection, job: str) -> Lease:
        row = conn.execute(select(job_leases).where(job_leases.c.job == job)).mappings().one()
        return _lease(row)


def _lease(r: object) -> Lease:
    m = dict(r)  # type: ignore[call-overload]
    return Lease(
        m["job"],
        m["owner"],
        int(m["pid"]),
        int(m["fence"]),
        as_utc(m["taken_at"]),
        as_utc(m["renewed_at"]),
        as_utc(m["expires_at"]),
    )
