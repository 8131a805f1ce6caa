"""The audit sink's second source: the router's fact rows in the hub's SQL store.

The router writes the events of each outcome as one tagged row in the transaction that records
the outcome (``hub.storage.audit_facts``).  The sink takes the oldest rows in bulk, appends
their events to the log with whatever it read from ``hub.audit``, and only then deletes them
(:meth:`FactDrain.done`); after a crash in between, the rows are read again and the log skips
the event ids it has.  A row whose tag does not verify is quarantined, one that does not decode
is recorded as unreadable: as for records on the topic, nothing is believed without the key,
and nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Gauge

from consumers.audit_records import quarantined, unreadable
from hub.audit import facts
from hub.audit.events import AuditEvent
from hub.audit.mac import AuditMac
from hub.storage.audit_facts import AuditFacts

PENDING = Gauge(
    "hub_audit_facts_pending",
    "Fact rows of the router in the store not yet chained into the audit log (at the sink's "
    "last look)",
)


@dataclass
class Taken:
    events: list[AuditEvent] = field(default_factory=list)
    #: per event, the row's bytes and where in them it was: what quarantines it if the
    #: database refuses it alone
    origins: list[tuple[bytes, str]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    def add(self, events: list[AuditEvent], raw: bytes, row_id: int) -> None:
        self.origins += [(raw, f"{where(row_id)}/{n}") for n in range(len(events))]
        self.events += events


def where(row_id: int) -> str:
    return f"audit_facts#{row_id}"


class FactDrain:
    def __init__(self, store: AuditFacts, mac: AuditMac) -> None:
        self.store = store
        self.mac = mac
        self.pending = 0  # fact rows waiting at the last look

    def take(self, limit: int) -> Taken:
        """The events of the oldest rows, up to about ``limit`` events."""
        want = max(1, limit // 3)  # a row holds ~3 events
        rows = self.store.oldest(want)
        taken = Taken()
        for row in rows:
            taken.ids.append(row.id)
            if not self.mac.verify(row.events, row.tag):
                events = [quarantined(row.events, where(row.id), "no valid tag")]
            else:
                try:
                    events = facts.decode(row.events)
                except (KeyError, TypeError, ValueError) as exc:
                    events = [unreadable(row.events, where(row.id), exc)]
            taken.add(events, row.events, row.id)
        # Fewer than asked for: that is all there is; else count them (only when behind).
        self.pending = len(rows) if len(rows) < want else self.store.count()
        PENDING.set(self.pending)
        return taken

    def done(self, taken: Taken) -> None:
        """Forget rows whose events are in the log now."""
        if taken.ids:
            self.store.forget(taken.ids)
