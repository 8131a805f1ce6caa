"""The periodic jobs every ``hub run`` and ``hub worker`` schedules, and which of them hold a
lease.

Safe everywhere, so run by every process: the SLA clock (each event is claimed in the ledger,
so however many processes tick, it fires once), the key records (the audit sink drops repeats)
and the redelivery at start of ``hub run`` (an inbox record is re-stamped with the broker's
epoch once it is re-published, and a second process finds it current).  Run by one process at a
time, under a lease in the store (``hub.runtime.job_lease``): signing tree heads (each head is
recorded with the lease's fence) and pruning (its deletes are idempotent; the lease spares the
store doing them twice).
"""

from __future__ import annotations

from hub.runtime.audit_access import audit_opener
from hub.runtime.ingress.recorder import Epochs
from hub.runtime.job_lease import JobLease, owner_name
from hub.runtime.jobs import Job
from hub.runtime.kafka_clients import KafkaProducer
from hub.runtime.services import HubServices
from hub.runtime.timers import InboxTopics, KeyRecorder, Pruner, Redeliverer, SlaTicker
from hub.runtime.tree_heads import TreeHeadPublisher
from hub.storage.leases import JobLeases
from hub.storage.tree_heads import TreeHeads

#: The jobs that hold a lease, for ``hub status`` and the docs.
LEASED = ("tree-heads", "prune")


def tree_head_publisher(
    services: HubServices, ticker: SlaTicker, inboxes: InboxTopics, lease: JobLease | None
) -> TreeHeadPublisher:
    directory = services.directory
    return TreeHeadPublisher(
        services.registry,
        audit_opener(services.settings),
        TreeHeads(services.store.engine),
        lambda: directory.current,
        ticker.operators_key,
        inboxes,
        proofs=services.settings.tree_head_proofs,
        clock=services.clock,
        lease=lease.held if lease is not None else None,
    )


def hub_jobs(
    services: HubServices,
    producer: KafkaProducer,
    inboxes: InboxTopics,
    *,
    instance: str,
    epochs: Epochs | None = None,
) -> list[Job]:
    """The jobs of one process; ``epochs`` (``hub run`` only) adds the redelivery at start."""
    settings = services.settings
    owner = owner_name(instance, settings.home)
    leases = JobLeases(services.store.engine)

    def lease(job: str) -> JobLease:
        return JobLease(leases, job, owner, settings.job_lease_s)

    ticker = SlaTicker(services, producer, inboxes)
    heads_lease = lease("tree-heads")
    tree_heads = tree_head_publisher(services, ticker, inboxes, heads_lease)
    jobs = [
        # A failed tick (database busy, broker hiccup) is retried by the next one; the claims
        # and leases in the ledger keep that safe.  Paced: a tick that sees a deadline sooner
        # than sla_tick_s runs again at that deadline.
        Job("sla-clock", ticker.tick, settings.sla_tick_s, at_start=False, paced=True),
        Job("audit-keys", KeyRecorder(services, producer), 2.0),
        Job("tree-heads", lambda: tree_heads.tick(producer), settings.tree_head_interval_s,
            at_start=False, lease=heads_lease),
        Job("prune", Pruner(services), 3600.0, stuck_after_s=600.0, at_start=False,
            lease=lease("prune")),
    ]  # fmt: skip
    if epochs is not None:
        jobs.append(
            Job("redeliver", Redeliverer(services, producer, inboxes, epochs), None,
                stuck_after_s=120.0, on_failure="it is tried again at the next start")
        )  # fmt: skip
    return jobs
